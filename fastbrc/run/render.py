"""Videos of a trained policy: `fastbrc render` and the training loop's ``--video-every``.

Each task of the run is rolled out on one unbatched env with the deterministic policy of a
checkpoint, exactly as the trainer steps it: one agent step is ``action_repeat`` env steps
with the same action, and an episode ends when the env terminates, at the run's time limit
(its ``--episode-length``, else the task's default) or after ``max_steps`` agent steps.
One frame is rendered per agent step plus the initial state, so an episode of ``n`` agent
steps gives ``n + 1`` frames (a step into non-finite physics ends it without a frame).
Episodes are concatenated into one mp4 (H.264) per task, played at real time
(``fps = round(1 / (env.dt * action_repeat))``). Multi-task runs write
``<out stem>-<Task>.mp4`` per task, single-task runs ``out`` itself.

Rendering is headless with MuJoCo's OpenGL renderer. The backend follows ``MUJOCO_GL``
when it is set (``egl``, ``osmesa``, or ``glfw`` for a desktop with a display); otherwise
EGL is tried, then OSMesa. Unlike ``mujoco.Renderer``, this works even when ``mujoco`` was
imported before ``MUJOCO_GL`` was set. ``PYOPENGL_PLATFORM`` is set to match the backend
(an incompatible value the user set rules that backend out). What to install:

* EGL (GPU or software): on NVIDIA machines it comes with the driver; on Ubuntu/Debian
  ``apt-get install libegl1 libgl1`` (Mesa, software rendering without a GPU).
* OSMesa (CPU only): ``apt-get install libosmesa6`` and run with ``MUJOCO_GL=osmesa``.
"""

from __future__ import annotations

import copy
import ctypes.util
import functools
import os
import platform
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np

from fastbrc.config import ConfigError
from fastbrc.envs import EnvLoadError, env_info, load_env, reset_one, step_one
from fastbrc.errors import first_line, named_first_line
from fastbrc.run.args import Parser, UsageError, fail
from fastbrc.run.checkpoint import CheckpointError
from fastbrc.run.policy import load_policy

INSTALL_HINT = (
    "install EGL (comes with the NVIDIA driver; Ubuntu: apt-get install libegl1 libgl1) "
    "or OSMesa (apt-get install libosmesa6, then run with MUJOCO_GL=osmesa)"
)
# MUJOCO_GL value -> module with its GLContext (as mujoco.rendering.classic.gl_context maps it)
_GL_MODULES = {
    "egl": "mujoco.egl",
    "osmesa": "mujoco.osmesa",
    "glfw": "mujoco.glfw",
    "glx": "mujoco.glfw",
    "wgl": "mujoco.glfw",
    "cgl": "mujoco.cgl",
}
_PYOPENGL_PLATFORMS = {"egl": "egl", "osmesa": "osmesa"}
_GL_LIBRARIES = {"egl": "EGL", "osmesa": "OSMesa"}  # named when a backend fails
_gl: tuple[str, Any] | None = None  # (backend, GLContext class) once one worked


class RenderError(RuntimeError):
    """A video could not be rendered for a user-fixable reason (one-line message)."""


@dataclass(frozen=True)
class Video:
    """One written mp4: its path, number of frames and frame rate."""

    path: Path
    frames: int
    fps: int


def _candidates() -> list[str]:
    requested = os.environ.get("MUJOCO_GL", "").strip().lower()
    if requested in ("disable", "disabled", "off", "false", "0"):
        raise RenderError(f"rendering needs OpenGL but MUJOCO_GL={requested}; unset it")
    if requested in ("", "enable", "enabled", "on", "true", "1"):
        system = platform.system()
        if system == "Linux":
            return ["egl", "osmesa"]
        return ["cgl", "glfw"] if system == "Darwin" else ["glfw"]
    if requested not in _GL_MODULES:
        raise RenderError(
            f"unknown MUJOCO_GL={requested}; use egl or osmesa (headless) or glfw (a display)"
        )
    return [requested]


def check_gl() -> str:
    """The OpenGL backend rendering uses ("egl", "osmesa", ...), after creating a tiny
    context with it; raises `RenderError` naming what to install when none works."""
    global _gl
    if _gl is not None:
        return _gl[0]
    import importlib

    failures = []
    for backend in _candidates():
        wanted = _PYOPENGL_PLATFORMS.get(backend)
        ours = wanted is not None and "PYOPENGL_PLATFORM" not in os.environ
        if ours:
            os.environ["PYOPENGL_PLATFORM"] = wanted
        try:
            context_class = importlib.import_module(_GL_MODULES[backend]).GLContext
            context = context_class(16, 16)
            try:
                context.make_current()
            finally:
                context.free()
        except Exception as error:  # any failure rules this backend out
            library = _GL_LIBRARIES.get(backend)
            if library is not None and ctypes.util.find_library(library) is None:
                failures.append(f"{backend}: lib{library} not found ({named_first_line(error)})")
            else:
                failures.append(f"{backend}: {named_first_line(error)}")
            if ours and "OpenGL.platform" not in sys.modules:
                # the next backend sets its own (PyOpenGL reads it once, on import)
                del os.environ["PYOPENGL_PLATFORM"]
            continue
        _gl = (backend, context_class)
        return backend
    raise RenderError(f"no OpenGL for rendering ({'; '.join(failures)}); {INSTALL_HINT}")


