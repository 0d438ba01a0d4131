"""Start-up cost: fastbrc's XLA compiler options against XLA's defaults, per program.

    python benchmarks/startup.py                            # CheetahRun, 2 repeats
    python benchmarks/startup.py --env HumanoidWalk --repeats 3

For each repeat, each variant runs in a fresh process (JAX caches compiled programs by their
options within a process), in the order A B, then B A, and so on, so drift on a shared machine
falls on both. A worker builds the preset for the env (``--profile``; further ``--field value``
pairs override it as on the CLI), then times:

- ``lower`` and ``compile`` of the three programs a run compiles: ``init``, the training
  ``chunk`` and ``evaluate`` (lowering is Python tracing; compile is XLA), started exactly as
  ``fastbrc train`` starts a run (``fastbrc.run.runner.start``: init and evaluate compile on
  background threads, so their compile seconds may overlap other work);
- the run time of ``init`` once, of ``--chunks`` training chunks after the warm-up (every
  timed chunk learns) and of one evaluation, each ending in ``jax.block_until_ready``.

Variants: ``xla_default`` compiles with no options; ``fastbrc`` with
``fastbrc.run.compile_options.for_program`` (what ``fastbrc train`` uses). The summary gives, per
variant, the median over repeats, and the ratios fastbrc / xla_default, which is what the
docs/results.md quotes: the ratio of two numbers taken in one invocation.

Output: a Markdown table on stdout and JSON in
``benchmarks/results/startup-<env>-<backend>-<device or host>.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import machine  # benchmarks/machine.py (the script's folder)
from common import run_worker, write_result  # benchmarks/common.py

VARIANTS = ("xla_default", "fastbrc")
PROGRAMS = ("init", "chunk", "evaluate")


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="CheetahRun", help="environment (default: %(default)s)")
    parser.add_argument(
        "--profile", choices=("auto", "cpu", "gpu"), default="auto", help="preset profile"
    )
    parser.add_argument(
        "--repeats", type=int, default=2, help="processes per variant (default: %(default)s)"
    )
    parser.add_argument(
        "--chunks", type=int, default=3, help="timed training chunks (default: %(default)s)"
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default: results/)")
    parser.add_argument("--worker", choices=VARIANTS, default=None, help=argparse.SUPPRESS)
    return parser.parse_known_args(argv)


def build_config(args: argparse.Namespace, overrides: list[str]) -> Any:
    """The preset for `args.env` with `overrides` (``--field value`` as for fastbrc train)."""
    import jax

    from fastbrc import presets
    from fastbrc.config import validate
    from fastbrc.run.args import tyro_cli
    from fastbrc.run.cpu_devices import requested, split_cpu

    if args.profile != "gpu":  # as fastbrc train: the CPU devices before JAX starts
        split_cpu(requested(args.env, overrides))
    profile = presets.resolve_profile(args.profile, jax.default_backend())
    defaults = presets.preset(args.env, profile)
    return validate(tyro_cli(type(defaults), defaults, overrides, "start-up benchmark overrides"))


def _timed(fn, *args) -> tuple[Any, float]:
    import jax

    tick = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - tick


def worker(args: argparse.Namespace, overrides: list[str]) -> dict[str, Any]:
    """One variant in this process: lower/compile/run seconds of every program, started the
    way `fastbrc train` starts a run (`fastbrc.run.runner.start`, in a scratch run directory)."""
    import contextlib
    import dataclasses
    import tempfile

    from fastbrc.run import compile_options
    from fastbrc.run.runner import prepare, start

    def options(program: str, platform: str) -> dict[str, Any]:
        return compile_options.for_program(program, platform) if args.worker == "fastbrc" else {}

    config = build_config(args, overrides)
    with tempfile.TemporaryDirectory() as run_dir, contextlib.ExitStack() as held:
        config = dataclasses.replace(config, run_dir=run_dir, wandb=False, video_every=0)
        prepared = prepare(config, held, verbose=False)
        started = start(prepared, held, options)
        held.callback(started.checkpoints.close)
        held.callback(started.evaluate.close)
        return _time_programs(args, prepared, started, options)


def _time_programs(args, prepared, started, options) -> dict[str, Any]:
    from fastbrc.core import parallel

    config, platform = prepared.config, prepared.device.platform
    seconds = dict(started.seconds)  # init and chunk: lower, compile, init's run
    evaluate = started.evaluate.result()
    seconds["evaluate_lower_s"] = started.evaluate.lower_seconds
    seconds["evaluate_compile_s"] = started.evaluate.seconds - started.evaluate.lower_seconds
    state, chunk = started.state, started.chunk
    warm_up = -(-config.learning_starts_iterations // config.iterations_per_chunk)
    for _ in range(max(warm_up, 1)):  # the first call also pays any one-off set-up
        state, _ = chunk(state)
    chunk_s = []
    for _ in range(args.chunks):
        (state, metrics), elapsed = _timed(chunk, state)
        chunk_s.append(elapsed)
    key_eval = parallel.on_mesh(prepared.key_eval, prepared.fns.mesh)
    returns, seconds["evaluate_run_s"] = _timed(evaluate, state, key_eval)
    seconds["chunk_run_s"] = statistics.median(chunk_s)
    seconds["compile_total_s"] = sum(seconds[f"{p}_compile_s"] for p in PROGRAMS)
    seconds["start_up_s"] = seconds["compile_total_s"] + sum(
        seconds[f"{p}_lower_s"] for p in PROGRAMS
    )
    return {
        "variant": args.worker,
        "platform": platform,
        "options": {p: options(p, platform) for p in PROGRAMS},
        "chunk_run_s_all": chunk_s,
        # the same numbers under both variants means the options changed speed, not results
        "last_chunk_critic_loss": float(metrics["train/critic_loss"]),
        "eval_return": float(returns["eval/episode_return"]),
        "env_steps_per_chunk": config.env_steps_per_chunk,
        "config": json.loads(config.to_json()),
        **seconds,
    }


def _run_worker(args: argparse.Namespace, overrides: list[str], variant: str) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--worker", variant, "--env", args.env]
    argv += ["--profile", args.profile, "--chunks", str(args.chunks), *overrides]
    print(f"startup.py: {args.env} {variant} ...", file=sys.stderr, flush=True)
    return run_worker(argv, f"startup.py: the {variant} worker")


KEYS = (
    "init_lower_s",
    "init_compile_s",
    "init_run_s",
    "chunk_lower_s",
    "chunk_compile_s",
    "chunk_run_s",
    "evaluate_lower_s",
    "evaluate_compile_s",
    "evaluate_run_s",
    "compile_total_s",
    "start_up_s",
)


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median per variant of every timed key, and fastbrc / xla_default."""
    medians = {
        variant: {
            key: statistics.median(run[key] for run in runs if run["variant"] == variant)
            for key in KEYS
        }
        for variant in VARIANTS
    }
    ratios = {key: medians["fastbrc"][key] / medians["xla_default"][key] for key in KEYS}
    return {"median": medians, "ratio_fastbrc_over_default": ratios}


