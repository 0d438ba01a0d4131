"""`fastbrc plan sweep`: a grid of UTD (sigma) x batch size x learning rate on one task, each
point trained to a return threshold (or a cap) with its seeds in one program, every run's data
and compute to the threshold written to one JSON.

A point is one ``fastbrc train`` process (the same entry point as the command line): the
task's preset on this hardware with ``--num-envs``, ``--updates-per-iteration = sigma x
num_envs``, ``--batch-size``, both learning rates, ``--seeds`` and ``--stop-at-return
THRESHOLD``. The JSON is rewritten (atomically) after each point, so a killed sweep goes on
where it stopped: finished points are kept, the one that was running starts over.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastbrc.errors import ConfigError
from fastbrc.run.members import EVAL_KEY, records_by_seed


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep measures; a sweep JSON resumes only with the same spec."""

    task: str
    threshold: float
    sigmas: tuple[float, ...]
    batch_sizes: tuple[int, ...]
    learning_rates: tuple[float, ...]
    seeds: tuple[int, ...] = (0, 1)
    num_envs: int = 16
    profile: str = "cpu"
    cap_env_steps: int = 300_000
    eval_every_env_steps: int = 5_000
    max_wall_s: float = 1200.0

    def check(self) -> SweepSpec:
        if self.threshold is None or not math.isfinite(self.threshold):
            raise ConfigError("--threshold must be a number")
        for sigma in self.sigmas:
            upi = sigma * self.num_envs
            if sigma <= 0 or abs(upi - round(upi)) > 1e-9 or round(upi) < 1:
                raise ConfigError(
                    f"sigma {sigma:g} x {self.num_envs} envs = {upi:g} updates per iteration; "
                    "it must be a whole number >= 1 (choose sigmas or --num-envs to match)"
                )
        for batch in self.batch_sizes:
            if batch % self.num_envs:
                raise ConfigError(f"--batch {batch} does not divide over {self.num_envs} envs")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError("--seeds needs distinct seeds")
        return self

    def points(self) -> list[dict[str, Any]]:
        grid = itertools.product(self.sigmas, self.batch_sizes, self.learning_rates)
        return [{"sigma": s, "batch_size": b, "lr": lr} for s, b, lr in grid]


def point_name(point: dict[str, Any]) -> str:
    return f"sigma{point['sigma']:g}-batch{point['batch_size']}-lr{point['lr']:g}"


def recipe_flags(num_envs: int, sigma: float, batch: int, lr: float) -> list[str]:
    """`fastbrc train` flags of a recipe: envs, updates per iteration (sigma x envs), batch and
    the critic's and actor's learning rate."""
    return [
        "--num-envs", str(num_envs), "--updates-per-iteration", str(round(sigma * num_envs)),
        "--batch-size", str(batch), "--critic-lr", f"{lr:.3g}", "--actor-lr", f"{lr:.3g}",
    ]  # fmt: skip


def run_flags(spec: SweepSpec, run_dir: Path) -> list[str]:
    """`fastbrc train` flags of a run to the spec's threshold or cap, in `run_dir`, keeping
    one checkpoint and no replay buffer."""
    return [
        "--stop-at-return", str(spec.threshold), "--total-env-steps", str(spec.cap_env_steps),
        "--eval-every-env-steps", str(spec.eval_every_env_steps),
        "--checkpoint-every", str(10 * spec.cap_env_steps), "--keep-checkpoints", "1",
        "--no-save-buffer", "--max-wall-s", str(spec.max_wall_s),
        "--run-dir", str(run_dir), "--overwrite",
    ]  # fmt: skip


def train_flags(spec: SweepSpec, point: dict[str, Any], run_dir: Path) -> list[str]:
    """The `fastbrc train` arguments of one grid point (its seeds in one program)."""
    recipe = recipe_flags(spec.num_envs, point["sigma"], point["batch_size"], point["lr"])
    return [
        "train", "--env", spec.task, "--profile", spec.profile, *recipe,
        "--seeds", ",".join(map(str, spec.seeds)), *run_flags(spec, run_dir),
    ]  # fmt: skip