class Renderer:
    """Offscreen RGB frames of one MuJoCo model (a private copy of it) at a fixed size."""

    def __init__(self, mj_model: Any, height: int, width: int, camera: str | int | None):
        import mujoco

        check_gl()
        assert _gl is not None
        model = copy.deepcopy(mj_model)
        # the offscreen framebuffer must hold the image
        model.vis.global_.offwidth = max(int(model.vis.global_.offwidth), width)
        model.vis.global_.offheight = max(int(model.vis.global_.offheight), height)
        self._model = model
        self._data = mujoco.MjData(model)
        self._camera = _camera(model, camera)
        self._option = mujoco.MjvOption()
        self._scene = mujoco.MjvScene(model, maxgeom=10_000)
        self._rect = mujoco.MjrRect(0, 0, width, height)
        self._shape = (height, width, 3)
        self._context = None
        self._gl = _gl[1](width, height)
        try:
            self._gl.make_current()
            self._context = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_150.value)
            mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN.value, self._context)
        except Exception as error:
            self.close()
            raise RenderError(f"could not set up rendering: {named_first_line(error)}") from error

    def frame(self, physics: tuple[np.ndarray, ...]) -> np.ndarray:
        """uint8 [height, width, 3] of the state (qpos, qvel, mocap_pos, mocap_quat, xfrc)."""
        import mujoco

        data = self._data
        data.qpos, data.qvel, data.mocap_pos, data.mocap_quat, data.xfrc_applied = physics
        mujoco.mj_forward(self._model, data)
        mujoco.mjv_updateScene(
            self._model,
            data,
            self._option,
            None,
            self._camera,
            mujoco.mjtCatBit.mjCAT_ALL.value,
            self._scene,
        )
        self._gl.make_current()
        pixels = np.empty(self._shape, np.uint8)
        mujoco.mjr_render(self._rect, self._scene, self._context)
        mujoco.mjr_readPixels(pixels, None, self._rect, self._context)
        return np.ascontiguousarray(pixels[::-1])  # OpenGL rows run bottom-up

    def close(self) -> None:
        if self._context is not None:
            self._gl.make_current()
            self._context.free()
            self._context = None
        if self._gl is not None:
            self._gl.free()
            self._gl = None


def _camera(model: Any, camera: str | int | None) -> Any:
    """An MjvCamera: the named/numbered model camera, or the free camera (None or -1)."""
    import mujoco

    if isinstance(camera, str) and camera.lstrip("-").isdigit():
        camera = int(camera)
    if isinstance(camera, str):
        camera_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA.value, camera)
        if camera_id == -1:
            names = [model.camera(i).name or str(i) for i in range(model.ncam)]
            have = ", ".join(names) if names else "none"
            raise RenderError(f"no camera {camera!r} in the model (cameras: {have})")
    else:
        camera_id = -1 if camera is None else camera
        if not -1 <= camera_id < model.ncam:
            raise RenderError(f"camera id {camera_id} out of range [-1, {model.ncam})")
    result = mujoco.MjvCamera()
    if camera_id == -1:
        result.type = mujoco.mjtCamera.mjCAMERA_FREE.value
        mujoco.mjv_defaultFreeCamera(model, result)
    else:
        result.type = mujoco.mjtCamera.mjCAMERA_FIXED.value
        result.fixedcamid = camera_id
    return result


@functools.lru_cache(maxsize=16)
def _episode_fns(name: str, impl: str, action_repeat: int) -> tuple[Any, Any, Any]:
    """(env, jitted reset, jitted agent step) of one task; cached so repeated videos (the
    training loop's) compile once per task."""
    env = load_env(name, impl=impl)
    if not hasattr(env, "mj_model"):
        raise RenderError(f"{name} has no MuJoCo model to render")

    def step(state, action):
        state, _, terminated = step_one(env, state, action, action_repeat)
        return state, terminated

    return env, jax.jit(functools.partial(reset_one, env)), jax.jit(step)


def _physics(state: Any) -> tuple[np.ndarray, ...]:
    data = state.data
    return jax.device_get(
        (data.qpos, data.qvel, data.mocap_pos, data.mocap_quat, data.xfrc_applied)
    )


