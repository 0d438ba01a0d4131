"""The metrics of a chunk: reduced in the graph (sums carried through the scan, turned into
means at its end), the non-finite check, and the per-task keys expanded on the host.

Keys are namespaced (``train/...``, ``eval/...``); a ``/tasks/`` key holds one value per task.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from fastbrc.core import segments
from fastbrc.learner.state import Metrics, TrainState

# Keys of the in-graph metric sums carried through the chunk; `reduce` turns them into means.
COLLECT_METRICS = (
    "train/episode_return",
    "train/episode_length",
    "train/episodes",
    "train/reward",
    "train/nan_env_resets",
    "train/tasks/episode_return",
    "train/tasks/episodes",
)
CRITIC_METRICS = ("train/critic_loss", "train/q_mean", "train/target_q_mean")
TASK_CRITIC_METRICS = ("train/tasks/critic_loss", "train/tasks/q_mean")
LEARN_METRICS = (
    *CRITIC_METRICS,
    *TASK_CRITIC_METRICS,
    "train/actor_loss",
    "train/actor_updates",
)
CHUNK_METRICS = (*COLLECT_METRICS, *LEARN_METRICS, "train/critic_updates")

# What `train/nonfinite` names: 0 when all are finite, else 1 + the index of the first bad one.
NONFINITE_CHECKS = (
    "train/critic_loss",
    "train/q_mean",
    "train/target_q_mean",
    "train/actor_loss",
    "critic parameters",
    "actor parameters",
)


def per_task_sum(x: jax.Array, task_id: jax.Array, num_tasks: int) -> jax.Array:
    return segments.segment_sum(x, task_id, num_tasks)


def per_task_mean(x: jax.Array, task_id: jax.Array, num_tasks: int) -> jax.Array:
    count = per_task_sum(jnp.ones_like(x), task_id, num_tasks)
    return per_task_sum(x, task_id, num_tasks) / jnp.maximum(count, 1.0)


def zeros(keys: tuple[str, ...], num_tasks: int) -> Metrics:
    """A zero for each key: ``[num_tasks]`` for per-task keys, a scalar otherwise."""
    return {k: jnp.zeros((num_tasks,) if "/tasks/" in k else ()) for k in keys}


def _all_finite(tree: Any) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves))


def first_nonfinite(sums: Metrics, state: TrainState) -> jax.Array:
    """0 if every quantity in NONFINITE_CHECKS is finite, else 1 + the index of the first bad.

    A sum over the chunk is non-finite iff one of its terms was, so one reduction per metric
    covers every update; the parameters are checked once, at the end of the chunk.
    """
    finite = jnp.stack(
        [jnp.isfinite(sums[k]) for k in NONFINITE_CHECKS[:4]]
        + [_all_finite(state.critic_params), _all_finite(state.actor_params)]
    )
    return jnp.where(jnp.all(finite), 0, 1 + jnp.argmin(finite)).astype(jnp.int32)


def reduce(sums: Metrics, iterations: int) -> Metrics:
    """Turn in-graph sums into means over the right counts (NaN when nothing was counted)."""
    safe = lambda total, count: jnp.where(count > 0, total / jnp.maximum(count, 1.0), jnp.nan)
    episodes = sums["train/episodes"]
    critic_updates = sums["train/critic_updates"]
    out = {
        "train/episode_return": safe(sums["train/episode_return"], episodes),
        "train/episode_length": safe(sums["train/episode_length"], episodes),
        "train/episodes": episodes,
        "train/reward": sums["train/reward"] / iterations,
        "train/nan_env_resets": sums["train/nan_env_resets"],
        "train/critic_updates": critic_updates,
        "train/actor_updates": sums["train/actor_updates"],
        "train/actor_loss": safe(sums["train/actor_loss"], sums["train/actor_updates"]),
    }
    for k in (*CRITIC_METRICS, *TASK_CRITIC_METRICS):
        out[k] = safe(sums[k], critic_updates)
    out["train/tasks/episode_return"] = safe(
        sums["train/tasks/episode_return"], sums["train/tasks/episodes"]
    )
    return out


def expand_task_metrics(metrics: dict[str, Any], task_names: tuple[str, ...]) -> dict[str, Any]:
    """Host side: ``"train/tasks/q_mean": [T]`` -> ``"train/<Task>/q_mean"`` per task (only for
    multi-task runs; a single task's per-task values equal the overall ones and are dropped)."""
    out = {}
    for key, value in metrics.items():
        if "/tasks/" not in key:
            out[key] = value
        elif len(task_names) > 1:
            for name, item in zip(task_names, value, strict=True):
                out[key.replace("/tasks/", f"/{name}/")] = item
    return out