def to_threshold(records: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    """One seed's run: env steps, training seconds and wall seconds at the first evaluation
    at or above `threshold` (None where it never got there)."""
    hit = next(
        (r for r in records if r.get(EVAL_KEY) is not None and r[EVAL_KEY] >= threshold), None
    )
    last = records[-1] if records else {}
    return {
        "reached": hit is not None,
        "env_steps": hit["env_steps"] if hit else None,
        "train_s": hit["perf/train_s"] if hit else None,
        "wall_s": hit["wall_s"] if hit else None,
        "final_env_steps": last.get("env_steps"),
        "best_return": max(
            (r[EVAL_KEY] for r in records if r.get(EVAL_KEY) is not None), default=None
        ),  # fmt: skip
    }


def run_point(
    spec: SweepSpec, point: dict[str, Any], run_root: Path, python: str = sys.executable
) -> dict[str, Any]:
    """Train one grid point in a fresh process; its seeds' results."""
    run_dir = run_root / point_name(point)
    tick = time.perf_counter()
    proc = subprocess.run(
        [python, "-m", "fastbrc.cli", *train_flags(spec, point, run_dir)],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - tick
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {**point, "status": "failed", "error": tail, "process_s": seconds}
    by_seed = records_by_seed(run_dir / "metrics.jsonl")
    runs = [{"seed": s, **to_threshold(by_seed.get(s, []), spec.threshold)} for s in spec.seeds]
    first = next(iter(by_seed.values()), [{}])[0]
    return {
        **point,
        "updates_per_iteration": round(point["sigma"] * spec.num_envs),
        "status": "done",
        "runs": runs,
        "compile_s": first.get("perf/compile_s"),
        "process_s": seconds,
    }


def _write(path: Path, data: dict[str, Any]) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(partial, path)


GRID = ("sigmas", "batch_sizes", "learning_rates")  # what a sweep may widen or narrow


def load_or_start(path: Path, spec: SweepSpec, extra: dict[str, Any]) -> dict[str, Any]:
    """The sweep JSON at `path` (to go on with), or a new one. A JSON of the same runs on
    another grid (only sigmas, batch sizes or learning rates differ) goes on with the new grid:
    its points in the grid count, the others move to "outside_grid" (kept, not fitted). A JSON
    of another task or run settings is a one-line error."""
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except ValueError as error:
            raise ConfigError(f"{path} is not a sweep JSON: {error}") from None
        ours = json.loads(json.dumps(dataclasses.asdict(spec)))
        theirs = data.get("spec") or {}
        if {k: v for k, v in theirs.items() if k not in GRID} != {
            k: v for k, v in ours.items() if k not in GRID
        }:
            raise ConfigError(
                f"{path} holds a sweep of another task or run settings "
                f"({theirs.get('task')}); give another --out, or the same arguments to go on "
                "with it"
            )
        if theirs != ours:
            grid = {point_name(p) for p in spec.points()}
            kept = [p for p in data["points"] if point_name(p) in grid]
            data["outside_grid"] = data.get("outside_grid", []) + [
                p for p in data["points"] if point_name(p) not in grid
            ]
            data["points"], data["spec"] = kept, ours
        return data
    return {"benchmark": "plan_sweep", "spec": dataclasses.asdict(spec), **extra, "points": []}


def run_sweep(
    spec: SweepSpec,
    out: Path,
    run_root: Path,
    extra: dict[str, Any],
    say: Callable[[str], None] = print,
    runner: Callable[..., dict[str, Any]] = run_point,
) -> dict[str, Any]:
    """Every grid point not yet in `out`, one after another; `out` after each."""
    data = load_or_start(out, spec.check(), extra)
    done = {point_name(p) for p in data["points"] if p.get("status") == "done"}
    data["points"] = [p for p in data["points"] if point_name(p) in done]
    todo = [p for p in spec.points() if point_name(p) not in done]
    say(f"fastbrc plan sweep: {len(done)} of {len(spec.points())} points done; {len(todo)} to go")
    for index, point in enumerate(todo, start=1):
        say(f"fastbrc plan sweep: [{index}/{len(todo)}] {point_name(point)}")
        result = runner(spec, point, run_root)
        data["points"].append(result)
        _write(out, data)
        steps = [r["env_steps"] for r in result.get("runs", [])]
        say(f"fastbrc plan sweep:   {result['status']}: env steps to {spec.threshold:g}: {steps}")
    return data


__all__ = [
    "SweepSpec",
    "load_or_start",
    "point_name",
    "recipe_flags",
    "run_flags",
    "run_point",
    "run_sweep",
    "to_threshold",
]
