"""fastbrc.run.gpu_check: one line when an NVIDIA driver is present but JAX runs on the CPU
(a fake driver file and a fake nvidia-smi stand in for the driver; none is on the CI machine)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastbrc.run import gpu_check

ROOT = Path(__file__).resolve().parent.parent


def fake_nvidia_smi(folder: Path, exit_code: int = 0) -> Path:
    folder.mkdir(exist_ok=True)
    smi = folder / "nvidia-smi"
    smi.write_text(
        f"#!/bin/sh\necho 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0)'\nexit {exit_code}\n"
    )
    smi.chmod(0o755)
    return folder


def test_the_message_names_the_fix_only_for_a_cpu_backend_with_a_driver():
    line = gpu_check.message("cpu", "nvidia-smi", {})
    assert line.startswith("fastbrc: warning: an NVIDIA driver is present (nvidia-smi)")
    assert "uv sync --extra cuda12" in line and "make train EXTRAS=cuda12" in line
    assert "\n" not in line
    broken = gpu_check.message("cpu", "/proc/driver/nvidia/version", {"jax-cuda12-plugin": "0.9"})
    assert "jax-cuda12-plugin 0.9 did not start" in broken and "R525" in broken
    assert gpu_check.message("gpu", "nvidia-smi", {}) is None
    assert gpu_check.message("cpu", None, {}) is None


def test_the_driver_is_seen_through_its_proc_file_or_nvidia_smi(tmp_path, monkeypatch):
    version = tmp_path / "version"
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert gpu_check.nvidia_driver(version) is None
    version.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15\n")
    assert gpu_check.nvidia_driver(version) == str(version)
    missing = tmp_path / "missing"
    monkeypatch.setenv("PATH", str(fake_nvidia_smi(tmp_path / "ok")))
    assert gpu_check.nvidia_driver(missing) == "nvidia-smi"
    monkeypatch.setenv("PATH", str(fake_nvidia_smi(tmp_path / "failing", exit_code=9)))
    assert gpu_check.nvidia_driver(missing) is None  # nvidia-smi without a working driver


def test_jax_platforms_set_means_the_cpu_was_asked_for(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(fake_nvidia_smi(tmp_path / "bin")))
    monkeypatch.setattr(gpu_check, "DRIVER_FILE", tmp_path / "missing")
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    assert gpu_check.warn_if_gpu_unused("cpu") is None
    monkeypatch.delenv("JAX_PLATFORMS")
    assert gpu_check.warn_if_gpu_unused("cpu") is not None
    assert capsys.readouterr().err.count("fastbrc: warning: an NVIDIA driver") == 1


@pytest.mark.slow
def test_fastbrc_train_says_it_in_one_line(tmp_path):
    """Through the CLI: a fake nvidia-smi, JAX on the CPU (CUDA_VISIBLE_DEVICES empty, in case
    this machine has a GPU); the run directory already holds a run, so it stops right after."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    path = os.pathsep.join([str(fake_nvidia_smi(tmp_path / "bin")), os.environ["PATH"]])
    env = {k: v for k, v in os.environ.items() if k != "JAX_PLATFORMS"}
    env.update(PATH=path, CUDA_VISIBLE_DEVICES="", PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "fastbrc.cli", "train", "--env", "CartpoleBalance"]
    done = subprocess.run(
        [*command, "--run-dir", str(run)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "an NVIDIA driver is present" in line]
    assert len(warnings) == 1 and "JAX runs on the CPU" in warnings[0], done.stderr
    assert "already holds a run" in done.stderr.splitlines()[-1]
