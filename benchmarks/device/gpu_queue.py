"""The GPU experiment queue: each lent GPU call runs the next experiments whose results are not
committed yet, as many as fit its time.

    python benchmarks/device/gpu_queue.py --budget-s 540 --out "$OUT"   # the GPU (check.sh queue)
    python benchmarks/device/gpu_queue.py --small --out /tmp/q --results-dir /tmp/none

The order (issue 32): the recipe sweep; HumanoidWalk with the chosen recipe, two seeds in one
program; FastTD3 at its published config against that recipe on the same card and budget;
HumanoidStand and HumanoidRun; ``humanoid-dmc`` multi-task; G1JoystickFlatTerrain on
placeholder meshes. An experiment is done when a file matching its ``done`` pattern is in
``--results-dir`` (default ``benchmarks/results``: what is committed); each writes its JSON
(and the runs' metrics.jsonl) to ``--out`` as ``<what>-<task>-<card>-<detail>.json`` (card
``h100``, ``h200``), the name it is committed under. An experiment starts only if its
minimum time fits what is left of ``--budget-s``; a learning run gets the time that is left,
up to its maximum. The chosen recipe is the newest recipe sweep's (``--out`` first, then
``--results-dir``), else the GPU preset.
``--small`` is the CPU rehearsal: the same experiments at toy sizes, every one run.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
PY = sys.executable


@dataclass(frozen=True)
class Experiment:
    name: str
    done: str  # its result's name in the results directory, {gpu} for any GPU's tag
    min_s: float  # starts only with this much time left
    max_s: float  # a learning run's wall-clock cap
    kind: str  # sweep | learning | peers
    task: str = "HumanoidWalk"
    seeds: str = "0,1"
    extra: tuple[str, ...] = field(default_factory=tuple)


QUEUE = (
    Experiment("sweep", "recipe-sweep-HumanoidWalk-{gpu}.json", 150, 180, "sweep"),
    Experiment("walk", "learning-HumanoidWalk-{gpu}-recipe-seeds.json", 300, 480, "learning"),
    Experiment("fasttd3", "peers-HumanoidWalk-{gpu}-fasttd3.json", 360, 480, "peers"),
    Experiment(
        "stand",
        "learning-HumanoidStand-{gpu}-recipe-seeds.json",
        240,
        300,
        "learning",
        task="HumanoidStand",
    ),  # fmt: skip
    Experiment(
        "run",
        "learning-HumanoidRun-{gpu}-recipe-seeds.json",
        240,
        300,
        "learning",
        task="HumanoidRun",
    ),  # fmt: skip
    Experiment(
        "multitask",
        "learning-humanoid-dmc-{gpu}-recipe.json",
        300,
        480,
        "learning",
        task="humanoid-dmc",
        seeds="",
    ),  # fmt: skip
    Experiment(
        "g1",
        "learning-G1JoystickFlatTerrain-{gpu}-recipe.json",
        300,
        420,
        "learning",
        task="G1JoystickFlatTerrain",
        seeds="",
    ),  # fmt: skip
)

SMALL_SWEEP = ["--small", "--iterations", "2", "--repeats", "1", "--num-envs", "8",
               "--batch", "64", "--critic", "64x1", "--upi", "1,8"]  # fmt: skip
SMALL_LEARNING = ["--replay-capacity-per-env", "64", "--iterations-per-chunk", "10",
                  "--num-eval-envs", "4", "--eval-every-env-steps", "80"]  # fmt: skip


def pending(results: Path, queue: tuple[Experiment, ...] = QUEUE) -> list[Experiment]:
    """The experiments with no result in `results`, in queue order."""
    names = [path.name for path in results.glob("*.json")] if results.is_dir() else []
    return [e for e in queue if not any(done_pattern(e).match(name) for name in names)]


def done_pattern(e: Experiment) -> re.Pattern:
    """`e.done` as a pattern: {gpu} is any GPU's tag (h100, h200, a100; not a CPU's
    epyc-2core), so a result of one card takes the experiment off every card's queue."""
    before, _, after = e.done.partition("{gpu}")
    return re.compile(re.escape(before) + r"[a-z]+\d+[a-z]*" + re.escape(after) + "$")


def chosen_flags(out: Path, results: Path) -> tuple[list[str], str]:
    """The newest recipe sweep's chosen recipe as train flags, and where it came from."""
    sweeps = sorted(
        [
            *out.glob("recipe-sweep-HumanoidWalk-*.json"),
            *(p for p in results.glob("*.json") if done_pattern(QUEUE[0]).match(p.name)),
        ],
        key=lambda p: p.stat().st_mtime,
    )
    for path in reversed(sweeps):
        flags = json.loads(path.read_text()).get("chosen_flags")
        if flags:
            return list(flags), path.name
    return [], "the GPU preset (no recipe sweep yet)"


