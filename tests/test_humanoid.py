"""HumanoidWalk (MJX, impl='jax', offline) through the fused trainer: a short smoke run.

One compile of the humanoid serves both the env layer (what reached the replay buffer) and
the learner (finite losses); MJX compiles take about a minute on 2 CPU cores.
"""

import jax
import numpy as np
import pytest

from fastbrc.config import Config
from fastbrc.learner import build


@pytest.mark.slow
def test_humanoid_walk_two_chunks_have_finite_losses():
    config = Config(
        env="HumanoidWalk",
        num_envs=16,
        num_eval_envs=16,
        batch_size=64,
        replay_capacity_per_env=32,
        critic_width=64,
        actor_hidden=(64,),
        iterations_per_chunk=8,
        learning_starts_iterations=4,
        total_env_steps=256,
    )
    fns = build(config)
    assert fns.env.spec.obs_size == 67 and fns.env.spec.action_size == 21
    state = fns.init(jax.random.PRNGKey(0))
    # Unoptimised XLA code compiles several times faster; it is the same program.
    chunk = fns.train_chunk.lower(state).compile({"xla_backend_optimization_level": 0})
    for _ in range(2):
        state, metrics = chunk(state)
        metrics = jax.device_get(metrics)
        for key in ("train/critic_loss", "train/actor_loss", "train/q_mean", "train/reward"):
            assert np.isfinite(metrics[key]), (key, metrics)
    assert int(state.iteration) == 16 and int(state.gradient_steps) == 2 * (16 - 4 + 1)
    assert fns.trace_counts["train_chunk"] == 1
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(state.critic_params))

    # the env layer, read from the 16 stored steps of every env
    stored = jax.device_get(jax.tree.map(lambda x: x[:, :16], state.replay.data))
    assert stored.obs["state"].shape == stored.next_obs["state"].shape == (16, 16, 67)
    assert stored.action.shape == (16, 16, 21)
    assert np.isfinite(stored.obs["state"]).all() and np.isfinite(stored.reward).all()
    assert (stored.reward >= 0).all() and stored.reward.max() > 0
    # the humanoid terminates only on NaN physics, and its time limit is 1000 steps
    assert fns.env.spec.episode_lengths == (1000,)
    assert not stored.terminated.any() and not stored.truncated.any()
    # consecutive steps chain: the next obs of step t is the obs of step t + 1
    np.testing.assert_array_equal(stored.next_obs["state"][:, :-1], stored.obs["state"][:, 1:])
    env_state = jax.device_get(state.env_state)
    np.testing.assert_array_equal(env_state.episode_step, 16)
    np.testing.assert_allclose(env_state.episode_return, stored.reward.sum(axis=1), rtol=1e-5)