def video_paths(out: str | Path, tasks: Sequence[str]) -> list[Path]:
    """Where the videos of `tasks` go: `out` itself for one task, `<stem>-<Task>.mp4` per task
    for several."""
    out = Path(out)
    if len(tasks) == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{task}{out.suffix}") for task in tasks]


def _check_args(out: Path, episodes: int, max_steps: int | None, height: int, width: int) -> None:
    if out.suffix.lower() != ".mp4":
        raise RenderError(f"the video path must end in .mp4, got {str(out)!r}")
    if episodes < 1:
        raise RenderError(f"episodes must be >= 1, got {episodes}")
    if max_steps is not None and max_steps < 1:
        raise RenderError(f"max steps must be >= 1, got {max_steps}")
    for label, size in (("height", height), ("width", width)):
        if size < 2 or size % 2:
            raise RenderError(f"{label} must be an even number >= 2 (H.264), got {size}")


def render_policy(
    policy: Any,
    out: str | Path,
    *,
    episodes: int = 1,
    max_steps: int | None = None,
    height: int = 240,
    width: int = 320,
    camera: str | int | None = None,
    episode_seed: int = 0,
) -> list[Video]:
    """Render `episodes` deterministic episodes per task of `policy` (a `fastbrc.run.policy.Policy`)
    and write one mp4 per task (see `video_paths`); episode ``i`` starts from the reset of
    ``jax.random.split(PRNGKey(episode_seed), episodes)[i]`` in every task."""
    out = Path(out)
    _check_args(out, episodes, max_steps, height, width)
    config = policy.config
    videos = []
    keys = jax.random.split(jax.random.PRNGKey(episode_seed), episodes)
    for task, path in enumerate(video_paths(out, policy.tasks)):
        name = policy.tasks[task]
        info = env_info(
            name, episode_length=config.episode_length, action_repeat=config.action_repeat
        )
        env, reset, step = _episode_fns(name, config.impl, info.action_repeat)
        limit = info.agent_episode_length
        if max_steps is not None:
            limit = min(limit, max_steps)
        action_size = int(env.action_size)
        fps = max(1, round(1.0 / (float(env.dt) * info.action_repeat)))
        renderer = Renderer(env.mj_model, height, width, camera)
        try:
            with Mp4(path, fps) as video:
                for key in keys:
                    state = reset(key)
                    video.add(renderer.frame(_physics(state)))
                    for _ in range(limit):
                        obs = state.obs["state"] if isinstance(state.obs, dict) else state.obs
                        obs = np.pad(np.asarray(obs), (0, policy.obs_size - obs.shape[-1]))
                        # a host array keeps the step's input shardings fixed (no recompile)
                        action = np.asarray(policy(obs, task))[:action_size]
                        state, terminated = step(state, action)
                        physics = _physics(state)
                        if not all(np.isfinite(array).all() for array in physics):
                            break  # NaN physics: nothing to draw, the episode is over
                        video.add(renderer.frame(physics))
                        if bool(terminated):
                            break
        finally:
            renderer.close()
        videos.append(Video(path=path, frames=video.frames, fps=fps))
    return videos


class Mp4:
    """An H.264 mp4 (yuv420p) written frame by frame to a hidden file next to `path` and
    renamed to `path` when complete, so no half video is ever left under its name."""

    def __init__(self, path: Path, fps: int):
        self.path = path
        self.fps = fps
        self.frames = 0
        self._partial = path.with_name(f".{path.stem}.partial.mp4")
        self._writer: Any = None

    def __enter__(self) -> Mp4:
        import imageio.v2 as imageio

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = imageio.get_writer(
                self._partial,
                format="FFMPEG",
                mode="I",
                fps=self.fps,
                codec="libx264",
                pixelformat="yuv420p",
                macro_block_size=1,
                ffmpeg_log_level="error",
            )
        except (OSError, RuntimeError) as error:
            raise RenderError(f"could not write {self.path}: {named_first_line(error)}") from error
        return self

    def add(self, frame: np.ndarray) -> None:
        try:
            with warnings.catch_warnings():
                # ffmpeg starts in a subprocess (fork + exec at once): JAX's fork warning is noise
                warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called")
                self._writer.append_data(frame)
        except (OSError, RuntimeError) as error:
            raise RenderError(f"could not write {self.path}: {named_first_line(error)}") from error
        self.frames += 1

    def __exit__(self, error_type: Any, *_: Any) -> None:
        try:
            self._writer.close()
            if error_type is None:
                os.replace(self._partial, self.path)
        except (OSError, RuntimeError) as error:
            if error_type is None:
                reason = named_first_line(error)
                raise RenderError(f"could not write {self.path}: {reason}") from error
        finally:
            self._partial.unlink(missing_ok=True)


