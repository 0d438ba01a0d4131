"""One line when an NVIDIA driver is present but JAX runs on the CPU.

That happens when JAX's CUDA plugin is missing (a plain `uv sync` removes the `cuda12` extra's
plugin) or does not start (a driver older than the plugin needs, a plugin of another jaxlib).
Training would otherwise go on silently on the CPU preset. The driver is detected cheaply: the
kernel module's `/proc/driver/nvidia/version`, or an `nvidia-smi` on PATH that lists a GPU.
Nothing is said where JAX_PLATFORMS names the platforms (the CPU was asked for).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

DRIVER_FILE = Path("/proc/driver/nvidia/version")
PLUGINS = ("jax-cuda12-plugin", "jax-cuda13-plugin")


def nvidia_driver(driver_file: Path = DRIVER_FILE) -> str | None:
    """Where an NVIDIA driver was seen ('/proc/driver/nvidia/version', 'nvidia-smi'), or None."""
    if driver_file.exists():
        return str(driver_file)
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        done = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return "nvidia-smi" if done.returncode == 0 and "GPU" in done.stdout else None


def installed_plugins() -> dict[str, str]:
    out = {}
    for name in PLUGINS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def message(backend: str, driver: str | None, plugins: dict[str, str]) -> str | None:
    """The warning for this backend, driver and installed plugins, or None."""
    if backend != "cpu" or driver is None:
        return None
    if not plugins:
        cause = "JAX's CUDA plugin is not installed"
        fix = "install it with `uv sync --extra cuda12` (or `make train EXTRAS=cuda12`)"
    else:
        found = ", ".join(f"{name} {version}" for name, version in plugins.items())
        cause = f"{found} did not start (JAX's message above says why)"
        fix = (
            "check that the driver is R525+ for cuda12 (R580+ for cuda13) and that the plugin's "
            "version is jaxlib's (`uv sync --frozen --extra cuda12`)"
        )
    return (
        f"fastbrc: warning: an NVIDIA driver is present ({driver}) but JAX runs on the CPU: "
        f"{cause}; {fix}"
    )


def warn_if_gpu_unused(backend: str) -> str | None:
    """Print (to stderr) and return the warning line where it applies."""
    if os.environ.get("JAX_PLATFORMS"):
        return None
    line = message(backend, nvidia_driver(), installed_plugins())
    if line:
        print(line, file=sys.stderr)
    return line
