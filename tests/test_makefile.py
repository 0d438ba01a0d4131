"""The Makefile's choices, read from `make -n` (which prints the commands without running them):
every `uv sync` of .venv keeps or picks JAX's CUDA extra, and `make train` picks its task by
the hardware JAX sees."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no make on PATH")


def dry_run(tmp_path: Path, *args: str, nvidia_smi: bool = False, venv: Path | None = None):
    """`make -n ARGS` with a fresh VENV (so its stamp is missing and the sync shows), no NVIDIA
    driver file, and on PATH a fake `nvidia-smi` (that answers like a driver) when asked."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if nvidia_smi:
        fake = bin_dir / "nvidia-smi"
        fake.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0)'\n")
        fake.chmod(0o755)
    # PATH keeps make, sh, uv and python3, never a real nvidia-smi
    keep = [
        p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "nvidia-smi").exists()
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("EXTRAS", "MAKEFLAGS", "MFLAGS")}
    env["PATH"] = os.pathsep.join([str(bin_dir), *keep])
    venv = venv or tmp_path / "venv"
    command = [
        "make", "-n", "--no-print-directory", f"VENV={venv}",
        f"NVIDIA_DRIVER_FILE={tmp_path / 'no-driver'}", "TRAIN_RUN=runs/t", *args,
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def syncs(output: str) -> list[str]:
    """The `uv sync` lines of .venv (not of benchmarks/peers' own project)."""
    lines = output.splitlines()
    return [line for line in lines if re.search(r"\buv sync\b", line) and "--project" not in line]


def test_no_driver_syncs_without_an_extra(tmp_path):
    (sync,) = syncs(dry_run(tmp_path, "train"))
    assert "--frozen" in sync and "--extra" not in sync


def test_a_driver_picks_cuda12_for_train_and_test(tmp_path):
    for target in ("train", "test-main"):
        (sync,) = syncs(dry_run(tmp_path, target, nvidia_smi=True))
        assert "--extra cuda12" in sync, sync
    # ... and the suite itself still runs on the CPU (it is written for one)
    (pytest,) = [
        line for line in dry_run(tmp_path, "test-main").splitlines() if "bin/pytest " in line
    ]
    assert pytest.startswith("JAX_PLATFORMS=cpu ")


def test_extras_given_wins(tmp_path):
    (sync,) = syncs(dry_run(tmp_path, "train", "EXTRAS=cuda13", nvidia_smi=True))
    assert "--extra cuda13" in sync and "cuda12" not in sync
    (sync,) = syncs(dry_run(tmp_path, "train", "EXTRAS=", nvidia_smi=True))
    assert "--extra" not in sync


def test_the_extra_already_installed_is_kept(tmp_path):
    """After `uv sync --extra cuda13` by hand, make's own sync must not swap it for cuda12 (or
    drop it: a plain `uv sync --frozen` uninstalls the plugin and its CUDA wheels)."""
    venv = tmp_path / "venv"
    (venv / "lib" / "python3.12" / "site-packages" / "jax_cuda13_plugin-0.12.0.1.dist-info").mkdir(
        parents=True
    )
    for driver in (False, True):
        (sync,) = syncs(dry_run(tmp_path, "train", nvidia_smi=driver, venv=venv))
        assert "--extra cuda13" in sync and "cuda12" not in sync, sync


def test_the_stamp_records_the_extras_and_other_extras_sync_again(tmp_path):
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / ".installed").write_text("extras=cuda12\n")
    assert not syncs(dry_run(tmp_path, "train", "EXTRAS=cuda12", venv=venv))  # up to date
    (sync,) = syncs(dry_run(tmp_path, "train", "EXTRAS=", venv=venv))
    assert "--extra" not in sync


def test_train_picks_the_task_by_backend_and_names_the_gpu_command(tmp_path):
    out = dry_run(tmp_path, "train", "EXTRAS=")
    assert "env=WalkerWalk" in out and "--max-wall-s 600" in out and "env=HumanoidWalk" in out
    assert "--env HumanoidWalk --profile gpu" in out
    assert 'WalkerWalk|HumanoidWalk) camera="--camera side"' in out  # a camera that follows
    out = dry_run(tmp_path, "train", "EXTRAS=", "TRAIN_ENV=CheetahRun")
    assert "env=CheetahRun" in out
