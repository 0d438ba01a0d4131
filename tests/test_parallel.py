"""Data parallelism over 4 fake CPU devices: same learning as 1 device, one trace, no buffer
traffic, replicas in sync, checkpoints restored on another device count."""

import dataclasses
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from configs import TINY

from fastbrc import cli
from fastbrc.config import ConfigError, check_divisible
from fastbrc.run.policy import evaluate_run

HERE = Path(__file__).parent
RTOL = 2e-3  # 1 vs 4 devices differ only in float summation order


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    work = tmp_path_factory.mktemp("sharded")
    out = work / "out.json"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    proc = subprocess.run(
        [sys.executable, str(HERE / "sharded_run.py"), str(out), str(work)],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def assert_close(a, b, keys, context):
    for key in keys:
        np.testing.assert_allclose(
            np.asarray(a[key], float),
            np.asarray(b[key], float),
            rtol=RTOL,
            atol=1e-4,
            err_msg=f"{key} ({context})",
        )


LEARNING = (
    "train/critic_loss",
    "train/q_mean",
    "train/target_q_mean",
    "train/actor_loss",
    "train/episode_return",
    "train/tasks/q_mean",
    "train/tasks/critic_loss",
    "train/tasks/reward_scale",
)


@pytest.mark.slow
def test_four_devices_learn_like_one(sharded):
    assert sharded["devices"] == 4
    one, four = sharded["one"]["metrics"], sharded["four"]["metrics"]
    assert len(one) == len(four) == 3
    for chunk, (a, b) in enumerate(zip(one, four, strict=True)):
        assert_close(a, b, LEARNING, f"chunk {chunk}")
        assert a["train/critic_updates"] == b["train/critic_updates"] > 0
    # the comparison can fail: learning moved the metrics between chunks
    assert abs(one[0]["train/critic_loss"] - one[2]["train/critic_loss"]) > 0.1


@pytest.mark.slow
def test_sharded_state_layout(sharded):
    four = sharded["four"]
    assert four["replay_spec"] == "P('envs',)" and four["replay_devices"] == 4
    assert four["params_replicated"] and four["replicas_identical"]
    assert four["traces"] == 1 and sharded["one"]["traces"] == 1
    # gradients and statistics are all-reduced; nothing batch- or buffer-sized is gathered
    # (the only gathers are per-step values of the two task groups, 8 envs x 1 feature)
    assert four["all_reduces"] > 0 and sharded["one"]["all_reduces"] == 0
    assert all(size <= 8 for size in four["gathered_sizes"]), four["gathered_sizes"]


@pytest.mark.slow
def test_checkpoint_restores_on_another_device_count(sharded):
    """Two chunks on 2 devices then one on 1, against two on 1 then one on 2: the first two
    chunks compare 2 devices with 1, the third the two cross-device restores."""
    a, b = sharded["two_to_one"]["records"], sharded["one_to_two"]["records"]
    assert [r["env_steps"] for r in a] == [r["env_steps"] for r in b] == [200, 400, 600]
    for x, y in zip(a, b, strict=True):
        assert_close(x, y, [*LEARNING[:5], "eval/episode_return"], f"step {x['env_steps']}")
    # the third chunk continued the checkpoint (a fresh start would repeat the first chunk)
    for run in (a, b):
        assert abs(run[2]["train/critic_loss"] - run[0]["train/critic_loss"]) > 0.1
    # fastbrc eval (one device) reads the run whatever device count wrote it
    assert sharded["two_to_one"]["eval"]["checkpoint"] == 600
    assert sharded["one_to_two"]["eval"]["checkpoint"] == 600


@pytest.mark.slow
def test_seeds_split_their_envs_over_the_devices(sharded):
    """Two seeds in one program on 4 devices learn like on 1; each seed's envs and buffer are
    split over the devices (the seed axis is not), traced once."""
    one, four = sharded["seeds_one"], sharded["seeds_four"]
    assert four["replay_spec"] == "P(None, 'envs')" and four["replay_shape"][:2] == [2, 8]
    assert four["traces"] == one["traces"] == 1 and four["replicas_identical"]
    for chunk, (a, b) in enumerate(zip(one["metrics"], four["metrics"], strict=True)):
        assert_close(a, b, LEARNING, f"chunk {chunk}")
    # the two seeds are different runs
    assert one["metrics"][-1]["train/critic_loss"][0] != one["metrics"][-1]["train/critic_loss"][1]


def test_sizes_must_divide_across_devices():
    config = dataclasses.replace(TINY, num_envs=8, batch_size=64, num_eval_envs=4)
    check_divisible(config, (8,), 4)  # fine
    check_divisible(dataclasses.replace(config, num_envs=6, batch_size=60), (6,), 1)
    cases = [
        (dataclasses.replace(config, num_envs=6, batch_size=60), (6,), "--num-envs 6"),
        (dataclasses.replace(config, num_eval_envs=6), (8,), "--num-eval-envs 6"),
        (dataclasses.replace(config, env="A,B", envs_per_task=(6, 2)), (6, 2), "(6,2)"),
    ]
    for bad, counts, text in cases:
        with pytest.raises(ConfigError, match=r"divide across 4 devices") as error:
            check_divisible(bad, counts, 4)
        assert text in str(error.value) and "\n" not in str(error.value)


def test_more_devices_than_exist_is_one_line(capsys):
    code = cli.main(["train", "--env", "ProbeBandit", "--profile", "cpu", "--num-devices", "3"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "--num-devices 3 but JAX sees 1 CPU device" in err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


MULTIHOST_ARGS = (
    "--env ProbeChain --profile cpu --num-envs 4 --num-eval-envs 4 --batch-size 32 "
    "--replay-capacity-per-env 64 --critic-width 32 --critic-depth 1 --actor-hidden 32 "
    "--num-atoms 11 --v-min -1 --v-max 6 --iterations-per-chunk 10 --n-step 3 "
    "--learning-starts-iterations 5 --total-env-steps 120 --checkpoint-every 80 "
    "--eval-every-env-steps 40"
).split()


@pytest.mark.slow
def test_two_processes_train_like_one(tmp_path):
    """`fastbrc train --coordinator-address ... --num-processes 2 --process-id I`: two
    processes of 2 fake CPU devices each (jax.distributed, Gloo collectives) give the metrics
    of a one-process, one-device run; only process 0 writes the run directory's logs."""
    fastbrc = [sys.executable, "-m", "fastbrc.cli", "train", *MULTIHOST_ARGS]
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    address = f"127.0.0.1:{free_port()}"
    run = tmp_path / "multihost"
    procs = [
        subprocess.Popen(
            [
                *fastbrc,
                "--run-dir",
                str(run),
                "--coordinator-address",
                address,
                "--num-processes",
                "2",
                "--process-id",
                str(i),
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    single = subprocess.run(
        [*fastbrc, "--run-dir", str(tmp_path / "single")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    outs = [proc.communicate(timeout=600) for proc in procs]
    for proc, (_, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    assert single.returncode == 0, single.stderr[-3000:]
    assert "4 x cpu" in outs[0][0] and "fastbrc:" not in outs[1][0]
    read = lambda d: [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
    multi, one = read(run), read(tmp_path / "single")
    assert [r["env_steps"] for r in multi] == [r["env_steps"] for r in one] == [40, 80, 120]
    for a, b in zip(multi, one, strict=True):
        assert_close(a, b, [*LEARNING[:5], "eval/episode_return"], f"step {a['env_steps']}")
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["120", "80"]
    assert evaluate_run(run)["checkpoint"] == 120  # one process reads the sharded checkpoint
