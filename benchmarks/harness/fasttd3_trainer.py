"""The ``fasttd3`` trainer (only when ``--trainers`` names it): FastTD3 (PyTorch,
younggyoseo/FastTD3) through ``benchmarks/fasttd3_adapter.py``.

From a checkout at the pinned commit (``--fasttd3-src DIR``, or ``FASTTD3_SRC``; default
``../shared/peers/FastTD3-229ed59`` beside the repository), checked by content hash; its
networks, replay buffer and normaliser imported unchanged, its Playground wrapper, ``main()``
loop and evaluation replaced by the adapter (which says what and why; the JSON lists it under
``replaced``). Config: the one FastTD3's ``get_args`` picks for the task (its Playground
defaults, or e.g. ``CheetahRunArgs``); on a CPU 64 envs, batch 1,024, fp32, no torch.compile
(every change with its reason under ``changes``). It evaluates every ``sps x budget / evals``
env steps and stops at the first evaluation at or after the budget.

It runs in its own interpreter (``orchestrate.fasttd3_python``): ``FASTTD3_PYTHON`` if set (the
GPU machine: torch preinstalled; with ``FASTTD3_PYTHONPATH`` as its PYTHONPATH if that is
set), else ``benchmarks/peers/.venv-fasttd3`` (Python 3.11, torch 2.13 CPU + tensordict + the
peers' JAX stack, made with pip on first use: ``benchmarks/peers/make_fasttd3_env.py``). No
checkout, a wrong commit, or no torch: one line, the trainer is recorded as skipped and the
others run. A crash of FastTD3 is a result (status ``crashed``, the error and where; the curve
ends at its last evaluation, the plot marks the crash).
"""

from __future__ import annotations

import sys
from typing import Any

import fasttd3_adapter  # benchmarks/ (imports no torch at module level)

from harness.worker import eval_protocol


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """FastTD3 through benchmarks/fasttd3_adapter.py (its docstring says what is replaced)."""
    from fastbrc.envs import load_env

    try:
        import tensordict  # noqa: F401
        import torch  # noqa: F401
    except ImportError as error:
        return {"status": "skipped", "reason": f"no torch/tensordict in {sys.executable}: {error}"}
    try:
        return fasttd3_adapter.run(spec, eval_protocol(spec["env"]), load_env)
    except fasttd3_adapter.SourceError as error:
        return {"status": "skipped", "reason": str(error)}
