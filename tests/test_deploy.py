"""`fastbrc export` and `fastbrc sim2sim`: exported actions equal the JAX policy's, the jax
file loads without fastbrc, sim-to-sim runs MuJoCo's own mj_step and matches MJX on a small
task, and every bad input is one line with nothing written.

The run directories are real (config.json and Orbax checkpoints that `load_policy` restores)
but hold freshly initialised networks with a random observation normaliser (so folding it
in is tested): exporting needs no trained policy, and training here would take minutes.
The multi-task run (CartpoleBalance and a probe with dict observations and another size, so
inputs and outputs are padded) uses the SAC actor on a BroNet (LayerNorm, tanh) and 100-step
episodes.
"""

import dataclasses
import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from configs import TINY  # tests/configs.py

from fastbrc import cli
from fastbrc.config import validate
from fastbrc.core import parallel
from fastbrc.learner import init_state, make_agent, make_envs
from fastbrc.run.checkpoint import Checkpoints
from fastbrc.run.policy import load_policy

pytest.importorskip("jax2onnx", reason="the export extra (jax2onnx) is not installed")
pytest.importorskip("onnxruntime", reason="the export extra (onnxruntime) is not installed")

TASKS = ("CartpoleBalance", "ProbePrivileged")  # a MuJoCo task and a dict-obs probe
STEPS = (8, 16)  # env steps of the runs' checkpoints


def write_run(run_dir: Path, **fields) -> Path:
    """A run directory whose checkpoints hold freshly initialised networks and a random
    observation normaliser; the rest of the train state (env states, buffer, optimiser
    moments), which export and eval never read, is zeros: no env is reset or compiled. A
    --seeds run's members (stacked on the leading axis) differ in networks and normaliser."""
    config = validate(dataclasses.replace(TINY, run_dir=str(run_dir), **fields))
    member = config.member(config.seed_list[0]) if config.multi_seed else config
    env, _ = make_envs(member.agent, member.num_eval_envs)
    agent = make_agent(member.agent, env.spec, parallel.make_mesh(1))
    abstract = jax.eval_shape(functools.partial(init_state, agent, env), jax.random.PRNGKey(0))
    one_obs = jax.tree.map(lambda x: np.zeros((1,) + x.shape[1:], x.dtype), abstract.env_state.obs)
    one_action = np.zeros((1, env.spec.action_size), np.float32)

    def fresh(seed: int):
        state = jax.tree.map(lambda leaf: np.zeros(leaf.shape, leaf.dtype), abstract)
        keys = jax.random.split(jax.random.PRNGKey(seed))
        actor, critic = agent.nets.init(*keys, one_obs, one_action, np.zeros(1, np.int32))
        rng = np.random.default_rng(seed + 1)
        stats = state.obs_stats
        mean = {k: rng.normal(0, 2, v.shape).astype(np.float32) for k, v in stats.mean.items()}
        var = {k: rng.uniform(0.1, 4, v.shape).astype(np.float32) for k, v in stats.var.items()}
        return state.replace(
            actor_params=actor,
            critic_params=critic,
            target_actor_params=actor,
            target_critic_params=critic,
            obs_stats=stats.replace(mean=mean, var=var, count=np.float32(100)),
        )

    if config.multi_seed:
        members = [fresh(seed) for seed in config.seed_list]
        state = jax.tree.map(lambda *leaves: np.stack(leaves), *members)
    else:
        state = fresh(0)
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(config.to_json() + "\n")
    checkpoints = Checkpoints(run_dir / "checkpoints", keep=config.keep_checkpoints)
    try:
        for chunk, step in enumerate(STEPS):
            checkpoints.save(state, step=step, chunk=chunk, config=config)
    finally:
        checkpoints.close()
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("deploy")
    return {
        "multi": write_run(
            root / "multi",
            env=",".join(TASKS),
            actor="sac",
            actor_type="bronet",
            actor_width=32,
            actor_depth=1,
            episode_length=100,
            num_eval_envs=4,
        ),
        "dict": write_run(root / "dict", env="ProbePrivileged"),
        "seeds": write_run(root / "seeds", env="CartpoleBalance", seeds=(3, 5)),
    }


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def policy(runs):
    return load_policy(runs["multi"])


