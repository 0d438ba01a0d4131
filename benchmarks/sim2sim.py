"""`fastbrc sim2sim` measured: a checkpoint's return in plain MuJoCo against MJX.

Run from the repository root, on a run directory with a checkpoint::

    python benchmarks/sim2sim.py --run-dir runs/cheetah \\
        --out benchmarks/results/sim2sim-CheetahRun-epyc-2core-<detail>.json

The checkpoint is exported to ONNX (`fastbrc export`), rolled out for ``--episodes`` (16)
episodes in MuJoCo (`fastbrc sim2sim`: ``mj_step`` on the task's MjModel, the task's own
observation and reward code, the ONNX policy in ONNX Runtime) and evaluated in MJX by
``fastbrc eval`` from the same initial draws (reset keys). Recorded: every episode's return,
length and ending in MuJoCo, both means and standard deviations, their difference.

``--trace N`` adds where and why the two simulators part, over the first N policy steps of
the first 4 episodes: (1) both run closed loop with the same policy from the same initial
draw; per step the largest |qpos| and |obs| differences and the reward difference, and the
first step at which |qpos| differs by more than 1e-3; (2) from each state of the MuJoCo
episode, one policy step of MJX (``mjx.put_data`` of that state, the task's ctrl map from the
metadata) against MuJoCo's: the largest |qpos| and |qvel| gaps of one step from the same
state, and the number of contacts. Small one-step gaps (float32 against float64) that grow
along the closed loops mean chaos amplifying rounding; a large one-step gap would be a
different model (contacts, solver, integrator).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jax
import numpy as np
from common import say, write_result  # benchmarks/common.py

from fastbrc.deploy.export import export_run
from fastbrc.deploy.exported import load_exported
from fastbrc.deploy.sim2sim import MujocoTask, episode_keys, sim2sim
from fastbrc.envs import load_env, reset_one, step_one


def one_step_mjx(env: Any, info: dict[str, Any]) -> Any:
    """``(MjData, action) -> qpos, qvel`` after one policy step of MJX from that C state."""
    from mujoco import mjx
    from mujoco_playground._src import mjx_env

    substeps = info["n_substeps"] * info["action_repeat"]
    ctrl_map = info["action_to_ctrl"]
    offset, scale = np.asarray(ctrl_map["offset"]), np.asarray(ctrl_map["scale"])
    step = jax.jit(lambda data, ctrl: mjx_env.step(env.mjx_model, data, ctrl, substeps))

    def run(data: Any, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ctrl = (offset + scale * action).astype(np.float32)
        out = step(mjx.put_data(env.mj_model, data, impl="jax"), ctrl)
        return np.asarray(out.qpos), np.asarray(out.qvel)

    return run


def trace(
    policy_path: Path, env_name: str, episode_seed: int, steps: int, episodes: int = 4
) -> list:
    """Per episode, for `steps` policy steps: MuJoCo and MJX side by side (each closed loop
    from the same initial draw: where they part), and from each MuJoCo state one MJX step
    (how far one step of the two engines differs from the same state)."""
    import mujoco

    policy = load_exported(policy_path)
    info = policy.metadata["task_info"][env_name]
    tasks = policy.metadata["tasks"]
    repeat = info["action_repeat"]
    mujoco_task = MujocoTask(env_name, repeat)
    env = load_env(env_name, impl="jax")
    mjx_reset = jax.jit(lambda key: reset_one(env, key))
    mjx_step = jax.jit(lambda state, action: step_one(env, state, action, repeat))
    one_step = one_step_mjx(env, info)
    model, before = env.mj_model, mujoco.MjData(env.mj_model)
    size = int(env.action_size)

    def obs_of(state):
        return np.asarray(state.obs["state"] if isinstance(state.obs, dict) else state.obs)

    def act(state):
        return np.asarray(policy.act(obs_of(state)[None], env_name)[0, :size], np.float32)

    def gap(x: Any, y: Any) -> float:
        return float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))

    out = []
    for key in episode_keys(episode_seed, episodes, tasks.index(env_name), len(tasks)):
        a, b = mujoco_task.reset(key), mjx_reset(key)
        rows = []
        for _ in range(steps):
            action = act(a)
            mujoco.mj_copyData(before, model, mujoco_task.physics.data)
            a, reward_a, done_a = mujoco_task.step(a, action)
            b, reward_b, done_b = mjx_step(b, act(b))
            qpos, qvel = one_step(before, action)
            host = mujoco_task.physics.data
            rows.append(
                {
                    "qpos": gap(a.data.qpos, b.data.qpos),
                    "obs": gap(obs_of(a), obs_of(b)),
                    "reward": float(reward_a) - float(reward_b),
                    "one_step_qpos": gap(qpos, host.qpos),
                    "one_step_qvel": gap(qvel, host.qvel),
                    "contacts": [int(before.ncon), int(host.ncon)],  # MuJoCo: before, after
                }
            )
            if bool(done_a) or bool(done_b):
                break
        apart = next((i + 1 for i, row in enumerate(rows) if row["qpos"] > 1e-3), None)
        worst = {k: max(row[k] for row in rows) for k in ("one_step_qpos", "one_step_qvel")}
        out.append({"first_step_qpos_apart_1e-3": apart, "one_step_max": worst, "steps": rows})
    return out


def solver_options(env_name: str) -> dict[str, Any]:
    """The physics options MuJoCo (the MjModel) and MJX (its mjx.Model) step with."""
    env = load_env(env_name, impl="jax")
    fields = ("timestep", "iterations", "ls_iterations", "tolerance", "ls_tolerance")
    fields += ("solver", "cone", "integrator", "disableflags", "enableflags", "impratio")

    def read(opt: Any) -> dict[str, Any]:
        out = {}
        for name in fields:
            value = getattr(opt, name, None)
            value = getattr(value, "value", value)  # mjx enums
            out[name] = None if value is None else np.asarray(value).item()
        return out

    return {"mujoco": read(env.mj_model.opt), "mjx": read(env.mjx_model.opt)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir")
    parser.add_argument(
        "--checkpoint", type=int, help="env step of the checkpoint (default: newest)"
    )
    parser.add_argument("--env", help="the task (default: the run's first)")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--episode-seed", type=int, default=0, help="seed of the initial states")
    parser.add_argument("--trace", type=int, default=0, help="policy steps to trace side by side")
    parser.add_argument("--video", help="an mp4 of the first MuJoCo episode (default: none)")
    parser.add_argument("--out", help="the JSON to write")
    args = parser.parse_args()
    if not args.run_dir or not args.out:
        parser.error("--run-dir and --out are required")
    from machine import machine_info  # benchmarks/machine.py

    with tempfile.TemporaryDirectory() as temp:
        policy_path = Path(temp) / "policy.onnx"
        exported = export_run(args.run_dir, "onnx", policy_path, checkpoint=args.checkpoint)
        env = args.env or exported.metadata["tasks"][0]
        say("sim2sim", f"{args.run_dir} checkpoint {exported.checkpoint:,} on {env}")
        video = None
        if args.video:
            from fastbrc.deploy.video import VideoRecorder

            video = VideoRecorder(args.video, overwrite=True)
        result = sim2sim(
            policy_path, env, episodes=args.episodes, episode_seed=args.episode_seed, video=video,
            run_dir=args.run_dir,
        )  # fmt: skip
        traced = trace(policy_path, env, args.episode_seed, args.trace) if args.trace else None
    assert result.mjx is not None
    diff = result.mean - result.mjx["mean"]
    say("sim2sim", f"MuJoCo {result.mean:.1f}, MJX {result.mjx['mean']:.1f}, diff {diff:+.1f}")
    record: dict[str, Any] = {
        "benchmark": "sim2sim",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python " + " ".join(sys.argv),
        "run_dir": args.run_dir,
        "env": env,
        "checkpoint": exported.checkpoint,
        "episodes": args.episodes,
        "episode_seed": args.episode_seed,
        "mujoco": {
            "mean": result.mean,
            "std": result.std,
            "returns": [e.ret for e in result.episodes],
            "lengths": [e.steps for e in result.episodes],
            "terminated": [e.terminated for e in result.episodes],
            "unstable": [e.unstable for e in result.episodes],
        },
        "mjx": result.mjx,
        "difference": diff,
        "relative_difference": diff / abs(result.mjx["mean"]) if result.mjx["mean"] else None,
        "task_info": exported.metadata["task_info"][env],
        "trace": traced,
        "solver_options": solver_options(env),
        "machine": machine_info(),
    }
    path = write_result(Path(args.out), record)
    say("sim2sim", f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
