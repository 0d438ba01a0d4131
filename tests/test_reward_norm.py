"""Per-task reward normalisation against a slow, per-env Python reference."""

import math

import jax
import numpy as np
import pytest

from fastbrc.core import reward_norm as rn


def reference(rewards, dones, task_ids, num_tasks, gamma):
    """Loops over time and envs; returns per-task max |episode return| and (mean, var) of G."""
    steps, num_envs = rewards.shape
    best = [0.0] * num_tasks
    values = [[] for _ in range(num_tasks)]
    episode, t_in_episode, running = [0.0] * num_envs, [0] * num_envs, [0.0] * num_envs
    for t in range(steps):
        for e in range(num_envs):
            r, task = float(rewards[t, e]), int(task_ids[e])
            episode[e] += gamma ** t_in_episode[e] * r
            running[e] = gamma * running[e] + r
            values[task].append(running[e])
            t_in_episode[e] += 1
            if dones[t, e]:
                best[task] = max(best[task], abs(episode[e]))
                episode[e], t_in_episode[e], running[e] = 0.0, 0, 0.0
    return (
        np.array(best),
        np.array([np.mean(v) for v in values]),
        np.array([np.var(v) for v in values]),
    )


def run(rewards, dones, task_ids, num_tasks, gamma):
    stats = rn.init_stats(num_tasks, rewards.shape[1])
    step = np.zeros(rewards.shape[1], np.int32)
    update = jax.jit(rn.update_stats, static_argnums=(5,))
    for t in range(rewards.shape[0]):
        stats = update(stats, rewards[t], dones[t], step, task_ids, num_tasks, gamma)
        step = np.where(dones[t], 0, step + 1)
    return stats


def test_statistics_match_the_slow_reference_per_task():
    rng = np.random.default_rng(0)
    steps, num_envs, num_tasks, gamma = 60, 6, 3, 0.9
    task_ids = np.array([0, 0, 1, 1, 2, 2], np.int32)
    # tasks with rewards of very different scales and episode lengths
    scale = np.array([1.0, 1.0, 50.0, 50.0, -0.01, -0.01])
    rewards = (rng.random((steps, num_envs)) * scale).astype(np.float32)
    dones = rng.random((steps, num_envs)) < np.array([0.05, 0.05, 0.2, 0.2, 0.1, 0.1])
    stats = run(rewards, dones, task_ids, num_tasks, gamma)
    best, mean, var = reference(rewards, dones, task_ids, num_tasks, gamma)
    np.testing.assert_allclose(stats.max_abs_return, best, rtol=1e-5)
    np.testing.assert_allclose(stats.mean, mean, rtol=1e-4)
    np.testing.assert_allclose(stats.var, var, rtol=1e-3)
    np.testing.assert_array_equal(stats.count, [2 * steps] * 3)


def test_tasks_are_independent():
    """Changing one task's rewards leaves the other tasks' statistics bit-identical."""
    rng = np.random.default_rng(1)
    task_ids = np.array([0, 1, 1], np.int32)
    rewards = rng.random((30, 3)).astype(np.float32)
    dones = rng.random((30, 3)) < 0.1
    a = run(rewards, dones, task_ids, 2, 0.99)
    rewards[:, 0] *= 1000.0
    b = run(rewards, dones, task_ids, 2, 0.99)
    for name in ("max_abs_return", "mean", "var", "count"):
        np.testing.assert_array_equal(getattr(a, name)[1], getattr(b, name)[1])
        assert name == "count" or getattr(a, name)[0] != getattr(b, name)[0]


def test_scales():
    stats = rn.init_stats(2, 2)
    np.testing.assert_array_equal(rn.task_scales(stats, "max_return", 5.0), [1.0, 1.0])
    stats = stats.replace(
        max_abs_return=np.array([0.0, 20.0]),
        var=np.array([4.0, 0.25]),
        count=np.array([10.0, 10.0]),
    )
    np.testing.assert_allclose(rn.task_scales(stats, "max_return", 5.0), [1.0, 0.25])
    np.testing.assert_allclose(rn.task_scales(stats, "return_std", 5.0), [0.5, 2.0])
    np.testing.assert_array_equal(rn.task_scales(stats, "none", 5.0), [1.0, 1.0])
    with pytest.raises(ValueError, match="unknown reward normalisation"):
        rn.task_scales(stats, "bogus", 5.0)
    assert math.isclose(float(rn.task_scales(stats, "max_return", 8.0)[1]), 0.4, rel_tol=1e-6)


def test_sac_entropy_correction_enlarges_the_return_the_target_maps_to():
    stats = rn.init_stats(2, 2).replace(max_abs_return=np.array([10.0, 0.0]))
    entropy_return = np.array([6.0, 6.0])  # alpha |H_target| / (1 - gamma)
    scales = rn.task_scales(stats, "max_return", 8.0, entropy_return)
    # 8 / (10 + 6) for the task with data; still 1 for the task without a finished episode
    np.testing.assert_allclose(scales, [0.5, 1.0])
