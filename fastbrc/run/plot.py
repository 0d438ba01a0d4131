"""`fastbrc plot RUN_DIR [RUN_DIR ...]`: learning curves of runs as a PNG (or PDF/SVG).

The figure has two columns, evaluation return against env steps and against wall-clock
seconds, and one line per run; a run of several seeds (``--seeds``) draws each seed thin and
their median thick. Multi-task runs add a row per task (the first row is then
the mean over tasks); a single-task run of one of those tasks shows in its row too. The
±std band of the evaluation episodes shades the first row, and the training episodes' return
is a faint dashed line. The size and dpi are fixed, so the output's pixel size depends only on
the number of rows. The command also prints each run's evaluations in one line (first, best,
last), so a terminal shows whether it learned. Bad input raises `ConfigError` with a one-line
message.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from fastbrc.config import Config, ConfigError
from fastbrc.run.args import Parser, UsageError, fail

FORMATS = (".png", ".pdf", ".svg")
WIDTH_IN, ROW_HEIGHT_IN, DPI = 12.0, 3.5, 100  # a PNG is 1200 x 350*rows pixels
DEFAULT_NAME = "learning_curves.png"
USAGE = "fastbrc plot RUN_DIR [RUN_DIR ...] [--out PATH] [--title T]"


@dataclass(frozen=True)
class Run:
    """A run directory's metrics, ready to plot."""

    name: str
    env: str
    tasks: tuple[str, ...]
    records: list[dict[str, Any]]
    steps: np.ndarray  # env steps of each record
    wall: np.ndarray  # wall-clock seconds of each record, cumulative over resumes
    seed: int | None = None  # the member of a --seeds run (None: a single-seed run)
    group: str = ""  # the run directory's name (every seed of a --seeds run shares it)

    def rows(self, key: str) -> list[int]:
        """Indices of the records that hold `key`."""
        return [i for i, record in enumerate(self.records) if key in record]

    def column(self, key: str, rows: list[int]) -> np.ndarray:
        """`key` in the records `rows`; null or missing is NaN."""
        return np.array([_number(self.records[i].get(key)) for i in rows], dtype=float)

    def return_key(self, kind: str, task: str | None) -> str | None:
        """The metric with the `kind` ("eval"/"train") return of `task` (None: the mean);
        None when the run did not train on `task`."""
        if task is None or self.tasks == (task,):
            return f"{kind}/episode_return"
        return f"{kind}/{task}/episode_return" if task in self.tasks else None


def _number(value: Any) -> float:
    """A metric as a float; null (NaN in the run), missing or not a number is NaN."""
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if numeric else math.nan


def _cumulative_wall(wall: list[float]) -> np.ndarray:
    """wall_s restarts at 0 in a resumed run: continue from where the previous part ended."""
    out, offset, previous = [], 0.0, 0.0
    for seconds in wall:
        if seconds < previous:
            offset += previous
        out.append(offset + seconds)
        previous = seconds if math.isfinite(seconds) else previous
    return np.array(out, dtype=float)


def _read_records(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None
    lines = text.splitlines()
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines) and not text.endswith("\n"):
                break  # a last line cut short by a killed run
            raise ConfigError(f"{path}:{number} is not a JSON line") from None
        if not isinstance(record, dict) or not isinstance(record.get("env_steps"), int):
            raise ConfigError(f"{path}:{number} is not a metrics record (no env_steps)")
        records.append(record)
    return records


