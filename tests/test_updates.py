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


def test_sac_without_entropy_backup_targets_the_rewards_alone():
    """`sac_backup_entropy=False`: same next action, the target's reward term is the batch's
    reward (the soft target adds -discount * alpha * log pi'), and the normaliser counts no
    entropy return."""
    config = dataclasses.replace(TINY, actor="sac", env="ProbeTruncation")  # discount > 0
    env, _ = make_envs(config.agent, config.num_eval_envs)
    soft = make_agent(config.agent, env.spec, parallel.make_mesh(1))
    plain = make_agent(
        dataclasses.replace(config, sac_backup_entropy=False).agent,
        env.spec,
        parallel.make_mesh(1),
    )
    state = jax.jit(lambda k: init_state(soft, env, k))(jax.random.PRNGKey(0))
    step = jax.jit(lambda s: collect(soft, env, s))
    for _ in range(4):
        state, _ = step(state)
    batch = sample_batch(soft, state, jax.random.PRNGKey(1))
    key = jax.random.PRNGKey(2)
    soft_action, soft_reward = soft.actor.target(state, batch, key)
    plain_action, plain_reward = plain.actor.target(state, batch, key)
    np.testing.assert_array_equal(plain_action, soft_action)
    np.testing.assert_array_equal(plain_reward, batch.reward)
    _, log_prob = soft.actor.sample(
        state.actor_params, state.critic_params, batch.next_obs, batch.task_id, key
    )
    alpha = np.exp(float(state.log_alpha))
    expected = batch.reward - batch.discount * alpha * log_prob
    np.testing.assert_allclose(soft_reward, expected, rtol=1e-5, atol=1e-6)
    assert np.abs(np.asarray(soft_reward - plain_reward)).max() > 1e-3
    assert float(soft.actor.entropy_return(state)[0]) > 0
    np.testing.assert_array_equal(plain.actor.entropy_return(state), [0.0])


def test_sac_config_reaches_the_temperature_rule():
    """`sac_target_entropy_per_dim` and `sac_alpha_min` from the config reach the agent."""
    config = dataclasses.replace(TINY, actor="sac")
    env, _ = make_envs(config.agent, config.num_eval_envs)
    changed = dataclasses.replace(config, sac_target_entropy_per_dim=1.0, sac_alpha_min=0.01)
    base = make_agent(config.agent, env.spec, parallel.make_mesh(1)).actor
    agent = make_agent(changed.agent, env.spec, parallel.make_mesh(1)).actor
    sizes = np.asarray(env.spec.task_action_sizes, np.float32)
    np.testing.assert_array_equal(base.task_entropy, -sizes / 2)
    np.testing.assert_array_equal(agent.task_entropy, -sizes)
    assert (base.alpha_min, agent.alpha_min) == (0.0, 0.01)
