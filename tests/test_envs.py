"""Tests of fastbrc.envs: probe envs, auto-reset semantics, multi-task padding, loading errors."""

from __future__ import annotations

import functools
import subprocess

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fastbrc.envs import (
    BatchedEnv,
    EnvLoadError,
    ProbeBandit,
    ProbeChain,
    ProbePrivileged,
    ProbeTruncation,
    list_envs,
    load_env,
)
from fastbrc.envs.probes import PROBE_ENVS, ProbeBlowup


def rollout(env: BatchedEnv, num_steps: int, action: jax.Array | None = None, seed: int = 0):
    """Reset, then step `num_steps` times with a fixed action inside one jitted scan."""
    if action is None:
        action = jnp.zeros((env.num_envs, env.spec.action_size), jnp.float32)

    @jax.jit
    def run(key: jax.Array):
        initial = env.reset(key)

        def body(state, _):
            state, result = env.step(state, action)
            return state, (result, state.episode_step)

        final, (results, episode_steps) = jax.lax.scan(body, initial, None, length=num_steps)
        return initial, final, results, episode_steps

    return jax.device_get(run(jax.random.PRNGKey(seed)))


def test_final_observation_kept_on_auto_reset():
    env = BatchedEnv(["ProbeChain"], 3)
    initial, _, results, _ = rollout(env, 7)
    obs, next_obs = results.obs["state"][..., 0], results.next_obs["state"][..., 0]
    done_step = ProbeChain.CHAIN_LENGTH - 1
    assert results.terminated[done_step].all()
    assert not results.terminated[:done_step].any()
    # The true final observation (0 steps remaining), not the reset one.
    np.testing.assert_allclose(next_obs[done_step], 0.0)
    # The observation to act on next is the reset observation.
    np.testing.assert_allclose(obs[done_step], initial.obs["state"][:, 0])
    np.testing.assert_allclose(obs[done_step], 1.0)
    # Off the done step both agree, counting down the chain again after the reset.
    np.testing.assert_allclose(next_obs[:done_step], obs[:done_step])
    np.testing.assert_allclose(next_obs[:, 0], [0.8, 0.6, 0.4, 0.2, 0.0, 0.8, 0.6], atol=1e-6)


def test_auto_reset_draws_fresh_randomness():
    env = BatchedEnv(["ProbeBandit"], 64)
    initial, _, results, _ = rollout(env, 3)
    obs, next_obs = results.obs["state"][..., 0], results.next_obs["state"][..., 0]
    assert results.terminated.all()
    # The bandit keeps its context through the step: next_obs is the pre-reset observation.
    np.testing.assert_array_equal(next_obs[0], initial.obs["state"][:, 0])
    np.testing.assert_array_equal(next_obs[1:], obs[:-1])
    # Each reset draws a new context for some envs and differs across envs.
    assert (obs[0] != initial.obs["state"][:, 0]).any()
    assert (obs[1] != obs[0]).any()
    assert len(np.unique(obs[0])) == 2


def test_terminated_episodes():
    env = BatchedEnv(["ProbeConstant"], 4)
    _, final, results, episode_steps = rollout(env, 3)
    assert results.terminated.all()
    assert not results.truncated.any()
    np.testing.assert_array_equal(results.episode_length, 1)
    np.testing.assert_allclose(results.episode_return, 1.0)
    np.testing.assert_array_equal(episode_steps, 0)
    np.testing.assert_array_equal(final.episode_return, 0.0)


def test_truncated_exactly_at_time_limit():
    limit = ProbeTruncation.DEFAULT_EPISODE_LENGTH
    env = BatchedEnv(["ProbeTruncation"], 2)
    assert env.spec.episode_lengths == (limit,)
    _, _, results, episode_steps = rollout(env, 2 * limit + 5)
    assert not results.terminated.any()
    truncated_steps = np.flatnonzero(results.truncated[:, 0])
    np.testing.assert_array_equal(truncated_steps, [limit - 1, 2 * limit - 1])
    assert (results.truncated[:, 0] == results.truncated[:, 1]).all()
    np.testing.assert_array_equal(results.episode_length[truncated_steps], limit)
    np.testing.assert_allclose(results.episode_return[truncated_steps], float(limit))
    np.testing.assert_array_equal(results.episode_length[: limit - 1], 0)
    np.testing.assert_array_equal(episode_steps[:limit, 0], list(range(1, limit)) + [0])
    # A truncated episode's next_obs is the (constant) last observation, never NaN/zero.
    np.testing.assert_allclose(results.next_obs["state"][truncated_steps], 1.0)


