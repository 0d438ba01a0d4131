"""Metric sinks of a run: metrics.jsonl, TensorBoard event files, and the progress line.

Keys are namespaced (``train/``, ``eval/``, ``perf/``) and identical in every sink. NaN
(e.g. no episode finished in a chunk) is written as JSON ``null`` and skipped in TensorBoard.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, TextIO

from tensorboardX import SummaryWriter


def _clean(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsLogger:
    """Appends one JSON object per log point and mirrors scalars to TensorBoard."""

    def __init__(self, run_dir: Path, resume_from_step: int | None = None):
        """`resume_from_step`: drop records logged after this env step (a resumed run redoes
        them), in metrics.jsonl and, through a purge event, in TensorBoard."""
        path = run_dir / "metrics.jsonl"
        if resume_from_step is not None and path.exists():
            kept = [
                line
                for line in path.read_text().splitlines()
                if line.strip() and json.loads(line)["env_steps"] <= resume_from_step
            ]
            path.write_text("".join(line + "\n" for line in kept))
        self._jsonl = open(path, "a", buffering=1)
        purge = None if resume_from_step is None else resume_from_step + 1
        self._tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=purge)

    def write(self, record: dict[str, Any]) -> dict[str, Any]:
        record = {k: _clean(v) for k, v in record.items()}
        self._jsonl.write(json.dumps(record) + "\n")
        step = record["env_steps"]
        for key, value in record.items():
            if key != "env_steps" and isinstance(value, int | float) and "/" in key:
                self._tb.add_scalar(key, value, step)
        return record

    def close(self) -> None:
        self._jsonl.close()
        self._tb.close()


class NullLogger:
    """The sink of every process but the first in a multi-host run (same interface)."""

    def write(self, record: dict[str, Any]) -> dict[str, Any]:
        return {k: _clean(v) for k, v in record.items()}

    def close(self) -> None:
        pass


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class Progress:
    """A live single line on a terminal; one line per update otherwise (logs, CI)."""

    def __init__(self, total_env_steps: int, stream: TextIO | None = None):
        self.total = total_env_steps
        self.stream = stream or sys.stdout  # looked up now, not at import
        self.live = self.stream.isatty()

    def update(self, env_steps: int, steps_per_s: float, eval_return: float | None, eta_s: float):
        pct = 100.0 * env_steps / self.total
        ret = "-" if eval_return is None else f"{eval_return:.1f}"
        line = (
            f"[{pct:5.1f}%] {env_steps:,}/{self.total:,} env steps | {steps_per_s:,.0f} steps/s"
            f" | eval return {ret} | ETA {_duration(eta_s)}"
        )
        self.stream.write(("\r" + line.ljust(100)) if self.live else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")
