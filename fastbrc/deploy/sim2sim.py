"""`fastbrc sim2sim`: an exported policy file rolled out in plain MuJoCo (the C library).

Each episode resets the Playground task and steps it one policy step at a time exactly as
fastbrc's envs do (`fastbrc.envs.reset_one` / `step_one`: ``action_repeat`` env steps with
the same action, rewards summed, the episode over at termination or at the run's time
limit), but with the physics of `fastbrc.deploy.physics.MujocoPhysics`: ``mujoco.mj_step``
on the task's own `MjModel`, ``n_substeps`` per control step, no MJX. The policy is the
exported file, run by ONNX Runtime or the deserialised `jax.export` function, one
observation at a time as on a robot.

Episode ``i`` starts from the reset key fastbrc's evaluation gives its env ``i`` of this task
for the same ``--episode-seed``, so ``--run-dir`` compares against ``fastbrc eval`` of the same
checkpoint from the same initial draws (a task's reset may itself run physics, e.g. CheetahRun
settles for 200 steps: that runs in MuJoCo here and in MJX there).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np

from fastbrc.deploy.errors import DeployError
from fastbrc.deploy.exported import ExportedPolicy, load_exported
from fastbrc.deploy.physics import MujocoPhysics
from fastbrc.envs import load_env, reset_one, step_one


@dataclass(frozen=True)
class Episode:
    ret: float
    steps: int  # policy steps
    terminated: bool
    unstable: bool  # MuJoCo found the simulation unstable (and reset it): the episode ends


@dataclass
class Sim2Sim:
    """The episodes in MuJoCo and, with a run directory, its MJX evaluation."""

    env: str
    checkpoint: int
    episodes: list[Episode]
    video: Path | None = None
    mjx: dict[str, float] | None = None  # mean and std (nan for a multi-task run)

    @property
    def mean(self) -> float:
        return float(np.mean([e.ret for e in self.episodes]))

    @property
    def std(self) -> float:
        return float(np.std([e.ret for e in self.episodes]))


def episode_keys(
    episode_seed: int, episodes: int, task_index: int = 0, num_tasks: int = 1
) -> jax.Array:
    """The reset keys of `fastbrc eval --episode-seed episode_seed` for `episodes` envs of
    task `task_index` (as `fastbrc.envs.BatchedEnv.reset` splits its key: one per task, then
    one per env)."""
    task_keys = jax.random.split(jax.random.PRNGKey(episode_seed), num_tasks + 1)[1:]
    return jax.random.split(task_keys[task_index], episodes)


class MujocoTask:
    """One Playground task whose physics is MuJoCo's: ``reset(key)``, ``step(state, action)``."""

    def __init__(self, name: str, action_repeat: int):
        self.env = load_env(name, impl="jax")
        self.physics = MujocoPhysics(self.env)
        env, key = self.env, jax.random.PRNGKey(0)
        with self.physics.patched():  # traced (and compiled) here, with MuJoCo's physics
            self.reset = jax.jit(lambda k: reset_one(env, k)).lower(key).compile()
            state = jax.eval_shape(lambda k: reset_one(env, k), key)
            obs = state.obs["state"] if isinstance(state.obs, dict) else state.obs
            self.obs_size = int(obs.shape[-1])
            action = jax.ShapeDtypeStruct((int(env.action_size),), np.float32)
            step = jax.jit(lambda s, a: step_one(env, s, a, action_repeat))
            self.step = step.lower(state, action).compile()
        if self.physics.calls["step"] == 0:
            raise DeployError(
                f"{name} does not step its physics through mujoco_playground's mjx_env.step; "
                "sim2sim cannot run it in plain MuJoCo"
            )


def rollout(
    policy: ExportedPolicy,
    task: MujocoTask,
    name: str,
    keys: jax.Array,
    limit: int,
    on_frame: Any = None,
) -> list[Episode]:
    """One episode per key of `policy` on `task`; `on_frame(episode, data)` after each step."""
    action_size = int(task.env.action_size)
    episodes = []
    for index, key in enumerate(keys):
        state = task.reset(key)
        if on_frame is not None:
            on_frame(index, task.physics.data)
        ret, steps, terminated = 0.0, 0, False
        while steps < limit and not terminated and not task.physics.unstable:
            obs = state.obs["state"] if isinstance(state.obs, dict) else state.obs
            action = policy.act(np.asarray(obs)[None], name)[0, :action_size]
            state, reward, done = task.step(state, np.asarray(action, np.float32))
            ret, steps, terminated = ret + float(reward), steps + 1, bool(done)
            if on_frame is not None and not task.physics.unstable:
                on_frame(index, task.physics.data)
        episodes.append(Episode(ret, steps, terminated, task.physics.unstable))
    return episodes