def test_without_auto_reset_finished_envs_step_on():
    limit = ProbeTruncation.DEFAULT_EPISODE_LENGTH
    env = BatchedEnv(["ProbeTruncation"], 2)
    action = jnp.zeros((2, env.spec.action_size), jnp.float32)

    @functools.partial(jax.jit, static_argnums=1)
    def run(key: jax.Array, auto_reset: bool):
        def body(state, _):
            return env.step(state, action, auto_reset=auto_reset)

        return jax.lax.scan(body, env.reset(key), None, length=limit + 3)

    final, results = jax.device_get(run(jax.random.PRNGKey(0), False))
    np.testing.assert_array_equal(np.flatnonzero(results.truncated[:, 0]), [limit - 1])
    np.testing.assert_array_equal(results.obs["state"], results.next_obs["state"])
    np.testing.assert_array_equal(final.task_states[0].info["steps"], limit + 3)
    reset, _ = jax.device_get(run(jax.random.PRNGKey(0), True))
    np.testing.assert_array_equal(reset.task_states[0].info["steps"], 3)


def test_resized_batch_shares_the_loaded_envs():
    env = BatchedEnv(
        ["ProbeBandit", "ProbeTruncation"], 4, envs_per_task=[1, 3], episode_length=7,
        min_obs_size=5,
    )  # fmt: skip
    other = env.resized(6)
    assert all(a is b for a, b in zip(other.envs, env.envs, strict=True))
    assert other.num_envs == 6
    assert other.spec.envs_per_task == (3, 3)
    np.testing.assert_array_equal(other.task_ids, [0, 0, 0, 1, 1, 1])
    for field in ("task_names", "obs_size", "action_size", "episode_lengths", "action_repeats"):
        assert getattr(other.spec, field) == getattr(env.spec, field), field
    state = other.reset(jax.random.PRNGKey(0))
    assert state.obs["state"].shape == (6, 5)


def test_shorter_training_episodes_truncate_training_only():
    """`train_episode_length`: the training batch truncates there (and resets), the
    evaluation batch keeps the env's own limit; both share the loaded env."""
    from fastbrc.config import Config
    from fastbrc.learner.factory import make_envs

    limit = ProbeTruncation.DEFAULT_EPISODE_LENGTH
    config = Config(env="ProbeTruncation", num_envs=2, train_episode_length=6)
    env, eval_env = make_envs(config.agent, 3)
    assert env.spec.episode_lengths == (6,) and eval_env.spec.episode_lengths == (limit,)
    assert env.num_envs == 2 and eval_env.num_envs == 3 and env.envs[0] is eval_env.envs[0]
    _, _, results, _ = rollout(env, 14)
    np.testing.assert_array_equal(np.flatnonzero(results.truncated[:, 0]), [5, 11])
    np.testing.assert_array_equal(results.episode_length[[5, 11], 0], 6)
    _, _, results, _ = rollout(eval_env, limit)
    np.testing.assert_array_equal(np.flatnonzero(results.truncated[:, 0]), [limit - 1])
    default_env, default_eval = make_envs(Config(env="ProbeTruncation", num_envs=2).agent, 3)
    assert default_env.spec.episode_lengths == default_eval.spec.episode_lengths == (limit,)


def test_episode_length_and_action_repeat_overrides():
    env = BatchedEnv(["ProbeTruncation"], 1, episode_length=12, action_repeat=3)
    assert env.spec.episode_lengths == (4,)
    assert env.spec.action_repeats == (3,)
    _, _, results, _ = rollout(env, 8)
    np.testing.assert_allclose(results.reward, 3.0)
    np.testing.assert_array_equal(np.flatnonzero(results.truncated[:, 0]), [3, 7])
    np.testing.assert_allclose(results.episode_return[3], 12.0)


