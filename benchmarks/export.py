"""`fastbrc export` measured: equality on real observations, export time, size, latency.

Run from the repository root, on a run directory with a checkpoint::

    python benchmarks/export.py --run-dir runs/cheetah \\
        --out benchmarks/results/export-CheetahRun-epyc-2core-<detail>.json

For each format (``onnx``, ``jax``) it runs ``fastbrc export`` as a user does (a fresh
process; ``export_s`` is that command's wall-clock, interpreter start and imports included),
then:

``observations``
    ``--observations`` (10,000) observations of real rollouts: the run's own tasks in MJX
    (``impl="jax"``), ``--num-envs`` envs with auto-reset stepped by the checkpoint's
    deterministic policy (multi-task runs: the envs split evenly over the tasks).
``max_abs_diff``
    The largest |exported action - JAX action| over them (`load_policy`'s jitted policy,
    float32); ``within_1e-5`` says whether it is at most 1e-5.
``latency_ms``
    Median and 90th percentile of one call for one observation (2,000 calls) and for a batch
    of 4,096 (30 calls), after warm-up: ONNX Runtime on the CPU with its default threads and
    with one, and the deserialised jax.export function (jitted) for comparison.

Timed parts hold ``/tmp/fastbrc-bench.lock`` only if you wrap the command in ``flock``.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jax
import numpy as np
from common import ROOT, UsageError, say, write_result  # benchmarks/common.py

from fastbrc.deploy.exported import load_exported
from fastbrc.learner import make_envs
from fastbrc.run.policy import load_policy

FORMATS = {"onnx": "policy.onnx", "jax": "policy.zip"}


def rollout_observations(policy: Any, count: int, num_envs: int, seed: int) -> dict[str, Any]:
    """`count` observations ([count, obs_size]) and their task ids from MJX rollouts of the
    run's envs, stepped by the deterministic policy, with auto-reset."""
    agent_config = dataclasses.replace(policy.config.agent, impl="jax")
    _, env = make_envs(agent_config, num_envs)

    @jax.jit
    def step(state):
        action = policy.apply(state.obs["state"], env.task_ids)
        return env.step(state, action)[0]

    state = env.reset(jax.random.PRNGKey(seed))
    observed = []
    for _ in range(-(-count // num_envs)):
        observed.append(np.asarray(state.obs["state"]))
        state = step(state)
    obs = np.concatenate(observed)[:count]
    task_ids = np.tile(np.asarray(env.task_ids), len(observed))[:count]
    return {"obs": obs, "task_id": task_ids.astype(np.int32)}


def run_export(run_dir: str, fmt: str, out: Path, extra: list[str]) -> float:
    """`fastbrc export` in a fresh process; its wall-clock seconds."""
    argv = [sys.executable, "-m", "fastbrc.cli", "export", "--run-dir", run_dir]
    argv += ["--format", fmt, "--out", str(out), *extra]
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"fastbrc export failed:\n{proc.stderr[-3000:]}")
    say("export", proc.stdout.strip().splitlines()[-1])
    return seconds


def timed_ms(call: Any, repeats: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return {
        "median": statistics.median(times),
        "p90": times[int(0.9 * (len(times) - 1))],
        "repeats": repeats,
    }


def latencies(path: Path, feeds: dict[str, np.ndarray], fmt: str) -> dict[str, Any]:
    """One observation and a batch of 4,096: ONNX Runtime (default threads, one thread) or
    the jax.export function."""
    from fastbrc.deploy.onnx_file import OnnxRunner

    batches = {
        "batch_1": {k: v[:1] for k, v in feeds.items()},
        "batch_4096": {k: np.resize(v, (4096,) + v.shape[1:]) for k, v in feeds.items()},
    }
    repeats = {"batch_1": (2000, 100), "batch_4096": (30, 3)}
    runners: dict[str, Any] = {}
    if fmt == "onnx":
        data = path.read_bytes()
        runners = {"ort_default_threads": OnnxRunner(data), "ort_1_thread": OnnxRunner(data, 1)}
    else:
        exported = load_exported(path)
        runners = {"jax_export_jit": lambda f: jax.block_until_ready(exported.runner(f))}
    out: dict[str, Any] = {}
    for name, runner in runners.items():
        out[name] = {
            batch: timed_ms(lambda r=runner, f=feed: r(f), *repeats[batch])
            for batch, feed in batches.items()
        }
    return out


def measure(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    from machine import machine_info  # benchmarks/machine.py

    policy = load_policy(args.run_dir, args.checkpoint)
    say("export", f"{args.run_dir}: {policy.config.env}, checkpoint {policy.step:,}")
    data = rollout_observations(policy, args.observations, args.num_envs, args.seed)
    tasks = list(policy.tasks)
    extra = ["--checkpoint", str(policy.step)] + (["--task", args.task] if args.task else [])
    if args.task:  # one task's own observations, at its own size
        keep = data["task_id"] == tasks.index(args.task)
        data = {"obs": data["obs"][keep], "task_id": data["task_id"][keep]}
    expected = np.asarray(policy.apply(data["obs"], data["task_id"]))
    formats: dict[str, Any] = {}
    for fmt, name in FORMATS.items():
        path = directory / name
        seconds = run_export(args.run_dir, fmt, path, extra)
        exported = load_exported(path)
        feeds = {exported.input_names[0]: data["obs"][:, : exported.obs_size]}
        if len(exported.input_names) > 1:
            feeds[exported.input_names[1]] = data["task_id"]
        actions = exported(feeds)
        width = actions.shape[-1]
        diff = np.abs(actions - expected[:, :width])
        formats[fmt] = {
            "export_s": seconds,
            "file_bytes": path.stat().st_size,
            "max_abs_diff": float(diff.max()),
            "mean_abs_diff": float(diff.mean()),
            "within_1e-5": bool(diff.max() <= 1e-5),
            "inputs": exported.metadata["inputs"],
            "latency_ms": latencies(path, feeds, fmt),
        }
        say(fmt, f"max |diff| {diff.max():.2e} over {len(diff):,} observations")
    return {
        "benchmark": "export",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python " + " ".join(sys.argv),
        "run_dir": args.run_dir,
        "env": policy.config.env,
        "task": args.task,
        "checkpoint": int(policy.step),
        "observations": {
            "count": int(len(data["obs"])),
            "source": f"MJX rollouts of the checkpoint's deterministic policy, {args.num_envs} "
            f"envs with auto-reset, seed {args.seed}",
        },
        "formats": formats,
        "machine": machine_info(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", help="the run to export")
    parser.add_argument(
        "--checkpoint", type=int, help="env step of the checkpoint (default: newest)"
    )
    parser.add_argument("--task", help="multi-task runs: export this task alone")
    parser.add_argument("--observations", type=int, default=10_000)
    parser.add_argument("--num-envs", type=int, default=16, help="rollout envs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dir", help="where the exported files go (default: a temp dir)")
    parser.add_argument("--out", help="the JSON to write")
    args = parser.parse_args()
    try:
        if not args.run_dir or not args.out:
            raise UsageError("--run-dir and --out are required")
        if args.observations < 1 or args.num_envs < 1:
            raise UsageError("--observations and --num-envs must be >= 1")
        with tempfile.TemporaryDirectory() as temp:
            directory = Path(args.dir or temp)
            directory.mkdir(parents=True, exist_ok=True)
            result = measure(args, directory)
    except UsageError as error:
        print(f"export.py: error: {error}", file=sys.stderr)
        return 2
    path = write_result(Path(args.out), result)
    say("export", f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
