"""`fastbrc render`: mp4 videos of a run's deterministic policy through MuJoCo's headless
OpenGL renderer (skipped, with the reason, only where no EGL/OSMesa can be set up).

The run directory is real (config.json and an Orbax checkpoint that `load_policy` restores)
but its checkpoint holds the initial train state: videos do not need a trained policy, and
training an MJX task here would take minutes. Its two tasks differ in observation size, so
the policy's padded inputs are exercised too.
"""

import dataclasses
from pathlib import Path

import imageio.v3 as iio
import jax
import numpy as np
import pytest
from configs import TINY  # tests/configs.py

from fastbrc.config import validate
from fastbrc.envs import load_env
from fastbrc.learner import build
from fastbrc.run import render
from fastbrc.run.checkpoint import Checkpoints
from fastbrc.run.policy import load_policy

# decoding runs ffmpeg in a subprocess (fork + exec at once), which JAX warns about
pytestmark = pytest.mark.filterwarnings(r"ignore:os\.fork\(\) was called:RuntimeWarning")

TASKS = ("CartpoleBalance", "PendulumSwingup")
STEP = 8  # env steps of the run's only checkpoint


def decoded(path: Path) -> np.ndarray:
    """Every frame of the mp4, [frames, height, width, 3] uint8."""
    return np.stack(list(iio.imiter(path, plugin="FFMPEG")))


def fps_of(task: str) -> int:
    return round(1.0 / load_env(task).dt)  # the run's action repeat is the default 1


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    try:
        render.check_gl()
    except render.RenderError as error:
        pytest.skip(f"no headless OpenGL: {error}")
    run_dir = tmp_path_factory.mktemp("render") / "run"
    config = validate(
        dataclasses.replace(TINY, env=",".join(TASKS), run_dir=str(run_dir), num_eval_envs=2)
    )
    state = build(config).init(jax.random.PRNGKey(0))
    run_dir.mkdir()
    (run_dir / "config.json").write_text(config.to_json() + "\n")
    checkpoints = Checkpoints(run_dir / "checkpoints", keep=config.keep_checkpoints)
    try:
        checkpoints.save(state, step=STEP, chunk=0, config=config)
    finally:
        checkpoints.close()
    return run_dir


def test_cli_writes_one_video_per_task_with_a_frame_per_agent_step(run_dir, capsys):
    assert render.render_main(["--run-dir", str(run_dir), "--max-steps", "40"]) == 0
    videos = run_dir / "videos"
    expected = [videos / f"CartpoleBalance+PendulumSwingup-{STEP}-{task}.mp4" for task in TASKS]
    out = capsys.readouterr().out.splitlines()
    assert out == [f"fastbrc: wrote {path} (41 frames)" for path in expected]
    assert sorted(videos.iterdir()) == sorted(expected)  # no partial files left behind
    for task, path in zip(TASKS, expected, strict=True):
        frames = decoded(path)
        assert frames.shape == (41, 240, 320, 3)  # the initial state + one per agent step
        assert iio.immeta(path, plugin="FFMPEG")["fps"] == fps_of(task)
        first, last = frames[0].astype(int), frames[-1].astype(int)
        assert first.mean() > 20 and first.std() > 10  # a lit scene, not a blank image
        moved = (np.abs(last - first) > 40).mean()  # pixels that changed clearly
        assert moved > 5e-4, f"{task}: nothing moves ({moved:.2e} of the pixels changed)"


def test_render_checkpoint_writes_the_training_loops_step_named_clips(run_dir):
    paths = render.render_checkpoint(run_dir, STEP, max_steps=3, height=64, width=96)
    assert paths == [run_dir / "videos" / f"{STEP}-{task}.mp4" for task in TASKS]
    for path in paths:
        assert decoded(path).shape == (4, 64, 96, 3)


def test_a_single_task_policy_writes_out_itself_one_clip_of_all_episodes(run_dir, tmp_path):
    policy = load_policy(run_dir)
    single = dataclasses.replace(policy, tasks=TASKS[:1])  # task 0 of the run alone
    out = tmp_path / "clips" / "cartpole.mp4"
    videos = render.render_policy(
        single, out, episodes=2, max_steps=5, height=48, width=64, camera="fixed"
    )
    assert videos == [render.Video(path=out, frames=12, fps=fps_of(TASKS[0]))]  # 2 x (5 + 1)
    assert decoded(out).shape == (12, 48, 64, 3)
    with pytest.raises(render.RenderError, match="no camera 'nope' in the model"):
        render.render_policy(single, tmp_path / "x.mp4", max_steps=1, camera="nope")
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "the following arguments are required: --run-dir"),
        (["--run-dir", "{missing}"], "is not a fastbrc run directory (no config.json)"),
        (["--run-dir", "{missing}", "--out", "clip.gif"], "must end in .mp4"),
        (["--run-dir", "{missing}", "--width", "321"], "width must be an even number"),
        (["--run-dir", "{missing}", "--max-steps", "0"], "max steps must be >= 1"),
        (["--run-dir", "{missing}", "--episodes", "x"], "--episodes: invalid int value"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path, capsys):
    args = [arg.format(missing=tmp_path / "nothing") for arg in args]
    assert render.render_main(args) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("fastbrc: error: "), captured.err
    assert message in err[0]
    assert captured.out == ""
