"""Download, here, the wheels the lent GPU machine lacks: the device check's bundle.

    python3 benchmarks/device/fetch_bundle.py          # or: make device-bundle

The GPU machine (benchmarks/device/README.md) has Python 3.12, jax 0.11.2 with the CUDA 13
plugin, flax, optax and orbax-checkpoint, and no network. Everything else fastbrc and the
benchmark scripts import is named in ``bundle.txt`` beside this file; this script takes each
one's version from ``uv.lock`` (its Python 3.12 fork, the set ``make test`` tests), downloads
the manylinux x86_64 CPython 3.12 wheel with ``pip download --no-deps`` into
``benchmarks/device/wheels/`` (git-ignored), and checks that the folder stays under
``LIMIT_MIB`` (the device tool carries at most 64 MiB per call, the repository included).
``check.sh`` installs the folder there with ``pip install --no-deps --target``; the CPU
rehearsal (``make device-rehearsal``, ``make compat-gpu``) installs it the same way into an
environment that has nothing else, so an import missing from the bundle fails here.

Exit status: 0, or 1 with one line naming what went wrong (a name missing from the lock, a
download that failed, a bundle over the limit).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
WHEELS = HERE / "wheels"
LIMIT_MIB = 60
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64", "manylinux_2_24_x86_64",
             "manylinux_2_31_x86_64", "manylinux_2_34_x86_64", "manylinux_2_35_x86_64")  # fmt: skip
# The GPU machine's interpreter, for evaluating the lock's markers.
TARGET_ENV = {
    "python_version": "3.12",
    "python_full_version": "3.12.3",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "extra": "",
}


class BundleError(Exception):
    """One line for the user."""


def bundle_names(path: Path = HERE / "bundle.txt") -> list[str]:
    """Distribution names in bundle.txt (comments and blank lines ignored), normalised."""
    names = []
    for line in path.read_text().splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            names.append(normalise(name))
    return names


def normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def uv_command() -> list[str]:
    """uv as the Makefile found it ($UV, e.g. "python3 -m uv"), else on PATH or in .tools."""
    if os.environ.get("UV"):
        return shlex.split(os.environ["UV"])
    for candidate in (shutil.which("uv"), str(ROOT / ".tools/bin/uv")):
        if candidate and Path(candidate).is_file():
            return [candidate]
    raise BundleError("uv not found (run `make device-bundle`, or put uv on PATH)")


def locked_versions() -> dict[str, str]:
    """name -> version of every package uv.lock installs on the GPU machine's Python."""
    from pip._vendor.packaging.markers import Marker  # pip's own copy: no extra install

    text = subprocess.run(
        [*uv_command(), "export", "--frozen", "--no-hashes", "--no-dev", "--no-emit-project",
         "--no-header", "--no-annotate"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if text.returncode != 0:
        raise BundleError(f"uv export failed: {text.stderr.strip().splitlines()[-1]}")
    versions = {}
    for line in text.stdout.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-")):
            continue
        requirement, _, marker = line.partition(";")
        if marker.strip() and not Marker(marker.strip()).evaluate(TARGET_ENV):
            continue
        name, _, version = requirement.strip().partition("==")
        versions[normalise(name)] = version.strip()
    return versions


def download(name: str, version: str) -> None:
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
               "--dest", str(WHEELS), f"{name}=={version}"]  # fmt: skip
    for platform in PLATFORMS:
        command += ["--platform", platform]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BundleError(f"could not download {name}=={version}: {last}")


def main() -> int:
    try:
        names = bundle_names()
        versions = locked_versions()
        missing = [name for name in names if name not in versions]
        if missing:
            raise BundleError(f"not in uv.lock for Python 3.12: {', '.join(missing)}")
        shutil.rmtree(WHEELS, ignore_errors=True)
        WHEELS.mkdir(parents=True)
        for name in names:
            download(name, versions[name])
        wheels = sorted(WHEELS.glob("*.whl"))
        total = sum(w.stat().st_size for w in wheels)
        if total > LIMIT_MIB * 2**20:
            raise BundleError(
                f"the bundle is {total / 2**20:.1f} MiB, over its {LIMIT_MIB} MiB limit"
            )
    except BundleError as error:
        print(f"fetch_bundle: {error}", file=sys.stderr)
        return 1
    manifest = {
        "python": "3.12",
        "wheels": {w.name: w.stat().st_size for w in wheels},
        "total_mib": round(total / 2**20, 2),
        "pins": {name: versions[name] for name in names},
    }
    (WHEELS / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (WHEELS / ".fetched").touch()
    print(f"fetch_bundle: {len(wheels)} wheels, {total / 2**20:.1f} MiB in {WHEELS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