def test_action_repeat_stops_at_termination():
    # Chain of 5 steps with action repeat 2: agent steps cover 2, 2 and then only 1 env step.
    env = BatchedEnv(["ProbeChain"], 1, action_repeat=2)
    _, _, results, _ = rollout(env, 4)
    np.testing.assert_allclose(results.reward[:, 0], [2.0, 2.0, 1.0, 2.0])
    np.testing.assert_array_equal(results.terminated[:, 0], [False, False, True, False])
    np.testing.assert_allclose(results.next_obs["state"][2, 0], 0.0)
    np.testing.assert_allclose(results.episode_return[2, 0], 5.0)
    np.testing.assert_array_equal(results.episode_length[2, 0], 3)


def test_multi_task_padding_masks_and_task_ids():
    env = BatchedEnv(["ProbeBandit", "ProbePrivileged", "ProbeChain"], 6, envs_per_task=[2, 3, 1])
    spec = env.spec
    assert spec.num_tasks == env.num_tasks == 3
    assert spec.envs_per_task == (2, 3, 1)
    assert (spec.obs_size, spec.privileged_obs_size, spec.action_size) == (2, 4, 2)
    assert spec.task_obs_sizes == (1, 2, 1)
    assert spec.task_privileged_obs_sizes == (1, 4, 1)
    assert spec.task_action_sizes == (1, 2, 1)
    np.testing.assert_array_equal(np.asarray(env.task_ids), [0, 0, 1, 1, 1, 2])
    np.testing.assert_array_equal(spec.obs_mask, [[1, 0], [1, 1], [1, 0]])
    np.testing.assert_array_equal(spec.action_mask, [[1, 0], [1, 1], [1, 0]])
    np.testing.assert_array_equal(
        spec.privileged_obs_mask, [[1, 0, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]]
    )
    assert spec.obs_mask.dtype == np.float32
    hash(spec)  # static: usable as a jit static argument

    state = jax.jit(env.reset)(jax.random.PRNGKey(1))
    actor, critic = np.asarray(state.obs["state"]), np.asarray(state.obs["privileged_state"])
    assert actor.shape == (6, 2) and critic.shape == (6, 4)
    task_ids = np.asarray(env.task_ids)
    # Padding dims are zero; tasks without privileged obs show their (padded) state.
    np.testing.assert_array_equal(actor * (1 - spec.obs_mask[task_ids]), 0.0)
    np.testing.assert_array_equal(critic * (1 - spec.privileged_obs_mask[task_ids]), 0.0)
    np.testing.assert_array_equal(critic[task_ids != 1, :1], actor[task_ids != 1, :1])
    np.testing.assert_array_equal(critic[task_ids == 1, :2], actor[task_ids == 1])
    np.testing.assert_allclose(actor[5], [1.0, 0.0])  # chain start: 5 of 5 steps remaining

    step = jax.jit(env.step)
    base = jnp.zeros((6, 2))
    noisy_padding = base.at[:, 1].set(jnp.array([0.7, -0.9, 0.0, 0.0, 0.0, 0.3]))
    _, result_base = step(state, base)
    _, result_noisy = step(state, noisy_padding)
    np.testing.assert_array_equal(result_base.reward, result_noisy.reward)
    # The second action dim is real for ProbePrivileged: changing it changes the reward.
    _, result_real = step(state, base.at[2:5, 1].set(0.5))
    assert (np.asarray(result_real.reward)[2:5] != np.asarray(result_base.reward)[2:5]).all()
    np.testing.assert_array_equal(result_base.task_id, task_ids)


