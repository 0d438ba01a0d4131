"""Several seeds in one compiled program (`fastbrc train --seeds`): each member is its seed's
run, a killed run resumes bit for bit, every reader picks a member, bad input is one line."""

import dataclasses
import json
import shutil
import signal
import subprocess
from pathlib import Path

import jax
import numpy as np
import pytest
from configs import TINY  # tests/configs.py
from test_checkpoint import (  # tests/test_checkpoint.py
    ARGS,
    FASTBRC,
    assert_same_leaves,
    full_state,
    records,
    start,
    wait_for,
)
from test_cli import one_line_error, tree_snapshot  # tests/test_cli.py
from test_faults import flip_a_byte, warnings  # tests/test_faults.py

from fastbrc import cli
from fastbrc.learner import build, seeds
from fastbrc.run import memory
from fastbrc.run.logger import WandbSink
from fastbrc.run.members import summary
from fastbrc.run.policy import load_policy

SEEDS = ["--seeds", "0,1,2"]
SHORT = [*ARGS[: ARGS.index("--total-env-steps")], "--total-env-steps", "400",
         *ARGS[ARGS.index("--total-env-steps") + 2 :]]  # fmt: skip


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    """Three seeds of the checkpoint tests' ProbeChain run, uninterrupted, to 400 env steps."""
    run_dir = tmp_path_factory.mktemp("seeds") / "run"
    assert cli.main(["train", *SHORT, *SEEDS, "--run-dir", str(run_dir)]) == 0
    return run_dir


def _run(fns, seed, chunks):
    """Init, `chunks` chunks and an evaluation of `fns` from the keys the trainer draws."""
    key_init, key_eval = seeds.run_keys(seed, fns.config.seeds)
    state = fns.init(key_init)
    history = [jax.device_get(state)]
    for _ in range(chunks):
        state, chunk_metrics = fns.train_chunk(state)
        history.append(jax.device_get(chunk_metrics))
    history.append(jax.device_get(fns.evaluate(state, seeds.eval_key(key_eval, 0))))
    return history, jax.device_get(state)


def test_each_member_is_the_run_of_its_seed_alone():
    """Three seeds in one program against each seed alone, from the keys the trainer draws
    (ProbeChain: episodes end and reset inside chunks, n-step windows). Init is bit-identical;
    XLA may sum a vmapped reduction in another order, so the chunks agree to float32 rounding,
    which learning grows like any other change of summation order. The same comparison on
    CartpoleBalance and HumanoidWalk: benchmarks/seeds.py (docs/usage.md, "Several seeds")."""
    config = dataclasses.replace(TINY, env="ProbeChain", n_step=3, iterations_per_chunk=5)
    alone = build(config)  # one program for every seed: the seed is in the keys only
    (init, *chunks, evaluation), final = _run(
        build(dataclasses.replace(config, seeds=(0, 1, 2))), 0, 3
    )
    for index, seed in enumerate((0, 1, 2)):
        (one_init, *one_chunks, one_evaluation), one_final = _run(alone, seed, 3)
        assert_same_leaves(seeds.member(init, index), one_init)
        for chunk, (mine, reference) in enumerate(zip(chunks, one_chunks, strict=True)):
            for key, value in reference.items():
                np.testing.assert_allclose(
                    mine[key][index], value, rtol=1e-4, atol=1e-4, err_msg=f"{key} {chunk}"
                )
        for mine, reference in zip(
            jax.tree.leaves(seeds.member(final, index)), jax.tree.leaves(one_final), strict=True
        ):
            np.testing.assert_allclose(mine, reference, rtol=1e-4, atol=1e-4)
        for key, value in one_evaluation.items():
            np.testing.assert_allclose(evaluation[key][index], value, rtol=1e-4, err_msg=key)
        assert one_chunks[-1]["train/critic_updates"] > 0  # the last chunks learned
    # the members are three different runs
    assert len(set(np.asarray(chunks[-1]["train/critic_loss"]).tolist())) == 3


