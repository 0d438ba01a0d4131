"""Machine facts recorded with every benchmark result (shared by the benchmark scripts)."""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import jax


def git_commit() -> str | None:
    """HEAD of the checkout the script lives in (read-only: no index refresh)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def cpu_model() -> str | None:
    """The CPU's model name (platform.processor() is often empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def machine_info() -> dict[str, Any]:
    import jaxlib

    device = jax.devices()[0]
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return {
        "hostname": socket.gethostname(),
        "processor": platform.processor(),
        "cpu_model": cpu_model(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(affinity) if affinity is not None else None,
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "backend": jax.default_backend(),
        "device_kind": device.device_kind,
        "device_count": jax.device_count(),
        "xla_flags": os.environ.get("XLA_FLAGS"),
        # set, a persistent compilation cache can turn compile times into cache reads
        "jax_compilation_cache_dir": os.environ.get("JAX_COMPILATION_CACHE_DIR"),
        "git_commit": git_commit(),
    }


def result_path(kind: str, info: dict[str, Any]) -> Path:
    """``benchmarks/results/<kind>-<backend>-<device kind, or host name on CPU>.json``."""
    where = info["device_kind"] if info["backend"] != "cpu" else info["hostname"]
    tag = re.sub(r"[^A-Za-z0-9_.-]+", "-", where)
    return Path(__file__).resolve().parent / "results" / f"{kind}-{info['backend']}-{tag}.json"
