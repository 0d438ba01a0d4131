"""Per-task reward normalisation, with its statistics in the train state.

Tasks differ in reward scale by orders of magnitude, and one categorical critic has one fixed
value support, so each task's rewards are scaled before learning. Three rules, all per task:

``max_return``
    Track the largest absolute Monte-Carlo return seen for the task: for every finished
    episode, ``|sum_t gamma^t r_t|`` from its first step. Rewards are multiplied by
    ``target / max_abs_return``, so the best episode seen so far is worth ``target`` in the
    critic's units (pick ``target`` below ``v_max`` for headroom). This is the rule as the BRC
    paper words it; it can underestimate the largest value the critic must represent (-1 for
    20 steps, then +1 for 20 steps: the return from the first step is far smaller than the
    value-to-go from step 20), which then pushes targets past ``v_max``.
``max_value_to_go`` (BRC's released code, Nauman et al. 2025)
    For every finished episode of length ``T``, the value-to-go of every step,
    ``V_t = sum_{t<=k<T} gamma^(k-t) r_k + gamma^(T-t) B``, where a truncated episode bootstraps
    with ``B = mean(r_0..r_{T-1}) / (1 - gamma)`` (the episode's mean reward over the effective
    horizon) and a terminated one with ``B = 0``; the task's statistic is the largest ``|V_t|``
    over all steps and episodes. (``RewardNormalizer`` in BRC's ``jaxrl/normalizer.py`` keeps
    the smallest and the largest ``V_t`` and divides by the larger magnitude, which is the
    same number.) Each env's rewards of its running episode are kept in the state
    (``[num_envs, max episode length]``), and an episode's ``V_t`` are computed in the graph
    when it ends, with a log-depth reverse scan.
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

from fastbrc.core import segments

MODES = ("none", "max_return", "max_value_to_go", "return_std")


@struct.dataclass
class RewardStats:
    max_abs_return: jax.Array  # [num_tasks] largest |discounted episode return| seen
    episode_return: jax.Array  # [num_envs] discounted return of the running episode so far
    running_return: jax.Array  # [num_envs] G <- gamma * G * (1 - done) + r
    mean: jax.Array  # [num_tasks] running mean of G
    var: jax.Array  # [num_tasks] running (population) variance of G
    count: jax.Array  # [num_tasks] number of G values folded in
    max_abs_value: jax.Array  # [num_tasks] largest |value-to-go| of a finished episode's steps
    # [num_envs, H] rewards of each env's running episode, by step (H = 0: not kept; entries
    # at or past the current step are stale and masked)
    episode_rewards: jax.Array


def init_stats(num_tasks: int, num_envs: int, max_episode_length: int = 0) -> RewardStats:
    """`max_episode_length` > 0 keeps the running episodes' rewards (``max_value_to_go``)."""
    zeros_t, zeros_e = jnp.zeros(num_tasks), jnp.zeros(num_envs)
    history = jnp.zeros((num_envs, max_episode_length))
    return RewardStats(zeros_t, zeros_e, zeros_e, zeros_t, zeros_t, zeros_t, zeros_t, history)


def effective_horizon(gamma: float) -> float:
    """1 / (1 - gamma), the bootstrap's horizon (gamma capped at 0.999 so gamma = 1 works)."""
    return 1.0 / (1.0 - min(gamma, 0.999))


def episode_max_abs_value(
    rewards: jax.Array, length: jax.Array, truncated: jax.Array, gamma: float
) -> jax.Array:
    """[N] largest ``|V_t|`` over ``t < length`` of episodes whose rewards are the first
    `length` entries of each row of `rewards` [N, H] (see the module doc for ``V_t`` and the
    bootstrap of `truncated` episodes). 0 for `length` 0."""
    horizon = rewards.shape[-1]
    length = jnp.clip(length, 0, horizon)
    steps = jnp.arange(horizon + 1)
    valid = steps[None, :horizon] < length[:, None]
    rewards = jnp.where(valid, rewards, 0.0)
    mean_reward = rewards.sum(-1) / jnp.maximum(length, 1)
    bootstrap = jnp.where(truncated, mean_reward * effective_horizon(gamma), 0.0)
    # V_k = a_k V_{k+1} + b_k over k = 0..H with V_{H+1} = 0: (gamma, r_k) inside the episode,
    # (0, B) at k = length (so V_length = B), (0, 0) after it
    padded = jnp.concatenate([rewards, jnp.zeros_like(rewards[:, :1])], axis=-1)
    inside = steps[None] < length[:, None]
    at_end = steps[None] == length[:, None]
    a = jnp.where(inside, jnp.float32(gamma), 0.0)
    b = jnp.where(inside, padded, jnp.where(at_end, bootstrap[:, None], 0.0))

    def compose(later, earlier):  # apply `later` (k+1..) first, then `earlier` (k)
        a_late, b_late = later
        a_early, b_early = earlier
        return a_early * a_late, a_early * b_late + b_early

    _, values = jax.lax.associative_scan(compose, (a, b), reverse=True, axis=1)
    return jnp.max(jnp.where(inside, jnp.abs(values), 0.0), axis=-1)


