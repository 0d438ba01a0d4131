"""Checkpoint save/restore time and size, with and without the replay buffer.

Run from the repository root on any JAX backend::

    python benchmarks/checkpoint.py                                  # HumanoidWalk, cpu profile
    python benchmarks/checkpoint.py --profile gpu --repeats 1        # FastTD3's Playground scale

Each row builds the trainer's real `TrainState` for the preset (``fns.init``: networks,
AdamW states, normalisers, MJX env states of every env, replay buffer), fills the replay
buffer with random values (a full buffer, and the worst case for Orbax's zstd compression;
an all-zero fresh buffer would compress to almost nothing) and then, ``--repeats`` times:

``save_s``
    `Checkpoints.save` of the state to a fresh step: fingerprint of every leaf on the device,
    device-to-host copy, Orbax write, atomic rename. Synchronous, as in the trainer.
``restore_s``
    `Checkpoints.restore` of that step onto the device, including the fingerprint check.
``disk_bytes``
    Bytes on disk of one checkpoint. ``state_bytes`` / ``replay_bytes`` are the in-memory
    sizes of the two parts.

Medians are reported; every repeat is in the JSON. Both rows of a run (``save_buffer`` true
and false) come from one process, back to back. Output: a Markdown table on stdout and JSON
in ``benchmarks/results/checkpoint-<env>-<profile>-profile-<backend>.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
from common import write_result  # benchmarks/common.py (the script's folder)

from fastbrc.learner import build
from fastbrc.presets import preset, resolve_profile
from fastbrc.run.checkpoint import Checkpoints
from fastbrc.run.memory import tree_nbytes

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def random_fill(replay: Any, key: jax.Array) -> Any:
    """The buffer with every leaf replaced by random values of its dtype (on device)."""
    leaves, treedef = jax.tree.flatten(replay.data)
    keys = jax.random.split(key, len(leaves))

    @jax.jit
    def fill(k, leaf):
        if jnp.issubdtype(leaf.dtype, jnp.floating):
            return jax.random.normal(k, leaf.shape, leaf.dtype)
        if leaf.dtype == jnp.bool_:
            return jax.random.bernoulli(k, 0.05, leaf.shape)
        return jax.random.randint(k, leaf.shape, 0, 8).astype(leaf.dtype)

    data = jax.tree.unflatten(
        treedef, [fill(k, leaf) for k, leaf in zip(keys, leaves, strict=True)]
    )
    capacity = leaves[0].shape[1]
    return replay.replace(data=data, size=jnp.int32(capacity))


def measure(config, holder: dict[str, Any], repeats: int, workdir: Path) -> dict[str, Any]:
    """Save `holder["state"]` `repeats` times, then restore each save. With the buffer the
    state is released from `holder` before the restores, so that a FastTD3-scale buffer is
    held twice at most (the saved copy and the restored one) rather than three times."""
    checkpoints = Checkpoints(workdir / "checkpoints", keep=repeats + 1)
    abstract = jax.eval_shape(lambda s: s, holder["state"])
    save_s, restore_s, disk = [], [], []
    for step in range(1, repeats + 1):
        info = checkpoints.save(holder["state"], step=step, chunk=step, config=config)
        save_s.append(info.seconds)
        disk.append(info.nbytes)
    if config.save_buffer:
        del holder["state"]
    for step in range(1, repeats + 1):
        tick = time.perf_counter()
        restored = checkpoints.restore(abstract, config, step=step)
        jax.block_until_ready(restored.state)
        restore_s.append(time.perf_counter() - tick)
        del restored
    checkpoints.close()
    shutil.rmtree(workdir / "checkpoints")
    return {
        "save_buffer": config.save_buffer,
        "save_s": statistics.median(save_s),
        "restore_s": statistics.median(restore_s),
        "disk_bytes": statistics.median(disk),
        "save_s_all": save_s,
        "restore_s_all": restore_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="HumanoidWalk")
    parser.add_argument("--profile", default="cpu", choices=("auto", "cpu", "gpu"))
    parser.add_argument("--num-envs", type=int, help="override the preset's num_envs")
    parser.add_argument("--replay-capacity-per-env", type=int, help="override the preset's")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", help="where to write checkpoints (default: a temp dir)")
    parser.add_argument("--out", help="JSON path")
    args = parser.parse_args()

    profile = resolve_profile(args.profile, jax.default_backend())
    config = preset(args.env, profile)
    overrides = {"num_envs": args.num_envs, "replay_capacity_per_env": args.replay_capacity_per_env}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if "num_envs" in overrides:
        per_env = max(1, config.batch_size // config.num_envs)
        overrides["batch_size"] = per_env * overrides["num_envs"]
    config = dataclasses.replace(config, **overrides)
    fns = build(config)
    state = fns.init(jax.random.PRNGKey(0))
    state = state.replace(replay=random_fill(state.replay, jax.random.PRNGKey(1)))
    jax.block_until_ready(state)
    device = jax.devices()[0]
    print(
        f"{args.env} ({profile} profile): {config.num_envs} envs x "
        f"{config.replay_capacity_per_env} transitions; state "
        f"{tree_nbytes(state.replace(replay=None)) / 2**20:.1f} MiB, replay "
        f"{tree_nbytes(state.replay) / 2**20:.1f} MiB on {device.device_kind}",
        flush=True,
    )

    state_bytes = tree_nbytes(state.replace(replay=None))
    replay_bytes = tree_nbytes(state.replay)
    holder = {"state": state}
    del state
    rows = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for save_buffer in (False, True):  # with the buffer last: it releases the state
            config_row = dataclasses.replace(config, save_buffer=save_buffer)
            rows.append(measure(config_row, holder, args.repeats, Path(tmp)))

    print("| buffer | save s | restore s | on disk MiB |")
    print("|---|---|---|---|")
    for row in rows:
        print(
            f"| {'with' if row['save_buffer'] else 'without'} | {row['save_s']:.2f} | "
            f"{row['restore_s']:.2f} | {row['disk_bytes'] / 2**20:.1f} |"
        )
    result = {
        "benchmark": "checkpoint",
        "command": "python benchmarks/checkpoint.py "
        + " ".join(
            f"--{k.replace('_', '-')} {v}"
            for k, v in vars(args).items()
            if v is not None and k not in ("out", "dir")
        ),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": f"{device.platform}: {device.device_kind}",
        "host": f"{platform.node()}, {platform.machine()}, {os.cpu_count()} CPU cores, "
        f"{len(jax.devices())} device(s)",
        "jax": jax.__version__,
        "env": args.env,
        "profile": profile,
        "num_envs": config.num_envs,
        "replay_capacity_per_env": config.replay_capacity_per_env,
        "state_bytes": state_bytes,
        "replay_bytes": replay_bytes,
        "buffer_contents": "random values (incompressible worst case)",
        "rows": rows,
    }
    name = f"checkpoint-{args.env}-{profile}-profile-{jax.default_backend()}.json"
    out = Path(args.out or RESULTS_DIR / name)
    write_result(out, result)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