@pytest.fixture(scope="module")
def exports(runs, policy, tmp_path_factory) -> dict[str, Path]:
    """The multi-task run as ONNX (with the command) and jax with the task id an input, and
    as ONNX for CartpoleBalance alone; the dict-observation probe run as ONNX."""
    from fastbrc.deploy.export import export_policy

    out = tmp_path_factory.mktemp("files")
    files = {
        "onnx": out / "multi.onnx",
        "jax": out / "multi.zip",
        "cartpole": out / "cartpole.onnx",
        "dict": out / "dict.onnx",
    }
    args = ["export", "--run-dir", runs["multi"], "--format", "onnx", "--out", files["onnx"]]
    assert cli.main([str(arg) for arg in args]) == 0
    export_policy(policy, "jax", files["jax"])  # the rest from the loaded checkpoint
    export_policy(policy, "onnx", files["cartpole"], task=TASKS[0])
    export_policy(load_policy(runs["dict"]), "onnx", files["dict"])
    assert all(path.is_file() for path in files.values())
    return files


def test_exported_actions_equal_the_jax_policy_within_1e_5(policy, exports):
    from fastbrc.deploy.exported import load_exported

    rng = np.random.default_rng(4)
    stats = policy.params.obs_stats
    spread = np.sqrt(np.asarray(stats.var["state"])) * rng.choice([0.5, 1.0, 5.0], (600, 1))
    obs = (np.asarray(stats.mean["state"]) + spread * rng.normal(size=(600, 5))).astype(np.float32)
    obs[::100] = 0.0  # rows far out: the normaliser clips, tanh saturates
    obs[1::100] = 1e3
    task_ids = np.arange(len(obs), dtype=np.int32) % 2
    expected = np.asarray(policy.apply(obs, task_ids))
    for name in ("onnx", "jax"):
        exported = load_exported(exports[name])
        assert exported.format == name and exported.input_names == ["obs", "task_id"]
        actions = exported({"obs": obs, "task_id": task_ids})
        assert actions.shape == expected.shape
        np.testing.assert_allclose(actions, expected, rtol=0, atol=1e-5, err_msg=name)
        one = exported({"obs": obs[:1], "task_id": task_ids[:1]})  # the batch is symbolic
        np.testing.assert_allclose(one, expected[:1], rtol=0, atol=1e-5)
    cartpole = load_exported(exports["cartpole"])
    assert cartpole.input_names == ["obs"] and cartpole.tasks == [TASKS[0]]
    cart_obs = obs[task_ids == 0]
    np.testing.assert_allclose(
        cartpole({"obs": cart_obs}), policy(cart_obs, TASKS[0])[:, :1], rtol=0, atol=1e-5
    )


def test_metadata_travels_in_the_file(runs, exports):
    from fastbrc.deploy.export import read_run_config
    from fastbrc.deploy.exported import load_exported
    from fastbrc.deploy.metadata import config_hash

    meta = load_exported(exports["onnx"]).metadata
    assert meta["env"] == ",".join(TASKS) and meta["tasks"] == list(TASKS)
    assert meta["checkpoint_step"] == STEPS[-1] and meta["actor"] == "sac"
    assert meta["config_hash"] == config_hash(read_run_config(runs["multi"]))
    assert meta["inputs"] == [
        {"name": "obs", "shape": ["batch", 5], "dtype": "float32"},
        {"name": "task_id", "shape": ["batch"], "dtype": "int32"},
    ]
    cart = meta["task_info"]["CartpoleBalance"]
    assert cart["actuators"] == ["slide"] and cart["action_to_ctrl"] == {
        "offset": [0.0],
        "scale": [1.0],
    }
    assert cart["ctrl_dt"] == 0.01 and cart["n_substeps"] == 1 and cart["episode_length"] == 100
    assert cart["obs_source"].startswith("mujoco_playground/_src/dm_control_suite/cartpole.py")
    probe = meta["task_info"]["ProbePrivileged"]  # padded to cartpole's 5 in the file
    assert probe["obs_size"] == 2 and probe["action_size"] == 2 and "actuators" not in probe
    assert meta["fastbrc_version"] and meta["converter"].startswith("jax2onnx")
    example = meta["example"]  # a self-test any runtime can replay
    exported = load_exported(exports["jax"])
    feeds = {"obs": np.asarray(example["inputs"]["obs"], np.float32)}
    feeds["task_id"] = np.asarray(example["inputs"]["task_id"], np.int32)
    np.testing.assert_allclose(exported(feeds), example["action"], rtol=0, atol=1e-5)
    fixed = load_exported(exports["cartpole"]).metadata
    assert fixed["task"] == "CartpoleBalance" and list(fixed["task_info"]) == ["CartpoleBalance"]
    dict_meta = load_exported(exports["dict"]).metadata  # dict observations: a named input
    assert dict_meta["inputs"][0]["name"] == "state"
    assert set(dict_meta["task_info"]["ProbePrivileged"]["obs_keys"]) == {
        "state",
        "privileged_state",
    }


