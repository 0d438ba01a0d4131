"""The benchmarks' learning curves, drawn one way: eval return against wall-clock seconds and
against env steps, one line per run, and the runs of a group (one trainer's seeds) each thin
with their median thick.

A curve is a list of eval points, dicts with ``eval_return`` and the x keys (``wall_s``,
``env_steps``), as the benchmarks' JSON records them; a null return (a NaN in the run) is a gap.
``fastbrc plot`` (``fastbrc/run/plot.py``) draws run directories instead: the records of one
program, whose seeds are evaluated at the same env steps. The curves here also come from
separate programs (the seeds of a peer run by separate invocations, evaluated at other env
steps and seconds), so the median is taken over the curves interpolated linearly, where every
one of them has been evaluated (from the latest first point to the earliest last one).
Matplotlib's object API, no pyplot: no global state, no GUI backend; a figure is written
atomically (a plot beside a JSON that a sweep rewrites is never half-written).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

X_LABELS = {"wall_s": "wall-clock seconds", "env_steps": "env steps"}
Curve = list[dict[str, Any]]


@dataclass(frozen=True)
class Group:
    """Runs drawn in one colour: one run is a line with markers; several are each drawn thin,
    their median thick."""

    label: str
    curves: tuple[Curve, ...]
    color: str | None = None
    linestyle: str = "-"
    marker: str = "o"
    crashes: tuple[dict[str, Any] | None, ...] = ()  # per curve: where it crashed, and why


def xy(curve: Curve, key: str) -> tuple[np.ndarray, np.ndarray]:
    """The curve's `key` and eval return as float arrays (None is NaN)."""
    x = np.array([p[key] for p in curve], dtype=float)
    return x, np.array([p["eval_return"] for p in curve], dtype=float)


def median_curve(curves: Sequence[Curve], key: str) -> tuple[np.ndarray, np.ndarray]:
    """The median eval return of `curves` against `key`, at each of their points where every
    curve has been evaluated, each curve interpolated linearly there (empty arrays where their
    ranges do not overlap)."""
    pairs = [xy(curve, key) for curve in curves if curve]
    if not pairs:
        return np.array([]), np.array([])
    low, high = max(x[0] for x, _ in pairs), min(x[-1] for x, _ in pairs)
    grid = np.unique(np.concatenate([x for x, _ in pairs]))
    grid = grid[(grid >= low) & (grid <= high)]
    values = np.stack([np.interp(grid, x, y) for x, y in pairs])
    return grid, np.median(values, axis=0)


def draw(axes: Sequence[tuple[Any, str]], group: Group) -> None:
    """`group`'s lines on each (axes, x key) pair; a crash is an x after the curve's end."""
    curves = [curve for curve in group.curves if curve]
    several = len(curves) > 1
    style = dict(color=group.color, linestyle=group.linestyle)
    for ax, key in axes:
        for index, curve in enumerate(group.curves):
            if not curve:
                continue
            x, y = xy(curve, key)
            if several:  # each seed thin, unlabelled: the median's label names them
                ax.plot(x, y, linewidth=0.8, alpha=0.4, marker=".", markersize=2, **style)
            else:
                ax.plot(x, y, marker=group.marker, markersize=3, label=group.label, **style)
            crash = group.crashes[index] if index < len(group.crashes) else None
            if crash:  # the curve ends at the last eval; an x where the run crashed
                ax.plot([x[-1], crash[key]], [y[-1]] * 2, ":", color=group.color)
                ax.plot([crash[key]], [y[-1]], "x", markersize=9, color=group.color,
                        label=f"{group.label} crashed: {crash['error'][:40]}")  # fmt: skip
        if several:
            x, y = median_curve(curves, key)
            label = f"{group.label}: median of {len(curves)} (thin: each)"
            ax.plot(x, y, linewidth=2.2, marker=group.marker, markersize=3, label=label, **style)


def figure(columns: int = 2, rows: int = 1, size: tuple[float, float] = (5.5, 4.0)) -> Any:
    """A figure of `rows` x `columns` panels of `size` inches each: (figure, axes grid)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * columns, size[1] * rows), layout="tight")
    return fig, fig.subplots(rows, columns, squeeze=False)


def finish(
    fig: Any,
    axes: Sequence[tuple[Any, str]],
    title: str,
    path: Path,
    threshold: float | None = None,
) -> None:
    """Label the (axes, x key) panels, draw the threshold, title the figure and write it."""
    for ax, key in axes:
        if threshold is not None:
            ax.axhline(threshold, color="black", linestyle="--", linewidth=0.8, label="threshold")
        ax.set_xlabel(X_LABELS.get(key, key))
        ax.set_ylabel("eval episode return")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    save(fig, path)


def save(fig: Any, path: Path, dpi: int = 110) -> None:
    """Write `fig` to `path` (its format by the suffix) atomically, folders made as needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp" + path.suffix)
    fig.savefig(tmp, dpi=dpi)
    tmp.replace(path)