def table(summary: dict[str, Any]) -> str:
    lines = ["| seconds | xla_default | fastbrc | ratio |", "|---|---|---|---|"]
    for key in KEYS:
        a, b = (summary["median"][v][key] for v in VARIANTS)
        lines.append(
            f"| {key} | {a:.2f} | {b:.2f} | {summary['ratio_fastbrc_over_default'][key]:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args, overrides = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args, overrides)))
        return 0
    if args.repeats < 1 or args.chunks < 1:
        raise SystemExit("startup.py: --repeats and --chunks must be at least 1")
    from fastbrc.config import ConfigError
    from fastbrc.run.args import UsageError

    try:  # a bad override fails in one line before any worker starts
        build_config(args, overrides)
    except (UsageError, ConfigError) as error:
        raise SystemExit(f"startup.py: {error}") from None
    runs = []
    for repeat in range(args.repeats):
        order = VARIANTS if repeat % 2 == 0 else VARIANTS[::-1]
        runs += [_run_worker(args, overrides, variant) for variant in order]
    summary = summarize(runs)
    info = machine.machine_info()
    result = {
        "benchmark": "startup",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([sys.executable, *sys.argv]),
        "machine": info,
        "env": args.env,
        "definitions": {
            "lower_s": "jit tracing and lowering to StableHLO (Python)",
            "compile_s": "XLA compile of the lowered program",
            "chunk_run_s": "median seconds of one training chunk that learns",
            "start_up_s": "lower + compile of init, chunk and evaluate",
        },
        "runs": runs,
        **summary,
    }
    out = write_result(args.out or machine.result_path(f"startup-{args.env}", info), result)
    print(table(summary))
    print(f"\nwrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