def _default_out(run_dir: Path, config: Any, step: int) -> Path:
    return run_dir / "videos" / f"{config.env.replace(',', '+')}-{step}.mp4"


def render_run(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    checkpoint: int | None = None,
    episodes: int = 1,
    max_steps: int | None = None,
    height: int = 240,
    width: int = 320,
    camera: str | int | None = None,
    episode_seed: int = 0,
    seed: int | None = None,
) -> list[Video]:
    """Render the run in `run_dir` at `checkpoint` (default: its newest good one) to `out`
    (default ``<run_dir>/videos/<env>-<step>.mp4``), one video per task; of a --seeds run, the
    member `seed` (default: the best)."""
    # cheap checks first: arguments, the run directory, then OpenGL, before the checkpoint
    _check_args(Path(out or "default.mp4"), episodes, max_steps, height, width)
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").exists():
        raise ConfigError(f"{run_dir} is not a fastbrc run directory (no config.json)")
    check_gl()
    policy = load_policy(run_dir, checkpoint, seed=seed)
    if out is None:
        out = _default_out(run_dir, policy.config, policy.step)
    return render_policy(
        policy,
        out,
        episodes=episodes,
        max_steps=max_steps,
        height=height,
        width=width,
        camera=camera,
        episode_seed=episode_seed,
    )


def render_checkpoint(
    run_dir: str | Path,
    step: int,
    *,
    max_steps: int | None = None,
    height: int = 240,
    width: int = 320,
    seed: int | None = None,
) -> list[Path]:
    """The training loop's video: one episode per task from the checkpoint at `step` env steps,
    written to ``<run_dir>/videos/<step>.mp4`` (``<step>-<Task>.mp4`` per task); a --seeds
    run's member `seed` to ``<step>-seed<seed>.mp4``."""
    run_dir = Path(run_dir)
    name = f"{step}.mp4" if seed is None else f"{step}-seed{seed}.mp4"
    videos = render_run(
        run_dir,
        run_dir / "videos" / name,
        checkpoint=step,
        max_steps=max_steps,
        height=height,
        width=width,
        seed=seed,
    )
    return [video.path for video in videos]


RENDER_USAGE = (
    "fastbrc render --run-dir DIR [--out video.mp4] [--checkpoint STEP] [--episodes N] "
    "[--max-steps N] [--height H] [--width W] [--camera NAME] [--seed S] [--episode-seed E]"
)


def render_main(argv: list[str]) -> int:
    """`fastbrc render ...`: 0 when every video was written, 2 with a one-line error."""
    parser = Parser(
        prog="fastbrc render",
        usage=RENDER_USAGE,
        description="Render deterministic episodes of a run's policy to mp4 (one per task).",
    )
    parser.add_argument("--run-dir", required=True, help="the run directory")
    parser.add_argument(
        "--out",
        help="the video (default: <run-dir>/videos/<env>-<step>.mp4; "
        "multi-task runs write <stem>-<Task>.mp4 per task)",
    )
    parser.add_argument(
        "--checkpoint", type=int, help="env step of the checkpoint (default: newest)"
    )
    parser.add_argument("--episodes", type=int, default=1, help="episodes per task (default 1)")
    parser.add_argument(
        "--max-steps", type=int, help="agent steps per episode at most (default: episode length)"
    )
    parser.add_argument("--height", type=int, default=240, help="pixels (even, default 240)")
    parser.add_argument("--width", type=int, default=320, help="pixels (even, default 320)")
    parser.add_argument("--camera", help="model camera name or id (default: the free camera, -1)")
    parser.add_argument(
        "--seed", type=int, help="which seed of a --seeds run (default: the best; else the run's)"
    )
    parser.add_argument(
        "--episode-seed", type=int, default=0, help="seed of the episodes' initial states"
    )

    try:
        args = parser.parse_args(argv)
        videos = render_run(
            args.run_dir,
            args.out,
            checkpoint=args.checkpoint,
            episodes=args.episodes,
            max_steps=args.max_steps,
            height=args.height,
            width=args.width,
            camera=args.camera,
            episode_seed=args.episode_seed,
            seed=args.seed,
        )
    except (UsageError, RenderError, ConfigError, CheckpointError, EnvLoadError) as error:
        return fail(first_line(error))
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)
    for video in videos:
        print(f"fastbrc: wrote {video.path} ({video.frames} frames)")
    return 0


__all__ = [
    "INSTALL_HINT",
    "Mp4",
    "RenderError",
    "Renderer",
    "Video",
    "check_gl",
    "render_checkpoint",
    "render_main",
    "render_policy",
    "render_run",
    "video_paths",
]
