"""fastbrc against the trainers that ship with the same stack, for the same wall-clock budget.

Run from the repository root on any JAX backend (CPU here, a GPU elsewhere)::

    python benchmarks/peers.py --env CartpoleBalance --budget-s 180
    python benchmarks/peers.py --env CartpoleBalance --budget-s 20 --tiny --out /tmp/p.json

Trainers (``--trainers``, run in this order, each in a fresh subprocess so that compile
caches and memory do not carry over; the JSON and PNG are rewritten after every trainer;
default ``fastbrc,brax_sac,brax_ppo``, ``fasttd3`` only when named):

``fastbrc``
    ``preset(env, profile)`` (``--profile auto``: ``cpu`` on the CPU, else ``gpu``) with
    ``max_wall_s = budget`` and an unbounded ``total_env_steps``; checkpoints only at the end,
    without the replay buffer.
``brax_sac``, ``brax_ppo``
    ``brax.training.agents.{sac,ppo}.train`` with MuJoCo Playground's published config
    (``mujoco_playground.config.<family>_params.brax_{sac,ppo}_config(env)``, family =
    dm_control_suite, locomotion or manipulation), called as Playground's notebooks call it:
    ``train(environment=env, wrap_env_fn=wrapper.wrap_for_brax_training,
    network_factory=partial(make_*_networks, **config.network_factory), progress_fn=...,
    **config)``. Keys the installed ``train`` does not take are dropped and listed under
    ``dropped`` (Playground's SAC config carries ``num_resets_per_eval``, which Brax 0.14.2's
    ``sac.train`` has no argument for). A trainer with no published config (e.g. SAC on a
    locomotion task) is recorded as skipped.
``fasttd3``
    FastTD3 (PyTorch, younggyoseo/FastTD3) from a checkout at the pinned commit
    (``--fasttd3-src DIR``, or ``FASTTD3_SRC``; default ``../shared/peers/FastTD3-229ed59``
    beside the repository), checked by content hash; its networks, replay buffer and
    normaliser imported unchanged, its Playground wrapper, ``main()`` loop and evaluation
    replaced by ``benchmarks/fasttd3_adapter.py`` (which says what and why; the JSON lists it
    under ``replaced``). Config: the one FastTD3's ``get_args`` picks for the task (its
    Playground defaults, or e.g. ``CheetahRunArgs``); on a CPU 64 envs, batch 1,024, fp32,
    no torch.compile (every change with its reason under ``changes``). It runs in its own
    interpreter: ``FASTTD3_PYTHON`` if set (the GPU machine: torch preinstalled; with
    ``FASTTD3_PYTHONPATH`` as its PYTHONPATH if that is set), else
    ``benchmarks/peers/.venv-fasttd3`` (Python 3.11, torch 2.13 CPU + tensordict + the peers'
    JAX stack, made with pip on first use: ``benchmarks/peers/make_fasttd3_env.py``). No
    checkout, a wrong commit, or no torch: one line, the trainer is recorded as skipped and
    the others run. A crash of FastTD3 is a result (status ``crashed``, the error and where;
    the curve ends at its last evaluation, the plot marks the crash).

Scaling (``--scale S``, default 16 on the CPU, 1 elsewhere): the published configs assume a
GPU. PPO's update round (one ``training_step``) is ``batch_size x unroll_length x
num_minibatches`` = 983,040 env steps with 2048 envs, minutes on 2 CPU cores, so a 180 s
budget would see no trained eval. Both Brax trainers get ``num_envs // S`` and
``batch_size // S`` (PPO 128 envs / 64, SAC 8 envs / 32 at S = 16); every other published
value (SAC's ``grad_updates_per_step``, ``min_replay_size``, ``max_replay_size``; PPO's
``num_minibatches``, ``unroll_length``, ``num_updates_per_batch``, ...) is kept, so the
published ratios hold: transitions sampled per env step (SAC), unrolls per env per update
round and passes over each batch (PPO). ``--scale brax_sac=A,brax_ppo=B`` scales them
differently (the JSON says so under ``scaling``): at S = 16 SAC runs 8 envs and does 16x
more, 16x smaller gradient steps per env step, which costs it throughput on a CPU. fastbrc
keeps its own preset for the backend (CPU: 8 envs for the smaller DM Control tasks). The
JSON lists, per trainer, the published value and the value used of every changed key
(``changes``).

Same protocol for all three:

* evaluation: deterministic policy (``deterministic_eval=True`` for Brax; fastbrc's actor
  mean), one episode in each of ``--num-eval-envs`` envs (default 16), the published
  ``episode_length`` and ``action_repeat`` of Brax PPO (the env's own for DM Control) for
  every trainer, the undiscounted sum of raw rewards;
* env steps: agent steps (one action of one env = ``action_repeat`` control steps); Brax
  counts control steps, so its counts are divided by ``action_repeat``;
* clock: ``wall_s`` starts when the trainer is called with the env already loaded (fastbrc:
  the runner's ``wall_s``, which starts before init and compilation; Brax: just before
  ``train()``), includes compilation and every evaluation, and is read at each eval point;
* stop: at the first progress point at or after ``--budget-s`` (fastbrc: the chunk whose end
  crosses it, then a final eval; Brax: the eval point that crosses it, where ``progress_fn``
  raises; never at Brax's step-0 eval, so that, as for fastbrc, every run ends with at least
  one trained eval). A run therefore overshoots the budget by at most one chunk (fastbrc) or
  one eval interval (Brax); ``end_wall_s`` records by how much;
* eval spacing: about ``--evals`` (default 12) evaluations per budget. No trainer can space
  evals in seconds, so the interval in env steps is ``sps x budget / evals`` with ``sps`` a
  per-trainer estimate of env steps/s (``--sps trainer=rate``; defaults in ``DEFAULT_SPS``:
  the rates measured on this 2-core CPU at the default scale, rough guesses on a GPU; a wrong
  estimate only gives fewer or more eval points, ``num_eval_points`` in the JSON). fastbrc
  gets it as ``eval_every_env_steps``. Brax keeps the published ``num_timesteps`` and gets
  ``num_evals`` (SAC: ``num_evals - 1 = round((num_timesteps - prefill) / interval)``).
  Brax PPO evaluates every ``num_resets_per_eval`` epochs, an epoch being the update rounds
  between two host-side env resets; the published epoch length (1 round for DM Control) is
  kept, ``num_resets_per_eval = round(interval / epoch)`` and ``num_evals`` to match, so
  PPO trains exactly as published and only its eval points move (the minimum spacing is one
  epoch). Brax also evaluates the untrained policy at step 0 (inside the budget); fastbrc
  does not.

Definitions (the same computation for every trainer, from its curve of eval points; points
at env step 0 are left out):

``env_steps_per_s_after_compile``
    ``(env_steps[last] - env_steps[first]) / (wall_s[last] - wall_s[first])``: training rate
    including the periodic evaluations (``None`` with fewer than two trained eval points).
``compile_s``
    ``wall_s[first] - env_steps[first] / env_steps_per_s_after_compile``: the wall time to the
    first trained eval point minus the time its env steps take at the post-compile rate, i.e.
    the one-off startup cost (compiling training and evaluation, allocation, Brax's step-0
    eval). ``first_eval_wall_s`` is the raw time to that point.
``threshold``
    ``--threshold``, default the best peer's return at the end of its budget: the max over
    ``brax_sac``/``brax_ppo`` of their ``final_return``.
``time_to_threshold_s``
    ``wall_s`` of the first eval point with ``eval_return >= threshold`` (``None`` if never);
    ``fastbrc_over_best_peer_time`` = fastbrc's time / the smallest peer time.
``target``
    The target of the issue that asked for this benchmark: fastbrc reaches the threshold (the
    return the best peer has at the end of its budget) within half the budget,
    ``fastbrc time_to_threshold_s <= budget_s / 2``; ``met`` says whether it did.
    ``fastbrc_over_best_peer_time`` is the stricter comparison: a peer whose curve crossed its
    final return earlier (noise) is credited with that earlier time.
``final_return``, ``return_at_budget``, ``best_return``
    The last eval of the run, the last eval with ``wall_s <= budget``, the best eval.

``native`` in each trainer's entry holds the trainer's own timing for reference (fastbrc:
``perf/compile_s`` and the median ``perf/env_steps_per_s`` of its chunks after the first;
Brax: the median ``training/sps`` of its epochs after the first), which leaves evaluations
out and is NOT comparable across trainers.

Output: a Markdown table on stdout (training progress on stderr); JSON
``benchmarks/results/peers-<env>-<machine>.json`` (``<machine>``: ``cpu-<N>core`` or the
backend and device kind; ``--out``) with the creation time, the exact command, machine info,
the protocol, the definitions, and per trainer its full config, curve of ``{wall_s,
env_steps, eval_return, eval_return_std}``, summary numbers and status; a PNG with the same
stem: eval return against wall-clock seconds and against env steps, one line per trainer.
fastbrc's run directory goes under ``--run-root`` (kept) or a temporary directory (deleted).
Exit status: 0, 1 if a trainer failed (recorded with the tail of its output; the others
still run), 2 for a bad argument, 130 if stopped by Ctrl-C.

Cost: about ``len(trainers) x (budget + 20-40 s)`` (process start and imports, overshoot,
fastbrc's final checkpoint): 3 x 180 s takes about 11 min. On 2 CPU cores each trainer spends
roughly 35-60 s of its budget compiling (Brax compiles its evaluator twice: the step-0 call
and the first trained one), so a 60 s budget gives one trained eval each (``compile_s`` and
the rate need two) and 180 s about 6-9. Run it on an otherwise idle machine: the trainers
are compared by wall-clock. ``--tiny`` shrinks every trainer (8 envs, small nets, one update
per step) for a smoke test (tests/test_peers.py); its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import functools
import inspect
import json
import math
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import common  # benchmarks/common.py
import fasttd3_adapter  # benchmarks/ (imports no torch at module level)

from fastbrc.presets import PROFILES  # no jax: the parent never initialises an accelerator

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
# The peers' own environment (benchmarks/peers/pyproject.toml, jax 0.9.2 for Brax's training
# agents), made by `make peers-env`; the fastbrc trainer runs from the harness's interpreter.
PEERS_PYTHON = HERE / "peers" / ".venv" / "bin" / "python"
# FastTD3's environment (torch): $FASTTD3_PYTHON, else this one, made on first use.
FASTTD3_PYTHON = HERE / "peers" / ".venv-fasttd3" / "bin" / "python"
TRAINERS = ("fastbrc", "brax_sac", "brax_ppo")  # the default --trainers
ALL_TRAINERS = (*TRAINERS, "fasttd3")
PEERS = ("brax_sac", "brax_ppo")  # the Brax trainers (--scale)
COMPARED = (*PEERS, "fasttd3")  # the peers fastbrc is timed against (threshold)
DEFAULT_EVALS = 12
DEFAULT_NUM_EVAL_ENVS = 16
DEFAULT_SCALE = {"cpu": 16, "accelerator": 1}
# Env steps/s used only to space the evaluations (see the module docstring). "cpu": training
# rates measured on CartpoleBalance, PendulumSwingup and CheetahRun, 2 CPU cores, default
# --scale 16 (commits f124759 and 00185f6: fastbrc's CPU preset 1,735-1,821, Brax SAC
# 1,372-1,469, PPO 5,691-9,462), so that every trainer's evaluations are about the same
# number of training seconds apart. An estimate below the real rate gives a trainer more eval
# points, and so more chances to catch a peak of an oscillating curve. "accelerator": rough
# guesses.
DEFAULT_SPS: dict[str, dict[str, float]] = {
    "cpu": {"fastbrc": 1_800.0, "brax_sac": 1_400.0, "brax_ppo": 8_000.0, "fasttd3": 150.0},
    "accelerator": {
        "fastbrc": 50_000.0,
        "brax_sac": 20_000.0,
        "brax_ppo": 500_000.0,
        "fasttd3": 12_000.0,  # its published end-to-end rate at 1,024 envs (A100)
    },
}
# --tiny: every trainer shrunk to a smoke test (same eval protocol).
TINY: dict[str, dict[str, Any]] = {
    "fastbrc": dict(
        num_envs=8,
        batch_size=64,
        critic_width=32,
        actor_hidden=(32, 32),
        num_atoms=51,
        replay_capacity_per_env=512,
        updates_per_iteration=1,
        learning_starts_iterations=10,
        iterations_per_chunk=50,
    ),
    "brax_sac": dict(
        num_envs=8,
        batch_size=32,
        grad_updates_per_step=1,
        min_replay_size=256,
        max_replay_size=65_536,
        network_factory=dict(hidden_layer_sizes=(32, 32)),
    ),
    "brax_ppo": dict(
        num_envs=8,
        batch_size=8,
        num_minibatches=4,
        unroll_length=10,
        num_updates_per_batch=1,
        network_factory=dict(policy_hidden_layer_sizes=(16, 16), value_hidden_layer_sizes=(32, 32)),
    ),
}
TINY["fasttd3"] = dict(fasttd3_adapter.TINY)
TINY_SPS = {"fastbrc": 3_000.0, "brax_sac": 1_500.0, "brax_ppo": 10_000.0, "fasttd3": 400.0}
DEFINITIONS = {
    "env_steps": "agent steps summed over training envs (Brax's counts / action_repeat)",
    "wall_s": "seconds since the trainer was called with the env loaded; includes "
    "compilation and evaluations",
    "env_steps_per_s_after_compile": "(env_steps[last] - env_steps[first]) / "
    "(wall_s[last] - wall_s[first]) over the eval points with env_steps > 0",
    "compile_s": "wall_s[first] - env_steps[first] / env_steps_per_s_after_compile "
    "(first = first eval point with env_steps > 0)",
    "first_eval_wall_s": "wall_s of the first eval point with env_steps > 0",
    "final_return": "eval return of the last eval point (the run's end)",
    "return_at_budget": "eval return of the last eval point with wall_s <= budget_s",
    "best_return": "max eval return over the curve",
    "threshold": "--threshold, default max over brax_sac/brax_ppo/fasttd3 of final_return",
    "time_to_threshold_s": "wall_s of the first eval point with eval_return >= threshold",
    "fastbrc_over_best_peer_time": "fastbrc time_to_threshold_s / min over peers",
}


# The fields of fastbrc's config the harness sets itself (--fastbrc-override cannot)
FASTBRC_PROTOCOL_FIELDS = (
    "run_dir seed impl total_env_steps max_wall_s eval_every_env_steps num_eval_envs "
    "episode_length action_repeat checkpoint_every keep_checkpoints save_buffer"
).split()


class UsageError(ValueError):
    """A bad argument: one line for the user, exit status 2."""


class BudgetReached(Exception):  # noqa: N818 - a signal, not an error
    """Raised from a Brax progress_fn once the wall-clock budget is spent."""


def _say(message: str) -> None:
    print(f"peers: {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- arguments
def parse_sps(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or name.strip() not in ALL_TRAINERS:
            raise UsageError(
                f"--sps wants trainer=rate pairs ({', '.join(ALL_TRAINERS)}), got {item!r}"
            )
        try:
            rate = float(value)
        except ValueError:
            raise UsageError(f"--sps {item!r}: {value!r} is not a number") from None
        if not rate > 0:
            raise UsageError(f"--sps {item!r}: the rate must be > 0")
        out[name.strip()] = rate
    return out


def parse_scale(text: str | None) -> dict[str, int] | None:
    """--scale: one factor for both Brax trainers, or brax_sac=A,brax_ppo=B."""
    if text is None:
        return None
    pairs = [p.strip() for p in text.split(",") if p.strip()]
    if len(pairs) == 1 and "=" not in pairs[0]:
        pairs = [f"{name}={pairs[0]}" for name in PEERS]
    out: dict[str, int] = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name.strip() not in PEERS or not value.strip().isdigit() or int(value) < 1:
            raise UsageError(
                f"--scale wants an integer >= 1 or brax_sac=A,brax_ppo=B; got {text!r}"
            )
        out[name.strip()] = int(value)
    if set(out) != set(PEERS):
        raise UsageError(f"--scale {text!r}: give a factor for each of {', '.join(PEERS)}")
    return out


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="CartpoleBalance", help="a Playground task")
    parser.add_argument("--budget-s", type=float, default=180.0, help="wall-clock per trainer")
    parser.add_argument("--trainers", default=",".join(TRAINERS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-eval-envs", type=int, default=DEFAULT_NUM_EVAL_ENVS)
    parser.add_argument(
        "--scale",
        default=None,
        help="divide both Brax configs' num_envs and batch_size by this (default: 16 on the "
        "CPU, 1 on an accelerator); 'brax_sac=A,brax_ppo=B' scales them differently",
    )
    parser.add_argument("--profile", choices=PROFILES, default="auto")
    parser.add_argument("--evals", type=int, default=DEFAULT_EVALS, help="evals per budget")
    parser.add_argument("--sps", default="", help="env steps/s estimates: trainer=rate,...")
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--tiny", action="store_true", help="shrink every trainer (smoke test)")
    parser.add_argument("--out", type=Path, default=None, help="JSON path (PNG next to it)")
    parser.add_argument("--run-root", type=Path, default=None, help="keep fastbrc's run here")
    parser.add_argument(
        "--fasttd3-src",
        default=None,
        help="FastTD3 checkout at commit 229ed59 (default: $FASTTD3_SRC, else "
        "../shared/peers/FastTD3-229ed59 beside the repository)",
    )
    parser.add_argument(
        "--fastbrc-override",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="a config field of fastbrc's preset (e.g. a recipe the GPU sweep chose); repeatable",
    )
    parser.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--plot", type=Path, default=None, help="only (re)draw the PNG of this result JSON"
    )
    args = parser.parse_args(argv)
    if args.worker is not None:
        return args
    trainers = [t.strip() for t in args.trainers.split(",") if t.strip()]
    unknown = [t for t in trainers if t not in ALL_TRAINERS]
    if unknown or not trainers or len(set(trainers)) != len(trainers):
        raise UsageError(
            f"--trainers {args.trainers!r}: name each of {', '.join(ALL_TRAINERS)} at most once"
        )
    args.trainers = trainers
    if not args.budget_s > 0:
        raise UsageError("--budget-s must be > 0")
    if args.num_eval_envs < 1 or args.evals < 1:
        raise UsageError("--num-eval-envs and --evals must be >= 1")
    args.scale = parse_scale(args.scale)
    args.sps_overrides = parse_sps(args.sps)
    from fastbrc.config import Config

    reserved = {name: "(the harness's protocol)" for name in FASTBRC_PROTOCOL_FIELDS}
    try:  # checked now, applied in the worker
        common.config_overrides(Config, args.fastbrc_override, "--fastbrc-override", reserved)
    except common.UsageError as error:
        raise UsageError(str(error)) from None
    return args


# ----------------------------------------------------------------------------- summaries
TARGET_RULE = "fastbrc time_to_threshold_s <= budget_s / 2"


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def summarize_curve(curve: list[dict[str, Any]], budget_s: float) -> dict[str, Any]:
    """The per-trainer numbers of the module docstring, from its eval points."""
    trained = [p for p in curve if p["env_steps"] > 0]
    rate = compile_s = None
    if len(trained) >= 2:
        first, last = trained[0], trained[-1]
        dt = last["wall_s"] - first["wall_s"]
        if dt > 0:
            rate = (last["env_steps"] - first["env_steps"]) / dt
            compile_s = first["wall_s"] - first["env_steps"] / rate
    at_budget = [p for p in curve if p["wall_s"] <= budget_s]
    return {
        "num_eval_points": len(curve),
        "first_eval_wall_s": trained[0]["wall_s"] if trained else None,
        "compile_s": compile_s,
        "env_steps_per_s_after_compile": rate,
        "final_return": curve[-1]["eval_return"] if curve else None,
        "return_at_budget": at_budget[-1]["eval_return"] if at_budget else None,
        "best_return": max((p["eval_return"] for p in curve), default=None),
        "end_wall_s": curve[-1]["wall_s"] if curve else None,
        "end_env_steps": curve[-1]["env_steps"] if curve else None,
    }


def time_to(curve: list[dict[str, Any]], threshold: float) -> dict[str, Any] | None:
    hit = next((p for p in curve if p["eval_return"] >= threshold), None)
    return None if hit is None else {"wall_s": hit["wall_s"], "env_steps": hit["env_steps"]}


def summarize(report: dict[str, Any], threshold: float | None) -> dict[str, Any]:
    done = {
        name: entry
        for name, entry in report["trainers"].items()
        if entry.get("status") in ("ok", "crashed") and entry.get("curve")
    }
    source = "--threshold"
    if threshold is None:
        finals = {n: done[n]["final_return"] for n in COMPARED if n in done}
        finals = {n: v for n, v in finals.items() if _finite(v)}
        if finals:
            best = max(finals, key=finals.__getitem__)
            threshold, source = finals[best], f"final_return of {best} (best peer)"
    rows = {}
    for name, entry in report["trainers"].items():
        hit = time_to(entry.get("curve") or [], threshold) if threshold is not None else None
        rows[name] = {
            "status": entry.get("status"),
            "time_to_threshold_s": hit and hit["wall_s"],
            "env_steps_to_threshold": hit and hit["env_steps"],
            "final_return": entry.get("final_return"),
            "return_at_budget": entry.get("return_at_budget"),
            "best_return": entry.get("best_return"),
            "compile_s": entry.get("compile_s"),
            "env_steps_per_s_after_compile": entry.get("env_steps_per_s_after_compile"),
        }
    peer_times = {
        n: rows[n]["time_to_threshold_s"]
        for n in COMPARED
        if n in rows and rows[n]["time_to_threshold_s"] is not None
    }
    best_peer = min(peer_times, key=peer_times.__getitem__) if peer_times else None
    ours = rows.get("fastbrc", {}).get("time_to_threshold_s")
    budget = report.get("budget_s")
    return {
        "threshold": threshold,
        "threshold_source": source if threshold is not None else "no peer finished",
        "rows": rows,
        "best_peer": best_peer,
        "best_peer_time_to_threshold_s": peer_times.get(best_peer) if best_peer else None,
        "fastbrc_time_to_threshold_s": ours,
        "fastbrc_over_best_peer_time": (
            ours / peer_times[best_peer]
            if ours is not None and best_peer and peer_times[best_peer] > 0
            else None
        ),
        "target": {
            "rule": TARGET_RULE,
            "fastbrc_time_over_budget": ours / budget if ours is not None and budget else None,
            "met": ours is not None and budget is not None and ours <= budget / 2,
        },
    }


def _fmt(x: Any, spec: str = ".1f") -> str:
    if x is None:
        return "-"
    if isinstance(x, float | int):
        return format(x, spec)
    return str(x)


def table(report: dict[str, Any]) -> str:
    summary = report["summary"]
    head = (
        "| trainer | status | num_envs | batch | compile s | env steps/s | end env steps "
        "| end wall s | final return | return at budget | best return | time to threshold s |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for name, entry in report["trainers"].items():
        row = summary["rows"][name]
        cfg = entry.get("sizes", {})
        lines.append(
            f"| {name} | {entry.get('status')} | {_fmt(cfg.get('num_envs'), 'd')} "
            f"| {_fmt(cfg.get('batch_size'), 'd')} | {_fmt(row['compile_s'])} "
            f"| {_fmt(row['env_steps_per_s_after_compile'], ',.0f')} "
            f"| {_fmt(entry.get('end_env_steps'), ',d')} | {_fmt(entry.get('end_wall_s'))} "
            f"| {_fmt(row['final_return'])} | {_fmt(row['return_at_budget'])} "
            f"| {_fmt(row['best_return'])} | {_fmt(row['time_to_threshold_s'])} |"
        )
    ratio = summary["fastbrc_over_best_peer_time"]
    target = summary["target"]
    lines.append("")
    lines.append(
        f"{report['env']}, budget {report['budget_s']:g} s per trainer, threshold "
        f"{_fmt(summary['threshold'])} ({summary['threshold_source']}); fastbrc time / budget: "
        f"{_fmt(target['fastbrc_time_over_budget'], '.2f')} (target <= 0.5: "
        f"{'met' if target['met'] else 'missed'}); fastbrc time / best peer's first time "
        f"({summary['best_peer'] or '-'}): {_fmt(ratio, '.2f')}"
    )
    return "\n".join(lines)


COLORS = {"fastbrc": "tab:red", "brax_sac": "tab:blue", "brax_ppo": "tab:green",
          "fasttd3": "tab:purple"}  # fmt: skip


def plot(report: dict[str, Any], path: Path) -> None:
    """Eval return against wall-clock seconds and against env steps, one line per trainer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = COLORS
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    threshold = report["summary"]["threshold"]
    for name, entry in report["trainers"].items():
        curve = entry.get("curve") or []
        if not curve:
            continue
        y = [p["eval_return"] for p in curve]
        crash = entry.get("crash") if entry.get("status") == "crashed" else None
        for ax, key in zip(axes, ("wall_s", "env_steps"), strict=True):
            ax.plot(
                [p[key] for p in curve],
                y,
                marker="o",
                markersize=3,
                label=name,
                color=colors.get(name),
            )
            if crash:  # the curve ends at the last eval; an x where the run crashed
                ax.plot([p[key] for p in curve[-1:]] + [crash[key]], y[-1:] * 2, ":",
                        color=colors.get(name))  # fmt: skip
                ax.plot([crash[key]], y[-1:], "x", markersize=9, color=colors.get(name),
                        label=f"{name} crashed: {crash['error'][:40]}")  # fmt: skip
    axes[0].axvline(report["budget_s"], color="gray", linestyle=":", label="budget")
    machine = report.get("machine") or {}
    finish_plot(
        fig,
        axes,
        threshold,
        f"{report['env']}: {report['budget_s']:g} s per trainer on {machine_tag(machine)}"
        f"{' (' + machine['cpu_model'] + ')' if machine.get('cpu_model') else ''}",
        path,
    )


