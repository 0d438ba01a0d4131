"""Fault injection: what a long run meets (issue #18) and what it must survive.

A damaged newest checkpoint, a metrics line torn by a kill, two writers on one run directory,
a full disk at a checkpoint, SIGKILLs at random moments, missing checkpoint files, an edited
config.json and a read-only run directory. Most tests start from a copy of one tiny ProbeChain
run (tests/test_checkpoint.py's ARGS: 50 chunks of 40 env steps, a checkpoint every 80). The
tests of the four faults fail on the code before issue #18 (a docstring's "Was:" says how);
the edited config.json cases guard that a refused resume still moves and cuts nothing.
"""

import errno
import gc
import json
import os
import random
import shutil
import signal
import time
from pathlib import Path

import jax
import pytest
from test_checkpoint import (  # tests/test_checkpoint.py
    ARGS,
    assert_same_leaves,
    full_state,
    records,
    start,
    wait_for,
)

from fastbrc import cli
from fastbrc.config import Config
from fastbrc.learner import build
from fastbrc.run import runlock
from fastbrc.run.checkpoint import Checkpoints


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    """The uninterrupted run to 2,000 env steps (checkpoints 1,920 and 2,000 kept)."""
    run_dir = tmp_path_factory.mktemp("straight") / "run"
    assert cli.main(["train", *ARGS, "--run-dir", str(run_dir)]) == 0
    return run_dir


def args_with(**overrides: object) -> list[str]:
    """ARGS with some values replaced (``total_env_steps=240``)."""
    args = list(ARGS)
    for name, value in overrides.items():
        args[args.index("--" + name.replace("_", "-")) + 1] = str(value)
    return args


def copy_of(straight: Path, tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    shutil.copytree(straight, run_dir)
    return run_dir


def flip_a_byte(step_dir: Path, item: str = "replay") -> None:
    """One flipped byte in the middle of an item's largest data file (``replay``: the
    buffer; ``state``: networks, optimisers, normalisers, ...)."""
    data = max((step_dir / item / "d").iterdir(), key=lambda p: p.stat().st_size)
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))


def snapshot(run_dir: Path) -> dict[str, tuple[int, int]]:
    """Every path under `run_dir` with its size and mtime: equal snapshots, nothing changed
    (but the lock file, where each train attempt writes its pid)."""
    return {
        str(p.relative_to(run_dir)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(run_dir.rglob("*"))
        if p.name != ".lock"
    }


def one_error_line(capfd) -> str:
    err = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert err[0].startswith("fastbrc: error: ")
    return err[0]


def warnings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("fastbrc: warning:")]


# -- 1. a damaged newest checkpoint ---------------------------------------------------------


def test_a_damaged_newest_checkpoint_is_moved_aside_and_the_run_saves_over_it(
    straight, tmp_path, capfd
):
    """Was: fallback to 1,920, then `StepAlreadyExistsError` at the save of 2,000 (exit 2)."""
    run_dir = copy_of(straight, tmp_path)
    flip_a_byte(run_dir / "checkpoints" / "2000")
    assert cli.main(["train", "--resume", str(run_dir), "--total-env-steps", "2080"]) == 0
    out = capfd.readouterr().out
    (warning,) = warnings(out)
    aside = run_dir / "checkpoints" / "2000.damaged"
    assert "checkpoint 2000 is damaged" in warning and str(aside) in warning
    assert "resuming" in out and "from checkpoint 1,920" in out
    assert aside.is_dir()  # kept for inspection
    assert not (run_dir / "errors.log").exists()  # nothing failed: no (empty) error log
    assert Checkpoints(run_dir / "checkpoints").steps() == [2000, 2080]
    # the redone chunks are the uninterrupted run's, bit for bit
    assert_same_leaves(full_state(run_dir, 2000).state, full_state(straight, 2000).state)
    assert records(run_dir)[:50] == records(straight)
    assert [r["env_steps"] for r in records(run_dir)[50:]] == [2040, 2080]


