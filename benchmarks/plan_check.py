"""Checks of `fastbrc plan` against runs it did not see.

    python benchmarks/plan_check.py holdout --sweep S.json --profile P.json --hold-out 1
    python benchmarks/plan_check.py recommend --sweep S.json --profile P.json --budget-seconds 300

``holdout``: fit the laws on every sigma of the sweep but one, predict the held-out sigma's
data to the threshold and training wall-clock (the profile's env and update times x the
predicted data) at the recipe the fit proposes there (B*(sigma), eta*(sigma)), then train that
recipe with each of ``--seeds`` alone (one ``fastbrc train`` process per seed, one after the
other) and compare the median of the measured against the prediction: ``rel_error`` =
predicted / measured - 1.

``recommend``: fit on every sigma, take the recipe `fastbrc plan recommend` gives for the
budget, and train it and the task's current CPU preset with each seed; the recommended recipe
should reach the threshold no later than the preset (median wall-clock, compile included).

Both write one JSON (``--out``). Run them on an otherwise idle machine: they time training.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import ROOT, write_result  # benchmarks/common.py
from machine import machine_info

from fastbrc.plan.fit import PAPER, fit_sweep, load_sweep
from fastbrc.plan.laws import DataLaw, LogLogLaw
from fastbrc.plan.profile import Critic, ThroughputProfile
from fastbrc.plan.recommend import plans, recommend
from fastbrc.plan.sweep import SweepSpec, recipe_flags, run_flags, to_threshold
from fastbrc.run.members import records_by_seed


def train_alone(spec: SweepSpec, flags: list[str], seed: int, run_dir: Path) -> dict[str, Any]:
    """One seed of a recipe (`flags` of `fastbrc train`) to the sweep's threshold or cap."""
    argv = [
        sys.executable, "-m", "fastbrc.cli", "train", "--env", spec.task, "--profile",
        spec.profile, *flags, "--seed", str(seed), *run_flags(spec, run_dir),
    ]  # fmt: skip
    tick = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"plan_check: training failed: {proc.stderr.strip().splitlines()[-1]}")
    records = records_by_seed(run_dir / "metrics.jsonl").get(None, [])
    compile_s = records[0]["perf/compile_s"] if records else None
    return {
        "seed": seed,
        **to_threshold(records, spec.threshold),
        "compile_s": compile_s,
        "process_s": time.perf_counter() - tick,
    }


def median_of(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r["reached"]]
    return statistics.median(values) if len(values) * 2 > len(runs) else None


def holdout(args: argparse.Namespace, sweep: dict, profile: ThroughputProfile) -> dict:
    spec = SweepSpec(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in sweep["spec"].items()}
    )
    fitted = fit_sweep(sweep, hold_out=args.hold_out, bootstraps=args.bootstraps)
    n, sigma = spec.num_envs, args.hold_out
    low, high = min(spec.batch_sizes), max(spec.batch_sizes)
    batch = max(n, round(min(max(LogLogLaw(**fitted["batch_law"])(sigma), low), high) / n) * n)
    lr = float(LogLogLaw(**fitted["lr_law"])(sigma))
    critic = Critic(**sweep["critic"])
    data = float(DataLaw(**fitted["data_law"])(sigma))
    per_step = profile.env_time(n) / n + sigma * profile.update_time(batch, critic)
    predicted = {"env_steps": data, "train_s": data * per_step}
    flags = recipe_flags(n, sigma, batch, lr)
    runs = [train_alone(spec, flags, s, args.run_root / f"holdout-seed{s}") for s in args.seeds]
    measured = {"env_steps": median_of(runs, "env_steps"), "train_s": median_of(runs, "train_s")}
    rel = {k: (predicted[k] / measured[k] - 1 if measured[k] else None) for k in predicted}
    return {
        "fit": fitted,
        "held_out": {
            "sigma": sigma,
            "recipe": {
                "num_envs": n,
                "updates_per_iteration": round(sigma * n),
                "batch_size": batch,
                "lr": lr,
                "flags": flags,
            },
            "predicted": predicted,
            "measured": {**measured, "runs": runs},
            "rel_error": rel,
            "within_25_percent": all(v is not None and abs(v) <= 0.25 for v in rel.values()),
        },
    }