def test_a_seeds_run_exports_one_member(runs, tmp_path, capsys):
    """--seed picks the member (its actions, its seed in the metadata); without it, the best
    by the last eval return (here none evaluated: the first), said in one line; a seed the
    run lacks is one line with nothing written."""
    from fastbrc.deploy.exported import load_exported

    obs = np.random.default_rng(0).normal(0, 3, (64, 5)).astype(np.float32)
    files = {}
    for seed in (3, 5):
        files[seed] = tmp_path / f"seed{seed}.onnx"
        args = ["export", "--run-dir", runs["seeds"], "--format", "onnx", "--out", files[seed]]
        code, out, err = run_cli(capsys, *args, "--seed", seed)
        assert code == 0, err
        exported = load_exported(files[seed])
        assert exported.metadata["seed"] == seed
        expected = load_policy(runs["seeds"], seed=seed)(obs)
        np.testing.assert_allclose(exported({"obs": obs}), expected, rtol=0, atol=1e-5)
    first, second = (load_exported(files[s])({"obs": obs}) for s in (3, 5))
    assert np.abs(first - second).max() > 1e-2  # two members, two policies
    default = tmp_path / "default.onnx"
    code, out, _ = run_cli(
        capsys, "export", "--run-dir", runs["seeds"], "--format", "onnx", "--out", default
    )
    assert code == 0 and "using seed 3 (the first" in out
    assert load_exported(default).metadata["seed"] == 3
    missing = tmp_path / "missing.onnx"
    code, out, err = run_cli(
        capsys, "export", "--run-dir", runs["seeds"], "--format", "onnx", "--out", missing,
        "--seed", 4,
    )  # fmt: skip
    assert code == 2 and err.count("\n") == 1 and "has no seed 4" in err
    assert not missing.exists()