@pytest.mark.slow
def test_a_killed_seeds_run_resumes_bit_for_bit(straight, tmp_path):
    run_dir = tmp_path / "killed"
    proc = start("train", *SHORT, *SEEDS, "--run-dir", str(run_dir), cwd=tmp_path)
    wait_for(lambda: (run_dir / "checkpoints" / "80").is_dir(), proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    out = subprocess.run(
        [*FASTBRC, "train", "--resume", str(run_dir)], cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert records(run_dir) == records(straight)  # every seed's every metric
    assert_same_leaves(full_state(run_dir).state, full_state(straight).state)


def test_a_seeds_run_logs_each_seed_and_falls_back_from_damage(straight, tmp_path, capfd):
    """One record per seed and log point, a TensorBoard run per seed; a damaged newest
    checkpoint and a torn last line are survived as in a single-seed run."""
    lines = records(straight)
    assert [r["seed"] for r in lines[:3]] == [0, 1, 2]
    assert [r["env_steps"] for r in lines] == [step for step in range(40, 401, 40) for _ in "abc"]
    assert sorted(p.name for p in (straight / "tensorboard").iterdir()) == [
        "seed_0",
        "seed_1",
        "seed_2",
    ]
    run_dir = tmp_path / "run"
    shutil.copytree(straight, run_dir)
    flip_a_byte(run_dir / "checkpoints" / "400", "state")
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write('{"env_steps": 440, "se')
    assert cli.main(["train", "--resume", str(run_dir), "--total-env-steps", "440"]) == 0
    out = capfd.readouterr().out
    assert len(warnings(out)) == 2 and "from checkpoint 320" in out
    assert records(run_dir)[:-3] == records(straight)
    assert [r["seed"] for r in records(run_dir)[-3:]] == [0, 1, 2]


def test_readers_take_a_seed_and_default_to_the_best(straight, capsys):
    finals = {
        r["seed"]: r["eval/episode_return"] for r in records(straight) if r["env_steps"] == 400
    }
    best = max(finals, key=finals.get)
    assert cli.main(["eval", "--run-dir", str(straight)]) == 0
    out = capsys.readouterr().out
    assert f"using seed {best} (best last eval return" in out
    assert json.loads(out.splitlines()[-1])["seed"] == best
    assert cli.main(["eval", "--run-dir", str(straight), "--seed", "1"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["seed"] == 1
    one_line_error(capsys, cli.main(["eval", "--run-dir", str(straight), "--seed", "5"]),
                   "has no seed 5", "0, 1, 2")  # fmt: skip
    a, b = load_policy(straight, seed=0), load_policy(straight, seed=2)
    obs = np.zeros((3, a.obs_size), np.float32)
    assert a.config.seed == 0 and b.config.seed == 2 and not np.array_equal(a(obs), b(obs))
    assert cli.main(["plot", str(straight)]) == 0
    out = capsys.readouterr().out
    assert (straight / "learning_curves.png").is_file()
    assert all(f"run/seed{s}: eval return" in out for s in (0, 1, 2))


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--seeds", "0,1,1"], ["--seeds repeats seed 1"]),
        (["--seeds", "0,1", "--seed", "3"], ["give --seeds or --seed, not both"]),
        (["--num-seeds", "0"], ["--num-seeds must be an integer >= 1"]),
        (["--seeds", "1", "--num-seeds", "2"], ["give --seeds or --num-seeds, not both"]),
    ],
)
def test_bad_seed_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, fragments):
    run_dir = tmp_path / "never"
    code = cli.main(["train", *SHORT, "--run-dir", str(run_dir), *args])
    one_line_error(capsys, code, *fragments)
    assert not run_dir.exists()


def test_more_seeds_than_fit_name_how_many_do(tmp_path, capsys, monkeypatch):
    need = []
    real = memory.check_fits
    monkeypatch.setattr(
        memory,
        "check_fits",
        lambda estimate, *a, **k: need.append(estimate) or real(estimate, *a, **k),
    )
    assert cli.main(["train", *SHORT, "--seeds", "0", "--total-env-steps", "40",
                     "--run-dir", str(tmp_path / "one")]) == 0  # fmt: skip
    one_seed = need[0].total
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: int(3.5 * one_seed))
    run_dir = tmp_path / "never"
    code = cli.main(["train", *SHORT, "--num-seeds", "8", "--run-dir", str(run_dir)])
    one_line_error(capsys, code, "8 seeds need about", "at most 3 seeds fit")
    assert not run_dir.exists()


def test_resuming_with_another_seed_list_is_one_line(straight, capsys):
    before = tree_snapshot(straight)
    code = cli.main(
        ["train", "--resume", str(straight), "--seeds", "0,1", "--total-env-steps", "800"]
    )
    one_line_error(capsys, code, "--seeds cannot change when resuming", "(0, 1, 2)")
    assert tree_snapshot(straight) == before


def test_progress_shows_the_median_and_range_and_wandb_gets_keys_per_seed():
    assert summary([None, None]) == "-"
    assert summary([3.0]) == "3.0"
    assert summary([1.0, 5.0, 2.0, float("nan")]) == "2.0 [1.0, 5.0]"
    logged = []
    sink = object.__new__(WandbSink)
    sink._run = type("Run", (), {"log": lambda self, values: logged.append(values)})()
    sink.write({"env_steps": 40, "seed": 2, "eval/episode_return": 1.5, "wall_s": 3.0})
    sink.write({"env_steps": 40, "eval/episode_return": 1.5})
    assert logged == [
        {"env_steps": 40, "seed_2/eval/episode_return": 1.5, "seed_2/wall_s": 3.0},
        {"env_steps": 40, "eval/episode_return": 1.5},
    ]
