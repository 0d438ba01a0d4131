"""The Python / JAX / CUDA-plugin combinations fastbrc supports, checked at import.

Kept in step with pyproject.toml (tests/test_compat.py compares the two). Read from the
installed distributions' metadata, so the check costs no JAX import. An unsupported
combination stops with one line naming what was found and what is supported;
``FASTBRC_ALLOW_UNSUPPORTED=1`` turns that into a warning line (to try a newer JAX).
"""

from __future__ import annotations

import os
import re
import sys
from importlib import metadata

PYTHON_MIN, PYTHON_BELOW = (3, 11), (3, 14)
JAX_MIN, JAX_BELOW = (0, 9, 2), (0, 13)
CUDA_PLUGINS = ("jax-cuda12-plugin", "jax-cuda13-plugin")
ALLOW_ENV = "FASTBRC_ALLOW_UNSUPPORTED"


def _release(version: str) -> tuple[int, ...]:
    """(0, 11, 2) from '0.11.2', '0.12.0.1', '0.10.0rc1' (pre-release tags dropped)."""
    return tuple(int(part) for part in re.findall(r"\d+", version.split("rc")[0])[:4])


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def supported_text() -> str:
    return (
        f"Python {_dotted(PYTHON_MIN)}-{PYTHON_BELOW[0]}.{PYTHON_BELOW[1] - 1}, "
        f"jax and jaxlib >= {_dotted(JAX_MIN)}, < {_dotted(JAX_BELOW)} (one version for both "
        "and for a jax-cuda12/13 plugin)"
    )


def problem(
    python: tuple[int, ...] | None = None, installed: dict[str, str | None] | None = None
) -> str | None:
    """What is unsupported about this interpreter and these distributions, or None."""
    python = tuple(python or sys.version_info[:3])
    if installed is None:
        installed = {name: _installed(name) for name in ("jax", "jaxlib", *CUDA_PLUGINS)}
    found = [f"Python {_dotted(python)}"]
    found += [f"{name} {version}" for name, version in installed.items() if version]
    bad = not (PYTHON_MIN <= python[:2] < PYTHON_BELOW)
    jax, jaxlib = installed.get("jax"), installed.get("jaxlib")
    if jax is None or jaxlib is None:
        bad = True
    else:
        bad |= not (JAX_MIN <= _release(jax) < JAX_BELOW)
        bad |= _release(jax)[:3] != _release(jaxlib)[:3]
        for plugin in CUDA_PLUGINS:
            version = installed.get(plugin)
            bad |= version is not None and _release(version)[:3] != _release(jaxlib)[:3]
    if not bad:
        return None
    return f"unsupported stack: found {', '.join(found)}; fastbrc supports {supported_text()}"


def check() -> None:
    """Stop the process with one line on an unsupported stack (a warning line if allowed)."""
    message = problem()
    if message is None:
        return
    if os.environ.get(ALLOW_ENV) == "1":
        print(f"fastbrc: warning: {message} ({ALLOW_ENV}=1: going on)", file=sys.stderr)
        return
    print(f"fastbrc: error: {message} (set {ALLOW_ENV}=1 to try anyway)", file=sys.stderr)
    raise SystemExit(2)
