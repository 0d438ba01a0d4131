"""Fill, here, what the GPU check's ``fasttd3`` step needs and the GPU machine lacks.

    python3 benchmarks/device/fetch_fasttd3.py [--fasttd3-src DIR]

into ``benchmarks/device/fasttd3/`` (it ignores itself: a ``.gitignore`` of ``*``):

* ``FastTD3-229ed59/``: FastTD3's ``fast_td3/`` package and LICENSE, copied from a checkout
  (``--fasttd3-src``, ``$FASTTD3_SRC``, default ``../shared/peers/FastTD3-229ed59`` beside the
  repository) after checking it is commit 229ed59 by content (benchmarks/fasttd3_adapter.py);
  never committed to this repository;
* ``wheels/``: tensordict and its pure-Python dependencies (``WHEELS``; torch is preinstalled
  on the GPU machine, 2.11, which tensordict 0.15 accepts), downloaded with ``pip download
  --no-deps`` for CPython 3.12;
* ``MANIFEST.json``: what is there, with sizes.

Carry it with the device bundle: ``carry: ["benchmarks/device/wheels",
"benchmarks/device/fasttd3"]`` (about 1 MB more). Exit status 0, or 1 with one line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "fasttd3"
# The versions of benchmarks/peers/fasttd3-requirements.txt.
WHEELS = ("tensordict==0.15.3", "pyvers==0.2.3", "cloudpickle==3.1.3")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fasttd3-src", default=None)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE.parent))
    import fasttd3_adapter

    try:
        src = fasttd3_adapter.find_source(args.fasttd3_src)
        facts = fasttd3_adapter.verify_source(src)
    except fasttd3_adapter.SourceError as error:
        print(f"fetch_fasttd3: {error}", file=sys.stderr)
        return 1
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    (OUT / ".gitignore").write_text("*\n")
    copy = OUT / f"FastTD3-{fasttd3_adapter.PINNED_COMMIT[:7]}"
    shutil.copytree(
        src / "fast_td3", copy / "fast_td3", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy2(src / "LICENSE", copy / "LICENSE")
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
        "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
        "--implementation", "cp", "--platform", "manylinux_2_28_x86_64",
        "-d", str(OUT / "wheels"), *WHEELS,
    ]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = [
            line
            for line in proc.stderr.splitlines()
            if line.strip() and not line.startswith("WARNING: Location")
        ]
        print(f"fetch_fasttd3: pip download failed: {(lines or ['?'])[-1]}", file=sys.stderr)
        return 1
    files = sorted(p for p in OUT.rglob("*") if p.is_file() and p.name != ".gitignore")
    manifest = {
        "fasttd3": {**facts, "source": copy.name},
        "wheels": list(WHEELS),
        "files": {str(p.relative_to(OUT)): p.stat().st_size for p in files},
    }
    (OUT / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    total = sum(manifest["files"].values()) / 2**20
    print(f"fetch_fasttd3: {OUT} ({total:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
