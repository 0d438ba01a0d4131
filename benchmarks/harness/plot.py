"""The harness's two figures, eval return against wall-clock seconds and against env steps
(drawn by ``benchmarks/curves.py``): one report (a line per trainer; fastbrc's seeds in one
program each thin, their median thick), and several reports judged together (every seed of
every peer, one colour per trainer, dashed for a Brax agent below its published size)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curves import Group, draw, figure, finish  # benchmarks/curves.py

from fastbrc.run.machine import machine_tag
from harness.protocol import runs

COLORS = {"fastbrc": "tab:red", "brax_sac": "tab:blue", "brax_ppo": "tab:green",
          "fasttd3": "tab:purple"}  # fmt: skip
PANELS = ("wall_s", "env_steps")


def _groups(every: list[dict[str, Any]], name: Any) -> list[tuple[str, list[dict[str, Any]]]]:
    """The runs with a curve, grouped by `name(run)` in their order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in every:
        if run.get("curve"):
            groups.setdefault(name(run), []).append(run)
    return list(groups.items())


def _group(label: str, members: list[dict[str, Any]], linestyle: str = "-") -> Group:
    crashes = tuple(r.get("crash") if r.get("status") == "crashed" else None for r in members)
    return Group(label, tuple(r["curve"] for r in members), COLORS.get(members[0]["trainer"]),
                 linestyle, crashes=crashes)  # fmt: skip


def plot_report(report: dict[str, Any], path: Path) -> None:
    """A peers.py report: one line per trainer (its seeds' median and each seed thin)."""
    fig, grid = figure()
    axes = list(zip(grid[0], PANELS, strict=True))
    for trainer, members in _groups(runs(report), lambda r: r["trainer"]):
        draw(axes, _group(trainer, members))
    grid[0][0].axvline(report["budget_s"], color="gray", linestyle=":", label="budget")
    machine = report.get("machine") or {}
    cpu = f" ({machine['cpu_model']})" if machine.get("cpu_model") else ""
    title = f"{report['env']}: {report['budget_s']:g} s per trainer on {machine_tag(machine)}{cpu}"
    finish(fig, axes, title, path, report["summary"]["threshold"])


def plot_seeds(report: dict[str, Any], path: Path) -> None:
    """A peers_seeds.py report: every run, one group per peer variant."""
    fig, grid = figure()
    axes = list(zip(grid[0], PANELS, strict=True))
    for variant, members in _groups(report["runs"], lambda r: r["variant"]):
        scale = (members[0].get("sizes") or {}).get("scale")
        draw(axes, _group(variant, members, "--" if scale not in (None, 1) else "-"))
    grid[0][0].axvline(report["budget_s"] / 2, color="gray", linestyle=":", label="half budget")
    machine = report.get("machine") or {}
    where = machine.get("cpu_model") or machine.get("device_kind")
    title = (
        f"{report['env']}: {report['budget_s']:g} s per run, every seed, on "
        f"{machine_tag(machine)} ({where})"
    )
    finish(fig, axes, title, path, report["summary"]["threshold"])
