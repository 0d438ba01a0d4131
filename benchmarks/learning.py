"""A timed learning run: train one preset and record its learning curve against wall-clock.

    python benchmarks/learning.py --env HumanoidWalk --profile gpu --total-env-steps 20000000
    python benchmarks/learning.py --env CartpoleBalance --profile cpu --total-env-steps 100000

Runs ``fastbrc train`` in-process (``fastbrc.run.runner.train``) with the preset of ``--env`` and
``--profile``; any further ``--field value`` pairs override the preset as on the CLI
(e.g. ``--num-envs 4096``). The run directory keeps the full metrics; the JSON summary
(``benchmarks/results/learning-<env>-<backend>-<device or host>.json``, or ``--out``) holds
the machine, the config, compile time, median env steps/s after compile, and the curve of
(env steps, wall seconds, training seconds, eval return) at every evaluation, plus the first
wall-clock time each ``--return-thresholds`` value was reached. ``--seeds 0,1,2`` trains those
seeds in one program; the JSON then holds each seed's summary under ``members`` and the
median of their final returns as ``final_eval_return``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import write_result  # benchmarks/common.py (puts the repository on sys.path)

from fastbrc.presets import PROFILES


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="HumanoidWalk")
    parser.add_argument("--profile", choices=PROFILES, default="auto")
    parser.add_argument("--total-env-steps", type=int, default=None, help="default: preset")
    parser.add_argument("--eval-every-env-steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-dir", default=None, help="default: runs/bench-learning-<env>-<time>")
    parser.add_argument(
        "--return-thresholds",
        default="",
        help="eval returns to time, comma-separated (default: 25/50/75/90%% of the best)",
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON path")
    return parser.parse_known_args(argv)


def summarize(records: list[dict[str, Any]], thresholds: list[float]) -> dict[str, Any]:
    curve = [
        {
            "env_steps": r["env_steps"],
            "wall_s": r["wall_s"],
            "train_s": r["perf/train_s"],
            "eval_return": r["eval/episode_return"],
        }
        for r in records
        if r.get("eval/episode_return") is not None
    ]
    rates = [r["perf/env_steps_per_s"] for r in records[1:]] or [
        r["perf/env_steps_per_s"] for r in records
    ]
    best = max((p["eval_return"] for p in curve), default=None)
    if not thresholds and best is not None and best > 0:
        thresholds = [round(best * f, 1) for f in (0.25, 0.5, 0.75, 0.9)]
    reached = {}
    for threshold in thresholds:
        hit = next((p for p in curve if p["eval_return"] >= threshold), None)
        reached[str(threshold)] = (
            None if hit is None else {"env_steps": hit["env_steps"], "wall_s": hit["wall_s"]}
        )
    return {
        "compile_s": records[0]["perf/compile_s"] if records else None,
        "env_steps_per_s_median": statistics.median(rates) if rates else None,
        "final_eval_return": curve[-1]["eval_return"] if curve else None,
        "best_eval_return": best,
        "time_to_return": reached,
        "curve": curve,
    }


def main(argv: list[str] | None = None) -> int:
    args, overrides = parse_args(argv)
    import jax
    from machine import machine_info, result_path

    from fastbrc.config import ConfigError
    from fastbrc.presets import preset, resolve_profile
    from fastbrc.run.args import seed_flags, tyro_cli
    from fastbrc.run.cpu_devices import requested, split_cpu
    from fastbrc.run.members import records_by_seed
    from fastbrc.run.runner import train

    if not args.profile.startswith("gpu"):
        split_cpu(requested(args.env, overrides))  # before JAX starts (cpu_devices.py)
    backend = jax.default_backend()
    profile = resolve_profile(args.profile, backend)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    defaults = dataclasses.replace(
        preset(args.env, profile),
        seed=args.seed,
        run_dir=args.run_dir or f"runs/bench-learning-{args.env.replace(',', '+')}-{stamp}",
    )
    if args.total_env_steps:
        defaults = dataclasses.replace(defaults, total_env_steps=args.total_env_steps)
    if args.eval_every_env_steps:
        defaults = dataclasses.replace(defaults, eval_every_env_steps=args.eval_every_env_steps)
    config = tyro_cli(type(defaults), defaults, seed_flags(overrides), "learning overrides")
    try:
        train(config)
    except ConfigError as error:  # e.g. a run directory that holds a run: one line
        print(f"learning: error: {error}", file=sys.stderr)
        return 2
    by_seed = records_by_seed(Path(config.run_dir) / "metrics.jsonl")
    thresholds = [float(t) for t in args.return_thresholds.split(",") if t.strip()]
    info = machine_info()
    out = args.out or result_path(f"learning-{args.env.replace(',', '+')}", info)
    result = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "machine": info,
        "profile": profile,
        "run_dir": config.run_dir,
        "config": json.loads(config.to_json()),
    }
    if config.multi_seed:
        members = [{"seed": s, **summarize(by_seed.get(s, []), thresholds)} for s in config.seeds]
        finals = [m["final_eval_return"] for m in members if m["final_eval_return"] is not None]
        result.update(
            seeds=list(config.seeds),
            compile_s=members[0]["compile_s"],
            env_steps_per_s_median=members[0]["env_steps_per_s_median"],  # each seed's
            final_eval_return=statistics.median(finals) if finals else None,
            final_eval_return_per_seed=[m["final_eval_return"] for m in members],
            members=members,
        )
    else:
        result.update(summarize(by_seed.get(None, []), thresholds))
    write_result(out, result)
    print(
        f"learning: {args.env} final eval return {result['final_eval_return']}, "
        f"{result['env_steps_per_s_median']:,.0f} env steps/s, compile {result['compile_s']:.1f} s"
        f"\nwrote {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
