"""A peers.py report's outputs: its Markdown table, and its JSON and PNG, rewritten together
after every trainer (atomically: a run cut short keeps what it measured)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common import fmt, say  # benchmarks/common.py

from harness.protocol import json_default, runs, strict, summarize


def table(report: dict[str, Any]) -> str:
    """One row per run (trainer, or fastbrc seed), then the threshold and the target."""
    summary = report["summary"]
    head = (
        "| trainer | status | num_envs | batch | compile s | env steps/s | end env steps "
        "| end wall s | final return | return at budget | best return | time to threshold s |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for run in runs(report):
        row = summary["rows"][run["label"]]
        sizes = run.get("sizes") or {}
        lines.append(
            f"| {run['label']} | {run.get('status')} | {fmt(sizes.get('num_envs'), 'd')} "
            f"| {fmt(sizes.get('batch_size'), 'd')} | {fmt(row['compile_s'])} "
            f"| {fmt(row['env_steps_per_s_after_compile'], ',.0f')} "
            f"| {fmt(run.get('end_env_steps'), ',d')} | {fmt(run.get('end_wall_s'))} "
            f"| {fmt(row['final_return'])} | {fmt(row['return_at_budget'])} "
            f"| {fmt(row['best_return'])} | {fmt(row['time_to_threshold_s'])} |"
        )
    target = summary["target"]
    seeds = "slowest fastbrc seed's" if summary.get("fastbrc_seeds") else "fastbrc"
    lines += [
        "",
        f"{report['env']}, budget {report['budget_s']:g} s per trainer, threshold "
        f"{fmt(summary['threshold'])} ({summary['threshold_source']}); {seeds} time / budget: "
        f"{fmt(target['fastbrc_time_over_budget'], '.2f')} (target <= 0.5: "
        f"{'met' if target['met'] else 'missed'}); fastbrc time / best peer's first time "
        f"({summary['best_peer'] or '-'}): {fmt(summary['fastbrc_over_best_peer_time'], '.2f')}",
    ]
    return "\n".join(lines)


def write_report(report: dict[str, Any], out: Path, threshold: float | None) -> bool:
    """Summarize `report` and write it as `out` (JSON) and a PNG beside it; False (and a line
    saying how to draw it elsewhere) where there is no matplotlib, as on the GPU machine."""
    report["summary"] = summarize(report, threshold)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    text = json.dumps(strict(report), indent=2, default=json_default, allow_nan=False)
    tmp.write_text(text + "\n")
    tmp.replace(out)
    try:
        from harness.plot import plot_report

        plot_report(report, out.with_suffix(".png"))
    except ImportError as error:
        if not _NO_PLOT_SAID:
            _NO_PLOT_SAID.append(True)
            say("peers", f"no PNG ({error}); elsewhere: python benchmarks/peers.py --plot {out}")
        return False
    return True


_NO_PLOT_SAID: list[bool] = []
