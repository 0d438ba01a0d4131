"""Metric sinks of a run: metrics.jsonl, TensorBoard event files, optionally Weights &
Biases, and the progress line.

Keys are namespaced (``train/``, ``eval/``, ``perf/``, plus ``wall_s``) and identical in every
sink; ``env_steps`` is the x axis (TensorBoard's step, a logged value W&B plots against).
A run of several seeds (``--seeds``) writes one metrics.jsonl record per seed and log point,
each with a ``seed`` field; TensorBoard gets one run per seed (``tensorboard/seed_<s>``) with
the same keys, W&B the keys under ``seed_<s>/``.
NaN (e.g. no episode finished in a chunk) is written as JSON ``null`` and skipped in
TensorBoard and W&B.

Surviving a kill: each record reaches metrics.jsonl in one append-mode ``write`` of the whole
line, so a kill or power loss can tear only the last line; `sync` (called before every
checkpoint save) makes the records up to the checkpoint durable first. A resume drops the
records after its checkpoint (the run redoes them) and a torn last line with one warning, and
TensorBoard gets a purge event at the same step. W&B cannot delete what it was sent, so it gets
records only once a checkpoint covers them (`sync`) or when the run ends: after a kill, the
records a resume redoes never reached it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import uuid
from collections.abc import Callable
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
        """A --seeds run's record goes in under ``seed_<s>/<key>`` keys."""
        values = scalars(record)
        seed = values.pop("seed", None)
        if seed is not None:
            values = {f"seed_{seed}/{key}": value for key, value in values.items()}
        self._run.log({"env_steps": record["env_steps"], **values})

    def close(self) -> None:
        self._run.finish()


def _step_of(line: str) -> int | None:
    """The env step of a metrics.jsonl line, or None when it is not a complete record."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    step = record.get("env_steps") if isinstance(record, dict) else None
    return step if isinstance(step, int) and not isinstance(step, bool) else None


def read_metric_lines(path: Path, warn: Callable[[str], None] = print) -> list[tuple[int, str]]:
    """(env step, line) of every record of a metrics.jsonl, for a resume.

    A last line that is not a complete record was torn by a kill during its write: it is
    dropped with one warning (the resume redoes its chunk). Any other bad line cannot come
    from a kill; it is reported as a one-line ConfigError and nothing is changed.
    """
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return []
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    lines = [(n, line) for n, line in enumerate(text.split("\n"), start=1) if line.strip()]
    out = []
    for index, (number, line) in enumerate(lines):
        step = _step_of(line)
        if step is not None:
            out.append((step, line))
        elif index == len(lines) - 1:
            shown = line if len(line) <= 60 else line[:60] + "..."
            warn(
                f"fastbrc: warning: {path}:{number} is a record cut short by a kill "
                f"({shown!r}); dropped it"
            )
        else:
            raise ConfigError(
                f"{path}:{number} is not a metrics record (not a kill's torn last line; "
                "fix or delete that line, then resume again)"
            )
    return out


def _replace_text(path: Path, text: str) -> None:
    """Write `text` to `path` so that a kill leaves either the old or the new file."""
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)


class MetricsLogger:
    """Appends one JSON object per log point and mirrors the scalars to TensorBoard (and W&B
    when `config.wandb`)."""

    def __init__(
        self,
        run_dir: Path,
        resume_from_step: int | None = None,
        config: Any | None = None,
        warn: Callable[[str], None] = print,
    ):
        """`resume_from_step`: drop records logged after this env step (a resumed run redoes
        them), in metrics.jsonl and, through a purge event, in TensorBoard."""
        path = run_dir / "metrics.jsonl"
        if resume_from_step is not None and path.exists():
            lines = read_metric_lines(path, warn)
            kept = "".join(line + "\n" for step, line in lines if step <= resume_from_step)
            if kept != path.read_text(errors="replace"):
                _replace_text(path, kept)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        purge = None if resume_from_step is None else resume_from_step + 1
        # a --seeds run: one TensorBoard run per seed (tensorboard/seed_<s>), the same keys
        seeds = getattr(config, "seeds", ()) if config is not None else ()
        self._tb = {
            seed: SummaryWriter(str(run_dir / "tensorboard" / folder), purge_step=purge)
            for seed, folder in ([(s, f"seed_{s}") for s in seeds] or [(None, "")])
        }
        self._wandb = None
        self._unsent: list[dict[str, Any]] = []  # for W&B, once a checkpoint covers them
        if config is not None and config.wandb:
            self._wandb = WandbSink(run_dir, config, resume=resume_from_step is not None)

    def write(self, record: dict[str, Any]) -> dict[str, Any]:
        record = {k: _clean(v) for k, v in record.items()}
        data = (json.dumps(record) + "\n").encode()
        while data:  # one write for a whole line; a short write (disk full) goes on
            data = data[os.write(self._fd, data) :]
        step, board = record["env_steps"], self._tb[record.get("seed")]
        for key, value in scalars(record).items():
            if key != "seed":
                board.add_scalar(key, value, step)
        if self._wandb is not None:
            self._unsent.append(record)
        return record

    def sync(self) -> None:
        """Make the records so far durable (before a checkpoint that covers them)."""
        os.fsync(self._fd)
        for board in self._tb.values():
            board.flush()
        self._send()

    def _send(self) -> None:
        if self._wandb is not None:
            for record in self._unsent:
                self._wandb.write(record)
        self._unsent = []

    def close(self) -> None:
        os.close(self._fd)
        for board in self._tb.values():
            board.close()
        if self._wandb is not None:
            self._send()
            self._wandb.close()


class NullLogger:
    """The sink of every process but the first in a multi-host run (same interface)."""

    def write(self, record: dict[str, Any]) -> dict[str, Any]:
        return {k: _clean(v) for k, v in record.items()}

    def sync(self) -> None:
        pass

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

    def update(
        self, env_steps: int, steps_per_s: float, eval_return: str, eta_s: float, seeds: int = 0
    ):
        """`eval_return`: as the line shows it ("-" before the first evaluation; a --seeds
        run's median and range); `seeds`: the run's seed count (0: a single-seed run)."""
        pct = 100.0 * env_steps / self.total
        rate = f"{steps_per_s:,.0f} steps/s" + (f" x {seeds} seeds" if seeds else "")
        line = (
            f"[{pct:5.1f}%] {env_steps:,}/{self.total:,} env steps | {rate}"
            f" | eval return {eval_return} | ETA {_duration(eta_s)}"
        )
        self.stream.write(("\r" + line.ljust(100)) if self.live else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")
