"""Facts about the machine a result was measured on, recorded with every benchmark and sweep
JSON, and the machine's tag in a result's name (``epyc-2core``, ``xeon-2core``, ``h200``)."""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
from pathlib import Path
from typing import Any


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
    import jax
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


def gpu_tag(device_kind: str) -> str:
    """'NVIDIA H200' -> 'h200', 'NVIDIA H100 80GB HBM3' -> 'h100'."""
    match = re.search(r"\b([A-Z]+\d+[A-Za-z]*)\b", device_kind.replace("NVIDIA", ""))
    return match.group(1).lower() if match else re.sub(r"\W+", "-", device_kind).lower()


def machine_tag(info: dict[str, Any]) -> str:
    """The machine in a result's name: the CPU's maker and cores (``epyc-2core``) or the GPU
    (``h200``)."""
    if info.get("backend", "cpu") != "cpu":
        return gpu_tag(str(info.get("device_kind", "")))
    model = str(info.get("cpu_model") or "")
    maker = "epyc" if "EPYC" in model else "xeon" if "Xeon" in model else "cpu"
    return f"{maker}-{info.get('usable_cpus') or info.get('cpu_count')}core"


__all__ = ["cpu_model", "git_commit", "gpu_tag", "machine_info", "machine_tag"]
