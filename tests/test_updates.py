"""The learner's update functions called alone: each changes only what it owns."""

import dataclasses

import jax
import numpy as np
import pytest
from configs import TINY  # tests/configs.py

from fastbrc.core import parallel
from fastbrc.learner import make_envs
from fastbrc.learner.agent import make_agent
from fastbrc.learner.collect import collect
from fastbrc.learner.factory import init_state
from fastbrc.learner.updates import actor_update, critic_update, gradient_step, sample_batch


def _same(a, b) -> bool:
    return all(
        np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


@pytest.mark.parametrize("actor", ["td3", "sac"])
def test_critic_and_actor_updates_change_only_their_own_networks(actor):
    config = dataclasses.replace(TINY, actor=actor)
    env, _ = make_envs(config.agent, config.num_eval_envs)
    agent = make_agent(config.agent, env.spec, parallel.make_mesh(1))
    state = jax.jit(lambda k: init_state(agent, env, k))(jax.random.PRNGKey(0))
    step = jax.jit(lambda s: collect(agent, env, s))
    for _ in range(8):
        state, _ = step(state)
    batch = jax.jit(lambda s, k: sample_batch(agent, s, k))(state, jax.random.PRNGKey(1))

    after_critic, metrics = jax.jit(lambda s, b, k: critic_update(agent, s, b, k))(
        state, batch, jax.random.PRNGKey(2)
    )
    assert np.isfinite(metrics["train/critic_loss"])
    assert not _same(after_critic.critic_params, state.critic_params)
    assert not _same(after_critic.target_critic_params, state.target_critic_params)
    assert _same(after_critic.actor_params, state.actor_params)
    assert _same(after_critic.log_alpha, state.log_alpha)

    after_actor, loss = jax.jit(lambda s, b, k: actor_update(agent, s, b, k))(
        state, batch, jax.random.PRNGKey(3)
    )
    assert np.isfinite(loss)
    assert not _same(after_actor.actor_params, state.actor_params)
    assert _same(after_actor.critic_params, state.critic_params)
    # only SAC has a temperature to learn
    assert _same(after_actor.log_alpha, state.log_alpha) == (actor == "td3")

    stepped, step_metrics = jax.jit(lambda s, k: gradient_step(agent, s, k))(
        state, jax.random.PRNGKey(4)
    )
    assert int(stepped.gradient_steps) == int(state.gradient_steps) + 1
    assert float(step_metrics["train/actor_updates"]) == 1.0  # step 0 updates the actor