def finish_plot(fig: Any, axes: Any, threshold: float | None, title: str, path: Path) -> None:
    """The two panels' labels, threshold line and legend, the title; written atomically."""
    import matplotlib.pyplot as plt

    for ax, label in zip(axes, ("wall-clock seconds", "env steps"), strict=True):
        if threshold is not None:
            ax.axhline(threshold, color="black", linestyle="--", linewidth=0.8, label="threshold")
        ax.set_xlabel(label)
        ax.set_ylabel("eval episode return")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def machine_tag(info: dict[str, Any]) -> str:
    backend = info.get("backend") or "unknown"
    if backend == "cpu":
        return f"cpu-{info.get('usable_cpus') or info.get('cpu_count')}core"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{backend}-{info.get('device_kind')}")


def write_report(report: dict[str, Any], out: Path, threshold: float | None) -> None:
    report["summary"] = summarize(report, threshold)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    text = json.dumps(_strict(report), indent=2, default=_json_default, allow_nan=False)
    tmp.write_text(text + "\n")
    tmp.replace(out)
    try:
        plot(report, out.with_suffix(".png"))
    except ImportError as error:  # the GPU machine has no matplotlib: plot the JSON elsewhere
        if not _NO_PLOT_SAID:
            _NO_PLOT_SAID.append(True)
            _say(f"no PNG ({error}); elsewhere: python benchmarks/peers.py --plot {out}")