def command(e: Experiment, args: argparse.Namespace, card: str, seconds: float) -> list[str]:
    """The experiment's command, to run `seconds` of wall-clock at most."""
    out = args.out
    if e.kind == "sweep":
        sizes = SMALL_SWEEP if args.small else []
        return [PY, "benchmarks/recipe_sweep.py", "--env", e.task, "--profile", "gpu", "--fused",
                "--deadline-s", str(int(seconds - 30)), *sizes,
                "--out", str(out / f"recipe-sweep-{e.task}-{card}.json")]  # fmt: skip
    flags, source = chosen_flags(out, args.results_dir)
    print(f"queue: {e.name}: recipe from {source}: {' '.join(flags) or '(preset)'}", flush=True)
    if e.kind == "peers":
        budget = int((seconds - 90) / 2)  # two trainers one after the other
        small = ["--tiny", "--num-eval-envs", "4"] if args.small else []
        overrides = [f"--fastbrc-override={f[2:].replace('-', '_')}={v}" for f, v in _pairs(flags)]
        return [PY, "benchmarks/peers.py", "--env", e.task, "--trainers", "fasttd3,fastbrc",
                "--profile", "gpu" if not args.small else "cpu", "--budget-s", str(budget),
                "--evals", "8", *overrides, *small, "--fasttd3-src", args.fasttd3_src,
                "--out", str(out / f"peers-{e.task}-{card}-fasttd3.json")]  # fmt: skip
    detail = "recipe-seeds" if e.seeds else "recipe"
    if e.task == "humanoid-dmc":  # three tasks: three times the envs and batch of one
        flags = _scaled(flags, 3)
    small = [*SMALL_LEARNING, "--num-envs", "8" if e.seeds else "24", "--batch-size", "64"
             if e.seeds else "192", "--critic-width", "32"] if args.small else []  # fmt: skip
    run_dir = f"/tmp/fastbrc-queue-{e.name}-{int(time.time())}"
    return [PY, "benchmarks/learning.py", "--env", e.task, "--profile", "gpu" if not args.small
            else "cpu", *flags, *small, *(["--seeds", e.seeds] if e.seeds else []),
            "--max-wall-s", str(int(seconds - 20)), "--total-env-steps", str(10**12),
            "--checkpoint-every", str(10**13), "--no-save-buffer", "--run-dir", run_dir,
            "--out", str(out / f"learning-{e.task}-{card}-{detail}.json")]  # fmt: skip


def _pairs(flags: list[str]) -> list[tuple[str, str]]:
    """`--name value` pairs of train flags; `--flag`/`--no-flag` booleans as true/false."""
    out, items = [], iter(flags)
    for flag in items:
        if flag.startswith("--no-"):
            out.append(("--" + flag[5:], "false"))
        elif flag == "--critic-bf16":
            out.append((flag, "true"))
        else:
            out.append((flag, next(items)))
    return out


def _scaled(flags: list[str], factor: int) -> list[str]:
    out, items = [], iter(flags)
    for flag in items:
        out.append(flag)
        if flag in ("--num-envs", "--batch-size"):
            out.append(str(int(next(items)) * factor))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget-s", type=float, default=540.0)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "device-queue")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--small", action="store_true", help="the CPU rehearsal (toy sizes)")
    parser.add_argument("--only", default="", help="run only these experiments (names)")
    parser.add_argument("--fasttd3-src", default="benchmarks/device/fasttd3/FastTD3-229ed59")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    import jax  # after the arguments: importing jax takes a while

    from fastbrc.run.machine import gpu_tag

    card = gpu_tag(jax.devices()[0].device_kind)  # 'NVIDIA H200' -> 'h200'; the CPU: 'cpu'
    todo = pending(args.results_dir)
    if args.only:
        names = args.only.split(",")
        todo = [e for e in QUEUE if e.name in names]
    started = time.monotonic()
    print(f"queue: card {card}; pending: {', '.join(e.name for e in todo) or 'nothing'}")
    status = 0
    for e in todo:
        left = args.budget_s - (time.monotonic() - started)
        if left < e.min_s and not args.small:
            print(f"queue: {e.name}: needs {e.min_s:.0f} s, {left:.0f} s left; stopping here")
            break
        cap = e.max_s * (5 if args.small else 1)  # the CPU compiles and runs far slower
        argv_e = command(e, args, card, min(left, cap))
        print(f"queue: {e.name}: {shlex.join(argv_e)}", flush=True)
        tick = time.monotonic()
        try:  # each script stops itself in time; this is the backstop
            # (the CPU rehearsal's final evaluation can compile for minutes after the cap)
            grace = 300 if args.small else 30
            code = subprocess.run(argv_e, cwd=ROOT, timeout=max(left, 60) + grace).returncode
        except subprocess.TimeoutExpired:
            code = 124
        print(f"queue: {e.name}: exit {code} after {time.monotonic() - tick:.0f} s", flush=True)
        status |= code != 0
        result = Path(argv_e[argv_e.index("--out") + 1])
        for metrics in Path("/tmp").glob(f"fastbrc-queue-{e.name}-*/metrics.jsonl"):
            metrics.replace(result.with_name(result.stem + "-metrics.jsonl"))
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
