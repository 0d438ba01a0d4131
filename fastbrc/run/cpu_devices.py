"""Use every CPU core: present the CPU to JAX as several devices, before JAX starts.

One XLA CPU device runs fastbrc's fused chunk on about one core: MJX's physics is a long
chain of small operations that XLA does not spread over threads. JAX can present the CPU as
N devices (``jax_num_cpu_devices``), and fastbrc's data parallelism (``--num-devices``, 0 =
all devices) then steps a share of the envs, holds a share of the replay buffer and computes a
share of the batch's gradients on each device, each on its own thread. The numbers drawn are
those of one device (``core/parallel.py``), so this changes the speed, not the algorithm.
Measured on 2 cores, the humanoid CPU preset of then (128 envs, 4 updates of 512): 1.60x the
env steps/s of one device, same command
(``benchmarks/results/preset-cost-HumanoidWalk-xeon-2core-devices.json``). No preset splits
the CPU now: the humanoid's (8 envs, batch 64) is too small to share.

JAX fixes the number of CPU devices when it starts its backends, which is also when it can
say whether an accelerator is there, i.e. before the hardware profile is known. Setting it
changes only the CPU backend, so the CLI sets the CPU preset's count first and an accelerator
machine, which trains on its accelerator, is unaffected.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from fastbrc.presets import preset


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def split_cpu(count: int) -> bool:
    """Ask JAX for `count` CPU devices (``--cpu-devices``; 0: one per usable core, 1: leave
    JAX's default). True when JAX has (or will have) that many, False when JAX had already
    started with fewer, which only a fresh process can change."""
    count = usable_cores() if count == 0 else count
    if count <= 1:
        return True
    import jax

    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return len(jax.devices("cpu")) >= count  # the older way, set by the caller: kept

    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:  # the backends are up already
        return len(jax.devices("cpu")) >= count
    return True


def requested(env: str, argv: Sequence[str]) -> int:
    """``--cpu-devices`` in `argv` if given, else the CPU preset's for `env`: what to split
    the CPU into before JAX starts (a bad value is left for the full parser to report)."""
    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    parser.add_argument("--cpu-devices")
    try:
        given = parser.parse_known_args(list(argv))[0].cpu_devices
        return int(given) if given is not None else preset(env, "cpu").cpu_devices
    except (ValueError, argparse.ArgumentError):
        return 1
