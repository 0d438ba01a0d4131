"""Several seeds of ``benchmarks/peers.py``, judged together (``benchmarks/peers_seeds.py``).

One ``peers.py`` invocation runs each trainer once, with one seed (fastbrc: one, or several in
one program with ``--fastbrc-seeds``). A claim about learning speed needs several seeds of every
peer, and the trainers cost their whole budget each, so the seeds are separate invocations
(``--seed N --out ...``), and this combines their JSONs::

    python benchmarks/peers.py --env HumanoidWalk --budget-s 900 --seed 1 \\
        --trainers fastbrc --out /tmp/p1.json
    ...
    python benchmarks/peers_seeds.py /tmp/p0.json /tmp/p1.json /tmp/p2.json \\
        --out benchmarks/results/peers-HumanoidWalk-cpu-2core-seeds.json

Every input must be a finished ``peers.py`` report of the same env, budget, evaluation
protocol and machine (backend, CPU model, usable CPUs, device kind). A peer is a trainer at
one size: Brax SAC at its published size and at 1/16 of it (``--scale``) are two peers, each
with its own seeds (``variant``: "brax_sac (published size)", "brax_sac (1/16 size)"); a
(peer, seed) pair may appear once. ``FILE:trainer,trainer`` takes only those trainers' runs
from a file (e.g. the peers of an earlier invocation whose fastbrc ran an older preset). Runs
are kept as they are (each seed of a ``--fastbrc-seeds`` report is a run), each with its file,
seed, sizes and the per-run numbers of ``harness.protocol.summarize_curve``.

``threshold``
    The best peer's final return over all its runs: the max of ``final_return`` over the
    ``brax_sac``, ``brax_ppo`` and ``fasttd3`` runs that finished or crashed (a crashed run's
    final return is its last eval), or ``--threshold``.
``time_to_threshold_s``
    Per run, as in ``peers.py``: ``wall_s`` of its first eval point at or above the threshold.
``target``
    Every fastbrc run reaches the threshold within half the budget, with at least
    ``--min-fastbrc-seeds`` fastbrc runs (3) and ``--min-peer-seeds`` runs of each peer (2),
    and no fastbrc eval is NaN. ``met`` says whether all of that holds; ``checks`` says which
    part failed.

Output: a Markdown table (one row per run), the JSON, and a PNG beside it (eval return
against wall-clock and against env steps, each seed thin and each peer's median thick, one
colour per trainer).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import UsageError, fmt  # benchmarks/common.py

from harness import protocol
from harness.protocol import ALL_TRAINERS, COMPARED, PEERS

MACHINE_KEYS = ("backend", "cpu_model", "usable_cpus", "device_kind")
PROTOCOL_KEYS = ("num_eval_envs", "deterministic_policy", "episode_length", "action_repeat")


def parse_input(text: str) -> tuple[Path, tuple[str, ...] | None]:
    """``FILE`` or ``FILE:trainer,trainer``."""
    path, _, names = text.partition(":")
    if not names:
        return Path(path), None
    picked = tuple(n.strip() for n in names.split(",") if n.strip())
    unknown = [n for n in picked if n not in ALL_TRAINERS]
    if unknown or not picked:
        raise UsageError(f"{text}: name trainers from {', '.join(ALL_TRAINERS)}")
    return Path(path), picked


def load(path: Path, picked: tuple[str, ...] | None = None) -> dict[str, Any]:
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise UsageError(f"{path}: not a readable JSON file ({error})") from None
    if report.get("benchmark") != "peers" or "trainers" not in report:
        raise UsageError(f"{path}: not a benchmarks/peers.py report")
    if report.get("tiny"):
        raise UsageError(f"{path}: a --tiny smoke run says nothing about learning")
    if picked is not None:
        missing = [n for n in picked if n not in report["trainers"]]
        if missing:
            raise UsageError(f"{path}: has no {', '.join(missing)} run")
        report["trainers"] = {n: report["trainers"][n] for n in picked}
    return report


def _same(reports: list[tuple[Path, dict[str, Any]]], what: str, get) -> Any:
    first_path, first = reports[0]
    value = get(first)
    for path, report in reports[1:]:
        if get(report) != value:
            raise UsageError(
                f"{path}: {what} {get(report)!r} differs from {value!r} in {first_path}"
            )
    return value


def variant(trainer: str, sizes: dict[str, Any] | None) -> str:
    """The peer a run belongs to: the trainer, and for Brax's agents also their size."""
    scale = (sizes or {}).get("scale")
    if trainer not in PEERS or scale is None:
        return trainer
    return f"{trainer} (published size)" if scale == 1 else f"{trainer} (1/{scale:g} size)"


