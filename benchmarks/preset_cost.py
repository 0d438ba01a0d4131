"""What a preset costs to start and to run, against another configuration of the same env.

    python benchmarks/preset_cost.py --env HumanoidWalk --profile cpu \\
        --before "--num-envs 64 --batch-size 1024 --critic-width 256 --critic-depth 2"

Runs ``benchmarks/startup.py``'s worker (fastbrc's compiler options, as ``fastbrc train``
uses) in a fresh process for the preset of ``--env`` and then for the same preset with the
``--before`` overrides (``--field value`` pairs as for ``fastbrc train``), ``--repeats``
times in the order A B, B A, ... so that drift on a shared machine falls on both. Recorded
per configuration: compile seconds of init, the training chunk and evaluation, and env
steps/s of a training chunk that learns (env steps per chunk / median chunk seconds); the
summary gives the medians and the ratios preset / before.

Output: a Markdown table on stdout and JSON in
``benchmarks/results/preset-cost-<env>-<backend>-<device or host>.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import startup  # benchmarks/ (the script's folder)
from common import write_result  # benchmarks/common.py

CONFIGS = ("preset", "before")
KEYS = ("compile_total_s", "chunk_compile_s", "evaluate_compile_s", "env_steps_per_s")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="HumanoidWalk", help="environment (default: %(default)s)")
    parser.add_argument("--profile", choices=("auto", "cpu", "gpu"), default="auto")
    parser.add_argument(
        "--before", required=True, help="overrides of the configuration to compare against"
    )
    parser.add_argument("--repeats", type=int, default=1, help="processes per configuration")
    parser.add_argument("--chunks", type=int, default=3, help="timed training chunks")
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default: results/)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.chunks < 1:
        parser.error("--repeats and --chunks must be at least 1")
    return args


def measure(args: argparse.Namespace, overrides: list[str]) -> dict[str, Any]:
    spec = argparse.Namespace(env=args.env, profile=args.profile, chunks=args.chunks)
    run = startup._run_worker(spec, overrides, "fastbrc")
    run["env_steps_per_s"] = run["env_steps_per_chunk"] / run["chunk_run_s"]
    return run


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = {"preset": [], "before": shlex.split(args.before)}
    from fastbrc.cli import UsageError
    from fastbrc.config import ConfigError

    for name, extra in overrides.items():  # a bad override fails in one line, before any run
        try:
            startup.build_config(argparse.Namespace(env=args.env, profile=args.profile), extra)
        except (UsageError, ConfigError) as error:
            raise SystemExit(f"preset_cost.py: {name}: {error}") from None
    import machine

    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CONFIGS}
    for repeat in range(args.repeats):
        for name in CONFIGS if repeat % 2 == 0 else CONFIGS[::-1]:
            runs[name].append(measure(args, overrides[name]))
    median = {
        name: {key: statistics.median(run[key] for run in runs[name]) for key in KEYS}
        for name in CONFIGS
    }
    ratios = {key: median["preset"][key] / median["before"][key] for key in KEYS}
    info = machine.machine_info()
    result = {
        "benchmark": "preset_cost",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join([sys.executable, *sys.argv]),
        "machine": info,
        "env": args.env,
        "before_overrides": overrides["before"],
        "definitions": {
            "compile_total_s": "XLA compile of init, the training chunk and evaluation",
            "env_steps_per_s": "env steps per chunk / median seconds of a chunk that learns",
        },
        "runs": runs,
        "median": median,
        "ratio_preset_over_before": ratios,
    }
    out = args.out or machine.result_path(f"preset-cost-{args.env}", info)
    write_result(out, result)
    print("| | preset | before | ratio |\n|---|---|---|---|")
    for key in KEYS:
        a, b = median["preset"][key], median["before"][key]
        print(f"| {key} | {a:,.1f} | {b:,.1f} | {ratios[key]:.2f} |")
    print(f"\nwrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
