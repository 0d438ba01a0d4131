"""The `fastbrc` command: a real learning run, and one-line errors for bad input."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fastbrc.config import Config

FASTBRC = [sys.executable, "-m", "fastbrc.cli"]


def fastbrc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*FASTBRC, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_cartpole_preset_learns_to_800_within_300k_env_steps(tmp_path):
    run_dir = tmp_path / "cartpole"
    out = fastbrc("train", "--env", "CartpoleBalance", "--run-dir", str(run_dir), cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "CPU profile" in out.stdout and "compiled in" in out.stdout
    config = Config.from_json((run_dir / "config.json").read_text())
    assert config.env == "CartpoleBalance" and config.total_env_steps <= 300_000
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    required = {
        "env_steps",
        "wall_s",
        "train/critic_loss",
        "train/actor_loss",
        "train/q_mean",
        "eval/episode_return",
        "perf/env_steps_per_s",
        "perf/updates_per_s",
        "perf/compile_s",
    }
    assert required <= set(records[-1])
    assert records[-1]["env_steps"] >= config.total_env_steps
    evals = [r["eval/episode_return"] for r in records if r.get("eval/episode_return") is not None]
    assert len(evals) >= 3
    assert max(evals) >= 800, evals
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))


def assert_one_line_error(out: subprocess.CompletedProcess, *fragments: str) -> None:
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("fastbrc: error:"), out.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_batch_not_divisible_by_envs_is_a_one_line_error(tmp_path):
    run_dir = tmp_path / "never"
    out = fastbrc(
        "train",
        "--env",
        "ProbeBandit",
        "--num-envs",
        "30",
        "--batch-size",
        "100",
        "--run-dir",
        str(run_dir),
        cwd=tmp_path,
    )
    assert_one_line_error(out, "--batch-size 100", "--num-envs 30")
    assert not run_dir.exists()


def test_unknown_env_names_close_matches(tmp_path):
    out = fastbrc("train", "--env", "HumanoidWalkk", "--run-dir", str(tmp_path / "x"), cwd=tmp_path)
    assert_one_line_error(out, "HumanoidWalkk", "HumanoidWalk")
    assert not (tmp_path / "x").exists()


def test_buffer_smaller_than_n_step_and_occupied_run_dir(tmp_path):
    out = fastbrc(
        "train",
        "--env",
        "ProbeBandit",
        "--replay-capacity-per-env",
        "2",
        "--n-step",
        "3",
        cwd=tmp_path,
    )
    assert_one_line_error(out, "--n-step 3")
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "config.json").write_text("{}")
    out = fastbrc("train", "--env", "ProbeBandit", "--run-dir", str(taken), cwd=tmp_path)
    assert_one_line_error(out, "already holds a run")
    assert (taken / "config.json").read_text() == "{}"


def test_unknown_command():
    out = subprocess.run([*FASTBRC, "fly"], capture_output=True, text=True)
    assert_one_line_error(out, "fly")
