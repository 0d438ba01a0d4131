"""The run directory: what it holds, how one is named, checked, cleared, and where the
tracebacks of failed writes go.

A run directory holds `RUN_ENTRIES` and nothing else of fastbrc's; ``--overwrite`` removes
exactly those. A failed write ends a run with one line naming the step, the path and the OS
error (`describe_os_error`), and its traceback goes to ``<run_dir>/errors.log`` (`log_error`).
"""

from __future__ import annotations

import os
import re
import shutil
import time
import traceback
from pathlib import Path

from fastbrc.config import Config, ConfigError
from fastbrc.run.logger import read_metric_lines

# What a run directory holds; --overwrite removes exactly these.
RUN_ENTRIES = (
    "config.json",
    "metrics.jsonl",
    "tensorboard",
    "checkpoints",
    "wandb",
    "wandb_id",
    "videos",
    "errors.log",
)
# Tracebacks of failed writes (and what Orbax prints while a save fails) go here, not to the
# terminal.
ERROR_LOG = "errors.log"


class RunWriteError(RuntimeError):
    """Writing the run directory failed: disk full, permission denied, ... (one line).
    `error_log`: the run's errors.log, where the traceback went."""

    def __init__(self, message: str, error_log: Path):
        super().__init__(message)
        self.error_log = error_log


def _os_error(error: BaseException) -> BaseException:
    """The OSError behind `error` (Orbax wraps some), else `error` itself."""
    seen = error
    while seen is not None:
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return error


def describe_os_error(error: BaseException) -> str:
    """The OS error in `error`, e.g. "No space left on device (errno 28)"."""
    cause = _os_error(error)
    if isinstance(cause, OSError) and cause.strerror:
        return f"{cause.strerror} (errno {cause.errno})"
    # TensorStore (Orbax's array writer) raises ValueError("... [os_error_code='28']")
    code = re.search(r"os_error_code='?(\d+)", str(error))
    if code:
        number = int(code.group(1))
        return f"{os.strerror(number)} (errno {number})"
    return " ".join(f"{type(cause).__name__}: {cause}".split())[:200]


def kept_note(last_saved: int | None) -> str:
    if last_saved is None:
        return "no checkpoint was saved before"
    return f"checkpoint {last_saved:,} is kept"


def log_error(run_dir: Path, error: BaseException) -> str:
    """Append `error`'s traceback to the run's errors.log; return where it went."""
    path = run_dir / ERROR_LOG
    try:
        with open(path, "a") as f:
            f.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}\n")
            f.write("".join(traceback.format_exception(error)))
    except OSError:
        return "no traceback kept: errors.log cannot be written either"
    return f"traceback in {path}"


def run_dir_of(config: Config) -> Path:
    if config.run_dir is not None:
        return Path(config.run_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{config.env.replace(',', '+')}-{stamp}"


def holds_run(path: Path) -> bool:
    return any((path / name).exists() for name in RUN_ENTRIES)


def check_run_dir(path: Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse a directory that holds another run (unless resuming or overwriting)."""
    if resume:
        if not (path / "config.json").exists():
            raise ConfigError(f"--resume {path}: no run there (no config.json)")
        return
    if holds_run(path) and not overwrite:
        raise ConfigError(
            f"run directory {path} already holds a run; pass --resume {path} to continue it "
            "or --overwrite to replace it"
        )
    if path.exists() and not path.is_dir():
        raise ConfigError(f"run directory {path} exists and is not a directory")


def clear_run_dir(path: Path) -> None:
    for name in RUN_ENTRIES:
        entry = path / name
        if entry.is_dir():
            shutil.rmtree(entry)
        elif entry.exists():
            entry.unlink()


def before_first_checkpoint(run_dir: Path, config: Config) -> bool:
    """Whether the run in `run_dir` was stopped before it saved a checkpoint: no step folder,
    and no metrics from where its first one would have been (else they were removed)."""
    folder = run_dir / "checkpoints"
    if folder.is_dir() and any(p.name.isdigit() for p in folder.iterdir()):
        return False
    per_chunk = config.env_steps_per_chunk
    first = -(-config.checkpoint_every // per_chunk) * per_chunk  # its record comes first
    lines = read_metric_lines(run_dir / "metrics.jsonl", warn=lambda _: None)
    return max((step for step, _ in lines), default=0) <= first
