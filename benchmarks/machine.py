"""Machine facts recorded with every benchmark result (`fastbrc.run.machine`, shared by the
benchmark scripts), and where a result goes: ``benchmarks/results/<kind>-<machine>.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common import ROOT  # noqa: F401  (benchmarks/common.py: puts the repository on sys.path)

from fastbrc.run.machine import cpu_model, git_commit, machine_info, machine_tag

__all__ = ["cpu_model", "git_commit", "machine_info", "machine_tag", "result_path"]


def result_path(kind: str, info: dict[str, Any]) -> Path:
    """``benchmarks/results/<kind>-<machine>.json``, e.g. ``learning-WalkerWalk-epyc-2core``."""
    return Path(__file__).resolve().parent / "results" / f"{kind}-{machine_tag(info)}.json"
