"""LEARN: the critic update, the actor update and one gradient step (BRC's categorical critic
with FastTD3's update schedule). Each is a top-level function of the agent (fixed), the train
state and a key; the actor rule (TD3 or SAC) supplies what differs.

    gradient step   sample an n-step batch -> normalise obs, scale rewards per task ->
                    critic update -> every policy_frequency-th step: actor update
    critic update   target = projection of r + gamma^n Z'(s', a') onto the support (a' and
                    the reward from the actor rule; clipped double-Q or ensemble mean) ->
                    categorical cross-entropy -> AdamW -> Polyak critic target
    actor update    actor loss -> AdamW -> Polyak actor target -> temperature step (SAC)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fastbrc.core import distributional as dist
from fastbrc.core import losses, parallel
from fastbrc.core import replay as rb
from fastbrc.learner.agent import Agent
from fastbrc.learner.metrics import LEARN_METRICS, per_task_mean, zeros
from fastbrc.learner.seeds import any_member
from fastbrc.learner.state import Metrics, TrainState, apply_gradients, polyak


def critic_update(
    agent: Agent, state: TrainState, batch: rb.NStepBatch, key: jax.Array
) -> tuple[TrainState, Metrics]:
    """One critic step; `batch` arrives with normalised obs and scaled rewards."""
    c, nets, task = agent.config, agent.nets, batch.task_id
    next_action, reward = agent.actor.target(state, batch, key)
    next_logits = nets.critic_apply(state.target_critic_params, batch.next_obs, next_action, task)
    target = losses.target_distribution(
        next_logits,
        reward,
        batch.discount,
        agent.support,
        ensemble_mode=c.critic_target,
        value_target=c.value_target,
        hl_gauss_sigma=c.hl_gauss_sigma,
    )

    def loss_fn(params):
        logits = nets.critic_apply(params, batch.obs, batch.action, task)
        per_sample = losses.critic_loss_per_sample(logits, target)
        return per_sample.mean(), (logits, per_sample)

    (loss, (logits, per_sample)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.critic_params
    )
    params, opt_state = apply_gradients(
        agent.critic_opt, grads, state.critic_opt_state, state.critic_params
    )
    state = state.replace(
        critic_params=params,
        critic_opt_state=opt_state,
        target_critic_params=polyak(state.target_critic_params, params, c.tau),
    )
    q = losses.q_values(logits, agent.support).mean(axis=0)  # [B], ensemble mean
    metrics = {
        "train/critic_loss": loss,
        "train/q_mean": q.mean(),
        "train/target_q_mean": dist.expected_value(target, agent.support).mean(),
        "train/tasks/critic_loss": per_task_mean(per_sample, task, agent.num_tasks),
        "train/tasks/q_mean": per_task_mean(q, task, agent.num_tasks),
    }
    return state, metrics


def actor_update(
    agent: Agent, state: TrainState, batch: rb.NStepBatch, key: jax.Array | None
) -> tuple[TrainState, jax.Array]:
    """One actor step (and SAC's temperature step); returns the state and the actor loss."""
    obs, task = batch.obs, batch.task_id  # obs already normalised
    loss_fn = lambda params: agent.actor.loss(params, state, obs, task, key)
    (loss, log_prob), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.actor_params)
    params, opt_state = apply_gradients(
        agent.actor_opt, grads, state.actor_opt_state, state.actor_params
    )
    state = state.replace(
        actor_params=params,
        actor_opt_state=opt_state,
        target_actor_params=polyak(state.target_actor_params, params, agent.config.tau),
    )
    return agent.actor.temperature(state, log_prob, task), loss


def sample_batch(agent: Agent, state: TrainState, key: jax.Array) -> rb.NStepBatch:
    """An n-step batch with normalised observations and per-task scaled rewards."""
    c = agent.config
    batch = rb.sample(state.replay, key, c.batch_size, c.n_step, c.gamma)
    # rows are env-major, so each device's rows come from its own envs
    batch = parallel.constrain(batch, parallel.per_env(batch, agent.mesh))
    # the statistics don't change during learning: normalise once for critic and actor
    scales = agent.reward_scales(state)
    return batch.replace(
        obs=agent.nets.normalize(state.obs_stats, batch.obs),
        next_obs=agent.nets.normalize(state.obs_stats, batch.next_obs),
        reward=batch.reward * scales[batch.task_id],
    )


def gradient_step(agent: Agent, state: TrainState, key: jax.Array) -> tuple[TrainState, Metrics]:
    """A critic update, and an actor update every `policy_frequency`-th step."""
    k_sample, k_target, k_actor = agent.actor.split_update_key(key)
    batch = sample_batch(agent, state, k_sample)
    state, metrics = critic_update(agent, state, batch, k_target)
    update_actor = state.gradient_steps % agent.config.policy_frequency == 0
    update_actor = any_member(update_actor, agent.seed_axis)  # the same in every seed
    state, actor_loss = jax.lax.cond(
        update_actor,
        lambda s: actor_update(agent, s, batch, k_actor),
        lambda s: (s, jnp.zeros(())),
        state,
    )
    state = state.replace(gradient_steps=state.gradient_steps + 1)
    metrics["train/actor_loss"] = actor_loss
    metrics["train/actor_updates"] = update_actor.astype(jnp.float32)
    return state, metrics


def learn(agent: Agent, state: TrainState) -> tuple[TrainState, Metrics]:
    """`updates_per_iteration` gradient steps; their metrics summed."""
    rng, key = jax.random.split(state.rng)
    keys = jax.random.split(key, agent.config.updates_per_iteration)
    step = lambda s, k: gradient_step(agent, s, k)
    state, per_update = jax.lax.scan(step, state.replace(rng=rng), keys)
    return state, jax.tree.map(lambda x: jnp.sum(x, axis=0), per_update)


def no_learning(agent: Agent, state: TrainState) -> tuple[TrainState, Metrics]:
    """The other branch of `learn` (before the warm-up is in the buffer): zero metrics."""
    return state, zeros(LEARN_METRICS, agent.num_tasks)