def test_eval_and_load_policy_skip_a_damaged_checkpoint_and_touch_nothing(
    straight, tmp_path, capfd
):
    """Readers may run beside a training run: they skip a damaged checkpoint in place and
    leave the temporary directory of a save in progress alone."""
    from fastbrc.run.policy import load_policy

    run_dir = copy_of(straight, tmp_path)
    flip_a_byte(run_dir / "checkpoints" / "2000", "state")  # what eval reads: the networks
    (run_dir / "checkpoints" / "2080.orbax-checkpoint-tmp").mkdir()  # a save under way
    before = snapshot(run_dir)
    assert cli.main(["eval", "--run-dir", str(run_dir), "--num-episodes", "4"]) == 0
    out = capfd.readouterr().out
    (warning,) = warnings(out)
    assert "checkpoint 2000 is damaged" in warning and warning.endswith("skipped it")
    assert json.loads(out.splitlines()[-1])["checkpoint"] == 1920
    assert load_policy(run_dir).step == 1920
    assert snapshot(run_dir) == before


@pytest.mark.parametrize("missing", ["state", "meta/metadata", "replay/d", "state/manifest.ocdbt"])
def test_a_checkpoint_with_files_missing_is_moved_aside_by_its_owner(straight, tmp_path, missing):
    run_dir = copy_of(straight, tmp_path)
    victim = run_dir / "checkpoints" / "2000" / missing
    shutil.rmtree(victim) if victim.is_dir() else victim.unlink()
    config = Config.from_json((run_dir / "config.json").read_text())
    abstract = jax.eval_shape(build(config).init, jax.random.PRNGKey(0))
    said = []
    owner = Checkpoints(run_dir / "checkpoints", owner=True)
    restored = owner.restore(abstract, config, warn=said.append)
    assert restored.step == 1920 and len(said) == 1 and "checkpoint 2000 is damaged" in said[0]
    assert owner.steps() == [1920]
    assert (run_dir / "checkpoints" / "2000.damaged").is_dir()
    # the step is free again: the owner saves over it
    owner.save(restored.state, step=2000, chunk=50, config=config)
    assert owner.steps() == [1920, 2000]


# -- 2. a metrics line torn by a kill -------------------------------------------------------


def test_a_torn_last_metrics_line_is_dropped_on_resume(straight, tmp_path, capfd):
    """Was: `json.decoder.JSONDecodeError` and a traceback."""
    from test_logging import tensorboard_scalars

    run_dir = copy_of(straight, tmp_path)
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write('{"env_steps": 2040, "wall_s": 4')  # the kill came mid-write
    assert cli.main(["train", "--resume", str(run_dir), "--total-env-steps", "2080"]) == 0
    (warning,) = warnings(capfd.readouterr().out)
    assert "metrics.jsonl:51 is a record cut short by a kill" in warning
    assert records(run_dir)[:50] == records(straight)
    steps = [r["env_steps"] for r in records(run_dir)]
    assert steps == list(range(40, 2081, 40))
    assert sorted(tensorboard_scalars(run_dir / "tensorboard")) == steps


