"""The function an exported policy computes, and its named inputs and output.

The deterministic actor of a checkpoint with the observation normaliser folded in (its mean
and variance become constants of the graph): raw observations in, actions in [-1, 1] out,
the batch dimension symbolic. The observation input is named after what the env gives the
actor: ``state`` for tasks with dict observations (G1, T1: the actor reads
``obs["state"]``, never the privileged state), ``obs`` for vector observations.

A multi-task run is exported either with the task as an input (``task_id``, int32, one per
row; the observation padded to the largest task's size, the action too), or for one fixed
task (`task`), which takes that task's own observation size and returns its own action size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fastbrc.deploy.errors import DeployError


@dataclass(frozen=True)
class Tensor:
    """One input or output: ``[batch, size]`` (``[batch]`` when `size` is None)."""

    name: str
    size: int | None
    dtype: str  # "float32" or "int32"

    def describe(self) -> dict[str, Any]:
        shape = ["batch"] if self.size is None else ["batch", self.size]
        return {"name": self.name, "shape": shape, "dtype": self.dtype}

    def spec(self, batch: Any) -> jax.ShapeDtypeStruct:
        shape = (batch,) if self.size is None else (batch, self.size)
        return jax.ShapeDtypeStruct(shape, jnp.dtype(self.dtype))


@dataclass(frozen=True)
class Signature:
    """`fn` maps the `inputs` (positional, in order) to the `output`."""

    fn: Callable[..., jax.Array]
    inputs: tuple[Tensor, ...]
    output: Tensor
    task: str | None  # the fixed task, or None (all the run's tasks; `task_id` when several)

    def example(self, obs: np.ndarray, task_index: int = 0) -> dict[str, np.ndarray]:
        """Inputs for a batch of observations `obs` [n, obs size] (of `task_index`)."""
        feeds = {self.inputs[0].name: np.asarray(obs, np.float32)}
        if len(self.inputs) > 1:
            feeds[self.inputs[1].name] = np.full(len(obs), task_index, np.int32)
        return feeds


def policy_signature(
    policy: Any, tasks: dict[str, dict[str, Any]], task: str | None = None
) -> Signature:
    """The exported function of `policy` (a `fastbrc.run.policy.Policy`); `tasks` is the
    `task_info` of each of its tasks; `task` fixes one of them."""
    names = tuple(policy.tasks)
    if task is not None and task not in names:
        raise DeployError(f"--task {task!r} is not a task of this run ({', '.join(names)})")
    dict_obs = all(info["obs_keys"] is not None for info in tasks.values())
    obs_name = "state" if dict_obs else "obs"
    if task is None and len(names) == 1:
        task = names[0]
    if task is None:  # several tasks, the task id an input
        obs = Tensor(obs_name, policy.obs_size, "float32")
        task_id = Tensor("task_id", None, "int32")
        return Signature(
            policy.apply, (obs, task_id), Tensor("action", policy.action_size, "float32"), None
        )

    index = names.index(task)
    obs_size, action_size = tasks[task]["obs_size"], tasks[task]["action_size"]
    pad = policy.obs_size - obs_size

    def fixed(obs: jax.Array) -> jax.Array:
        padded = jnp.pad(obs, ((0, 0), (0, pad))) if pad else obs
        task_id = jnp.zeros(obs.shape[:1], jnp.int32) + index  # (jnp.full: no symbolic batch)
        return policy.apply(padded, task_id)[:, :action_size]

    obs = Tensor(obs_name, obs_size, "float32")
    return Signature(fixed, (obs,), Tensor("action", action_size, "float32"), task)