def check_policy_for(policy: ExportedPolicy, env: str) -> dict[str, Any]:
    """The file's record of task `env`; an error if the file was exported for other tasks."""
    if env not in policy.metadata["task_info"]:
        served = ", ".join(policy.tasks)
        raise DeployError(f"{policy.path} was exported for {served}, not {env}")
    return policy.metadata["task_info"][env]


def check_task_matches(info: dict[str, Any], task: MujocoTask, env: str) -> None:
    """The installed task must be the one the policy was trained on (sizes, actuators)."""
    model = task.env.mj_model
    actuators = [model.actuator(i).name for i in range(model.nu)]
    for what, theirs, ours in (
        ("observation size", info["obs_size"], task.obs_size),
        ("action size", info["action_size"], int(task.env.action_size)),
        ("actuators", info.get("actuators", actuators), actuators),
        ("control period", info.get("ctrl_dt", task.env.dt), float(task.env.dt)),
    ):
        if theirs != ours:
            raise DeployError(
                f"{env} here differs from the task the policy was exported on: {what} "
                f"{ours} here, {theirs} in the file"
            )


def check_run_for(policy: ExportedPolicy, run_dir: Path) -> None:
    """`run_dir` must be the run the file was exported from (its agent config's hash)."""
    from fastbrc.deploy.export import read_run_config
    from fastbrc.deploy.metadata import config_hash

    ours = config_hash(read_run_config(run_dir))
    if ours != policy.metadata["config_hash"]:
        raise DeployError(
            f"{run_dir} is not the run {policy.path} was exported from (config hash "
            f"{ours}, the file's {policy.metadata['config_hash']})"
        )


def mjx_evaluation(
    policy: ExportedPolicy, run_dir: Path, env: str, episodes: int, episode_seed: int
) -> dict[str, float]:
    """`fastbrc eval` of the file's checkpoint in `run_dir`: its mean return on `env`."""
    from fastbrc.run.policy import evaluate_run

    tasks = policy.metadata["tasks"]
    step = policy.metadata["checkpoint_step"]
    member = policy.metadata.get("seed")  # the --seeds run's member the file holds
    result = evaluate_run(run_dir, step, episodes * len(tasks), episode_seed, seed=member)
    if len(tasks) == 1:
        return {"mean": result["eval/episode_return"], "std": result["eval/episode_return_std"]}
    return {"mean": result[f"eval/{env}/episode_return"], "std": float("nan")}


def sim2sim(
    policy_path: str | Path,
    env: str,
    *,
    episodes: int = 16,
    episode_seed: int = 0,
    max_steps: int | None = None,
    video: Any = None,
    run_dir: str | Path | None = None,
) -> Sim2Sim:
    """Roll the exported policy at `policy_path` out on `env` in MuJoCo; `video` (a
    `fastbrc.deploy.video.VideoRecorder` or None) records; `run_dir` adds the MJX evaluation."""
    if episodes < 1:
        raise DeployError(f"--episodes must be >= 1, got {episodes}")
    if max_steps is not None and max_steps < 1:
        raise DeployError(f"--max-steps must be >= 1, got {max_steps}")
    if max_steps is not None and run_dir is not None:
        raise DeployError("--max-steps cannot go with --run-dir (fastbrc eval runs whole episodes)")
    policy = load_exported(policy_path)
    info = check_policy_for(policy, env)
    if run_dir is not None:
        check_run_for(policy, Path(run_dir))  # a wrong run directory fails before the rollouts
    task = MujocoTask(env, info["action_repeat"])
    check_task_matches(info, task, env)
    tasks = policy.metadata["tasks"]
    keys = episode_keys(episode_seed, episodes, tasks.index(env), len(tasks))
    limit = info["episode_length"] if max_steps is None else min(max_steps, info["episode_length"])
    if video is not None:
        video.start(task.env.mj_model, max(1, round(1.0 / info["control_dt"])))
    finished = False
    try:
        result = rollout(policy, task, env, keys, limit, None if video is None else video.frame)
        finished = True
    finally:
        path = None if video is None else video.close(failed=not finished)
    out = Sim2Sim(env, int(policy.metadata["checkpoint_step"]), result, path)
    if run_dir is not None:
        out.mjx = mjx_evaluation(policy, Path(run_dir), env, episodes, episode_seed)
    return out
