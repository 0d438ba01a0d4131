"""The `fastbrc` command: a real learning run, and one-line errors for bad input."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fastbrc import cli
from fastbrc.config import Config

FASTBRC = [sys.executable, "-m", "fastbrc.cli"]


def fastbrc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*FASTBRC, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_cartpole_preset_learns_to_800_within_36k_env_steps(tmp_path):
    """The preset as `fastbrc train --env CartpoleBalance` gives it, capped at 36,000 env
    steps and stopped at its first evaluation of 800+ (seed 0 reached 999.7 at 24,000 when
    this was written) to keep the suite short."""
    run_dir = tmp_path / "cartpole"
    out = fastbrc(
        "train",
        "--env",
        "CartpoleBalance",
        "--total-env-steps",
        "36000",
        "--stop-at-return",
        "800",
        "--run-dir",
        str(run_dir),
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "CPU profile" in out.stdout and "compiled in" in out.stdout
    config = Config.from_json((run_dir / "config.json").read_text())
    assert config.env == "CartpoleBalance" and config.total_env_steps == 36_000
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
    evals = [r["eval/episode_return"] for r in records if r.get("eval/episode_return") is not None]
    assert len(evals) >= 2
    assert max(evals) >= 800, evals
    assert evals[-1] >= 800 and "stopped (--stop-at-return)" in out.stdout
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


# In-process from here on (no interpreter start-up): `cli.main` is what the command runs.


def tree_snapshot(path: Path) -> dict[str, tuple[int, int]]:
    """Sizes and mtimes of the run's files; not the lock file, in which every `train` that
    locks the directory (even one refused after that) writes its pid."""
    return {
        str(p.relative_to(path)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(path.rglob("*"))
        if p.name != ".lock"
    }


def one_line_error(capsys, code: int, *fragments: str) -> None:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("fastbrc: error:"), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


TINY_ARGS = (
    "--env ProbeBandit --num-envs 4 --num-eval-envs 4 --batch-size 16 --critic-width 16 "
    "--critic-depth 1 --actor-hidden 16 --num-atoms 11 --iterations-per-chunk 5 "
    "--total-env-steps 40 --checkpoint-every 20 --replay-capacity-per-env 16"
).split()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    assert cli.main(["train", *TINY_ARGS, "--run-dir", str(run_dir)]) == 0
    return run_dir


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--profile", "tpu"], ["--profile", "invalid choice: 'tpu'"]),
        (["--num-envs", "abc"], ["--num-envs", "abc"]),
        (["--no-such-flag", "1"], ["--no-such-flag"]),
        (["--n-step", "0"], ["--n-step must be > 0"]),
        (["--sac-alpha-min", "-0.1"], ["--sac-alpha-min must be >= 0"]),
        (
            ["--sac-target-entropy-per-dim", "-0.7"],
            ["--sac-target-entropy-per-dim must be > -log 2"],
        ),
        (["--num-envs", "3"], ["--batch-size 16", "--num-envs 3"]),
        (["--replay-capacity-per-env", "10000000000"], ["GiB too much", "--replay-capacity"]),
    ],
)
def test_bad_train_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, fragments):
    run_dir = tmp_path / "never"
    code = cli.main(["train", *TINY_ARGS, "--run-dir", str(run_dir), *args])
    one_line_error(capsys, code, *fragments)
    assert not run_dir.exists()


def test_an_occupied_run_dir_needs_resume_or_overwrite(finished_run, tmp_path, capsys):
    before = tree_snapshot(finished_run)
    code = cli.main(["train", *TINY_ARGS, "--run-dir", str(finished_run)])
    one_line_error(capsys, code, "already holds a run", "--resume", "--overwrite")
    assert tree_snapshot(finished_run) == before

    copy = tmp_path / "copy"
    shutil.copytree(finished_run, copy)
    (copy / "notes.txt").write_text("mine")
    assert (
        cli.main(["train", *TINY_ARGS, "--run-dir", str(copy), "--overwrite", "--seed", "1"]) == 0
    )
    assert Config.from_json((copy / "config.json").read_text()).seed == 1
    assert len((copy / "metrics.jsonl").read_text().splitlines()) == 2  # not appended
    assert (copy / "notes.txt").read_text() == "mine"  # only the run's own files are replaced


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--critic-width", "32"], ["--critic-width cannot change when resuming", "16"]),
        (["--env", "ProbeChain"], ["--resume continues a run with its own config"]),
        ([], ["already reached 40 env steps", "--total-env-steps"]),
    ],
)
def test_bad_resume_is_one_line_and_leaves_the_run_alone(finished_run, capsys, args, fragments):
    before = tree_snapshot(finished_run)
    code = cli.main(["train", "--resume", str(finished_run), *args])
    one_line_error(capsys, code, *fragments)
    assert tree_snapshot(finished_run) == before


def test_a_checkpoint_from_an_incompatible_config_is_refused(finished_run, tmp_path, capsys):
    copy = tmp_path / "edited"
    shutil.copytree(finished_run, copy)
    config = copy / "config.json"
    config.write_text(config.read_text().replace('"critic_width": 16', '"critic_width": 32'))
    before = tree_snapshot(copy)
    code = cli.main(["train", "--resume", str(copy), "--total-env-steps", "80"])
    one_line_error(capsys, code, "incompatible config", "critic_width is 16 in the checkpoint")
    assert tree_snapshot(copy) == before


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--run-dir", "nowhere"], ["nowhere is not a fastbrc run directory"]),
        (["--checkpoint", "7"], ["no checkpoint at step 7", "available: 20, 40"]),
        (["--num-episodes", "0"], ["--num-episodes must be >= 1"]),
        (["--run-dir"], ["--run-dir"]),
    ],
)
def test_bad_eval_input_is_one_line(finished_run, capsys, args, fragments):
    base = [] if args[0] == "--run-dir" else ["--run-dir", str(finished_run)]
    one_line_error(capsys, cli.main(["eval", *base, *args]), *fragments)


def test_resume_without_a_checkpoint_is_refused(tmp_path, capsys):
    """Its metrics went past its first checkpoint, which is gone: refused, not restarted
    (tests/test_faults.py restarts one that was killed before its first checkpoint)."""
    run_dir = tmp_path / "empty"
    run_dir.mkdir()
    config = Config(env="ProbeBandit")
    (run_dir / "config.json").write_text(config.to_json())
    record = {"env_steps": 2 * config.checkpoint_every}
    (run_dir / "metrics.jsonl").write_text(json.dumps(record) + "\n")
    code = cli.main(["train", "--resume", str(run_dir), "--total-env-steps", "80"])
    one_line_error(capsys, code, "no checkpoint in")
