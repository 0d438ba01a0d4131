"""`EnvSpec`: the static (never traced) shape description of a batched, possibly multi-task env."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """Static layout of a `BatchedEnv`; hashable, so it can be a static jit argument.

    Tasks are contiguous groups of envs in `task_names` order. Observation and action
    dimensions are padded to the maximum over tasks; `obs_mask` / `action_mask` mark a task's
    real dimensions with 1. `episode_lengths` are time limits in agent steps (after action
    repeat). `privileged_obs_size` is None when no task has a "privileged_state" observation.
    """

    task_names: tuple[str, ...]
    num_envs: int
    envs_per_task: tuple[int, ...]
    obs_size: int
    privileged_obs_size: int | None
    action_size: int
    task_obs_sizes: tuple[int, ...]
    task_privileged_obs_sizes: tuple[int, ...] | None
    task_action_sizes: tuple[int, ...]
    episode_lengths: tuple[int, ...]
    action_repeats: tuple[int, ...]

    @property
    def num_tasks(self) -> int:
        return len(self.task_names)

    @property
    def task_ids(self) -> np.ndarray:
        """int32 [num_envs]: the task index of each env."""
        return np.repeat(np.arange(self.num_tasks, dtype=np.int32), self.envs_per_task)

    @property
    def obs_mask(self) -> np.ndarray:
        """float32 [num_tasks, obs_size]: 1 for each task's real actor-observation dims."""
        return _prefix_mask(self.task_obs_sizes, self.obs_size)

    @property
    def privileged_obs_mask(self) -> np.ndarray | None:
        """float32 [num_tasks, privileged_obs_size], or None without privileged observations."""
        if self.privileged_obs_size is None or self.task_privileged_obs_sizes is None:
            return None
        return _prefix_mask(self.task_privileged_obs_sizes, self.privileged_obs_size)

    @property
    def action_mask(self) -> np.ndarray:
        """float32 [num_tasks, action_size]: 1 for each task's real action dims."""
        return _prefix_mask(self.task_action_sizes, self.action_size)


def _prefix_mask(sizes: tuple[int, ...], width: int) -> np.ndarray:
    return (np.arange(width)[None, :] < np.asarray(sizes)[:, None]).astype(np.float32)
