"""Checkpoints: exact resume after SIGKILL, SIGTERM, damaged checkpoints, divergence."""

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from configs import TINY  # tests/configs.py

from fastbrc import cli
from fastbrc.config import Config
from fastbrc.learner import build, seeds
from fastbrc.run.checkpoint import CheckpointError, Checkpoints
from fastbrc.run.policy import evaluate_run, load_policy
from fastbrc.run.runner import train

# ProbeChain: 5-step episodes, so env state, episode counters and n-step windows all cross
# chunk and checkpoint boundaries. 50 chunks, a checkpoint every 2.
ARGS = (
    "--env ProbeChain --profile cpu --num-envs 4 --num-eval-envs 4 --batch-size 32 "
    "--replay-capacity-per-env 64 --critic-width 32 --critic-depth 1 --actor-hidden 32 "
    "--num-atoms 11 --v-min -1 --v-max 6 --iterations-per-chunk 10 --n-step 3 "
    "--learning-starts-iterations 5 --total-env-steps 2000 --checkpoint-every 80 "
    "--eval-every-env-steps 400"
).split()
FASTBRC = [sys.executable, "-m", "fastbrc.cli"]


def records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    timing = lambda key: key.startswith("perf/") or key == "wall_s"
    return [{k: v for k, v in json.loads(line).items() if not timing(k)} for line in lines]


def full_state(run_dir: Path, step: int | None = None):
    config = Config.from_json((run_dir / "config.json").read_text())
    key_init, _ = seeds.run_keys(config.seed, config.seeds)  # one row per seed of --seeds
    abstract = jax.eval_shape(build(config).init, key_init)
    checkpoints = Checkpoints(run_dir / "checkpoints")
    try:
        return checkpoints.restore(abstract, config, step=step)
    finally:
        checkpoints.close()