def load_runs(run_dir: str | Path) -> list[Run]:
    """Read a run directory's config.json and metrics.jsonl: one `Run`, or one per seed of a
    --seeds run (named ``<run>/seed<s>``)."""
    path = Path(run_dir)
    for name in ("config.json", "metrics.jsonl"):
        if not (path / name).is_file():
            raise ConfigError(f"{path} is not a run directory (no {name})")
    try:
        config = Config.from_json((path / "config.json").read_text())
    except (OSError, ValueError, TypeError) as error:  # ConfigError is a ValueError
        message = " ".join(str(error).split())
        raise ConfigError(f"{path / 'config.json'} is not a valid config: {message}") from None
    records = _read_records(path / "metrics.jsonl")
    if not any("eval/episode_return" in record for record in records):
        raise ConfigError(
            f"{path} has no evaluation yet (it evaluates every "
            f"{config.eval_every_env_steps:,} env steps)"
        )
    group = path.resolve().name
    runs = []
    for seed in config.seeds or (None,):
        mine = [r for r in records if r.get("seed") == seed]
        wall = [_number(record.get("wall_s")) for record in mine]
        runs.append(
            Run(
                name=group if seed is None else f"{group}/seed{seed}",
                env=config.env,
                tasks=config.env_names,
                records=mine,
                steps=np.array([record["env_steps"] for record in mine], dtype=float),
                wall=_cumulative_wall(wall),
                seed=seed,
                group=group,
            )
        )
    return runs


def load_run(run_dir: str | Path) -> Run:
    """A single-seed run directory's `Run` (the first seed of a --seeds run)."""
    return load_runs(run_dir)[0]


def eval_summary(run: Run) -> str:
    """One line: the run's first, best and last evaluation return (mean over its tasks), each
    with its env steps."""
    rows = run.rows("eval/episode_return")
    returns = run.column("eval/episode_return", rows)
    steps = run.steps[rows]

    def point(i: int) -> str:
        return f"{returns[i]:.1f} at {int(steps[i]):,} env steps"

    finite = np.flatnonzero(np.isfinite(returns))
    best = f"best {point(int(finite[np.argmax(returns[finite])]))}, " if finite.size else ""
    count = len(rows)
    return (
        f"{run.name}: eval return {point(0)} (first), {best}{point(count - 1)} (last); "
        f"{count} evaluation{'s' if count != 1 else ''}"
    )


def _check_out(out: str | Path) -> Path:
    path = Path(out)
    if path.suffix.lower() not in FORMATS:
        raise ConfigError(
            f"cannot write {path}: unknown format '{path.suffix}' (use {', '.join(FORMATS)})"
        )
    return path