def draw_holdout(result: dict, sweep: dict, path: Path) -> Path:
    """The data law fitted without the held-out sigma, every sweep seed (grey), each sigma's
    best point (blue), and at the held-out sigma the prediction (red circle) against each
    seed trained alone (red crosses)."""
    import numpy as np
    from matplotlib.figure import Figure

    fit, held = result["fit"], result["held_out"]
    law = DataLaw(**fit["data_law"])
    low, high = min(fit["sigma_range"][0], held["sigma"]), max(fit["sigma_range"][1], held["sigma"])
    sigmas = np.geomspace(low, high, 50)
    figure = Figure(figsize=(5.5, 4), dpi=100, layout="constrained")
    ax = figure.subplots()
    seeds = [(p["sigma"], r["env_steps"]) for p in sweep["points"] for r in p.get("runs", [])
             if r["reached"]]  # fmt: skip
    ax.scatter(*zip(*seeds, strict=True), color="grey", alpha=0.35, s=12,
               label="every seed of the sweep, every point")  # fmt: skip
    best = fit["best"]
    ax.scatter([float(k) for k in best], [v["env_steps"] for v in best.values()], color="C0",
               label=f"best point of each sigma (median of {len(sweep['spec']['seeds'])} seeds)",
               zorder=3)  # fmt: skip
    ax.plot(sigmas, law(sigmas), color="C0", label=f"fit without sigma {held['sigma']:g}")
    ax.scatter([held["sigma"]], [held["predicted"]["env_steps"]], facecolors="none",
               edgecolors="C3", s=80, label="predicted", zorder=4)  # fmt: skip
    reached = [r["env_steps"] for r in held["measured"]["runs"] if r["reached"]]
    ax.scatter([held["sigma"]] * len(reached), reached, marker="x", color="C3",
               label="measured, each seed alone", zorder=4)  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = sorted({p["sigma"] for p in sweep["points"]} | {held["sigma"]})
    ax.set_xticks(ticks, labels=[f"{t:g}" for t in ticks], minor=False)
    ax.set_xticks([], minor=True)
    ax.set_xlabel("updates per env step (sigma)")
    ax.set_ylabel(f"env steps to return {fit['threshold']:g}")
    ax.set_title(f"{fit['task']}: the data law, sigma {held['sigma']:g} held out", fontsize=10)
    ax.legend(fontsize=7)
    figure.savefig(path)
    return path


def check_recommend(args: argparse.Namespace, sweep: dict, profile: ThroughputProfile) -> dict:
    spec = SweepSpec(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in sweep["spec"].items()}
    )
    fitted = fit_sweep(sweep, bootstraps=args.bootstraps)
    critic = Critic(**sweep["critic"])
    batches = (min(spec.batch_sizes), max(spec.batch_sizes))
    plan = recommend(
        plans(fitted, batches, sweep["flops_per_sample"], profile, critic),
        "seconds",
        args.budget_seconds,
    )
    flags = recipe_flags(plan.num_envs, plan.sigma, plan.batch_size, plan.lr)
    recommended = [
        train_alone(spec, flags, s, args.run_root / f"recommended-seed{s}") for s in args.seeds
    ]
    preset = [train_alone(spec, [], s, args.run_root / f"preset-seed{s}") for s in args.seeds]
    return {
        "fit": fitted,
        "budget_seconds": args.budget_seconds,
        "recommended": {**dataclasses.asdict(plan), "flags": flags, "runs": recommended},
        "preset": {"runs": preset},
        **verdict(recommended, preset),
    }


def verdict(recommended: list[dict], preset: list[dict]) -> dict[str, Any]:
    """Each recipe's median wall-clock to the threshold (None where the median seed never got
    there, which counts as later than any time) and whether the recommended recipe got there
    no later than the preset."""
    wall = {"recommended": median_of(recommended, "wall_s"), "preset": median_of(preset, "wall_s")}
    ours, theirs = wall["recommended"], wall["preset"]
    return {
        "median_wall_s_to_threshold": wall,
        "no_later_than_preset": ours is not None and (theirs is None or ours <= theirs),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("holdout", "recommend"))
    parser.add_argument("--sweep", type=Path, required=True)
    parser.add_argument("--profile", type=Path, required=True, help="recipe_sweep JSON")
    parser.add_argument("--hold-out", type=float, default=1.0)
    parser.add_argument("--budget-seconds", type=float, default=300.0)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--bootstraps", type=int, default=200)
    parser.add_argument("--run-root", type=Path, default=ROOT / "runs" / "plan-check")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",")]
    sweep, profile = load_sweep(args.sweep), ThroughputProfile.load(args.profile)
    if profile.env != sweep["spec"]["task"]:
        raise SystemExit(
            f"plan_check: the profile is of {profile.env}, the sweep of {sweep['spec']['task']}"
        )
    check = holdout if args.mode == "holdout" else check_recommend
    result = {
        "benchmark": f"plan_check_{args.mode}",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", "benchmarks/plan_check.py", *(argv or sys.argv[1:])]),
        "machine": machine_info(),
        "sweep": args.sweep.name,
        "profile": args.profile.name,
        "paper": PAPER,
        **check(args, sweep, profile),
    }
    write_result(args.out, result)
    if args.mode == "holdout":
        print(f"plan_check: drew {draw_holdout(result, sweep, args.out.with_suffix('.png'))}")
    print(
        json.dumps(
            {k: result[k] for k in ("held_out", "median_wall_s_to_threshold") if k in result},
            default=str,
        )[:2000]
    )
    print(f"plan_check: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
