"""CHUNK: `iterations_per_chunk` iterations (collect, then learn once the warm-up is in the
buffer) in one `lax.scan`, with the metrics reduced in the graph."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from fastbrc.core import parallel
from fastbrc.envs import BatchedEnv
from fastbrc.learner import metrics as m
from fastbrc.learner.agent import Agent
from fastbrc.learner.collect import collect
from fastbrc.learner.seeds import any_member
from fastbrc.learner.state import Metrics, TrainState
from fastbrc.learner.updates import learn, no_learning


def iteration(
    agent: Agent, env: BatchedEnv, shardings: Any, state: TrainState, sums: Metrics
) -> tuple[TrainState, Metrics]:
    """One step of every env and, once the buffer holds the warm-up, the updates; `sums`
    gains this iteration's metrics."""
    c = agent.config
    state = parallel.constrain(state, shardings)  # keep the scan carry split by env
    state, collect_metrics = collect(agent, env, state)
    # learn once the buffer holds the warm-up (for a fresh run: iteration >= learning
    # starts; after a resume without a saved buffer: once it has refilled)
    learning = state.replay.size >= min(c.learning_starts_iterations, c.replay_capacity_per_env)
    learning = any_member(learning, agent.seed_axis)  # the same in every seed
    state, update_metrics = jax.lax.cond(
        learning, lambda s: learn(agent, s), lambda s: no_learning(agent, s), state
    )
    update_metrics["train/critic_updates"] = learning * jnp.float32(c.updates_per_iteration)
    new = {**collect_metrics, **update_metrics}
    return state, {k: sums[k] + new[k].astype(jnp.float32) for k in sums}


def train_chunk(
    agent: Agent, env: BatchedEnv, shardings: Any, state: TrainState
) -> tuple[TrainState, Metrics]:
    """The chunk's scan; its metrics are means over the chunk (see `metrics.reduce`)."""
    iterations = agent.config.iterations_per_chunk

    def body(carry, _):
        return iteration(agent, env, shardings, *carry), None

    zero_sums = m.zeros(m.CHUNK_METRICS, agent.num_tasks)
    (state, sums), _ = jax.lax.scan(body, (state, zero_sums), None, length=iterations)
    metrics = m.reduce(sums, iterations)
    metrics["train/nonfinite"] = m.first_nonfinite(sums, state)
    scales = agent.reward_scales(state)
    metrics["train/reward_scale"] = jnp.mean(scales)
    metrics["train/tasks/reward_scale"] = scales
    metrics["train/alpha"] = jnp.exp(state.log_alpha)
    return state, metrics
