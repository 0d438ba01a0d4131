"""`BackgroundCompile`: XLA compiling a lowered program on a thread while the caller goes on."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class BackgroundCompile:
    """`lower()` (a jitted function's lowering) compiled by XLA on a background thread.

    XLA compiles outside the GIL, so the caller's thread goes on tracing the next program, or
    training; on a GPU box the host's cores are idle then. `result` waits for it (once) and
    re-raises its error; `seconds` is how long lowering and compiling took.
    """

    def __init__(self, lower: Callable[[], Any], options: dict[str, Any], name: str) -> None:
        self.seconds: float | None = None
        self.lower_seconds: float | None = None  # of `seconds`, how long lowering took
        self._compiled: Any = None
        self._error: BaseException | None = None
        self.waited: float | None = None  # seconds the first `result` call waited
        self._thread = threading.Thread(
            target=self._run, args=(lower, options), name=f"fastbrc-{name}-compile", daemon=True
        )
        self._thread.start()

    def _run(self, lower: Callable[[], Any], options: dict[str, Any]) -> None:
        tick = time.perf_counter()
        try:
            lowered = lower()
            self.lower_seconds = time.perf_counter() - tick
            self._compiled = lowered.compile(options)
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            self._error = error
        self.seconds = time.perf_counter() - tick

    def result(self) -> Any:
        if self.waited is None:
            tick = time.perf_counter()
            self._thread.join()
            self.waited = time.perf_counter() - tick
            if self._error is not None:
                raise self._error
        return self._compiled

    def close(self) -> None:
        self._thread.join()