def test_the_jax_file_loads_without_fastbrc(exports, tmp_path):
    script = f"""
import json, sys, zipfile
import jax, numpy as np
with zipfile.ZipFile({str(exports["jax"])!r}) as z:
    policy = jax.export.deserialize(bytearray(z.read("policy.jaxexport")))
    meta = json.loads(z.read("metadata.json"))
obs = np.asarray(meta["example"]["inputs"]["obs"], np.float32)
task = np.asarray(meta["example"]["inputs"]["task_id"], np.int32)
action = np.asarray(policy.call(obs, task))
assert np.abs(action - np.asarray(meta["example"]["action"])).max() <= 1e-5, action
assert not any(name.startswith("fastbrc") for name in sys.modules)
print(sorted(policy.platforms))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "['cpu', 'cuda']"


def test_sim2sim_runs_mujocos_mj_step(exports):
    """The rollout's physics is the C library's: its MjData equals plain mj_step calls."""
    import mujoco

    from fastbrc.deploy.sim2sim import MujocoTask, episode_keys

    task = MujocoTask(TASKS[0], action_repeat=1)
    state = task.reset(episode_keys(0, 1)[0])
    model = task.env.mj_model
    data = mujoco.MjData(model)
    data.qpos, data.qvel = task.physics.data.qpos, task.physics.data.qvel
    mujoco.mj_forward(model, data)
    for action in (0.5, -1.0, 0.25):
        state, _, _ = task.step(state, np.asarray([action], np.float32))
        data.ctrl[:] = action
        for _ in range(task.env.n_substeps):
            mujoco.mj_step(model, data)
        np.testing.assert_array_equal(task.physics.data.qpos, data.qpos)  # float64, bit for bit
        np.testing.assert_array_equal(task.physics.data.qvel, data.qvel)
    np.testing.assert_allclose(np.asarray(state.obs)[:1], data.qpos[:1], rtol=1e-6, atol=1e-6)
    pushed = state.replace(data=state.data.replace(qvel=state.data.qvel.at[0].add(1.0)))
    before = task.physics.data.qvel.copy()
    task.step(pushed, np.zeros(1, np.float32))  # a change the task makes is taken over
    data.qvel[0] = np.float32(before[0]) + np.float32(1.0)
    data.ctrl[:] = 0.0
    mujoco.mj_step(model, data)
    np.testing.assert_allclose(task.physics.data.qvel, data.qvel, rtol=1e-6)


def test_sim2sim_matches_the_mjx_evaluation_on_cartpole(runs, exports, capsys):
    video = exports["cartpole"].with_name("cartpole.mp4")
    code, out, err = run_cli(
        capsys,
        "sim2sim", "--policy", exports["cartpole"], "--env", TASKS[0], "--episodes", "2",
        "--run-dir", runs["multi"], "--video", video, "--width", "64", "--height", "48",
    )  # fmt: skip
    if code == 2 and "no OpenGL" in err:
        pytest.skip(f"no headless OpenGL: {err.strip()}")
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert len(summary["mujoco_returns"]) == 2
    assert [line.startswith("episode ") for line in out.splitlines()[:2]] == [True, True]
    assert summary["mujoco_mean"] == pytest.approx(summary["mjx_mean"], rel=1e-3)
    assert summary["video"] == str(video)
    import imageio.v3 as iio

    frames = np.stack(list(iio.imiter(video, plugin="FFMPEG")))
    assert frames.shape == (101, 48, 64, 3)  # the reset and one per step of episode 1


def assert_one_line(code: int, out: str, err: str, *fragments: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("fastbrc: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_export_bad_input_is_one_line_and_writes_nothing(runs, tmp_path, capsys):
    run = runs["multi"]
    out = tmp_path / "policy.onnx"
    no_checkpoints = tmp_path / "fresh"
    no_checkpoints.mkdir()
    shutil.copy(run / "config.json", no_checkpoints / "config.json")
    cases = [
        (["--run-dir", run, "--format", "tflite", "--out", out], "unknown format 'tflite'"),
        (["--run-dir", tmp_path / "none", "--format", "onnx", "--out", out], "no config.json"),
        (["--run-dir", no_checkpoints, "--format", "onnx", "--out", out], "no checkpoint in"),
        (["--run-dir", run, "--format", "onnx", "--out", out, "--task", "Nope"], "--task 'Nope'"),
        (["--run-dir", run, "--format", "onnx", "--out", out, "--checkpoint", "9"], "step 9"),
        (["--run-dir", run, "--format", "onnx"], "required: --out"),
    ]
    for args, message in cases:
        assert_one_line(*run_cli(capsys, "export", *args), message)
        assert not out.exists()
    out.write_bytes(b"keep me")
    assert_one_line(
        *run_cli(capsys, "export", "--run-dir", run, "--format", "jax", "--out", out), "--overwrite"
    )
    assert out.read_bytes() == b"keep me"
    assert sorted(no_checkpoints.iterdir()) == [no_checkpoints / "config.json"]


def test_a_damaged_checkpoint_is_refused_not_skipped(runs, tmp_path, capsys):
    """The newest checkpoint damaged: export stops (fastbrc eval would fall back to 8)."""
    run = tmp_path / "run"
    shutil.copytree(runs["multi"], run)
    state_data = run / "checkpoints" / "16" / "state" / "d"
    data = max(state_data.iterdir(), key=lambda p: p.stat().st_size)
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))
    out = tmp_path / "policy.onnx"
    code, stdout, err = run_cli(
        capsys, "export", "--run-dir", run, "--format", "onnx", "--out", out
    )
    assert_one_line(code, stdout, err, "checkpoint 16 is damaged", "--checkpoint")
    assert not out.exists() and not list(tmp_path.glob(".policy*"))
    assert (run / "checkpoints" / "16").is_dir()  # a reader leaves it where it is


def test_an_op_the_converter_lacks_is_named(policy, tmp_path, monkeypatch):
    """A policy with a host callback (no ONNX op exists for it) in its graph."""
    from fastbrc.deploy import export
    from fastbrc.deploy.errors import DeployError

    made = export.policy_signature

    def with_callback(*args, **kwargs):
        sig = made(*args, **kwargs)

        def fn(*inputs):
            action = sig.fn(*inputs)
            shape = jax.ShapeDtypeStruct(action.shape, action.dtype)
            return jax.pure_callback(lambda a: np.array(a, copy=True), shape, action)

        return dataclasses.replace(sig, fn=fn)

    monkeypatch.setattr(export, "policy_signature", with_callback)
    out = tmp_path / "policy.onnx"
    with pytest.raises(DeployError) as error:
        export.export_policy(policy, "onnx", out)
    message = str(error.value)
    assert "does not support the JAX op 'pure_callback'" in message and "--format jax" in message
    assert "\n" not in message and not list(tmp_path.iterdir())


def test_a_file_that_disagrees_with_jax_is_not_written(policy, tmp_path, monkeypatch):
    from fastbrc.deploy import export
    from fastbrc.deploy.errors import DeployError

    made = export.runner_for

    def off_by_1e_4(*args):
        runner = made(*args)
        wrapped = lambda feeds: np.asarray(runner(feeds)) + 1e-4  # noqa: E731
        wrapped.set_input_names = runner.set_input_names
        return wrapped

    monkeypatch.setattr(export, "runner_for", off_by_1e_4)
    with pytest.raises(DeployError, match=r"differ from the JAX policy's by .*; nothing written"):
        export.export_policy(policy, "jax", tmp_path / "policy.zip")
    assert not list(tmp_path.iterdir())


def test_sim2sim_bad_input_is_one_line_and_writes_nothing(runs, exports, tmp_path, capsys):
    video = tmp_path / "v.mp4"
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    other_run = tmp_path / "other"
    shutil.copytree(runs["dict"], other_run)
    base = ["sim2sim", "--video", video]
    multi = [*base, "--policy", exports["onnx"], "--env", "CartpoleBalance"]
    cases = [
        (
            [*base, "--policy", exports["cartpole"], "--env", "PendulumSwingup"],
            "exported for CartpoleBalance, not PendulumSwingup",
        ),
        ([*base, "--policy", tmp_path / "none.onnx", "--env", "CartpoleBalance"], "no policy file"),
        ([*base, "--policy", garbage, "--env", "CartpoleBalance"], "neither a jax export nor"),
        ([*multi, "--run-dir", other_run], "is not the run"),
        ([*multi, "--episodes", "0"], "--episodes must be >= 1"),
        ([*multi, "--max-steps", "5", "--run-dir", runs["multi"]], "cannot go with --run-dir"),
        ([*multi[:1], *multi[3:], "--video", tmp_path / "v.gif"], "must end in .mp4"),
        ([*multi, "--no-video"], "exclude each other"),
    ]
    for args, message in cases:
        code, out, err = run_cli(capsys, *args)
        if "no OpenGL" in err:
            pytest.skip(f"no headless OpenGL: {err.strip()}")
        assert_one_line(code, out, err, message)
        assert not video.exists()
    video.write_bytes(b"keep me")
    code, out, err = run_cli(capsys, *base, "--policy", exports["onnx"], "--env", "CartpoleBalance")
    assert_one_line(code, out, err, "--overwrite")
    assert video.read_bytes() == b"keep me"
    probe = ["sim2sim", "--no-video", "--policy", exports["dict"], "--env", "ProbePrivileged"]
    assert_one_line(*run_cli(capsys, *probe), "no MuJoCo model")