def runs_of(reports: list[tuple[Path, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every run of the reports (`protocol.runs`), each with its file; a (peer, seed) twice is
    a UsageError."""
    out, seen = [], set()
    for path, report in reports:
        for entry in protocol.runs(report):
            trainer, seed = entry["trainer"], entry["seed"]
            name = variant(trainer, entry.get("sizes"))
            if (name, seed) in seen:
                raise UsageError(f"{path}: {name} seed {seed} appears in two inputs")
            seen.add((name, seed))
            run = {
                "trainer": trainer,
                "variant": name,
                "seed": seed,
                "file": path.name,
                "created": report.get("created"),
                "status": entry.get("status"),
                "sizes": entry.get("sizes"),
                "curve": entry.get("curve") or [],
            }
            if protocol.finished(run):
                run.update(protocol.summarize_curve(run["curve"], report["budget_s"]))
            if entry.get("status") == "crashed":
                run["crash"] = entry.get("crash")
            out.append(run)
    return out


def judge(
    runs: list[dict[str, Any]],
    budget_s: float,
    threshold: float | None = None,
    min_fastbrc_seeds: int = 3,
    min_peer_seeds: int = 2,
) -> dict[str, Any]:
    """The module docstring's threshold, per-run times and target."""
    finished = [r for r in runs if protocol.finished(r)]
    source = "--threshold"
    if threshold is None:
        best = protocol.best_peer_run(finished)
        if best is not None:
            threshold = best["final_return"]
            source = f"final_return of {best['variant']} seed {best['seed']} (best peer run)"
    for run in runs:
        hit = protocol.time_to(run["curve"], threshold) if threshold is not None else None
        run["time_to_threshold_s"] = hit and hit["wall_s"]
        run["env_steps_to_threshold"] = hit and hit["env_steps"]
    ours = [r for r in runs if r["trainer"] == "fastbrc"]
    compared = [r["variant"] for r in finished if r["trainer"] in COMPARED]
    seeds = {
        name: sorted({r["seed"] for r in finished if r["variant"] == name})
        for name in dict.fromkeys(["fastbrc", *compared])
    }
    nan_free = all(
        isinstance(p["eval_return"], int | float) and math.isfinite(p["eval_return"])
        for r in ours
        for p in r["curve"]
    )
    checks = {
        "every_fastbrc_run_within_half_budget": protocol.within_half_budget(
            [r["time_to_threshold_s"] for r in ours], budget_s
        ),
        "fastbrc_seeds": len(seeds["fastbrc"]) >= min_fastbrc_seeds,
        "peer_seeds": all(len(s) >= min_peer_seeds for n, s in seeds.items() if n != "fastbrc"),
        "no_nan_fastbrc_eval": nan_free,
    }
    return {
        "threshold": threshold,
        "threshold_source": source if threshold is not None else "no peer run finished",
        "seeds": seeds,
        "fastbrc_time_over_budget": [
            None if r["time_to_threshold_s"] is None else r["time_to_threshold_s"] / budget_s
            for r in ours
        ],
        "target": {
            "rule": f"every fastbrc run: time_to_threshold_s <= budget_s / 2; >= "
            f"{min_fastbrc_seeds} fastbrc seeds, >= {min_peer_seeds} per peer; no NaN eval",
            "checks": checks,
            "met": all(checks.values()),
        },
    }


def table(report: dict[str, Any]) -> str:
    head = (
        "| trainer | seed | status | num_envs | batch | compile s | env steps/s "
        "| end env steps | final return | best return | time to threshold s |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in report["runs"]:
        sizes = r.get("sizes") or {}
        lines.append(
            f"| {r['variant']} | {r['seed']} | {r['status']} | {fmt(sizes.get('num_envs'), 'd')} "
            f"| {fmt(sizes.get('batch_size'), 'd')} | {fmt(r.get('compile_s'))} "
            f"| {fmt(r.get('env_steps_per_s_after_compile'), ',.0f')} "
            f"| {fmt(r.get('end_env_steps'), ',d')} | {fmt(r.get('final_return'))} "
            f"| {fmt(r.get('best_return'))} | {fmt(r.get('time_to_threshold_s'))} |"
        )
    s = report["summary"]
    failed = [k for k, ok in s["target"]["checks"].items() if not ok]
    lines += [
        "",
        f"{report['env']}, budget {report['budget_s']:g} s per run, threshold "
        f"{fmt(s['threshold'])} ({s['threshold_source']}); target: "
        + ("met" if s["target"]["met"] else "missed (" + ", ".join(failed) + ")"),
    ]
    return "\n".join(lines)


def combine(
    inputs: Sequence[str],
    threshold: float | None = None,
    min_fastbrc_seeds: int = 3,
    min_peer_seeds: int = 2,
) -> dict[str, Any]:
    parsed = [parse_input(text) for text in inputs]
    reports = [(path, load(path, picked)) for path, picked in parsed]
    env = _same(reports, "env", lambda r: r["env"])
    budget = _same(reports, "budget_s", lambda r: r["budget_s"])
    machine = _same(
        reports, "machine", lambda r: {k: (r.get("machine") or {}).get(k) for k in MACHINE_KEYS}
    )
    protocol_ = _same(
        reports, "protocol", lambda r: {k: (r.get("protocol") or {}).get(k) for k in PROTOCOL_KEYS}
    )
    runs = runs_of(reports)
    report = {
        "benchmark": "peers_seeds",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([sys.executable, *sys.argv]),
        "env": env,
        "budget_s": budget,
        "machine": machine,
        "protocol": protocol_,
        "inputs": [
            {"file": p.name, "trainers": list(r["trainers"]), "command": r.get("command")}
            for p, r in reports
        ],
        "runs": runs,
    }
    report["summary"] = judge(runs, budget, threshold, min_fastbrc_seeds, min_peer_seeds)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Several seeds of benchmarks/peers.py, judged together "
        "(benchmarks/harness/combine.py says how)."
    )
    parser.add_argument(
        "inputs", nargs="+", help="peers.py JSON reports (FILE or FILE:trainer,trainer)"
    )
    parser.add_argument("--out", type=Path, required=True, help="JSON path (PNG next to it)")
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--min-fastbrc-seeds", type=int, default=3)
    parser.add_argument("--min-peer-seeds", type=int, default=2)
    args = parser.parse_args(argv)
    try:
        report = combine(args.inputs, args.threshold, args.min_fastbrc_seeds, args.min_peer_seeds)
    except UsageError as error:
        print(f"peers_seeds: {error}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(protocol.strict(report), indent=2, allow_nan=False)
    args.out.write_text(text + "\n")
    try:
        from harness.plot import plot_seeds

        plot_seeds(report, args.out.with_suffix(".png"))
        wrote = f"{args.out} and {args.out.with_suffix('.png').name}"
    except ImportError as error:
        wrote = f"{args.out} (no PNG: {error})"
    print(table(report))
    print(f"\nwrote {wrote}")
    return 0