def plot_runs(run_dirs: Sequence[str | Path], out: str | Path, *, title: str | None = None) -> Path:
    """Plot the learning curves of `run_dirs` into `out` (.png, .pdf or .svg by its suffix,
    its directory created if missing); return the path written."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    path = _check_out(out)
    if not run_dirs:
        raise ConfigError("no run directories to plot")
    groups = [load_runs(run_dir) for run_dir in run_dirs]
    if len({g[0].group for g in groups}) < len(groups):  # e.g. seed1/run and seed2/run
        groups = [_renamed(g, str(d)) for d, g in zip(run_dirs, groups, strict=True)]
    runs = [run for group in groups for run in group]
    tasks = list(dict.fromkeys(t for run in runs if len(run.tasks) > 1 for t in run.tasks))
    rows: list[str | None] = [None, *tasks]  # None: the mean over a run's tasks

    figure = Figure(figsize=(WIDTH_IN, ROW_HEIGHT_IN * len(rows)), dpi=DPI, layout="constrained")
    axes = figure.subplots(len(rows), 2, squeeze=False)
    if title is None:
        first = groups[0][0]
        title = f"{first.group}: {first.env}" if len(groups) == 1 else f"{len(groups)} runs"
    figure.suptitle(title)
    for row, task in enumerate(rows):
        for index, group in enumerate(groups):
            color = f"C{index % 10}"
            if len(group) == 1:
                _plot_run(axes[row], group[0], task, color=color)
            else:
                _plot_seeds(axes[row], group, task, color=color)
        what = "mean eval return over tasks" if task is None and tasks else "eval return"
        for column, xlabel in enumerate(("env steps", "wall-clock seconds")):
            ax = axes[row][column]
            ax.set_title(f"{task}: eval return" if task else what, fontsize=10)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("episode return")
            ax.grid(alpha=0.3)
        dashed = any(len(group) == 1 for group in groups)  # seeds draw no training lines
        note = "dashed: training episodes" if row == 0 and dashed else None
        axes[row][0].legend(fontsize=8, loc="best", title=note, title_fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        figure.savefig(path, dpi=DPI)
    except OSError as error:
        raise ConfigError(f"cannot write {path}: {error.strerror or error}") from None
    return path


def _plot_run(axes: Sequence[Any], run: Run, task: str | None, color: str) -> None:
    """One run's lines in a row's two panels (nothing when the run lacks `task`)."""
    key = run.return_key("eval", task)
    if key is None:
        return
    label = run.name if task is None else f"{run.name}: {task}"
    rows = run.rows(key)
    mean = run.column(key, rows)
    std = run.column("eval/episode_return_std", rows) if task is None else None
    train_key = run.return_key("train", task) or ""
    train_rows = run.rows(train_key)
    train = run.column(train_key, train_rows)
    for ax, x in zip(axes, (run.steps, run.wall), strict=True):
        ax.plot(x[rows], mean, color=color, marker="o", markersize=3, label=label)
        if std is not None and np.isfinite(std).any():
            low, high = mean - std, mean + std
            ax.fill_between(x[rows], low, high, color=color, alpha=0.15, linewidth=0)
        if np.isfinite(train).any():
            ax.plot(x[train_rows], train, color=color, linestyle="--", linewidth=1, alpha=0.4)


def _renamed(group: list[Run], name: str) -> list[Run]:
    return [
        replace(r, group=name, name=name if r.seed is None else f"{name}/seed{r.seed}")
        for r in group
    ]


def _plot_seeds(axes: Sequence[Any], group: list[Run], task: str | None, color: str) -> None:
    """A --seeds run's lines in a row's two panels: each seed thin, their median thick (at
    the env steps where every seed was evaluated together)."""
    key = group[0].return_key("eval", task)
    if key is None:
        return
    by_step: dict[float, list[float]] = {}
    wall_at: dict[float, float] = {}
    for index, run in enumerate(group):
        rows = run.rows(key)
        values = run.column(key, rows)
        for ax, x in zip(axes, (run.steps, run.wall), strict=True):
            label = f"{len(group)} seeds, each" if index == 0 else None
            ax.plot(x[rows], values, color=color, linewidth=0.8, alpha=0.35, label=label)
        for step, wall, value in zip(run.steps[rows], run.wall[rows], values, strict=True):
            by_step.setdefault(step, []).append(value)
            wall_at.setdefault(step, wall)
    steps = np.array(sorted(by_step))
    median = np.array(
        [np.nanmedian(by_step[s]) if np.isfinite(by_step[s]).any() else np.nan for s in steps]
    )
    name = group[0].group if task is None else f"{group[0].group}: {task}"
    for ax, x in zip(axes, (steps, np.array([wall_at[s] for s in steps])), strict=True):
        ax.plot(
            x,
            median,
            color=color,
            linewidth=2.5,
            marker="o",
            markersize=3,
            label=f"{name} (median)",
        )


def plot_main(argv: list[str]) -> int:
    """`fastbrc plot`: 0 when the figure is written, 2 (and a one-line error) on bad input."""
    parser = Parser(
        prog="fastbrc plot",
        usage=USAGE,
        description="Plot the eval return of runs against env steps and wall-clock seconds.",
    )
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories")
    parser.add_argument(
        "--out",
        metavar="PATH",
        help=f"output file, .png, .pdf or .svg (default: RUN_DIR/{DEFAULT_NAME} for one run, "
        f"./{DEFAULT_NAME} for several)",
    )
    parser.add_argument("--title", metavar="T", help="figure title")
    try:
        args = parser.parse_args(argv)
        out = args.out or (
            Path(args.run_dirs[0]) / DEFAULT_NAME if len(args.run_dirs) == 1 else DEFAULT_NAME
        )
        path = plot_runs(args.run_dirs, out, title=args.title)
    except (UsageError, ConfigError) as error:
        return fail(str(error))
    count = len(args.run_dirs)
    print(f"fastbrc: wrote {path} ({count} run{'s' if count != 1 else ''})")
    for run_dir in args.run_dirs:  # read again: plot_runs has checked them
        for run in load_runs(run_dir):
            print(f"  {eval_summary(run)}")
    return 0
