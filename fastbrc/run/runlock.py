"""One writer per run directory: an advisory lock on ``<run_dir>/.lock``.

`fastbrc train` (fresh, ``--overwrite`` or ``--resume``) holds an exclusive `fcntl.flock` on
the file for the life of the run and writes its pid, host and start time into it. The kernel
releases the lock when the process ends in any way, SIGKILL included, so a killed run never
leaves a stale lock. A second writer stops at once with one line naming the holder. Readers
(`fastbrc eval`, `plot`, `render`, `load_policy`) never take the lock.

The file is never removed: removing it while held would let the next writer lock a new file
with the same name.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from fastbrc.config import ConfigError

LOCK_NAME = ".lock"


class RunDirBusy(ConfigError):
    """Another process trains in this run directory (one-line message)."""


class RunLock:
    """The exclusive lock of `run_dir` (which must exist); `release` or the process's end
    gives it back."""

    def __init__(self, run_dir: Path, warn: Callable[[str], None] = print):
        path = Path(run_dir) / LOCK_NAME
        try:
            self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise ConfigError(
                f"cannot write to run directory {run_dir}: {error.strerror} ({path})"
            ) from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                # a file system without locks (some network mounts): run, but say so
                warn(
                    f"fastbrc: warning: cannot lock {path} ({error.strerror}); make sure no "
                    "other fastbrc train writes this run directory"
                )
                return
            holder = os.pread(self._fd, 4096, 0).decode(errors="replace").strip()
            self.release()
            raise RunDirBusy(
                f"run directory {run_dir} is in use by {holder or 'another process'}; "
                "one run directory takes one training process at a time (fastbrc eval, plot "
                "and render may read it meanwhile)"
            ) from None
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        holder = f"pid {os.getpid()} on {socket.gethostname()} (started {started})"
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, (holder + "\n").encode(), 0)
        except OSError:  # e.g. a full disk: the lock holds all the same, unnamed
            pass

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor releases the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