def test_a_bad_metrics_line_in_the_middle_stops_resume_with_one_line(straight, tmp_path, capfd):
    """Only the last line can be torn by a kill; anything else is reported, not dropped."""
    run_dir = copy_of(straight, tmp_path)
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    lines[2] = lines[2][:30]
    (run_dir / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    before = snapshot(run_dir)
    assert cli.main(["train", "--resume", str(run_dir)]) == 2
    assert "metrics.jsonl:3 is not a metrics record" in one_error_line(capfd)
    assert snapshot(run_dir) == before


@pytest.mark.parametrize(
    "tail, kept",
    [
        ('{"env_steps": 2040, "wall_s": 4', [40, 80]),
        ("\0" * 64, [40, 80]),
        ('{"env_steps": 2040}\n{"env_st', [40, 80, 2040]),
    ],
)
def test_only_the_last_line_may_be_torn(tmp_path, tail, kept):
    """A power loss can also leave zeros where the last write's data never reached disk."""
    from fastbrc.run.logger import read_metric_lines

    path = tmp_path / "metrics.jsonl"
    path.write_text('{"env_steps": 40}\n{"env_steps": 80, "eval/x": null}\n' + tail)
    said = []
    assert [step for step, _ in read_metric_lines(path, warn=said.append)] == kept
    assert len(said) == 1 and "cut short by a kill" in said[0]


def test_wandb_gets_only_the_records_a_checkpoint_covers(tmp_path, monkeypatch):
    """W&B cannot delete: after a kill, the records a resume redoes must not be there."""
    from types import SimpleNamespace

    from fastbrc.run import logger as logger_module

    sent = []

    class FakeSink:
        def __init__(self, run_dir, config, resume):
            pass

        def write(self, record):
            sent.append(record["env_steps"])

        def close(self):
            sent.append("closed")

    monkeypatch.setattr(logger_module, "WandbSink", FakeSink)
    log = logger_module.MetricsLogger(tmp_path, config=SimpleNamespace(wandb=True))
    for step in (40, 80):
        log.write({"env_steps": step, "train/x": 1.0})
    assert sent == []
    log.sync()  # the checkpoint at 80
    log.write({"env_steps": 120, "train/x": 1.0})
    assert sent == [40, 80]  # a SIGKILL now: 120 is redone by the resume, never sent twice
    log.close()  # a run that ends normally sends the rest
    assert sent == [40, 80, 120, "closed"]


# -- 3. two writers -------------------------------------------------------------------------


def test_a_second_writer_stops_at_once_naming_the_holder(straight, tmp_path, capfd):
    """Was: both ran to the end, interleaving metrics and checkpoints."""
    run_dir = copy_of(straight, tmp_path)
    with runlock.RunLock(run_dir):
        before = snapshot(run_dir)
        for args in (
            ["--resume", str(run_dir), "--total-env-steps", "4000"],
            [*ARGS, "--run-dir", str(run_dir), "--overwrite"],  # would delete the run
        ):
            tick = time.monotonic()
            assert cli.main(["train", *args]) == 2
            line = one_error_line(capfd)
            assert f"run directory {run_dir} is in use by pid {os.getpid()} on " in line
            assert time.monotonic() - tick < 10  # refused before compiling anything
        assert snapshot(run_dir) == before
        assert cli.main(["eval", "--run-dir", str(run_dir), "--num-episodes", "4"]) == 0


# -- 4. write errors: full disk, permission denied, directory removed ------------------------


def _fail_writes_of_step(monkeypatch, step: int, code: int) -> None:
    """TensorStore (Orbax's array writer) fails every write of checkpoint `step` as it does
    on a full disk: ``ValueError("RESOURCE_EXHAUSTED: ... [os_error_code='28']")``, raised on
    its writer threads."""
    from orbax.checkpoint._src.serialization import serialization

    armed = {"step": None}
    footprint = serialization.estimate_write_memory_footprint  # called before each write

    def failing_footprint(array):
        if armed["step"] == step:
            raise ValueError(
                f"RESOURCE_EXHAUSTED: Error writing local file: Failed to write: "
                f"{os.strerror(code)} [os_error_code='{code}']"
            )
        return footprint(array)

    save = Checkpoints.save

    def save_and_arm(self, state, *, step, **kwargs):
        armed["step"] = step
        return save(self, state, step=step, **kwargs)

    monkeypatch.setattr(serialization, "estimate_write_memory_footprint", failing_footprint)
    monkeypatch.setattr(Checkpoints, "save", save_and_arm)


def _wait_for_stray_writes(folder: Path, quiet_s: float = 0.5, timeout_s: float = 60.0) -> None:
    """Until nothing in `folder` has changed for `quiet_s`. In this process TensorStore's
    threads go on writing the failed save's other files after it raised (`fastbrc train`
    exits there); a resume now would clean up its temporary directory while they write
    into it ("Directory not empty": seen once in six runs)."""

    def snapshot():
        try:
            return sorted((str(p), p.stat().st_size) for p in folder.rglob("*"))
        except OSError:  # a file went away while listed: still changing
            return None

    deadline, before = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        now = snapshot()
        if now is not None and now == before:
            return
        before = now
        time.sleep(quiet_s)


# TensorStore's threads finish the failed save's other writes after it raised and report
# "Event loop is closed" when collected later, and Orbax's writer can leave a coroutine never
# awaited; `fastbrc train` sends those to errors.log too (cli._stderr_to_file), an in-process
# caller sees them as unraisable exceptions and RuntimeWarnings. Each test that fails a save
# collects its garbage before it ends, so they are reported there, not in a later test.
def failed_save_leftovers(test):
    test = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")(test)
    return pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")(test)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES])
@failed_save_leftovers
def test_a_failed_save_is_one_line_keeps_the_last_checkpoint_and_resumes(
    tmp_path, monkeypatch, capfd, code
):
    """Was: the one line came after ~115 lines of tracebacks from Orbax's writer threads."""
    run_dir = tmp_path / "run"
    short = [*args_with(total_env_steps=240), "--run-dir", str(run_dir)]
    with monkeypatch.context() as patch:
        _fail_writes_of_step(patch, 160, code)
        assert cli.main(["train", *short]) == 1
        line = one_error_line(capfd)
    assert f"could not save checkpoint 160 to {run_dir / 'checkpoints'}: " in line
    assert f"{os.strerror(code)} (errno {code}); checkpoint 80 is kept; traceback in " in line
    assert "Traceback" in (run_dir / "errors.log").read_text()
    assert Checkpoints(run_dir / "checkpoints").steps() == [80]
    if code == errno.ENOSPC:  # space again: the run goes on from the last good checkpoint
        _wait_for_stray_writes(run_dir / "checkpoints")
        assert cli.main(["train", "--resume", str(run_dir)]) == 0
        assert Checkpoints(run_dir / "checkpoints").steps() == [160, 240]
        assert [r["env_steps"] for r in records(run_dir)] == [40, 80, 120, 160, 200, 240]
    gc.collect()


@failed_save_leftovers
def test_a_removed_run_directory_is_one_line(tmp_path, monkeypatch, capfd):
    run_dir = tmp_path / "run"
    save = Checkpoints.save

    def remove_then_save(self, state, *, step, **kwargs):
        if step == 160:
            shutil.rmtree(run_dir)
        return save(self, state, step=step, **kwargs)

    monkeypatch.setattr(Checkpoints, "save", remove_then_save)
    code = cli.main(["train", *args_with(total_env_steps=240), "--run-dir", str(run_dir)])
    assert code == 1
    line = one_error_line(capfd)
    assert "could not save checkpoint 160" in line and "No such file or directory" in line
    gc.collect()


def test_a_run_killed_before_its_first_checkpoint_starts_over_on_resume(straight, tmp_path, capfd):
    """Was: `no checkpoint in ...`. From its seed, starting over is exact."""
    run_dir = tmp_path / "early"
    run_dir.mkdir()
    shutil.copy(straight / "config.json", run_dir)
    first = (straight / "metrics.jsonl").read_text().splitlines()[0]
    (run_dir / "metrics.jsonl").write_text(first + "\n")  # killed in chunk 2, before its save
    assert cli.main(["train", "--resume", str(run_dir), "--total-env-steps", "400"]) == 0
    assert "has no checkpoint yet; starting it over" in capfd.readouterr().out
    assert records(run_dir) == records(straight)[:10]


# -- SIGKILL at random moments ---------------------------------------------------------------


def _saving(run_dir: Path) -> bool:
    folder = run_dir / "checkpoints"
    return folder.exists() and any("orbax-checkpoint-tmp" in p.name for p in folder.iterdir())


def _started(run_dir: Path, since: int):
    """True once the training loop touched metrics.jsonl (compile is over)."""
    path = run_dir / "metrics.jsonl"
    return lambda: path.exists() and path.stat().st_mtime_ns != since


def test_random_sigkills_during_training_evaluation_and_saves_end_bit_exact(
    straight, tmp_path, capfd
):
    """SIGKILL the run four times in a row (delays from a fixed seed; the second kill lands
    during a checkpoint save), with a second writer refused and an evaluation killed beside
    it; the run resumed to the end has the uninterrupted run's state and metrics, bit for
    bit."""
    rng = random.Random(18)
    run_dir = tmp_path / "killed"
    metrics = run_dir / "metrics.jsonl"
    kills, killed_saving = 0, False
    for attempt in range(4):
        since = metrics.stat().st_mtime_ns if metrics.exists() else 0
        args = ["--resume", str(run_dir)] if attempt else [*ARGS, "--run-dir", str(run_dir)]
        proc = start("train", *args, cwd=tmp_path)
        wait_for(_started(run_dir, since), proc)
        if attempt == 0:
            # a second writer is refused at once, naming this process; a reader may run
            assert cli.main(["train", "--resume", str(run_dir)]) == 2
            assert f"is in use by pid {proc.pid} on " in one_error_line(capfd)
            reader = start("eval", "--run-dir", str(run_dir), "--num-episodes", "4", cwd=tmp_path)
        if attempt == 1:
            while proc.poll() is None and not _saving(run_dir):
                time.sleep(0.001)
            reader.send_signal(signal.SIGKILL)  # wherever it is: importing, restoring, ...
            reader.communicate()
        else:
            time.sleep(rng.uniform(0.0, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        if proc.returncode != -signal.SIGKILL:
            break  # it had finished
        kills += 1
        killed_saving = killed_saving or (attempt == 1 and _saving(run_dir))
    if reader.poll() is None:
        reader.send_signal(signal.SIGKILL)
        reader.communicate()
    assert kills >= 3 and killed_saving, (kills, killed_saving)
    assert records(run_dir)[-1]["env_steps"] < 2000
    proc = start("train", "--resume", str(run_dir), cwd=tmp_path)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert records(run_dir) == records(straight)
    resumed, reference = full_state(run_dir), full_state(straight)
    assert resumed.step == reference.step == 2000
    assert_same_leaves(resumed.state, reference.state)


# -- an edited config.json, a read-only run directory ---------------------------------------


@pytest.mark.parametrize(
    "edit, message",
    [
        (('"critic_width": 32', '"critic_width": 64'), "critic_width is 32 in the checkpoint"),
        (('"num_envs": 4', '"num_envs": "four"'), "is not a valid config"),
    ],
)
def test_an_edited_config_json_is_one_line_and_changes_nothing(
    straight, tmp_path, capfd, edit, message
):
    run_dir = copy_of(straight, tmp_path)
    path = run_dir / "config.json"
    path.write_text(path.read_text().replace(*edit))
    before = snapshot(run_dir)
    assert cli.main(["train", "--resume", str(run_dir), "--total-env-steps", "4000"]) == 2
    assert message in one_error_line(capfd)
    assert snapshot(run_dir) == before  # no checkpoint moved aside, no metrics cut


def test_a_read_only_run_directory(straight, tmp_path, monkeypatch, capfd):
    """Training it stops with one line; evaluating it works. Root ignores permissions, so as
    root the lock file's creation is made to fail as a read-only directory fails it."""
    run_dir = copy_of(straight, tmp_path)
    (run_dir / ".lock").unlink()
    if os.geteuid() == 0:
        real_open = runlock.os.open

        def read_only_open(path, flags, *args):
            if Path(path).parent == run_dir and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
            return real_open(path, flags, *args)

        monkeypatch.setattr(runlock.os, "open", read_only_open)
    else:
        for path in [run_dir, *run_dir.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
    try:
        before = snapshot(run_dir)
        assert cli.main(["train", "--resume", str(run_dir), "--total-env-steps", "4000"]) == 2
        assert f"cannot write to run directory {run_dir}: Permission denied" in one_error_line(
            capfd
        )
        assert cli.main(["eval", "--run-dir", str(run_dir), "--num-episodes", "4"]) == 0
        assert snapshot(run_dir) == before
    finally:
        for path in [run_dir, *run_dir.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