def test_dict_and_flat_observations():
    dict_env = BatchedEnv(["ProbePrivileged"], 4)
    state = jax.jit(dict_env.reset)(jax.random.PRNGKey(0))
    assert set(state.obs) == {"state", "privileged_state"}
    assert state.obs["state"].shape == (4, 2)
    assert state.obs["privileged_state"].shape == (4, 4)
    assert state.obs["state"].dtype == jnp.float32
    np.testing.assert_array_equal(state.obs["privileged_state"][:, :2], state.obs["state"])
    _, result = jax.jit(dict_env.step)(state, jnp.zeros((4, 2)))
    assert set(result.next_obs) == {"state", "privileged_state"}

    flat_env = BatchedEnv(["ProbeBandit"], 4)
    assert flat_env.spec.privileged_obs_size is None
    assert flat_env.spec.privileged_obs_mask is None
    flat_state = jax.jit(flat_env.reset)(jax.random.PRNGKey(0))
    assert set(flat_state.obs) == {"state"}
    assert flat_state.obs["state"].shape == (4, 1)


def test_probe_optimal_values_match_rollout_returns():
    gamma = 0.9
    chain = ProbeChain()
    env = BatchedEnv(["ProbeChain"], 1)
    _, _, results, _ = rollout(env, ProbeChain.CHAIN_LENGTH)
    rewards = results.reward[:, 0]
    obs = np.concatenate([[[1.0]], results.obs["state"][:-1, 0]])  # obs acted on at each step
    returns = [sum(gamma**i * r for i, r in enumerate(rewards[t:])) for t in range(len(rewards))]
    np.testing.assert_allclose(chain.optimal_value(jnp.asarray(obs), gamma), returns, rtol=1e-6)

    obs = jnp.array([[1.0], [-1.0]])
    np.testing.assert_allclose(ProbeTruncation().optimal_value(obs, gamma), [10.0, 10.0])
    bandit = ProbeBandit()
    np.testing.assert_allclose(bandit.optimal_action(obs), [[0.5], [-0.5]])
    state = bandit.reset(jax.random.PRNGKey(3))
    best = bandit.step(state, bandit.optimal_action(state.obs))
    worse = bandit.step(state, bandit.optimal_action(state.obs) + 0.3)
    np.testing.assert_allclose(best.reward, bandit.optimal_value(state.obs[None], gamma)[0])
    assert worse.reward < best.reward


