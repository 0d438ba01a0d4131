"""Tests for fastbrc.core.replay against a slow Python reference that walks every n-step window."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fastbrc.core import replay
from fastbrc.run.memory import tree_nbytes

OBS_DIM, PRIVILEGED_DIM, ACTION_DIM = 3, 2, 2
jitted_sample = jax.jit(replay.sample, static_argnames=("batch_size", "n_step"))


def example_transition() -> replay.Transition:
    return replay.Transition(
        obs={
            "state": jnp.zeros((OBS_DIM,), jnp.float32),
            "privileged_state": jnp.zeros((PRIVILEGED_DIM,), jnp.float32),
        },
        action=jnp.zeros((ACTION_DIM,), jnp.float32),
        reward=jnp.zeros((), jnp.float32),
        next_obs={
            "state": jnp.zeros((OBS_DIM,), jnp.float32),
            "privileged_state": jnp.zeros((PRIVILEGED_DIM,), jnp.float32),
        },
        terminated=jnp.zeros((), bool),
        truncated=jnp.zeros((), bool),
        task_id=jnp.zeros((), jnp.int32),
    )


def make_history(num_envs, num_steps, rng, terminated=None, truncated=None):
    """Per-step numpy records with identifiable values; obs["state"] = [env, step, 0]."""
    if terminated is None:
        terminated = rng.random((num_steps, num_envs)) < 0.15
    if truncated is None:
        truncated = rng.random((num_steps, num_envs)) < 0.15
    rewards = rng.normal(size=(num_steps, num_envs)).astype(np.float32)
    env_ids = np.arange(num_envs, dtype=np.float32)
    history = []
    for step in range(num_steps):
        state = np.stack([env_ids, np.full(num_envs, step, np.float32), np.zeros(num_envs)], -1)
        next_state = state + np.array([0.0, 0.0, 1.0])  # marks "next" and keeps env/step
        history.append(
            {
                "state": state.astype(np.float32),
                "privileged_state": np.stack([env_ids * 1000 + step, -env_ids], -1),
                "action": np.stack([env_ids, np.full(num_envs, -step, np.float32)], -1),
                "reward": rewards[step],
                "next_state": next_state.astype(np.float32),
                "next_privileged_state": np.stack([env_ids * 1000 + step + 0.5, -env_ids], -1),
                "terminated": np.asarray(terminated[step], bool),
                "truncated": np.asarray(truncated[step], bool),
                "task_id": (np.arange(num_envs) * 100 + step).astype(np.int32),
            }
        )
    return history


def to_transition(record) -> replay.Transition:
    return replay.Transition(
        obs={"state": record["state"], "privileged_state": record["privileged_state"]},
        action=record["action"],
        reward=record["reward"],
        next_obs={
            "state": record["next_state"],
            "privileged_state": record["next_privileged_state"],
        },
        terminated=record["terminated"],
        truncated=record["truncated"],
        task_id=record["task_id"],
    )


def fill(history, num_envs, capacity):
    state = replay.init_replay(example_transition(), num_envs, capacity)
    add = jax.jit(replay.add)
    for record in history:
        state = add(state, to_transition(record))
    return state


def reference_window(history, env, start, n_step, gamma):
    """Walks the n-step window from (env, start) one step at a time."""
    newest = len(history) - 1
    n_step_return, steps_taken = 0.0, 0
    for i in range(n_step):
        step = start + i
        if step > newest:
            break
        n_step_return += gamma**i * float(history[step]["reward"][env])
        steps_taken += 1
        if history[step]["terminated"][env] or history[step]["truncated"][env]:
            break
    last = history[start + steps_taken - 1]
    discount = 0.0 if last["terminated"][env] else gamma**steps_taken
    return {
        "reward": n_step_return,
        "steps": steps_taken,
        "discount": discount,
        "next_state": last["next_state"][env],
        "next_privileged_state": last["next_privileged_state"][env],
        "state": history[start]["state"][env],
        "privileged_state": history[start]["privileged_state"][env],
        "action": history[start]["action"][env],
        "task_id": history[start]["task_id"][env],
    }


def check_batch_against_reference(batch, history, num_envs, capacity, n_step, gamma):
    """Checks every row; returns the sampled (env, start) pairs."""
    batch = jax.tree.map(np.asarray, batch)
    batch_size = batch.reward.shape[0]
    samples_per_env = batch_size // num_envs
    oldest = max(0, len(history) - capacity)
    starts = []
    for row in range(batch_size):
        env, start = int(batch.obs["state"][row, 0]), int(batch.obs["state"][row, 1])
        assert env == row // samples_per_env, "rows must be env-major, env-pure"
        assert oldest <= start < len(history), "sampled an unstored (stale or unwritten) slot"
        expected = reference_window(history, env, start, n_step, gamma)
        np.testing.assert_allclose(batch.reward[row], expected["reward"], rtol=1e-5, atol=1e-5)
        assert batch.steps[row] == expected["steps"]
        np.testing.assert_allclose(batch.discount[row], expected["discount"], rtol=1e-6)
        np.testing.assert_array_equal(batch.next_obs["state"][row], expected["next_state"])
        np.testing.assert_array_equal(
            batch.next_obs["privileged_state"][row], expected["next_privileged_state"]
        )
        np.testing.assert_array_equal(batch.obs["state"][row], expected["state"])
        np.testing.assert_array_equal(
            batch.obs["privileged_state"][row], expected["privileged_state"]
        )
        np.testing.assert_array_equal(batch.action[row], expected["action"])
        assert batch.task_id[row] == expected["task_id"]
        starts.append((env, start))
    return starts


def test_init_shapes_and_nbytes():
    state = replay.init_replay(example_transition(), num_envs=4, capacity_per_env=7)
    assert state.data.obs["state"].shape == (4, 7, OBS_DIM)
    assert state.data.obs["privileged_state"].shape == (4, 7, PRIVILEGED_DIM)
    assert state.data.reward.shape == (4, 7)
    assert state.data.terminated.dtype == jnp.bool_
    assert state.data.task_id.dtype == jnp.int32
    assert int(state.position) == 0 and int(state.size) == 0
    floats_per_step = 2 * (OBS_DIM + PRIVILEGED_DIM) + ACTION_DIM + 1
    expected_bytes = 4 * 7 * (4 * floats_per_step + 1 + 1 + 4) + 4 + 4
    assert tree_nbytes(state) == expected_bytes
    assert tree_nbytes(jax.eval_shape(lambda: state)) == expected_bytes


def test_wrap_around_keeps_newest_items_in_their_slots():
    num_envs, capacity, num_steps = 2, 5, 12
    history = make_history(num_envs, num_steps, np.random.default_rng(0))
    state = fill(history, num_envs, capacity)
    assert int(state.size) == capacity
    assert int(state.position) == num_steps % capacity
    stored_steps = np.asarray(state.data.obs["state"][:, :, 1])
    for step in range(num_steps - capacity, num_steps):
        np.testing.assert_array_equal(stored_steps[:, step % capacity], [step, step])
    np.testing.assert_array_equal(np.asarray(state.data.obs["state"][:, :, 0]).T, [[0, 1]] * 5)
    # Before wrapping, size counts the items added.
    partial = fill(history[:3], num_envs, capacity)
    assert int(partial.size) == 3 and int(partial.position) == 3


@pytest.mark.parametrize(
    "num_steps,capacity,n_step",
    [
        (40, 16, 3),  # wrapped buffer, typical n
        (40, 16, 1),  # one-step transitions
        (11, 16, 5),  # buffer not yet full
        (4, 16, 8),  # n_step larger than the stored count
        (40, 6, 9),  # n_step larger than the capacity
    ],
)
def test_sample_matches_reference_for_every_start(num_steps, capacity, n_step):
    num_envs, samples_per_env, gamma = 3, 600, 0.9
    history = make_history(num_envs, num_steps, np.random.default_rng(num_steps + n_step))
    state = fill(history, num_envs, capacity)
    batch = jitted_sample(
        state, jax.random.key(1), batch_size=num_envs * samples_per_env, n_step=n_step, gamma=gamma
    )
    assert batch.reward.shape == (num_envs * samples_per_env,)
    assert batch.obs["state"].shape == (num_envs * samples_per_env, OBS_DIM)
    assert batch.steps.dtype == jnp.int32
    starts = check_batch_against_reference(batch, history, num_envs, capacity, n_step, gamma)
    stored = range(max(0, num_steps - capacity), num_steps)
    for env in range(num_envs):
        env_starts = [start for sampled_env, start in starts if sampled_env == env]
        assert len(env_starts) == samples_per_env
        # Uniform over the stored steps: every one is drawn, none far off its expected count.
        counts = np.bincount(np.asarray(env_starts) - stored.start, minlength=len(stored))
        expected_count = samples_per_env / len(stored)
        assert np.all(np.abs(counts - expected_count) < 6 * np.sqrt(expected_count) + 1)


def test_truncation_bootstraps_and_termination_does_not():
    num_envs, num_steps, capacity, gamma = 1, 10, 16, 0.5
    terminated = np.zeros((num_steps, num_envs), bool)
    truncated = np.zeros((num_steps, num_envs), bool)
    truncated[3, 0] = True
    terminated[7, 0] = True
    history = make_history(num_envs, num_steps, np.random.default_rng(3), terminated, truncated)
    rewards = [float(record["reward"][0]) for record in history]
    state = fill(history, num_envs, capacity)
    batch = jax.tree.map(
        np.asarray, jitted_sample(state, jax.random.key(0), batch_size=400, n_step=3, gamma=gamma)
    )
    by_start = {int(batch.obs["state"][row, 1]): row for row in range(400)}
    assert sorted(by_start) == list(range(num_steps))

    row = by_start[2]  # steps 2, 3; step 3 truncated: bootstrap from its final obs
    assert batch.steps[row] == 2
    np.testing.assert_allclose(batch.reward[row], rewards[2] + gamma * rewards[3], rtol=1e-6)
    np.testing.assert_allclose(batch.discount[row], gamma**2)
    np.testing.assert_array_equal(batch.next_obs["state"][row], [0.0, 3.0, 1.0])

    row = by_start[3]  # the truncated step itself
    assert batch.steps[row] == 1 and np.isclose(batch.discount[row], gamma)

    row = by_start[4]  # steps 4, 5, 6: a full window
    assert batch.steps[row] == 3
    np.testing.assert_allclose(batch.discount[row], gamma**3)
    np.testing.assert_array_equal(batch.next_obs["state"][row], [0.0, 6.0, 1.0])

    row = by_start[6]  # steps 6, 7; step 7 terminated: no bootstrap
    assert batch.steps[row] == 2 and batch.discount[row] == 0.0
    np.testing.assert_array_equal(batch.next_obs["state"][row], [0.0, 7.0, 1.0])

    row = by_start[8]  # steps 8, 9; 9 is the newest stored step
    assert batch.steps[row] == 2 and np.isclose(batch.discount[row], gamma**2)
    row = by_start[9]  # the newest step alone
    assert batch.steps[row] == 1 and np.isclose(batch.discount[row], gamma)
    np.testing.assert_allclose(batch.reward[row], rewards[9], rtol=1e-6)


def test_one_step_is_the_plain_transition():
    num_envs, num_steps, capacity, gamma = 2, 9, 9, 0.97
    history = make_history(num_envs, num_steps, np.random.default_rng(4))
    state = fill(history, num_envs, capacity)
    batch = jax.tree.map(
        np.asarray, jitted_sample(state, jax.random.key(2), batch_size=200, n_step=1, gamma=gamma)
    )
    for row in range(200):
        env, start = int(batch.obs["state"][row, 0]), int(batch.obs["state"][row, 1])
        record = history[start]
        assert batch.steps[row] == 1
        assert batch.reward[row] == record["reward"][env]
        np.testing.assert_allclose(
            batch.discount[row], gamma * (1.0 - float(record["terminated"][env])), rtol=1e-6
        )
        np.testing.assert_array_equal(batch.next_obs["state"][row], record["next_state"][env])


def test_sample_is_jittable_inside_scan_and_rejects_uneven_batches():
    num_envs, capacity = 2, 8
    history = make_history(num_envs, 12, np.random.default_rng(5))
    transitions = jax.tree.map(lambda *xs: jnp.stack(xs), *[to_transition(r) for r in history])

    @jax.jit
    def fill_and_sample(key):
        def body(state, transition):
            return replay.add(state, transition), None

        state = replay.init_replay(example_transition(), num_envs, capacity)
        state, _ = jax.lax.scan(body, state, transitions)
        sample = functools.partial(replay.sample, batch_size=64, n_step=3, gamma=0.9)
        return state, sample(state, key)

    state, batch = fill_and_sample(jax.random.key(0))
    assert int(state.position) == 12 % capacity and int(state.size) == capacity
    check_batch_against_reference(batch, history, num_envs, capacity, 3, 0.9)
    with pytest.raises(ValueError):
        replay.sample(state, jax.random.key(0), batch_size=63, n_step=3, gamma=0.9)
