"""HumanoidWalk (MJX, impl='jax', offline) through the fused trainer: a short smoke run."""

import jax
import numpy as np
import pytest

from fastbrc.config import Config
from fastbrc.runner import build


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
