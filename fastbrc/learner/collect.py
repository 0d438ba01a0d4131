"""COLLECT: one step of every training env, stored in the replay buffer.

normalise obs -> explore (TD3: the policy + per-env noise; SAC: a policy sample; uniform
random actions during the warm-up) -> vmapped env step (auto-reset keeps the true final obs)
-> ring-buffer add (raw observations) -> observation and per-task reward statistics update.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fastbrc.core import normalization as norm
from fastbrc.core import replay as rb
from fastbrc.core import reward_norm as rn
from fastbrc.envs import BatchedEnv
from fastbrc.learner.agent import Agent
from fastbrc.learner.metrics import per_task_sum
from fastbrc.learner.state import Metrics, TrainState


def collect(agent: Agent, env: BatchedEnv, state: TrainState) -> tuple[TrainState, Metrics]:
    c = agent.config
    rng, k_noise, k_random, k_std = jax.random.split(state.rng, 4)
    obs = state.env_state.obs
    normalized = agent.nets.normalize(state.obs_stats, obs)
    explore = agent.actor.explore(state, normalized, env.task_ids, k_noise)
    uniform = jax.random.uniform(k_random, explore.shape, minval=-1.0, maxval=1.0)
    action = jnp.where(state.iteration < c.learning_starts_iterations, uniform, explore)
    # step every env; auto-reset keeps the true final observation in next_obs
    env_state, step = env.step(state.env_state, action, sync_axis=agent.seed_axis)
    # store raw observations; they are normalised with the current statistics at update
    transition = rb.Transition(
        obs=obs,
        action=action,
        reward=step.reward,
        next_obs=step.next_obs,
        terminated=step.terminated,
        truncated=step.truncated,
        task_id=step.task_id,
    )
    obs_stats = norm.update_stats(state.obs_stats, obs) if c.obs_normalization else state.obs_stats
    done = step.terminated | step.truncated
    reward_stats = rn.update_stats(
        state.reward_stats,
        step.reward,
        done,
        state.env_state.episode_step,  # the step index of this reward in its episode
        step.task_id,
        agent.num_tasks,
        c.gamma,
        truncated=step.truncated,
    )
    num_envs = agent.spec.num_envs
    new_std = jax.random.uniform(k_std, (num_envs,), minval=c.std_min, maxval=c.std_max)
    state = state.replace(
        env_state=env_state,
        replay=rb.add(state.replay, transition),
        obs_stats=obs_stats,
        reward_stats=reward_stats,
        noise_std=jnp.where(done, new_std, state.noise_std),
        rng=rng,
        iteration=state.iteration + 1,
    )
    return state, _collect_metrics(step, done, agent.num_tasks)


def _collect_metrics(step, done: jax.Array, num_tasks: int) -> Metrics:
    finished_return = jnp.where(done, step.episode_return, 0.0)
    return {
        "train/episode_return": jnp.sum(finished_return),
        "train/episode_length": jnp.sum(jnp.where(done, step.episode_length, 0)),
        "train/episodes": jnp.sum(done),
        "train/reward": jnp.mean(step.reward),
        "train/nan_env_resets": jnp.sum(step.nan_reset),
        "train/tasks/episode_return": per_task_sum(finished_return, step.task_id, num_tasks),
        "train/tasks/episodes": per_task_sum(done.astype(jnp.float32), step.task_id, num_tasks),
    }
