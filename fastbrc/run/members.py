"""The seeds of a run on the host: its metrics split per seed, their summary for the progress
line, and the member a reader of the run (eval, render, load_policy, export) uses.

A run trained with ``--seeds`` logs one metrics.jsonl record per seed and log point, each with
a ``"seed"`` field; a single-seed run's records have none (`records_by_seed` reads both).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fastbrc.config import Config, ConfigError
from fastbrc.learner import expand_task_metrics

EVAL_KEY = "eval/episode_return"


def split_metrics(metrics: dict[str, Any], config: Config) -> list[dict[str, Any]]:
    """Host metrics of a chunk or an evaluation, one dict per seed of the run (per-task
    arrays expanded to per-task keys)."""
    if not config.multi_seed:
        return [expand_task_metrics(metrics, config.env_names)]
    return [
        expand_task_metrics({k: np.asarray(v)[i] for k, v in metrics.items()}, config.env_names)
        for i in range(len(config.seeds))
    ]


def summary(values: list[float | None]) -> str:
    """One seed's value ("123.4"), or the median and range of several ("123.4 [98.0, 140.2]");
    "-" where there is none yet. Non-finite values are left out of the range."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return "-"
    if len(values) == 1:
        return f"{finite[0]:.1f}"
    return f"{statistics.median(finite):.1f} [{min(finite):.1f}, {max(finite):.1f}]"


def records_by_seed(path: Path) -> dict[int | None, list[dict[str, Any]]]:
    """The records of a metrics.jsonl grouped by their ``seed`` (None: a single-seed run), in
    the order they were written. Lines that do not parse are skipped (a torn last line)."""
    out: dict[int | None, list[dict[str, Any]]] = {}
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "env_steps" in record:
            out.setdefault(record.get("seed"), []).append(record)
    return out


def last_eval_returns(run_dir: Path, step: int | None = None) -> dict[int | None, float]:
    """Each seed's last eval return in the run's metrics.jsonl (up to env step `step`)."""
    out = {}
    for seed, records in records_by_seed(run_dir / "metrics.jsonl").items():
        values = [
            r[EVAL_KEY]
            for r in records
            if r.get(EVAL_KEY) is not None and (step is None or r["env_steps"] <= step)
        ]
        if values:
            out[seed] = float(values[-1])
    return out


def choose_member(
    run_dir: Path, config: Config, seed: int | None, say: Callable[[str], None] = print
) -> int:
    """The seed a reader of the run uses: `seed` when given (it must be one of the run's),
    else the run's own seed, or for a --seeds run the seed with the best last eval return
    (the first seed when none was evaluated), said in one line."""
    if seed is not None:
        if seed not in config.seed_list:
            raise ConfigError(
                f"{run_dir} has no seed {seed} (it trained seed"
                f"{'s' if config.multi_seed else ''} {', '.join(map(str, config.seed_list))})"
            )
        return seed
    if not config.multi_seed:
        return config.seed
    returns = last_eval_returns(run_dir)
    scored = {s: returns[s] for s in config.seeds if s in returns and math.isfinite(returns[s])}
    if not scored:
        chosen = config.seeds[0]
        say(
            f"fastbrc: {run_dir} trained seeds {_listing(config)}; using seed {chosen} (the "
            "first: none has an eval return yet); --seed picks another"
        )
        return chosen
    chosen = max(scored, key=scored.get)
    say(
        f"fastbrc: {run_dir} trained seeds {_listing(config)}; using seed {chosen} (best last "
        f"eval return, {scored[chosen]:.1f}); --seed picks another"
    )
    return chosen


def _listing(config: Config) -> str:
    return ",".join(map(str, config.seeds))
