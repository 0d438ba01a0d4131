"""The parent side of ``benchmarks/peers.py``: each trainer in a fresh process, one after another.

Trainers run in the order of ``--trainers`` (default ``fastbrc,brax_sac,brax_ppo``; ``fasttd3``
only when named), each in a fresh subprocess (``peers.py --worker SPEC``) so that compile caches
and memory do not carry over, in its own interpreter: this one for fastbrc, the peers' own
environment for Brax's agents (``benchmarks/peers/.venv``, jax 0.9.2, made on first use with
``make peers-env``), FastTD3's for FastTD3 (``fasttd3_trainer`` says which). The parent never
initialises an accelerator: the workers need all of it.

Output: a Markdown table on stdout (training progress on stderr); JSON
``benchmarks/results/peers-<env>-<machine>.json`` (``<machine>``: ``cpu-<N>core`` or the
backend and device kind; ``--out``) with the creation time, the exact command, machine info,
the protocol, the definitions, and per trainer its full config, curve of ``{wall_s,
env_steps, eval_return, eval_return_std}`` (or its ``members``, one per seed of
``--fastbrc-seeds``), summary numbers and status; a PNG with the same stem. Both are rewritten
after every trainer. fastbrc's run directory goes under ``--run-root`` (kept) or a temporary
directory (deleted). Exit status: 0, 1 if a trainer failed (recorded with the tail of its
output; the others still run), 2 for a bad argument, 130 if stopped by Ctrl-C.

Cost: about ``len(trainers) x (budget + 20-40 s)`` (process start and imports, overshoot,
fastbrc's final checkpoint): 3 x 180 s takes about 11 min. On 2 CPU cores each trainer spends
roughly 35-60 s of its budget compiling (Brax compiles its evaluator twice: the step-0 call
and the first trained one), so a 60 s budget gives one trained eval each (``compile_s`` and
the rate need two) and 180 s about 6-9. Run it on an otherwise idle machine: the trainers
are compared by wall-clock. ``--tiny`` shrinks every trainer (8 envs, small nets, one update
per step) for a smoke test (tests/test_peers.py); its numbers mean nothing.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fasttd3_adapter  # benchmarks/ (imports no torch at module level)
from common import UsageError, say  # benchmarks/common.py

from fastbrc.run.machine import machine_tag
from harness import cli
from harness.protocol import (
    DEFAULT_SCALE,
    DEFAULT_SPS,
    DEFINITIONS,
    PEERS,
    TINY_SPS,
    add_curve_summaries,
)
from harness.report import table, write_report

BENCHMARKS = Path(__file__).resolve().parent.parent
ENTRY = BENCHMARKS / "peers.py"  # the workers' command: peers.py --worker SPEC
RESULTS_DIR = BENCHMARKS / "results"
# The peers' own environment (benchmarks/peers/pyproject.toml, jax 0.9.2 for Brax's training
# agents), made by `make peers-env`; the fastbrc trainer runs from the harness's interpreter.
PEERS_PYTHON = BENCHMARKS / "peers" / ".venv" / "bin" / "python"
# FastTD3's environment (torch): $FASTTD3_PYTHON, else this one, made on first use.
FASTTD3_PYTHON = BENCHMARKS / "peers" / ".venv-fasttd3" / "bin" / "python"


def _say(message: str) -> None:
    say("peers", message)


def _made(command: list[str], what: str) -> None:
    """Run `command` (making an environment); UsageError with its last line if it fails."""
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        last = ((proc.stderr or proc.stdout).strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"{what} could not be made: {last}")


def trainer_python(name: str) -> str:
    """The interpreter a trainer runs in: the peers' environment for Brax's agents (made on
    first use with `make peers-env`), this one for fastbrc. UsageError if it cannot be made."""
    if name == "fastbrc":
        return sys.executable
    if name == "fasttd3":
        return fasttd3_python()
    if not PEERS_PYTHON.exists():
        _say("creating the peers' environment (make peers-env, once) ...")
        make = ["make", "--no-print-directory", "-C", str(BENCHMARKS.parent), "peers-env"]
        _made(make, "the peers' environment (make peers-env)")
        if not PEERS_PYTHON.exists():
            raise UsageError(f"make peers-env made no {PEERS_PYTHON}")
    return str(PEERS_PYTHON)


def fasttd3_python() -> str:
    """$FASTTD3_PYTHON, else benchmarks/peers/.venv-fasttd3 (made on first use by
    benchmarks/peers/make_fasttd3_env.py). UsageError (one line) if it cannot be made."""
    chosen = os.environ.get("FASTTD3_PYTHON")
    if chosen:
        return chosen
    if not (FASTTD3_PYTHON.parent.parent / ".installed").exists():
        _say("creating FastTD3's environment (benchmarks/peers/make_fasttd3_env.py, once) ...")
        make = [sys.executable, str(BENCHMARKS / "peers" / "make_fasttd3_env.py")]
        _made(make, "FastTD3's environment")
    return str(FASTTD3_PYTHON)


def run_worker(spec: dict[str, Any], scratch: Path, timeout_s: float) -> dict[str, Any]:
    """One trainer in a fresh Python process; its output goes to our stderr."""
    name = spec["trainer"]
    spec_path = scratch / f"{name}-spec.json"
    result_path = scratch / f"{name}-result.json"
    spec_path.write_text(json.dumps({**spec, "result": str(result_path)}, indent=2))
    try:
        python = trainer_python(name)
    except UsageError as error:
        _say(f"{name}: {error}")
        if name == "fasttd3":  # a missing optional peer, not a failure of the harness
            return {"status": "skipped", "reason": str(error), "process_wall_s": 0.0}
        return {"status": "failed", "error": str(error), "process_wall_s": 0.0}
    env = None
    if name == "fasttd3" and "FASTTD3_PYTHONPATH" in os.environ:
        # its own interpreter may need its own path (the CPU rehearsal of the GPU check:
        # Python 3.11 with torch beside a 3.12 bundle)
        env = {**os.environ, "PYTHONPATH": os.environ["FASTTD3_PYTHONPATH"]}
    tick = time.perf_counter()
    returncode, timed_out, tail = _supervise([python, str(ENTRY), "--worker", str(spec_path)],
                                             env, timeout_s)  # fmt: skip
    if result_path.exists():
        result = json.loads(result_path.read_text())
    else:
        why = f"killed after {timeout_s:.0f} s" if timed_out else f"exit status {returncode}"
        result = {"status": "failed", "error": f"the worker wrote no result ({why})"}
    if result.get("status") == "failed":
        result["output_tail"] = tail
    result["process_wall_s"] = time.perf_counter() - tick
    return result


def _supervise(
    command: list[str], env: dict[str, str] | None, timeout_s: float
) -> tuple[int | None, bool, list[str]]:
    """Run `command` in its own process group, its output forwarded to our stderr; killed
    (all of it) after `timeout_s` or if we stop. (exit status, timed out, last 40 lines)."""
    tail: collections.deque[str] = collections.deque(maxlen=40)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True, env=env)  # fmt: skip

    def forward() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stderr.write(line)
            sys.stderr.flush()
            tail.append(line.rstrip("\n"))

    reader = threading.Thread(target=forward, daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        if proc.poll() is None:  # timed out, or Ctrl-C / an error here
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    reader.join(timeout=10)
    return proc.returncode, timed_out, list(tail)


def fasttd3_skip_reason(src: str | None) -> str | None:
    """Why the fasttd3 trainer cannot run (no checkout, not the pinned commit), else None."""
    try:
        fasttd3_adapter.verify_source(fasttd3_adapter.find_source(src))
    except fasttd3_adapter.SourceError as error:
        return str(error)
    return None


def machine() -> dict[str, Any]:
    """benchmarks/machine.py's facts, read in a subprocess: JAX is not started here."""
    code = "import json, machine; print(json.dumps(machine.machine_info()))"
    done = subprocess.run([sys.executable, "-c", code], cwd=BENCHMARKS, capture_output=True,
                          text=True, check=True,
                          env={**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false"})  # fmt: skip
    return json.loads(done.stdout)


def new_report(args: Any, info: dict[str, Any], sps: dict[str, float], scale: dict) -> dict:
    """The report before any trainer ran: the command, machine, protocol and definitions."""
    report: dict[str, Any] = {
        "benchmark": "peers",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join([sys.executable, *sys.argv]),
        "machine": info,
        "env": args.env,
        "budget_s": args.budget_s,
        "seed": args.seed,
        **({"fastbrc_seeds": args.fastbrc_seeds} if args.fastbrc_seeds else {}),
        "tiny": args.tiny,
        "protocol": {
            "num_eval_envs": args.num_eval_envs,
            "episodes_per_eval": args.num_eval_envs,
            "deterministic_policy": True,
            "evals_per_budget_target": args.evals,
            "sps_estimates_for_eval_spacing": sps,
            "episode_length": None,  # filled from the first trainer (same for all)
            "action_repeat": None,
            "stop_rule": "first eval point with wall_s >= budget_s and env_steps > 0",
        },
        "scaling": {
            "scale": scale,
            "same_for_both_brax_trainers": len(set(scale.values())) == 1,
            "rule": "Brax trainers: published num_envs // scale and batch_size // scale, "
            "all other published values kept; fastbrc: its preset for the backend",
        },
        "definitions": DEFINITIONS,
        "trainers": {},
    }
    return report


def run_trainer(name: str, spec: dict[str, Any], scratch: Path, budget_s: float) -> dict:
    """One trainer's entry: run (or skipped before it starts), its curves summarized."""
    _say(f"{name}: {budget_s:g} s on {spec['env']}")
    skip = fasttd3_skip_reason(spec["fasttd3_src"]) if name == "fasttd3" else None
    if skip:
        _say(f"fasttd3: skipped: {skip}")
        result = {"status": "skipped", "reason": skip}
    else:
        result = run_worker(spec, scratch, timeout_s=max(3 * budget_s, budget_s + 900))
        if result.get("status") == "skipped":  # found out in the worker (e.g. no torch)
            _say(f"{name}: skipped: {result.get('reason')}")
    result.pop("machine", None)
    add_curve_summaries(result, budget_s)
    result["budget_s"] = budget_s
    return result


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = cli.parse_args(argv)
    except UsageError as error:
        print(f"peers: {error}", file=sys.stderr)
        return 2
    if args.worker is not None:
        from harness import worker

        return worker.main(args.worker)
    if args.plot is not None:
        from harness.plot import plot_report

        plot_report(json.loads(args.plot.read_text()), args.plot.with_suffix(".png"))
        print(f"wrote {args.plot.with_suffix('.png')}")
        return 0
    info = machine()
    kind = "cpu" if info["backend"] == "cpu" else "accelerator"
    scale = args.scale or dict.fromkeys(PEERS, DEFAULT_SCALE[kind])
    sps = {**(TINY_SPS if args.tiny else DEFAULT_SPS[kind]), **args.sps_overrides}
    out = args.out or RESULTS_DIR / f"peers-{args.env}-{machine_tag(info)}.json"
    scratch = Path(tempfile.mkdtemp(prefix="fastbrc-peers-"))
    run_root = args.run_root or scratch / "runs"
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    report = new_report(args, info, sps, scale)
    failed, plotted = False, True
    try:
        for name in args.trainers:
            spec = {
                "trainer": name,
                "env": args.env,
                "budget_s": args.budget_s,
                "seed": args.seed,
                "fastbrc_seeds": args.fastbrc_seeds,
                "num_eval_envs": args.num_eval_envs,
                "scale": scale.get(name, 1),
                "tiny": args.tiny,
                "profile": args.profile,
                "evals": args.evals,
                "sps": sps[name],
                "run_dir": str(run_root / f"fastbrc-{args.env}-{stamp}"),
                "fasttd3_src": args.fasttd3_src,
                "fastbrc_override": args.fastbrc_override,
            }
            result = run_trainer(name, spec, scratch, args.budget_s)
            protocol = result.get("protocol")
            if protocol and report["protocol"]["episode_length"] is None:
                report["protocol"].update(
                    episode_length=protocol["episode_length"],
                    action_repeat=protocol["action_repeat"],
                    agent_episode_length=protocol["agent_episode_length"],
                    episode_source=protocol["source"],
                )
            failed |= result.get("status") == "failed"
            report["trainers"][name] = result
            report["scaling"][name] = result.get("sizes")
            plotted = write_report(report, out, args.threshold)
            _say(f"{name}: {result.get('status')}; wrote {out}")
    except KeyboardInterrupt:
        write_report(report, out, args.threshold)
        _say(f"stopped by Ctrl-C; wrote what was measured to {out}")
        return 130
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # specs, results, fastbrc's run if no --run-root
    print(table(report))
    print(f"\nwrote {out}" + (f" and {out.with_suffix('.png').name}" if plotted else ""))
    return 1 if failed else 0
