"""Per-task reward normalisation, with its statistics in the train state.

Tasks differ in reward scale by orders of magnitude, and one categorical critic has one fixed
value support, so each task's rewards are scaled before learning. Two rules, both per task:

``max_return`` (BRC, Nauman et al. 2025)
    Track the largest absolute Monte-Carlo return seen for the task: for every finished
    episode, ``|sum_t gamma^t r_t|`` from its first step. Rewards are multiplied by
    ``target / max_abs_return``, so the best episode seen so far is worth ``target`` in the
    critic's units (pick ``target`` below ``v_max`` for headroom).
``return_std``
    Track each env's running discounted return ``G <- gamma * G * (1 - done) + r`` and a
    running variance of ``G`` over the task's envs; rewards are multiplied by ``1 / std(G)``,
    so the task's returns have unit spread (SimBaV2 and FastTD3 scale rewards this way).

Until a task has data (no finished episode for ``max_return``; no step for ``return_std``)
its scale is 1. The scale is applied at sample time to the n-step reward sum (which is
linear in the rewards), so stored transitions stay raw, as with observation normalisation.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

MODES = ("none", "max_return", "return_std")


@struct.dataclass
class RewardStats:
    max_abs_return: jax.Array  # [num_tasks] largest |discounted episode return| seen
    episode_return: jax.Array  # [num_envs] discounted return of the running episode so far
    running_return: jax.Array  # [num_envs] G <- gamma * G * (1 - done) + r
    mean: jax.Array  # [num_tasks] running mean of G
    var: jax.Array  # [num_tasks] running (population) variance of G
    count: jax.Array  # [num_tasks] number of G values folded in


def init_stats(num_tasks: int, num_envs: int) -> RewardStats:
    zeros_t, zeros_e = jnp.zeros(num_tasks), jnp.zeros(num_envs)
    return RewardStats(zeros_t, zeros_e, zeros_e, zeros_t, zeros_t, zeros_t)


def update_stats(
    stats: RewardStats,
    reward: jax.Array,
    done: jax.Array,
    episode_step: jax.Array,
    task_id: jax.Array,
    num_tasks: int,
    gamma: float,
) -> RewardStats:
    """Fold one step of every env in. `episode_step` is the step index of `reward` within its
    episode (0 for the first step); `done` ends the episode after this step."""
    reward = reward.astype(jnp.float32)
    done = done.astype(bool)
    # BRC: discounted return from the episode's first step, recorded when it ends
    episode_return = stats.episode_return + gamma ** episode_step.astype(jnp.float32) * reward
    finished = jnp.where(done, jnp.abs(episode_return), 0.0)
    per_task_max = jax.ops.segment_max(finished, task_id, num_segments=num_tasks)
    max_abs_return = jnp.maximum(stats.max_abs_return, per_task_max)
    # running return and its per-task variance (Chan et al. parallel merge)
    running = gamma * stats.running_return + reward
    n = jax.ops.segment_sum(jnp.ones_like(running), task_id, num_segments=num_tasks)
    batch_mean = jax.ops.segment_sum(running, task_id, num_segments=num_tasks) / jnp.maximum(n, 1)
    centred = running - batch_mean[task_id]
    batch_var = jax.ops.segment_sum(centred**2, task_id, num_segments=num_tasks) / jnp.maximum(n, 1)
    total = stats.count + n
    delta = batch_mean - stats.mean
    safe_total = jnp.maximum(total, 1)
    mean = stats.mean + delta * n / safe_total
    m2 = stats.var * stats.count + batch_var * n + delta**2 * stats.count * n / safe_total
    return RewardStats(
        max_abs_return=max_abs_return,
        episode_return=jnp.where(done, 0.0, episode_return),
        running_return=jnp.where(done, 0.0, running),
        mean=mean,
        var=m2 / safe_total,
        count=total,
    )


def task_scales(
    stats: RewardStats,
    mode: str,
    target: float,
    entropy_return: jax.Array | None = None,
    eps: float = 1e-6,
) -> jax.Array:
    """[num_tasks] reward multipliers (1 for `mode == "none"` and for tasks without data);
    `target` is the value the best return maps to under `max_return`; `entropy_return`
    ([num_tasks], SAC's alpha x |target entropy| / (1 - gamma)) is the entropy bonus's
    share of a soft return, added to the largest return (BRC's entropy correction)."""
    if mode == "none":
        return jnp.ones_like(stats.max_abs_return)
    if mode == "max_return":
        ready = stats.max_abs_return > eps
        largest = stats.max_abs_return
        if entropy_return is not None:  # SAC: the soft return also holds the entropy bonus
            largest = largest + entropy_return
        return jnp.where(ready, target / jnp.maximum(largest, eps), 1.0)
    if mode == "return_std":
        std = jnp.sqrt(stats.var)
        ready = (stats.count > 1) & (std > eps)
        return jnp.where(ready, 1.0 / jnp.maximum(std, eps), 1.0)
    raise ValueError(f"unknown reward normalisation {mode!r}; expected one of {MODES}")
