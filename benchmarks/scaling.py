"""Data-parallel scaling: the same global config on 1, 2, 4, ... devices.

    python benchmarks/scaling.py                          # CPU: 1/2/4 fake devices
    python benchmarks/scaling.py --env HumanoidWalk --profile gpu --devices 1,2,4,8  # GPUs

For every device count D the trainer is built with ``num_devices=D`` from one preset
(``--num-envs`` and ``--batch-size`` are global, so every D does the same work), compiled,
and run for ``--chunks`` chunks from the same seed, all in one process. Recorded per D:
compile seconds, env steps/s (median over the chunks after the first), the learning metrics
of every chunk, their largest relative difference from the 1-device run, and whether every
replicated leaf is bit-identical on all devices at the end.

On the CPU backend the devices are XLA's fake host devices
(``--xla_force_host_platform_device_count``, set here before JAX starts): they share the same
cores, so the table shows correctness (same learning on any device count), not speed. On a
multi-GPU machine the same command measures real scaling.

Output: a Markdown table on stdout and JSON in
``benchmarks/results/scaling-<backend>-<device or host>.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

METRICS = (
    "train/critic_loss",
    "train/q_mean",
    "train/target_q_mean",
    "train/actor_loss",
    "train/episode_return",
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--env", default="CartpoleBalance", help="environment (default: %(default)s)"
    )
    parser.add_argument(
        "--profile", choices=("auto", "cpu", "gpu"), default="auto", help="preset profile"
    )
    parser.add_argument(
        "--devices", default="1,2,4", help="device counts, comma-separated (default: %(default)s)"
    )
    parser.add_argument("--num-envs", type=int, default=None, help="global envs (default: preset)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="global batch (default: preset's per-env share)",
    )
    parser.add_argument("--chunks", type=int, default=4, help="chunks per device count")
    parser.add_argument(
        "--iterations-per-chunk", type=int, default=None, help="default: the preset's"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="JSON path")
    args = parser.parse_args(argv)
    args.devices = sorted({int(d) for d in args.devices.split(",") if d.strip()})
    if not args.devices or min(args.devices) < 1:
        parser.error("--devices needs positive counts")
    if args.chunks < 2:
        parser.error("--chunks must be >= 2 (the first chunk is not timed)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # fake host devices must be requested before JAX starts (ignored by GPU backends)
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        count = f"--xla_force_host_platform_device_count={max(args.devices)}"
        os.environ["XLA_FLAGS"] = f"{flags} {count}".strip()

    import jax
    import numpy as np
    from common import write_result  # benchmarks/common.py (puts the checkout on sys.path)
    from machine import machine_info, result_path

    from fastbrc.core import parallel
    from fastbrc.learner import build
    from fastbrc.presets import preset, resolve_profile

    backend = jax.default_backend()
    if max(args.devices) > jax.device_count():
        print(
            f"scaling: --devices asks for {max(args.devices)} but JAX sees {jax.device_count()}",
            file=sys.stderr,
        )
        return 2
    profile = resolve_profile(args.profile, backend)
    base = preset(args.env, profile)
    num_envs = args.num_envs or base.num_envs
    batch = args.batch_size or max(base.batch_size // base.num_envs, 1) * num_envs
    config = dataclasses.replace(
        base,
        num_envs=num_envs,
        batch_size=batch,
        num_eval_envs=max(args.devices),
        seed=args.seed,
        iterations_per_chunk=args.iterations_per_chunk or base.iterations_per_chunk,
    )
    rows: list[dict[str, Any]] = []
    for devices in args.devices:
        print(f"scaling: {devices} device(s)...", file=sys.stderr)
        fns = build(dataclasses.replace(config, num_devices=devices))
        tick = time.perf_counter()
        state = fns.init(jax.random.PRNGKey(args.seed))
        chunk = fns.train_chunk.lower(state).compile()
        compile_s = time.perf_counter() - tick
        seconds, metrics = [], []
        for _ in range(args.chunks):
            tick = time.perf_counter()
            state, m = chunk(state)
            m = jax.device_get(m)
            seconds.append(time.perf_counter() - tick)
            metrics.append({k: float(np.mean(m[k])) for k in METRICS})
        rows.append(
            {
                "devices": devices,
                "compile_s": compile_s,
                "chunk_seconds": seconds,
                "env_steps_per_s": config.env_steps_per_chunk / statistics.median(seconds[1:]),
                "metrics": metrics,
                "replicas_identical": parallel.replicas_identical(state),
            }
        )
        del state
    reference = rows[0]["metrics"]
    for row in rows:
        diffs = [
            abs(a[k] - b[k]) / max(abs(b[k]), 1e-6)
            for a, b in zip(row["metrics"], reference, strict=True)
            for k in METRICS
            if np.isfinite(a[k]) and np.isfinite(b[k])
        ]
        row["max_rel_diff_vs_first"] = max(diffs) if diffs else None
        row["speedup_vs_first"] = row["env_steps_per_s"] / rows[0]["env_steps_per_s"]

    info = machine_info()
    result = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "machine": info,
        "fake_cpu_devices": backend == "cpu",
        "config": json.loads(config.to_json()),
        "rows": rows,
    }
    out = write_result(args.out or result_path("scaling", info), result)
    kind = "fake CPU devices (correctness, not speed)" if backend == "cpu" else info["device_kind"]
    print(f"\n{args.env}, {num_envs} envs, batch {batch}, {args.chunks} chunks; {kind}\n")
    print("| devices | compile s | env steps/s | speed-up | max rel. diff vs 1 | replicas equal |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        diff = row["max_rel_diff_vs_first"]
        print(
            f"| {row['devices']} | {row['compile_s']:.1f} | {row['env_steps_per_s']:,.0f} | "
            f"{row['speedup_vs_first']:.2f} | {'-' if diff is None else f'{diff:.1e}'} | "
            f"{row['replicas_identical']} |"
        )
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