_NO_PLOT_SAID: list[bool] = []


def _strict(x: Any) -> Any:
    """`x` with every non-finite float replaced by None (strict JSON has no NaN)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _strict(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_strict(v) for v in x]
    return x


def _json_default(x: Any) -> Any:
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, tuple | set):
        return list(x)
    return str(x)


# ----------------------------------------------------------------------------- worker side
def published_config(trainer: str, env_name: str) -> dict[str, Any] | None:
    """Playground's published Brax config for `env_name` (None if there is none)."""
    from mujoco_playground import registry
    from mujoco_playground.config import (
        dm_control_suite_params,
        locomotion_params,
        manipulation_params,
    )

    algo = trainer.removeprefix("brax_")
    for family, module in (
        (registry.dm_control_suite, dm_control_suite_params),
        (registry.locomotion, locomotion_params),
        (registry.manipulation, manipulation_params),
    ):
        if env_name in family.ALL_ENVS:
            make = getattr(module, f"brax_{algo}_config", None)
            return None if make is None else make(env_name, "jax").to_dict()
    return None


def eval_protocol(env_name: str) -> dict[str, Any]:
    """Episode length (control steps) and action repeat for every trainer: Brax PPO's
    published values, else the env's own."""
    from fastbrc.envs import env_info

    info = env_info(env_name)
    ppo = published_config("brax_ppo", env_name) or {}
    length = int(ppo.get("episode_length") or info.episode_length)
    repeat = int(ppo.get("action_repeat") or info.action_repeat)
    return {
        "episode_length": length,
        "action_repeat": repeat,
        "agent_episode_length": math.ceil(length / repeat),
        "env_default": {"episode_length": info.episode_length, "action_repeat": info.action_repeat},
        "source": "Brax PPO published config" if ppo else "env config",
    }


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _changes(
    before: dict[str, Any], after: dict[str, Any], label: str = "published", prefix: str = ""
) -> dict[str, Any]:
    """{key: {label: before, "used": after}} for every (nested) key whose value differs."""
    out: dict[str, Any] = {}
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out.update(_changes(a, b, label, f"{prefix}{key}."))
        elif json.dumps(a, default=_json_default) != json.dumps(b, default=_json_default):
            out[f"{prefix}{key}"] = {label: a, "used": b}
    return out


