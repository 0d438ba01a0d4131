"""EVALUATE: the deterministic policy, one episode per eval env, fully on device."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fastbrc.core import parallel
from fastbrc.envs import BatchedEnv
from fastbrc.learner.agent import Agent
from fastbrc.learner.metrics import per_task_mean
from fastbrc.learner.state import Metrics, TrainState


def evaluate(agent: Agent, eval_env: BatchedEnv, state: TrainState, key: jax.Array) -> Metrics:
    """Mean and std of the eval return, mean episode length; also per task. Episodes run to
    the longest time limit of the eval tasks (no auto-reset; a finished env stops counting)."""

    def step(carry, _):
        env_state, ret, length, active = carry
        action = agent.policy(state, env_state.obs, eval_env.task_ids)
        env_state, out = eval_env.step(env_state, action, auto_reset=False)
        ret = ret + jnp.where(active, out.reward, 0.0)
        length = length + active.astype(jnp.int32)
        active = active & ~(out.terminated | out.truncated)
        return (env_state, ret, length, active), None

    n = eval_env.spec.num_envs
    eval_state = eval_env.reset(key)
    shardings = parallel.env_state_shardings(eval_state, agent.mesh)
    eval_state = parallel.constrain(eval_state, shardings)
    init_carry = (eval_state, jnp.zeros(n), jnp.zeros(n, jnp.int32), jnp.ones(n, bool))
    max_episode_length = max(eval_env.spec.episode_lengths)
    (_, ret, length, _), _ = jax.lax.scan(step, init_carry, None, length=max_episode_length)
    task, num_tasks = eval_env.task_ids, agent.num_tasks
    return {
        "eval/episode_return": ret.mean(),
        "eval/episode_return_std": ret.std(),
        "eval/episode_length": length.mean(),
        "eval/tasks/episode_return": per_task_mean(ret, task, num_tasks),
        "eval/tasks/episode_length": per_task_mean(length.astype(jnp.float32), task, num_tasks),
    }
