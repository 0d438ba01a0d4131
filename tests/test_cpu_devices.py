"""--cpu-devices: the CPU split into several JAX devices before JAX starts, from the CLI."""

import subprocess
import sys
from pathlib import Path

from fastbrc.run.cpu_devices import requested

ROOT = Path(__file__).resolve().parent.parent
FASTBRC = [sys.executable, "-m", "fastbrc.cli"]
TINY = (
    "--env ProbeBandit --num-envs 4 --num-eval-envs 4 --batch-size 16 --critic-width 16 "
    "--critic-depth 1 --actor-hidden 16 --num-atoms 11 --iterations-per-chunk 5 "
    "--total-env-steps 40 --checkpoint-every 20 --replay-capacity-per-env 16"
).split()


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_the_count_is_the_flag_else_the_cpu_preset(monkeypatch):
    import dataclasses

    from fastbrc.run import cpu_devices

    real = cpu_devices.preset
    two = lambda env, profile: dataclasses.replace(real(env, profile), cpu_devices=2)  # noqa: E731
    monkeypatch.setattr(cpu_devices, "preset", two)
    assert requested("HumanoidWalk", []) == 2  # a CPU preset's own count
    monkeypatch.setattr(cpu_devices, "preset", real)
    assert requested("HumanoidWalk", []) == 1
    assert requested("CartpoleBalance", []) == 1
    assert requested("CartpoleBalance", ["--seed", "1", "--cpu-devices", "3"]) == 3
    assert requested("HumanoidWalk", ["--cpu-devices=1"]) == 1
    assert requested("HumanoidWalk", ["--cpu-devices", "two"]) == 1  # tyro reports it later
    assert requested("HumanoidWalk", ["--cpu-devices"]) == 1  # no value: likewise


def test_split_works_before_jax_starts_and_says_so_after(tmp_path):
    code = (
        "from fastbrc.run.cpu_devices import split_cpu\n"
        "assert split_cpu(2)\n"
        "import jax\n"
        "assert len(jax.devices()) == 2, jax.devices()\n"
        "assert split_cpu(2) and split_cpu(1) and not split_cpu(3)\n"
    )
    out = run(sys.executable, "-c", code, cwd=tmp_path)
    assert out.returncode == 0, out.stderr


def test_train_and_resume_run_data_parallel_over_cpu_devices(tmp_path):
    run_dir = tmp_path / "r"
    out = run(*FASTBRC, "train", *TINY, "--cpu-devices", "2", "--run-dir", str(run_dir),
              cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "4 envs on cpu (2 x cpu)" in out.stdout
    # a resumed run reads the count from its config.json and splits before JAX starts too
    out = run(*FASTBRC, "train", "--resume", str(run_dir), "--total-env-steps", "60",
              cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "(2 x cpu)" in out.stdout and "takes effect only" not in out.stdout
    # without the flag the same run is on one device
    out = run(*FASTBRC, "train", *TINY, "--run-dir", str(tmp_path / "one"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "4 envs on cpu (cpu)" in out.stdout