def _float_or_none(x: Any) -> float | None:
    return None if x is None else float(x)


def brax_config(
    trainer: str,
    published: dict[str, Any],
    *,
    scale: int,
    tiny: bool,
    protocol: dict[str, Any],
    num_eval_envs: int,
    seed: int,
    interval: float,
) -> dict[str, Any]:
    """The published config, scaled, with the shared protocol and the eval spacing."""
    config = dict(published)
    for key in ("num_envs", "batch_size"):
        if config[key] % scale:
            raise UsageError(f"--scale {scale} does not divide {trainer}'s {key} {config[key]}")
        config[key] //= scale
    if tiny:
        config = _merge(config, TINY[trainer])
    config.update(
        episode_length=protocol["episode_length"],
        action_repeat=protocol["action_repeat"],
        num_eval_envs=num_eval_envs,
        deterministic_eval=True,
        seed=seed,
    )
    total = config["num_timesteps"]
    if trainer == "brax_ppo":
        if (config["batch_size"] * config["num_minibatches"]) % config["num_envs"]:
            raise UsageError(
                f"brax_ppo: batch_size {config['batch_size']} x num_minibatches "
                f"{config['num_minibatches']} is not divisible by num_envs {config['num_envs']}"
            )
        # Keep the published number of update rounds between host-side env resets (an
        # "epoch"; 1 for DM Control) and evaluate every `num_resets_per_eval` epochs.
        rounds = ppo_rounds_per_epoch(published)
        per_epoch = rounds * ppo_steps_per_round(config)
        if published.get("num_resets_per_eval", 0) > 0:
            config["num_resets_per_eval"] = max(1, round(interval / per_epoch))
        epochs_per_eval = max(config.get("num_resets_per_eval", 0), 1)
        config["num_evals"] = 1 + max(1, math.ceil(total / (per_epoch * epochs_per_eval)))
    else:
        prefill = -(-config["min_replay_size"] // config["num_envs"]) * config["num_envs"]
        config["num_evals"] = max(
            2, round((total - prefill * config["action_repeat"]) / interval) + 1
        )
    return config


def ppo_steps_per_round(config: dict[str, Any]) -> int:
    """Env steps (Brax's count) of one PPO update round (one `training_step`)."""
    return (
        config["batch_size"]
        * config["unroll_length"]
        * config["num_minibatches"]
        * config["action_repeat"]
    )


def ppo_rounds_per_epoch(config: dict[str, Any]) -> int:
    """Update rounds per `training_epoch` (between env resets) as Brax PPO plans them."""
    n = max(config["num_evals"] - 1, 1)
    resets = max(config.get("num_resets_per_eval", 0), 1)
    return math.ceil(config["num_timesteps"] / (n * ppo_steps_per_round(config) * resets))


def eval_interval_in_brax_steps(trainer: str, config: dict[str, Any]) -> int:
    """Env steps (Brax's count: x action_repeat) between two evaluations, as Brax plans them."""
    if trainer == "brax_ppo":
        resets = max(config.get("num_resets_per_eval", 0), 1)
        return ppo_rounds_per_epoch(config) * ppo_steps_per_round(config) * resets
    n = max(config["num_evals"] - 1, 1)
    total, repeat = config["num_timesteps"], config["action_repeat"]
    per_actor_step = config["num_envs"] * repeat
    prefill = -(-config["min_replay_size"] // config["num_envs"]) * per_actor_step
    return -(-(total - prefill) // (n * per_actor_step)) * per_actor_step


def run_brax(spec: dict[str, Any]) -> dict[str, Any]:
    from brax.training.agents.ppo import networks as ppo_networks
    from brax.training.agents.ppo import train as ppo
    from brax.training.agents.sac import networks as sac_networks
    from brax.training.agents.sac import train as sac
    from mujoco_playground import wrapper

    from fastbrc.envs import load_env

    trainer, env_name = spec["trainer"], spec["env"]
    published = published_config(trainer, env_name)
    if published is None:
        return {
            "status": "skipped",
            "reason": f"Playground publishes no {trainer} config for {env_name}",
        }
    protocol = eval_protocol(env_name)
    interval = spec["sps"] * spec["budget_s"] / spec["evals"] * protocol["action_repeat"]
    config = brax_config(
        trainer,
        published,
        scale=spec["scale"],
        tiny=spec["tiny"],
        protocol=protocol,
        num_eval_envs=spec["num_eval_envs"],
        seed=spec["seed"],
        interval=interval,
    )
    train_fn, make_networks = (
        (ppo.train, ppo_networks.make_ppo_networks)
        if trainer == "brax_ppo"
        else (sac.train, sac_networks.make_sac_networks)
    )
    accepted = set(inspect.signature(train_fn).parameters)
    params = {k: v for k, v in config.items() if k in accepted and k != "network_factory"}
    dropped = sorted(k for k in config if k not in accepted and k != "network_factory")
    net = config.get("network_factory") or {}
    factory = functools.partial(make_networks, **net) if net else make_networks

    env = load_env(env_name, impl="jax")
    repeat = protocol["action_repeat"]
    # Brax PPO's training/sps counts num_resets_per_eval epochs but times one of them.
    sps_overcount = max(config.get("num_resets_per_eval", 0), 1) if trainer == "brax_ppo" else 1
    budget = spec["budget_s"]
    curve: list[dict[str, Any]] = []
    native: list[dict[str, float]] = []

    def progress(step: int, metrics: dict[str, Any]) -> None:
        wall = time.perf_counter() - start
        curve.append(
            {
                "wall_s": wall,
                "env_steps": int(step) // repeat,
                "eval_return": float(metrics["eval/episode_reward"]),
                "eval_return_std": _float_or_none(metrics.get("eval/episode_reward_std")),
            }
        )
        if "training/sps" in metrics:
            native.append(
                {
                    "sps": float(metrics["training/sps"]) / repeat / sps_overcount,
                    "walltime": _float_or_none(metrics.get("training/walltime")),
                }
            )
        print(
            f"{trainer}: {wall:7.1f} s  {step // repeat:>11,} env steps  "
            f"eval return {curve[-1]['eval_return']:.2f}",
            file=sys.stderr,
            flush=True,
        )
        if wall >= budget and step > 0:  # like fastbrc: at least one trained eval
            raise BudgetReached

    stopped_by = "num_timesteps"
    start = time.perf_counter()
    try:
        train_fn(
            environment=env,
            wrap_env_fn=wrapper.wrap_for_brax_training,
            network_factory=factory,
            progress_fn=progress,
            **params,
        )
    except BudgetReached:
        stopped_by = "budget"
    rates = [n["sps"] for n in native[1:]] or [n["sps"] for n in native]
    return {
        "status": "ok",
        "stopped_by": stopped_by,
        "published_config": published,
        "config": config,
        "changes": _changes(published, config),
        "dropped": dropped,
        "protocol": protocol,
        "eval_interval_env_steps": eval_interval_in_brax_steps(trainer, config) // repeat,
        "curve": curve,
        "native": {
            "train_sps_median": statistics.median(rates) if rates else None,
            "definition": "median over epochs after the first of Brax's training/sps "
            "(/ action_repeat; PPO: also / num_resets_per_eval, which Brax multiplies in but "
            "does not time); excludes evaluation",
        },
        "sizes": {
            "scale": spec["scale"],
            "num_envs": config["num_envs"],
            "batch_size": config["batch_size"],
            "published_num_envs": published["num_envs"],
            "published_batch_size": published["batch_size"],
        },
    }


def run_fastbrc(spec: dict[str, Any]) -> dict[str, Any]:
    import jax

    from fastbrc.config import Config
    from fastbrc.presets import preset, resolve_profile
    from fastbrc.run.cpu_devices import split_cpu
    from fastbrc.run.runner import train

    env_name = spec["env"]
    if not spec["profile"].startswith("gpu"):  # the CPU preset's CPU devices, before JAX
        split_cpu(preset(env_name, "cpu").cpu_devices)
    protocol = eval_protocol(env_name)
    profile = resolve_profile(spec["profile"], jax.default_backend())
    base = preset(env_name, profile)
    interval = max(1, round(spec["sps"] * spec["budget_s"] / spec["evals"]))
    overrides: dict[str, Any] = dict(TINY["fastbrc"]) if spec["tiny"] else {}
    overrides.update(
        common.config_overrides(Config, spec.get("fastbrc_override", []), "--fastbrc-override")
    )
    overrides.update(
        run_dir=spec["run_dir"],
        seed=spec["seed"],
        impl="jax",
        total_env_steps=10**15,
        max_wall_s=spec["budget_s"],
        eval_every_env_steps=interval,
        num_eval_envs=spec["num_eval_envs"],
        episode_length=protocol["episode_length"],
        action_repeat=protocol["action_repeat"],
        checkpoint_every=10**15,
        keep_checkpoints=1,
        save_buffer=False,
    )
    config = dataclasses.replace(base, **overrides)
    last = train(config, verbose=False)
    lines = (Path(config.run_dir) / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    curve = [
        {
            "wall_s": r["wall_s"],
            "env_steps": r["env_steps"],
            "eval_return": r["eval/episode_return"],
            "eval_return_std": r.get("eval/episode_return_std"),
        }
        for r in records
        if r.get("eval/episode_return") is not None
    ]
    for p in curve:
        print(
            f"fastbrc: {p['wall_s']:7.1f} s  {p['env_steps']:>11,} env steps  "
            f"eval return {p['eval_return']:.2f}",
            file=sys.stderr,
        )
    rates = [r["perf/env_steps_per_s"] for r in records[1:]] or [
        r["perf/env_steps_per_s"] for r in records
    ]
    stopped = last.get("stopped_by")
    return {
        "status": "ok",
        "stopped_by": "budget" if stopped == "max_wall_s" else stopped or "total_env_steps",
        "profile": profile,
        "config": json.loads(config.to_json()),
        "changes": _changes(json.loads(base.to_json()), json.loads(config.to_json()), "preset"),
        "protocol": protocol,
        "eval_interval_env_steps": interval,
        "curve": curve,
        "native": {
            "compile_s": records[0]["perf/compile_s"] if records else None,
            "train_sps_median": statistics.median(rates) if rates else None,
            "definition": "perf/compile_s (init + chunk compile; evaluation compiles in the "
            "background) and the median "
            "perf/env_steps_per_s of the chunks after the first; excludes evaluation",
        },
        "sizes": {
            "profile": profile,
            "num_envs": config.num_envs,
            "batch_size": config.batch_size,
            "updates_per_iteration": config.updates_per_iteration,
            "critic_width": config.critic_width,
            "devices": f"{len(jax.devices())} x {jax.devices()[0].device_kind}",
        },
    }


def run_fasttd3(spec: dict[str, Any]) -> dict[str, Any]:
    """FastTD3 through benchmarks/fasttd3_adapter.py (its docstring says what is replaced)."""
    from fastbrc.envs import load_env

    try:
        import tensordict  # noqa: F401
        import torch  # noqa: F401
    except ImportError as error:
        return {"status": "skipped", "reason": f"no torch/tensordict in {sys.executable}: {error}"}
    try:
        return fasttd3_adapter.run(spec, eval_protocol(spec["env"]), load_env)
    except fasttd3_adapter.SourceError as error:
        return {"status": "skipped", "reason": str(error)}


def _version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def worker(spec_path: Path) -> int:
    """Run one trainer (a subprocess of the parent) and write its result JSON."""
    sys.path.insert(0, str(HERE.parent))
    spec = json.loads(spec_path.read_text())
    from machine import machine_info

    result: dict[str, Any]
    tick = time.perf_counter()
    try:
        run = {"fastbrc": run_fastbrc, "fasttd3": run_fasttd3}.get(spec["trainer"], run_brax)
        result = run(spec)
    except Exception as error:  # noqa: BLE001 - recorded, the parent carries on
        traceback.print_exc()
        result = {"status": "failed", "error": f"{type(error).__name__}: {error}"}
    result["worker_wall_s"] = time.perf_counter() - tick
    result["machine"] = machine_info()
    result["environment"] = {  # Brax's agents run in the peers' own environment (jax 0.9.2)
        "python": sys.executable,
        "jax": result["machine"].get("jax") or _version("jax"),
    }
    if spec["trainer"] == "fasttd3":
        result["environment"].update(torch=_version("torch"), tensordict=_version("tensordict"))
    Path(spec["result"]).write_text(json.dumps(result, indent=2, default=_json_default) + "\n")
    return 0 if result["status"] != "failed" else 1


# ----------------------------------------------------------------------------- parent side
def trainer_python(name: str) -> str:
    """The interpreter a trainer runs in: the peers' environment for Brax's agents (made on
    first use with `make peers-env`), this one for fastbrc. UsageError if it cannot be made."""
    if name == "fastbrc":
        return sys.executable
    if name == "fasttd3":
        return fasttd3_python()
    if not PEERS_PYTHON.exists():
        _say("creating the peers' environment (make peers-env, once) ...")
        proc = subprocess.run(
            ["make", "--no-print-directory", "-C", str(HERE.parent), "peers-env"],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or not PEERS_PYTHON.exists():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise UsageError(f"the peers' environment could not be made (make peers-env): {last}")
    return str(PEERS_PYTHON)


def fasttd3_python() -> str:
    """$FASTTD3_PYTHON, else benchmarks/peers/.venv-fasttd3 (made on first use by
    benchmarks/peers/make_fasttd3_env.py). UsageError (one line) if it cannot be made."""
    chosen = os.environ.get("FASTTD3_PYTHON")
    if chosen:
        return chosen
    if not (FASTTD3_PYTHON.parent.parent / ".installed").exists():
        _say("creating FastTD3's environment (benchmarks/peers/make_fasttd3_env.py, once) ...")
        proc = subprocess.run(
            [sys.executable, str(HERE / "peers" / "make_fasttd3_env.py")],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            last = ((proc.stderr or proc.stdout).strip().splitlines() or ["no output"])[-1]
            raise UsageError(f"FastTD3's environment could not be made: {last}")
    return str(FASTTD3_PYTHON)


def run_worker(spec: dict[str, Any], scratch: Path, timeout_s: float) -> dict[str, Any]:
    """One trainer in a fresh Python process; its output goes to our stderr."""
    name = spec["trainer"]
    spec_path = scratch / f"{name}-spec.json"
    result_path = scratch / f"{name}-result.json"
    spec = {**spec, "result": str(result_path)}
    spec_path.write_text(json.dumps(spec, indent=2))
    try:
        python = trainer_python(name)
    except UsageError as error:
        _say(f"{name}: {error}")
        if name == "fasttd3":  # a missing optional peer, not a failure of the harness
            return {"status": "skipped", "reason": str(error), "process_wall_s": 0.0}
        return {"status": "failed", "error": str(error), "process_wall_s": 0.0}
    command = [python, str(Path(__file__).resolve()), "--worker", str(spec_path)]
    tail: collections.deque[str] = collections.deque(maxlen=40)
    tick = time.perf_counter()
    env = None
    if name == "fasttd3" and "FASTTD3_PYTHONPATH" in os.environ:
        # its own interpreter may need its own path (the CPU rehearsal of the GPU check:
        # Python 3.11 with torch beside a 3.12 bundle)
        env = {**os.environ, "PYTHONPATH": os.environ["FASTTD3_PYTHONPATH"]}
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: a timeout kills all of it
        env=env,
    )

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
    process_wall = time.perf_counter() - tick
    if result_path.exists():
        result = json.loads(result_path.read_text())
    else:
        why = f"killed after {timeout_s:.0f} s" if timed_out else f"exit status {proc.returncode}"
        result = {"status": "failed", "error": f"the worker wrote no result ({why})"}
    if result.get("status") == "failed":
        result["output_tail"] = list(tail)
    result["process_wall_s"] = process_wall
    return result


def fasttd3_skip_reason(src: str | None) -> str | None:
    """Why the fasttd3 trainer cannot run (no checkout, not the pinned commit), else None."""
    try:
        fasttd3_adapter.verify_source(fasttd3_adapter.find_source(src))
    except fasttd3_adapter.SourceError as error:
        return str(error)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except UsageError as error:
        print(f"peers: {error}", file=sys.stderr)
        return 2
    if args.worker is not None:
        return worker(args.worker)
    if args.plot is not None:
        plot(json.loads(args.plot.read_text()), args.plot.with_suffix(".png"))
        print(f"wrote {args.plot.with_suffix('.png')}")
        return 0
    # The parent never initialises an accelerator: the workers need all of it.
    info = json.loads(
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import json, machine; print(json.dumps(machine.machine_info()))",
            ],
            cwd=HERE,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false"},
        ).stdout
    )
    kind = "cpu" if info["backend"] == "cpu" else "accelerator"
    scale = args.scale or dict.fromkeys(PEERS, DEFAULT_SCALE[kind])
    sps = {**(TINY_SPS if args.tiny else DEFAULT_SPS[kind]), **args.sps_overrides}
    out = args.out or RESULTS_DIR / f"peers-{args.env}-{machine_tag(info)}.json"
    scratch = Path(tempfile.mkdtemp(prefix="fastbrc-peers-"))
    run_root = args.run_root or scratch / "runs"
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    report: dict[str, Any] = {
        "benchmark": "peers",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join([sys.executable, *sys.argv]),
        "machine": info,
        "env": args.env,
        "budget_s": args.budget_s,
        "seed": args.seed,
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
    failed = False
    try:
        for name in args.trainers:
            _say(f"{name}: {args.budget_s:g} s on {args.env}")
            spec = {
                "trainer": name,
                "env": args.env,
                "budget_s": args.budget_s,
                "seed": args.seed,
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
            skip = fasttd3_skip_reason(args.fasttd3_src) if name == "fasttd3" else None
            if skip:
                _say(f"fasttd3: skipped: {skip}")
                result = {"status": "skipped", "reason": skip}
            else:
                result = run_worker(
                    spec, scratch, timeout_s=max(3 * args.budget_s, args.budget_s + 900)
                )
                if result.get("status") == "skipped":  # found out in the worker (e.g. no torch)
                    _say(f"{name}: skipped: {result.get('reason')}")
            result.pop("machine", None)
            protocol = result.get("protocol")
            if protocol and report["protocol"]["episode_length"] is None:
                report["protocol"].update(
                    episode_length=protocol["episode_length"],
                    action_repeat=protocol["action_repeat"],
                    agent_episode_length=protocol["agent_episode_length"],
                    episode_source=protocol["source"],
                )
            if result.get("status") in ("ok", "crashed"):
                result.update(summarize_curve(result["curve"], args.budget_s))
            result["budget_s"] = args.budget_s
            failed |= result.get("status") == "failed"
            report["trainers"][name] = result
            report["scaling"][name] = result.get("sizes")
            write_report(report, out, args.threshold)
            _say(f"{name}: {result.get('status')}; wrote {out}")
    except KeyboardInterrupt:
        write_report(report, out, args.threshold)
        _say(f"stopped by Ctrl-C; wrote what was measured to {out}")
        return 130
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # specs, results, fastbrc's run if no --run-root
    print(table(report))
    print(f"\nwrote {out}" + ("" if _NO_PLOT_SAID else f" and {out.with_suffix('.png').name}"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