def update_stats(
    stats: RewardStats,
    reward: jax.Array,
    done: jax.Array,
    episode_step: jax.Array,
    task_id: jax.Array,
    num_tasks: int,
    gamma: float,
    truncated: jax.Array | None = None,
) -> RewardStats:
    """Fold one step of every env in. `episode_step` is the step index of `reward` within its
    episode (0 for the first step); `done` ends the episode after this step; `truncated`
    (default: none) marks the done episodes that hit a time limit and bootstrap."""
    reward = reward.astype(jnp.float32)
    done = done.astype(bool)
    max_abs_value, history = stats.max_abs_value, stats.episode_rewards
    if history.shape[-1] > 0:  # max_value_to_go: BRC's released rule
        truncated = jnp.zeros_like(done) if truncated is None else truncated.astype(bool)
        envs = jnp.arange(reward.shape[0])
        history = history.at[envs, episode_step].set(reward, mode="drop")

        def finished_values():
            values = episode_max_abs_value(history, episode_step + 1, truncated, gamma)
            values = jnp.where(done, values, 0.0)
            return segments.segment_max(values, task_id, num_tasks)

        per_task = jax.lax.cond(
            jnp.any(done), finished_values, lambda: jnp.zeros_like(max_abs_value)
        )
        max_abs_value = jnp.maximum(max_abs_value, per_task)
    # BRC: discounted return from the episode's first step, recorded when it ends
    episode_return = stats.episode_return + gamma ** episode_step.astype(jnp.float32) * reward
    finished = jnp.where(done, jnp.abs(episode_return), 0.0)
    per_task_max = segments.segment_max(finished, task_id, num_tasks)
    max_abs_return = jnp.maximum(stats.max_abs_return, per_task_max)
    # running return and its per-task variance (Chan et al. parallel merge)
    running = gamma * stats.running_return + reward
    n = segments.segment_sum(jnp.ones_like(running), task_id, num_tasks)
    batch_mean = segments.segment_sum(running, task_id, num_tasks) / jnp.maximum(n, 1)
    centred = running - batch_mean[task_id]
    batch_var = segments.segment_sum(centred**2, task_id, num_tasks) / jnp.maximum(n, 1)
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
        max_abs_value=max_abs_value,
        episode_rewards=history,
    )


def task_scales(
    stats: RewardStats,
    mode: str,
    target: float,
    entropy_return: jax.Array | None = None,
    eps: float = 1e-6,
) -> jax.Array:
    """[num_tasks] reward multipliers (1 for `mode == "none"` and for tasks without data);
    `target` is the value the best return (value-to-go) maps to under `max_return`
    (`max_value_to_go`); `entropy_return`
    ([num_tasks], SAC's alpha x |target entropy| / (1 - gamma)) is the entropy bonus's
    share of a soft return, added to the largest return (BRC's entropy correction)."""
    if mode == "none":
        return jnp.ones_like(stats.max_abs_return)
    if mode in ("max_return", "max_value_to_go"):
        largest = stats.max_abs_return if mode == "max_return" else stats.max_abs_value
        ready = largest > eps
        if entropy_return is not None:  # SAC: the soft return also holds the entropy bonus
            largest = largest + entropy_return
        return jnp.where(ready, target / jnp.maximum(largest, eps), 1.0)
    if mode == "return_std":
        std = jnp.sqrt(stats.var)
        ready = (stats.count > 1) & (std > eps)
        return jnp.where(ready, 1.0 / jnp.maximum(std, eps), 1.0)
    raise ValueError(f"unknown reward normalisation {mode!r}; expected one of {MODES}")
