"""Make FastTD3's environment for benchmarks/peers.py's ``fasttd3`` trainer.

    python3 benchmarks/peers/make_fasttd3_env.py     # (peers.py runs it on first use)
    python3 benchmarks/peers/make_fasttd3_env.py --if-checkout   # make test: only if used

``benchmarks/peers/.venv-fasttd3``: ``python3.11 -m venv`` (``$PY311`` to name another
interpreter), then ``pip install -r fasttd3-requirements.txt`` beside this file. pip, not uv:
torch is a CPU build, found by pip in one of two places (`torch_source`). Where pip already
has one of the pinned version without an index (this machine's and CI's local wheel,
``torch-2.13.0+cpu`` for CPython 3.11 through ``PIP_FIND_LINKS=/opt/wheels``, which uv does
not see), nothing else is asked; elsewhere PyTorch's CPU-only index is added, whose
``+cpu`` build wins over PyPI's Linux torch, a multi-GB CUDA build. The folder ignores itself
(a ``.gitignore`` of ``*``); ``.installed`` holds the SHA-256 of the requirements and the torch
source it was made from, and a change remakes it. Measured here: about 2.5 GB on disk (torch
0.75 GB from a 190 MB wheel, warp-lang 0.4 GB, jaxlib 0.3 GB), 134 s with the JAX stack
downloaded from the index.

``--if-checkout`` (what ``make test`` runs) makes it only where the FastTD3 checkout that
tests/test_fasttd3_peer.py needs is present (``$FASTTD3_SRC``, else
``../shared/peers/FastTD3-229ed59`` beside the repository), and says in one line how to get it
otherwise: without it the FastTD3 run test skips, so a fresh clone does not build 2.5 GB for
nothing. ``$FASTTD3_PYTHON`` set means an environment is given: nothing is made.

Exit status 0, or 1 with one line (no Python 3.11, pip failed).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-fasttd3"
REQUIREMENTS = HERE / "fasttd3-requirements.txt"
# PyTorch's CPU-only wheels (torch X.Y.Z+cpu), for machines without a local CPU wheel
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def pinned_torch(requirements: str) -> str:
    """'torch==X' from the requirements' text."""
    match = re.search(r"^torch==(\S+)", requirements, re.M)
    if match is None:
        raise ValueError("fasttd3-requirements.txt pins no torch==VERSION")
    return f"torch=={match.group(1)}"


def local_torch(pip: list[str], requirement: str) -> str | None:
    """The version pip would install for `requirement` without any index (find-links and
    pip's configuration only), or None: a dry run, nothing is downloaded or installed."""
    command = [*pip, "install", "--dry-run", "--no-deps", "--no-index", "--quiet",
               "--disable-pip-version-check", "--report", "-", requirement]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    if proc.returncode != 0:
        return None
    try:
        items = json.loads(proc.stdout)["install"]
    except (ValueError, KeyError):
        return None
    return next((i["metadata"]["version"] for i in items if i["metadata"]["name"] == "torch"), None)


def torch_source(local_version: str | None) -> list[str]:
    """pip's extra arguments for torch: none when a local CPU build is there, else PyTorch's
    CPU-only index (PyPI's Linux torch is a CUDA build of several GB)."""
    if local_version is not None and local_version.endswith("+cpu"):
        return []
    return ["--extra-index-url", TORCH_CPU_INDEX]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if os.environ.get("FASTTD3_PYTHON"):
        return 0
    if "--if-checkout" in argv:
        sys.path.insert(0, str(HERE.parent))
        from fasttd3_adapter import SourceError, find_source  # stdlib only at import

        try:
            find_source()
        except SourceError as error:
            print(f"make_fasttd3_env: skipped, so FastTD3's peer test skips: {error}; "
                  "FASTTD3_SRC=DIR names another")  # fmt: skip
            return 0
    requirements = REQUIREMENTS.read_text()
    python = os.environ.get("PY311") or shutil.which("python3.11")
    if not python:
        print("make_fasttd3_env: no python3.11 on PATH (torch's CPU wheel here is for "
              "CPython 3.11; set PY311=/path/to/python3.11)", file=sys.stderr)  # fmt: skip
        return 1
    source = torch_source(local_torch([python, "-m", "pip"], pinned_torch(requirements)))
    want = hashlib.sha256((requirements + " ".join(source)).encode()).hexdigest()
    stamp = VENV / ".installed"
    if stamp.exists() and stamp.read_text().strip() == want:
        return 0
    if source:
        print(f"make_fasttd3_env: torch from PyTorch's CPU-only index ({TORCH_CPU_INDEX})")
    shutil.rmtree(VENV, ignore_errors=True)
    steps = [
        [python, "-m", "venv", str(VENV)],
        [str(VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
         *source, "-r", str(REQUIREMENTS)],
    ]  # fmt: skip
    for command in steps:
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            lines = [
                line
                for line in (proc.stderr + proc.stdout).splitlines()
                if line.strip() and not line.startswith("WARNING: Location")
            ]
            print(f"make_fasttd3_env: {' '.join(command[:3])} ...: "
                  f"{(lines or ['no output'])[-1]}", file=sys.stderr)  # fmt: skip
            return 1
    (VENV / ".gitignore").write_text("*\n")
    stamp.write_text(want + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
