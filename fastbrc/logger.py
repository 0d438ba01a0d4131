"""Metric sinks of a run: metrics.jsonl, TensorBoard event files, optionally Weights &
Biases, and the progress line.

Keys are namespaced (``train/``, ``eval/``, ``perf/``, plus ``wall_s``) and identical in every
sink; ``env_steps`` is the x axis (TensorBoard's step, a logged value W&B plots against).
NaN (e.g. no episode finished in a chunk) is written as JSON ``null`` and skipped in
TensorBoard and W&B.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import uuid
from pathlib import Path
from typing import Any, TextIO

from tensorboardX import SummaryWriter

from fastbrc.config import ConfigError


def _clean(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def scalars(record: dict[str, Any]) -> dict[str, float | int]:
    """The finite numbers of a cleaned record but the step: what TensorBoard and W&B get."""
    return {
        k: v
        for k, v in record.items()
        if k != "env_steps" and isinstance(v, int | float) and not isinstance(v, bool)
    }


def import_wandb() -> Any:
    """The wandb module, or a one-line ConfigError saying how to install it."""
    try:
        import wandb
    except ImportError:
        raise ConfigError(
            "--wandb needs the wandb package: uv sync --extra wandb (or pip install wandb)"
        ) from None
    return wandb


class WandbSink:
    """One W&B run per run directory; its id is kept in ``<run_dir>/wandb_id`` so a resumed
    run logs into the same W&B run. Records are logged with ``env_steps`` as a value and
    every metric plotted against it (redone steps after a resume do not collide with W&B's
    own monotonic step)."""

    def __init__(self, run_dir: Path, config: Any, resume: bool):
        wandb = import_wandb()
        id_file = run_dir / "wandb_id"
        run_id = id_file.read_text().strip() if resume and id_file.exists() else None
        run_id = run_id or uuid.uuid4().hex[:12]
        id_file.write_text(run_id + "\n")
        self._run = wandb.init(
            project=config.wandb_project,
            entity=config.wandb_entity,
            mode=config.wandb_mode,
            dir=str(run_dir),
            name=run_dir.name,
            id=run_id,
            resume="allow",
            config=dataclasses.asdict(config),
        )
        self._run.define_metric("env_steps")
        self._run.define_metric("*", step_metric="env_steps")

    def write(self, record: dict[str, Any]) -> None:
        self._run.log({"env_steps": record["env_steps"], **scalars(record)})

    def close(self) -> None:
        self._run.finish()


class MetricsLogger:
    """Appends one JSON object per log point and mirrors the scalars to TensorBoard (and W&B
    when `config.wandb`)."""

    def __init__(
        self, run_dir: Path, resume_from_step: int | None = None, config: Any | None = None
    ):
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
        self._wandb = None
        if config is not None and config.wandb:
            self._wandb = WandbSink(run_dir, config, resume=resume_from_step is not None)

    def write(self, record: dict[str, Any]) -> dict[str, Any]:
        record = {k: _clean(v) for k, v in record.items()}
        self._jsonl.write(json.dumps(record) + "\n")
        step = record["env_steps"]
        for key, value in scalars(record).items():
            self._tb.add_scalar(key, value, step)
        if self._wandb is not None:
            self._wandb.write(record)
        return record

    def close(self) -> None:
        self._jsonl.close()
        self._tb.close()
        if self._wandb is not None:
            self._wandb.close()


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
