"""Make FastTD3's environment for benchmarks/peers.py's ``fasttd3`` trainer.

    python3 benchmarks/peers/make_fasttd3_env.py     # (peers.py runs it on first use)

``benchmarks/peers/.venv-fasttd3``: ``python3.11 -m venv`` (``$PY311`` to name another
interpreter), then ``pip install -r fasttd3-requirements.txt`` beside this file. pip, not uv:
torch is this machine's (and CI's) local CPU wheel, ``torch-2.13.0+cpu`` for CPython 3.11, which
pip finds through ``PIP_FIND_LINKS=/opt/wheels`` and uv does not see (PyPI's Linux torch is a
multi-GB CUDA build). The folder ignores itself (a ``.gitignore`` of ``*``); ``.installed``
holds the SHA-256 of the requirements it was made from, and a changed file remakes it.
Measured here: about 2.5 GB on disk (torch 0.75 GB from a 190 MB wheel, warp-lang 0.4 GB,
jaxlib 0.3 GB), 134 s with the JAX stack downloaded from the index.

Exit status 0, or 1 with one line (no Python 3.11, pip failed).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-fasttd3"
REQUIREMENTS = HERE / "fasttd3-requirements.txt"


def main() -> int:
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    stamp = VENV / ".installed"
    if stamp.exists() and stamp.read_text().strip() == want:
        return 0
    python = os.environ.get("PY311") or shutil.which("python3.11")
    if not python:
        print("make_fasttd3_env: no python3.11 on PATH (torch's CPU wheel here is for "
              "CPython 3.11; set PY311=/path/to/python3.11)", file=sys.stderr)  # fmt: skip
        return 1
    shutil.rmtree(VENV, ignore_errors=True)
    steps = [
        [python, "-m", "venv", str(VENV)],
        [str(VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
         "-r", str(REQUIREMENTS)],
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