def assert_all_finite(tree) -> None:
    for path, leaf in jax.tree_util.tree_leaves_with_path(jax.device_get(tree)):
        assert np.isfinite(np.asarray(leaf)).all(), jax.tree_util.keystr(path)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_nan_physics_resets_env_and_reports_truncation(jit):
    env = BatchedEnv(["ProbeBlowup"], 4)
    reset = jax.jit(env.reset) if jit else env.reset
    step = jax.jit(env.step) if jit else env.step
    state = reset(jax.random.PRNGKey(0))
    blowup, safe = jnp.array([[1.0], [-1.0], [1.0], [-1.0]]), -jnp.ones((4, 1))
    flagged = [True, False, True, False]

    new_state, result = step(state, blowup)
    np.testing.assert_array_equal(result.nan_reset, flagged)
    assert_all_finite(result)
    assert_all_finite(new_state)
    np.testing.assert_array_equal(result.reward, [0.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(result.truncated, flagged)
    assert not np.asarray(result.terminated).any()
    # Blown-up envs store the observation they acted in; the others the true next one.
    np.testing.assert_array_equal(result.next_obs["state"][:, 0], [0.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(result.episode_return, [0.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(result.episode_length, [1, 0, 1, 0])
    np.testing.assert_array_equal(new_state.episode_step, [0, 1, 0, 1])
    np.testing.assert_array_equal(new_state.episode_return, [0.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(result.obs["state"][:, 0], [0.0, 1.0, 0.0, 1.0])

    state, result = step(new_state, safe)
    assert not np.asarray(result.nan_reset).any()
    assert not np.asarray(result.truncated).any()
    np.testing.assert_array_equal(result.reward, 1.0)
    np.testing.assert_array_equal(state.episode_step, [1, 2, 1, 2])

    # Mid-episode blow-up: next_obs is the pre-step obs, not the reset one; the return is
    # that of the finite steps.
    state, result = step(state, jnp.ones((4, 1)))
    np.testing.assert_array_equal(result.nan_reset, True)
    assert_all_finite((state, result))
    np.testing.assert_array_equal(result.next_obs["state"][:, 0], [1.0, 2.0, 1.0, 2.0])
    np.testing.assert_array_equal(result.obs["state"][:, 0], 0.0)
    np.testing.assert_array_equal(result.episode_return, [1.0, 2.0, 1.0, 2.0])
    np.testing.assert_array_equal(result.episode_length, [2, 3, 2, 3])
    np.testing.assert_array_equal(state.episode_step, 0)


def test_nan_reset_multi_task_flags_only_blowup_envs():
    env = BatchedEnv(["ProbeBlowup", "ProbePrivileged"], 5, envs_per_task=[3, 2])
    assert env.spec.task_obs_sizes == (1, 2)
    state = jax.jit(env.reset)(jax.random.PRNGKey(0))
    # Action dim 0 is 1.0 for the ProbePrivileged envs too: only ProbeBlowup can blow up.
    action = jnp.array([[1.0, 0.3], [-1.0, 0.3], [1.0, 0.3], [1.0, 0.3], [1.0, -0.3]])
    new_state, result = jax.jit(env.step)(state, action)
    np.testing.assert_array_equal(result.nan_reset, [True, False, True, False, False])
    assert_all_finite((new_state, result))
    np.testing.assert_array_equal(result.truncated, [True, False, True, False, False])
    np.testing.assert_array_equal(result.terminated, [False, False, False, True, True])
    np.testing.assert_array_equal(result.reward[:3], [0.0, 1.0, 0.0])
    target = ProbePrivileged._target(state.obs["state"][3:])
    expected = 1.0 - jnp.mean((action[3:] - target) ** 2, axis=-1)
    np.testing.assert_allclose(result.reward[3:], expected, rtol=1e-6)
    for key in ("state", "privileged_state"):
        next_obs, acted = np.asarray(result.next_obs[key]), np.asarray(state.obs[key])
        np.testing.assert_array_equal(next_obs[[0, 2]], acted[[0, 2]])
        np.testing.assert_array_equal(next_obs[3:], acted[3:])  # bandit keeps its context
    np.testing.assert_array_equal(result.next_obs["state"][1], [1.0, 0.0])
    np.testing.assert_array_equal(new_state.episode_step, [0, 1, 0, 0, 0])


def _finite_except(keep_nan: str):
    """A ProbeBlowup whose blow-up leaves only `keep_nan` non-finite and never sets done."""

    class PartialBlowup(ProbeBlowup):
        def step(self, state, action):
            stepped = super().step(state, action)
            fixed = {
                "obs": jnp.nan_to_num(stepped.obs),
                "reward": jnp.nan_to_num(stepped.reward),
                "data": jax.tree.map(jnp.nan_to_num, stepped.data),
            }
            del fixed[keep_nan]
            return stepped.replace(done=jnp.zeros_like(stepped.done), **fixed)

    return PartialBlowup


@pytest.mark.parametrize("keep_nan", ["obs", "reward", "data"])
def test_nan_reset_from_each_source(monkeypatch, keep_nan):
    monkeypatch.setitem(PROBE_ENVS, "ProbePartialBlowup", _finite_except(keep_nan))
    env = BatchedEnv(["ProbePartialBlowup"], 2)
    state = env.reset(jax.random.PRNGKey(0))
    new_state, result = jax.jit(env.step)(state, jnp.array([[1.0], [-1.0]]))
    np.testing.assert_array_equal(result.nan_reset, [True, False])
    np.testing.assert_array_equal(result.truncated, [True, False])
    assert_all_finite((new_state, result))
    np.testing.assert_array_equal(new_state.episode_step, [0, 1])


def test_probe_blowup_optimal_policy_never_blows_up():
    probe = ProbeBlowup()
    limit = ProbeBlowup.DEFAULT_EPISODE_LENGTH
    obs = jnp.array([[0.0], [7.0]])
    np.testing.assert_allclose(probe.optimal_value(obs, 0.9), [10.0, 10.0], rtol=1e-6)
    np.testing.assert_array_equal(probe.optimal_action(obs), [[-1.0], [-1.0]])
    env = BatchedEnv(["ProbeBlowup"], 2)
    _, _, results, _ = rollout(env, limit + 3, action=probe.optimal_action(jnp.zeros((2, 1))))
    assert not results.nan_reset.any() and not results.terminated.any()
    np.testing.assert_array_equal(np.flatnonzero(results.truncated[:, 0]), [limit - 1])
    np.testing.assert_allclose(results.episode_return[limit - 1], float(limit))
    np.testing.assert_allclose(results.reward, 1.0)


def test_unknown_name_suggests_close_matches():
    with pytest.raises(EnvLoadError) as excinfo:
        load_env("HumanoidWalkk")
    message = str(excinfo.value)
    assert "unknown environment 'HumanoidWalkk'" in message
    assert "did you mean: HumanoidWalk" in message
    assert "list_envs()" in message and "\n" not in message
    with pytest.raises(EnvLoadError, match="did you mean: ProbeChain"):
        BatchedEnv(["probechain"], 2)
    assert "HumanoidWalk" in list_envs() and "ProbeChain" in list_envs()


def test_bad_arguments_rejected():
    with pytest.raises(EnvLoadError, match="unknown impl 'cuda'"):
        load_env("CartpoleBalance", impl="cuda")
    with pytest.raises(EnvLoadError, match="unknown impl"):
        BatchedEnv(["ProbeBandit"], 2, impl="mjx")
    with pytest.raises(EnvLoadError, match="not divisible"):
        BatchedEnv(["ProbeBandit", "ProbeChain"], 3)
    with pytest.raises(EnvLoadError, match="sums to 4, not 5"):
        BatchedEnv(["ProbeBandit", "ProbeChain"], 5, envs_per_task=[2, 2])
    with pytest.raises(EnvLoadError, match="invalid config override for 'CartpoleBalance'"):
        load_env("CartpoleBalance", config_overrides={"no_such_key": 1})
    with pytest.raises(EnvLoadError, match="invalid config override for 'ProbeChain'"):
        load_env("ProbeChain", config_overrides={"no_such_key": 1})
    with pytest.raises(EnvLoadError, match="episode_length must be a positive int"):
        BatchedEnv(["ProbeChain"], 1, episode_length=0)


def _menagerie_path():
    from mujoco_playground._src import mjx_env

    return mjx_env.MENAGERIE_PATH


def test_missing_menagerie_error_when_clone_fails(monkeypatch, tmp_path):
    """Simulates an offline clone, whatever the machine's network or menagerie state."""
    from mujoco_playground._src import mjx_env

    def failing_clone(repo_url: str, target_path: str, commit_sha: str) -> None:
        raise subprocess.CalledProcessError(128, ["git", "clone", repo_url, target_path])

    missing = tmp_path / "external_deps" / "mujoco_menagerie"
    monkeypatch.setattr(mjx_env, "EXTERNAL_DEPS_PATH", tmp_path / "external_deps")
    monkeypatch.setattr(mjx_env, "MENAGERIE_PATH", missing)
    monkeypatch.setattr(mjx_env, "_clone_with_progress", failing_clone)
    with pytest.raises(EnvLoadError) as excinfo:
        load_env("G1JoystickFlatTerrain")
    message = str(excinfo.value)
    assert "MuJoCo Menagerie meshes are missing at " + str(missing) in message
    assert f"git clone https://github.com/google-deepmind/mujoco_menagerie {missing}" in message
    assert mjx_env.MENAGERIE_COMMIT_SHA in message and "\n" not in message


@pytest.mark.skipif(_menagerie_path().exists(), reason="MuJoCo Menagerie is installed")
def test_missing_menagerie_error_offline():
    with pytest.raises(EnvLoadError) as excinfo:
        load_env("G1JoystickFlatTerrain")
    message = str(excinfo.value)
    assert "menagerie" in message.lower() and "git clone" in message
