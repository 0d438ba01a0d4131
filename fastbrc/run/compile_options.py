"""XLA compiler options for each of the run's programs.

On the CPU most of a run's start-up is XLA compiling, and most of that is LLVM optimising
the generated code. The programs differ in how much their speed matters:

- ``init`` runs once (reset the envs, build the networks and an empty buffer), so it is
  compiled at backend optimisation level 0;
- ``chunk`` (the training scan) and ``evaluate`` run all the time, so they keep an
  optimising level, 1 instead of XLA's default 2: it compiles faster and runs as fast.

``benchmarks/startup.py`` measures both claims against XLA's defaults. Other backends keep
XLA's defaults: on a GPU the level also shapes the kernels, and it has not been measured there.
"""

from __future__ import annotations

from typing import Any, Literal

Program = Literal["init", "chunk", "evaluate"]

_CPU: dict[Program, dict[str, Any]] = {
    "init": {"xla_backend_optimization_level": 0},
    "chunk": {"xla_backend_optimization_level": 1},
    "evaluate": {"xla_backend_optimization_level": 1},
}


def for_program(program: Program, platform: str) -> dict[str, Any]:
    """The `compiler_options` for `lowered.compile(...)` of `program` on `platform`."""
    return dict(_CPU[program]) if platform == "cpu" else {}