def assert_same_leaves(a, b):
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def start(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*FASTBRC, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(condition, proc: subprocess.Popen, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"exited early: {proc.communicate()}"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def has_checkpoint(run_dir: Path) -> bool:
    folder = run_dir / "checkpoints"
    return folder.exists() and any(p.name.isdigit() for p in folder.iterdir())


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    """The uninterrupted run (in-process, through the same CLI entry point)."""
    run_dir = tmp_path_factory.mktemp("straight") / "run"
    assert cli.main(["train", *ARGS, "--run-dir", str(run_dir)]) == 0
    return run_dir


def test_sigkill_then_resume_equals_the_uninterrupted_run(straight, tmp_path):
    run_dir = tmp_path / "killed"
    proc = start("train", *ARGS, "--run-dir", str(run_dir), cwd=tmp_path)
    wait_for(lambda: has_checkpoint(run_dir), proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL  # it was killed mid-run, not finished
    assert records(run_dir)[-1]["env_steps"] < 2000

    out = subprocess.run(
        [*FASTBRC, "train", "--resume", str(run_dir)], cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "resuming" in out.stdout
    assert records(run_dir) == records(straight)  # every logged metric, bit for bit
    resumed, reference = full_state(run_dir), full_state(straight)
    assert resumed.step == reference.step == 2000
    assert_same_leaves(resumed.state, reference.state)  # params, optimiser, buffer, rng, envs


def test_sigterm_saves_a_checkpoint_and_exits_zero(straight, tmp_path):
    run_dir = tmp_path / "termed"
    proc = start("train", *ARGS, "--run-dir", str(run_dir), cwd=tmp_path)
    metrics = run_dir / "metrics.jsonl"
    wait_for(lambda: metrics.exists() and metrics.read_text().count("\n") >= 1, proc)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert f"resume with: fastbrc train --resume {run_dir}" in stdout
    last = records(run_dir)[-1]["env_steps"]
    restored = full_state(run_dir)
    assert restored.step == last  # the chunk that was running was finished and saved
    if last < 2000:
        # the saved state is the uninterrupted run's state at that step
        reference = records(straight)
        assert records(run_dir) == [r for r in reference if r["env_steps"] <= last]


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty_meta", "swapped"])
def test_damaged_newest_checkpoint_falls_back_to_the_previous_one(straight, tmp_path, damage):
    run_dir = tmp_path / "copy"
    shutil.copytree(straight, run_dir)
    steps = Checkpoints(run_dir / "checkpoints").steps()
    assert steps == [1920, 2000]  # keep_checkpoints = 2
    newest = run_dir / "checkpoints" / "2000"
    if damage == "empty_meta":
        (newest / "meta" / "metadata").write_text("")
    elif damage == "swapped":  # intact files of another step: decodes, fingerprint differs
        shutil.rmtree(newest / "replay")
        shutil.copytree(run_dir / "checkpoints" / "1920" / "replay", newest / "replay")
    else:
        # the buffer's array data (the merged OCDBT store)
        data = max((newest / "replay" / "d").iterdir(), key=lambda p: p.stat().st_size)
        raw = bytearray(data.read_bytes())
        if damage == "flip":
            raw[len(raw) // 2] ^= 0xFF
        else:
            raw = raw[: len(raw) // 2]
        data.write_bytes(bytes(raw))
    warnings = []
    config = Config.from_json((run_dir / "config.json").read_text())
    abstract = jax.eval_shape(build(config).init, jax.random.PRNGKey(0))
    restored = Checkpoints(run_dir / "checkpoints").restore(abstract, config, warn=warnings.append)
    assert restored.step == 1920
    assert len(warnings) == 1 and "checkpoint 2000 is damaged" in warnings[0]
    assert_same_leaves(restored.state, full_state(straight, step=1920).state)


def test_a_failed_reads_leftover_coroutines_are_collected_without_a_warning():
    """Was: after a damaged checkpoint's read, "RuntimeWarning: coroutine ... was never
    awaited" on stderr, beside the one line that reports the damage."""
    import gc
    import warnings

    from fastbrc.run import checkpoint

    async def write_fragment():  # as Orbax's writer leaves it: in a cycle, only gc frees it
        pass

    gc.disable()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with checkpoint._quiet_async_errors():
                cycle = [write_fragment()]
                cycle.append(cycle)
                del cycle
            gc.collect()  # nothing is left for a later collection either
    finally:
        gc.enable()
    assert [str(w.message) for w in caught] == []


def test_a_checkpoint_of_another_config_is_refused(straight, tmp_path):
    text = (straight / "config.json").read_text()
    other = Config.from_json(text.replace('"critic_width": 32', '"critic_width": 64'))
    abstract = jax.eval_shape(build(other).init, jax.random.PRNGKey(0))
    with pytest.raises(CheckpointError, match="critic_width is 32 in the checkpoint but 64 now"):
        Checkpoints(straight / "checkpoints").restore(abstract, other)


def test_load_policy_and_eval_use_the_newest_checkpoint(straight, capsys):
    policy = load_policy(straight)
    restored = full_state(straight)
    assert policy.step == 2000
    obs = np.linspace(0.0, 1.0, 6, dtype=np.float32)[:, None]
    fns = build(Config.from_json((straight / "config.json").read_text()))
    expected = fns.policy(restored.state, {"state": obs}, np.zeros(6, np.int32))
    np.testing.assert_allclose(np.asarray(policy(obs)), np.asarray(expected), rtol=1e-6)
    assert policy(obs).shape == (6, 1)
    with pytest.raises(ValueError, match="expected 1"):
        policy(np.zeros((2, 3), np.float32))

    result = evaluate_run(straight, checkpoint=1920, num_episodes=8)
    assert result["checkpoint"] == 1920 and result["eval/episode_length"] == 5.0
    assert cli.main(["eval", "--run-dir", str(straight), "--num-episodes", "4"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert json.loads(out[-1])["checkpoint"] == 2000


def test_load_policy_builds_no_trainer(straight, monkeypatch):
    """Inference needs the networks, the normaliser and the env spec, not the trainer."""
    from fastbrc.learner import factory

    def refuse(*args, **kwargs):
        raise AssertionError("load_policy built the trainer")

    monkeypatch.setattr(factory, "make_train_fns", refuse)
    monkeypatch.setattr(factory, "build", refuse)
    policy = load_policy(straight)
    assert policy.step == 2000
    assert policy(np.zeros((2, 1), np.float32)).shape == (2, 1)


def test_non_finite_training_stops_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    """An absurd learning rate blows the critic up in the first chunk that learns."""
    run_dir = tmp_path / "diverged"
    args = [*ARGS, "--run-dir", str(run_dir), "--critic-lr", "1e38"]
    args[args.index("--learning-starts-iterations") + 1] = "15"  # chunk 1: warm-up only
    args[args.index("--checkpoint-every") + 1] = "40"  # a checkpoint after every chunk
    assert cli.main(["train", *args]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("fastbrc: error: training diverged: ")
    assert "train/critic_loss became non-finite" in err[0]
    assert "the last good checkpoint (40 env steps)" in err[0]
    assert [r["train/nonfinite"] for r in records(run_dir)] == [0, 1]
    restored = full_state(run_dir)
    assert restored.step == 40
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(restored.state))


def test_resume_without_a_saved_buffer_refills_it_before_learning(tmp_path):
    config = dataclasses.replace(
        TINY,
        env="ProbeChain",
        num_envs=4,
        batch_size=32,
        num_atoms=11,
        iterations_per_chunk=10,
        learning_starts_iterations=15,
        total_env_steps=80,
        checkpoint_every=80,
        eval_every_env_steps=80,
        save_buffer=False,
        run_dir=str(tmp_path / "nobuffer"),
    )
    train(config, verbose=False)
    assert "replay" not in {p.name for p in (tmp_path / "nobuffer/checkpoints/80").iterdir()}
    train(dataclasses.replace(config, total_env_steps=200), resume=True, verbose=False)
    updates = [r["train/critic_updates"] for r in records(tmp_path / "nobuffer")]
    # learning needs 15 stored steps: iterations 15-20 of the fresh run learn (2 updates
    # each); after the resume the empty buffer refills for 15 iterations again
    assert updates == [0.0, 2 * 6, 0.0, 2 * 6, 2 * 10]


def test_resume_of_a_finished_run_asks_for_more_steps(straight, capsys):
    before = sorted(os.listdir(straight / "checkpoints"))
    assert cli.main(["train", "--resume", str(straight)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fastbrc: error:") and "--total-env-steps" in err and "\n" not in err
    assert sorted(os.listdir(straight / "checkpoints")) == before


def test_a_real_mjx_state_round_trips(tmp_path):
    """MJX states hold empty arrays (no actuator activations) that Orbax cannot store."""
    config = Config(
        env="CartpoleBalance",
        num_envs=2,
        num_eval_envs=2,
        batch_size=2,
        replay_capacity_per_env=4,
        critic_width=16,
        critic_depth=1,
        actor_hidden=(16,),
    )
    state = build(config).init(jax.random.PRNGKey(3))
    assert any(leaf.size == 0 for leaf in jax.tree.leaves(state.env_state))
    checkpoints = Checkpoints(tmp_path / "checkpoints")
    checkpoints.save(state, step=7, chunk=1, config=config)
    abstract = jax.eval_shape(lambda s: s, state)
    restored = checkpoints.restore(abstract, config)
    assert restored.step == 7 and restored.has_buffer
    assert_same_leaves(restored.state, state)
    assert jax.tree.structure(restored.state) == jax.tree.structure(state)


def test_a_checkpoint_from_before_the_value_to_go_statistics_restores(straight, tmp_path):
    """Checkpoints written before RewardStats gained max_abs_value and episode_rewards (and
    before Config gained bronet_init) restore: the new leaves start at zero, every other leaf
    is the saved one, and a missing bronet_init reads as "default", the only init then (not
    today's default, orthogonal_sqrt2)."""
    import flax

    @flax.struct.dataclass
    class RewardStatsBefore7eb32dc:  # the six fields checkpoints held until then
        max_abs_return: jax.Array
        episode_return: jax.Array
        running_return: jax.Array
        mean: jax.Array
        var: jax.Array
        count: jax.Array

    raw = json.loads((straight / "config.json").read_text())
    del raw["bronet_init"]  # its config.json lacked the field too: it trained with "default"
    config = Config.from_json(json.dumps(raw))
    assert config.bronet_init == "default" and Config().bronet_init == "orthogonal_sqrt2"
    state = full_state(straight).state
    rs = state.reward_stats
    old_stats = RewardStatsBefore7eb32dc(
        rs.max_abs_return + 1.5, rs.episode_return, rs.running_return, rs.mean, rs.var, rs.count
    )
    old_state = state.replace(reward_stats=old_stats)
    checkpoints = Checkpoints(tmp_path / "checkpoints")
    checkpoints.save(old_state, step=3, chunk=1, config=config)
    meta_file = next((tmp_path / "checkpoints" / "3" / "meta").glob("*"))
    meta = json.loads(meta_file.read_text())
    assert ".reward_stats.max_abs_value" not in meta["paths"]["state"]
    del meta["config"]["bronet_init"]
    meta_file.write_text(json.dumps(meta))

    # the run's config now says orthogonal_sqrt2: that is not what this checkpoint trained with
    with pytest.raises(CheckpointError, match="bronet_init is .default. in the checkpoint"):
        checkpoints.restore(
            jax.eval_shape(lambda s: s, state),
            dataclasses.replace(config, bronet_init="orthogonal_sqrt2"),
        )
    restored = checkpoints.restore(jax.eval_shape(lambda s: s, state), config)
    assert restored.step == 3
    np.testing.assert_array_equal(restored.state.reward_stats.max_abs_value, 0.0)
    np.testing.assert_array_equal(
        restored.state.reward_stats.max_abs_return, np.asarray(rs.max_abs_return) + 1.5
    )
    expected = state.replace(
        reward_stats=rs.replace(
            max_abs_return=rs.max_abs_return + 1.5, max_abs_value=0 * rs.max_abs_value
        )
    )
    assert_same_leaves(restored.state, expected)
    checkpoints.close()
