"""Data parallelism with `jax.sharding`: one mesh axis over the devices, split along the envs.

Every per-env array of the train state (env states, current observations, exploration noise,
the replay buffer, per-env return statistics) is split along its leading env axis over the
``envs`` axis of a 1-D `Mesh`; everything else (networks, optimiser states, normaliser
statistics, counters, rng) is replicated. The trainer jits its chunk with these shardings and
pins the scan carry to them, and XLA's SPMD partitioner does the rest inside the same
compiled chunk: each device steps its own envs and samples its own slice of the batch (the
batch is env-major, so a device's rows come from its own envs: no buffer ever moves), and
the reductions that span envs — the gradient of the batch-mean loss, the observation
normaliser's moments, per-task return statistics, metrics — become all-reduces.

Random numbers are drawn for the global shapes with partitionable threefry (JAX's default),
so a run on D devices draws the same numbers as on one: the same global config gives the
same learning up to float summation order. One device is a mesh of one, the same code path.

Multi-host: call `initialize_distributed` (the CLI does, given ``--coordinator-address`` or
``--distributed``) before anything touches a device; the mesh then spans every process's
devices and each process steps its own devices' envs.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from fastbrc.errors import ConfigError

AXIS = "envs"


def initialize_distributed(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
    """`jax.distributed.initialize`, with ``JAX_NUM_PROCESSES`` / ``JAX_PROCESS_ID`` read from
    the environment when not given (JAX itself reads ``JAX_COORDINATOR_ADDRESS``). With no
    arguments at all JAX detects SLURM, Open MPI or a TPU pod."""
    if num_processes is None and os.environ.get("JAX_NUM_PROCESSES"):
        num_processes = int(os.environ["JAX_NUM_PROCESSES"])
    if process_id is None and os.environ.get("JAX_PROCESS_ID"):
        process_id = int(os.environ["JAX_PROCESS_ID"])
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
    )


def make_mesh(num_devices: int = 0) -> Mesh:
    """A 1-D mesh over the first `num_devices` of `jax.devices()` (0: all of them)."""
    devices = jax.devices()
    if num_devices > len(devices):
        raise ConfigError(
            f"--num-devices {num_devices} but JAX sees {len(devices)} "
            f"{devices[0].platform.upper()} device(s)"
        )
    if num_devices:
        devices = devices[:num_devices]
    return Mesh(np.asarray(devices), (AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def on_mesh(key: jax.Array, mesh: Mesh) -> jax.Array:
    """`key` replicated on `mesh`, like the train state's leaves.

    Inside a program, an array's type names the mesh it lies on, and JAX's trace cache keys
    on types: keys that enter init and evaluation on the mesh let those programs reuse the
    envs' reset and step traces from the training chunk (seconds of Python per MJX trace).
    """
    if jax.process_count() > 1:  # placing host data across processes: keep it as it is
        return key  # (same results; only the trace reuse is lost)
    return jax.device_put(key, replicated(mesh))


@dataclasses.dataclass(frozen=True)
class KeysOnMesh:
    """The jitted `fn` with its PRNG-key arguments (`key_argnums`) put on `mesh` first."""

    fn: Any
    mesh: Mesh
    key_argnums: tuple[int, ...]

    def _place(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(
            on_mesh(arg, self.mesh) if index in self.key_argnums else arg
            for index, arg in enumerate(args)
        )

    def __call__(self, *args: Any) -> Any:
        return self.fn(*self._place(args))

    def lower(self, *args: Any) -> Any:
        return self.fn.lower(*self._place(args))


def env_split(mesh: Mesh) -> NamedSharding:
    """Leading (env or batch) axis split over the devices."""
    return NamedSharding(mesh, P(AXIS))


def per_env(tree: Any, mesh: Mesh) -> Any:
    """Shardings for a tree whose every leaf has a leading env axis (scalars: replicated)."""
    split, rep = env_split(mesh), replicated(mesh)
    return jax.tree.map(lambda leaf: split if len(leaf.shape) >= 1 else rep, tree)


def env_state_shardings(env_state: Any, mesh: Mesh) -> Any:
    """A `BatchedEnv` state: every per-env leaf split, the auto-reset key replicated."""
    return per_env(env_state, mesh).replace(rng=replicated(mesh))


def state_shardings(state: Any, mesh: Mesh) -> Any:
    """Shardings for a `TrainState` (arrays or `jax.ShapeDtypeStruct`s): see module doc."""
    rep = replicated(mesh)
    out = jax.tree.map(lambda _: rep, state)
    stats = out.reward_stats
    split = env_split(mesh)
    out = out.replace(
        env_state=env_state_shardings(state.env_state, mesh),
        noise_std=split,
        reward_stats=stats.replace(
            episode_return=split, running_return=split, episode_rewards=split
        ),
    )
    if state.replay is not None:
        out = out.replace(replay=out.replay.replace(data=per_env(state.replay.data, mesh)))
    return out


def constrain(tree: Any, shardings: Any) -> Any:
    return jax.lax.with_sharding_constraint(tree, shardings)


def with_shardings(abstract: Any, shardings: Any) -> Any:
    """`jax.ShapeDtypeStruct`s of `abstract` carrying `shardings` (what a restore targets)."""
    return jax.tree.map(
        lambda leaf, sharding: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=sharding),
        abstract,
        shardings,
    )


def replicas_identical(tree: Any) -> bool:
    """True when every replicated leaf holds the same bytes on every local device."""
    for leaf in jax.tree.leaves(tree):
        if not isinstance(leaf, jax.Array) or not leaf.sharding.is_fully_replicated:
            continue
        shards = [np.asarray(shard.data) for shard in leaf.addressable_shards]
        if any(not np.array_equal(shards[0], s, equal_nan=True) for s in shards[1:]):
            return False
    return True
