"""Will a config fit? An estimate made before anything is allocated.

The train state is measured exactly from `jax.eval_shape` of `init` (no allocation); the
update's temporaries (activations and gradients of one batch through the critic ensemble,
the target critic and the actor) are estimated from the sizes in the config. The comparison
is against what the device reports as free: `memory_stats()` on accelerators, MemAvailable
from /proc/meminfo on the CPU backend.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from fastbrc.config import Config, ConfigError

GiB = 1024**3


def tree_nbytes(tree: Any) -> int:
    """Bytes of every leaf of `tree` (arrays or `jax.ShapeDtypeStruct`s: nothing allocated)."""
    return sum(
        math.prod(leaf.shape) * np.dtype(leaf.dtype).itemsize for leaf in jax.tree.leaves(tree)
    )


def tree_nbytes_per_device(tree: Any) -> int:
    """Bytes of `tree` on one device: a leaf with a sharding counts its shard (a data-parallel
    run splits the per-env leaves over the devices), one without counts whole."""

    def shard_shape(leaf: Any) -> tuple[int, ...]:
        sharding = getattr(leaf, "sharding", None)
        return sharding.shard_shape(leaf.shape) if sharding is not None else leaf.shape

    return sum(
        math.prod(shard_shape(leaf)) * np.dtype(leaf.dtype).itemsize
        for leaf in jax.tree.leaves(tree)
    )


@dataclass(frozen=True)
class MemoryEstimate:
    replay: int
    state: int  # everything in the train state but the replay buffer
    update: int  # temporaries of one gradient update (estimate)

    @property
    def total(self) -> int:
        return self.replay + self.state + self.update


def estimate(
    config: Config, abstract_state: Any, obs_size: int, action_size: int, num_devices: int = 1
) -> MemoryEstimate:
    """Bytes on each device; leaves of `abstract_state` that carry shardings count their
    shard, and the batch is split over `num_devices`. A --seeds state holds every member, and
    the update's temporaries are counted once per member."""
    c = config
    replay = tree_nbytes_per_device(abstract_state.replay)
    state = tree_nbytes_per_device(abstract_state.replace(replay=None))
    c = dataclasses.replace(c, batch_size=max(c.batch_size // num_devices, 1))
    # one critic forward per member keeps ~(2 * depth + 2) [batch, width] activations; the
    # backward pass about doubles that; the target pass and the actor pass add one more each.
    critic = c.batch_size * c.num_critics * c.critic_width * (2 * c.critic_depth + 2) * 4 * 4
    logits = c.batch_size * c.num_critics * c.num_atoms * 4 * 6
    actor_width = max((*c.actor_hidden, c.actor_width))
    actor = c.batch_size * actor_width * (len(c.actor_hidden) + 2 * c.actor_depth + 1) * 4 * 3
    batch = c.batch_size * (2 * obs_size + action_size + 4) * 4 * 3
    members = max(len(c.seeds), 1)  # a --seeds run updates every member at once
    return MemoryEstimate(replay, state, (critic + logits + actor + batch) * members)


def available_bytes(device: jax.Device | None = None) -> int | None:
    """Free memory of `device` in bytes, or None when it cannot be told."""
    device = device or jax.devices()[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        if "bytes_limit" in stats:
            return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
        return None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None


def check_fits(
    estimate: MemoryEstimate, available: int | None, device_name: str, num_seeds: int = 0
) -> None:
    """Raise a one-line ConfigError when `estimate` exceeds `available`. A --seeds run's
    estimate holds `num_seeds` members; the error then names how many seeds would fit."""
    if available is None or estimate.total <= available:
        return
    if num_seeds > 1:
        fits = int(available // (estimate.total / num_seeds))
        raise ConfigError(
            f"{num_seeds} seeds need about {estimate.total / GiB:.1f} GiB "
            f"({estimate.total / num_seeds / GiB:.2f} GiB each) but {device_name} has "
            f"{available / GiB:.1f} GiB free; "
            + (f"at most {fits} seeds fit" if fits else "not even one seed fits")
            + " (fewer --seeds, or lower --replay-capacity-per-env, --num-envs or --batch-size)"
        )
    raise ConfigError(
        f"this config needs about {estimate.total / GiB:.1f} GiB (replay buffer "
        f"{estimate.replay / GiB:.1f} GiB, networks/optimiser/env state "
        f"{estimate.state / GiB:.1f} GiB, update temporaries {estimate.update / GiB:.1f} GiB) "
        f"but {device_name} has {available / GiB:.1f} GiB free, "
        f"{(estimate.total - available) / GiB:.1f} GiB too much; lower "
        "--replay-capacity-per-env, --num-envs or --batch-size"
    )
