"""The `fastbrc export` and `fastbrc sim2sim` subcommands: arguments, output, one-line errors.

Bad input (a run directory without checkpoints, a damaged checkpoint, an unknown format, an
output that exists without ``--overwrite``, a policy file of another env, an op the ONNX
converter lacks, ...) exits with status 2 and one line on stderr, and writes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

from fastbrc.errors import first_line
from fastbrc.run.args import Parser, UsageError, fail

EXPORT_USAGE = (
    "fastbrc export --run-dir DIR --format onnx|jax --out FILE [--checkpoint STEP] "
    "[--task NAME] [--seed S] [--overwrite]"
)
SIM2SIM_USAGE = (
    "fastbrc sim2sim --policy FILE --env NAME [--episodes N] [--episode-seed E] [--run-dir DIR] "
    "[--video PATH | --no-video] [--video-episodes N] [--max-steps N] [--overwrite]"
)


def _errors() -> tuple[type[Exception], ...]:
    from fastbrc.config import ConfigError
    from fastbrc.deploy.errors import DeployError
    from fastbrc.envs import EnvLoadError
    from fastbrc.run.checkpoint import CheckpointError

    return (UsageError, DeployError, ConfigError, EnvLoadError, CheckpointError)


def export_main(argv: list[str]) -> int:
    """`fastbrc export ...`: 0 when the file was written and checked, 2 with a one-line error."""
    parser = Parser(
        prog="fastbrc export",
        usage=EXPORT_USAGE,
        description="Export a run's deterministic policy (observation normaliser folded in) "
        "to ONNX or to a serialised jax.export function, checked against the JAX policy.",
    )
    parser.add_argument("--run-dir", required=True, help="the run directory")
    parser.add_argument(
        "--checkpoint", type=int, help="env step of the checkpoint (default: newest)"
    )
    parser.add_argument("--format", required=True, help="onnx (ONNX Runtime) or jax (jax.export)")
    parser.add_argument("--out", required=True, help="the file to write")
    parser.add_argument(
        "--task", help="multi-task runs: export this task alone (default: the task id is an input)"
    )
    parser.add_argument(
        "--seed", type=int, help="a --seeds run's member to export (default: the best)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    try:
        args = parser.parse_args(argv)
        from fastbrc.deploy.export import export_run

        done = export_run(
            args.run_dir,
            args.format,
            args.out,
            checkpoint=args.checkpoint,
            task=args.task,
            overwrite=args.overwrite,
            seed=args.seed,
        )
    except _errors() as error:
        return fail(first_line(error))
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)
    meta = done.metadata
    inputs = ", ".join(f"{item['name']} {item['shape']}" for item in meta["inputs"])
    print(
        f"fastbrc: wrote {done.path} ({done.format}, {done.size_bytes / 1024:.1f} KiB) from "
        f"{args.run_dir} checkpoint {done.checkpoint:,}: {inputs} -> action "
        f"{meta['outputs'][0]['shape']}; its actions equal the JAX policy's within "
        f"{done.max_abs_diff:.1e} on {done.samples:,} observations ({done.seconds:.1f} s)"
    )
    return 0


def _add_sim2sim_arguments(parser: Parser) -> None:
    parser.add_argument("--policy", required=True, help="the file fastbrc export wrote")
    parser.add_argument("--env", required=True, help="the task (one the file was exported for)")
    parser.add_argument("--episodes", type=int, default=16, help="episodes (default 16)")
    parser.add_argument(
        "--episode-seed", type=int, default=0, help="seed of the initial states (fastbrc eval's)"
    )
    parser.add_argument(
        "--run-dir", help="also evaluate the file's checkpoint in this run with MJX (fastbrc eval)"
    )
    parser.add_argument(
        "--video", help="the mp4 (default: <policy stem>-<env>-mujoco.mp4 next to the policy)"
    )
    parser.add_argument("--no-video", action="store_true", help="write no video")
    parser.add_argument(
        "--video-episodes", type=int, default=1, help="episodes in the video (default 1)"
    )
    parser.add_argument("--max-steps", type=int, help="policy steps per episode at most")
    parser.add_argument("--height", type=int, default=240, help="video pixels (even, default 240)")
    parser.add_argument("--width", type=int, default=320, help="video pixels (even, default 320)")
    parser.add_argument("--camera", help="model camera name or id (default: the free camera)")
    parser.add_argument("--overwrite", action="store_true", help="replace the video if it exists")


def sim2sim_main(argv: list[str]) -> int:
    """`fastbrc sim2sim ...`: 0 after the rollouts, 2 with a one-line error."""
    parser = Parser(
        prog="fastbrc sim2sim",
        usage=SIM2SIM_USAGE,
        description="Roll an exported policy out in plain MuJoCo (mj_step, no MJX), print the "
        "return of each episode, write a video; --run-dir compares with the MJX evaluation.",
    )
    _add_sim2sim_arguments(parser)
    try:
        args = parser.parse_args(argv)
        if args.video and args.no_video:
            raise UsageError("--video and --no-video exclude each other")
        from fastbrc.deploy.sim2sim import sim2sim
        from fastbrc.deploy.video import VideoRecorder

        video = None
        if not args.no_video:
            policy = Path(args.policy)
            path = args.video or policy.with_name(f"{policy.stem}-{args.env}-mujoco.mp4")
            video = VideoRecorder(
                path,
                episodes=args.video_episodes,
                height=args.height,
                width=args.width,
                camera=args.camera,
                overwrite=args.overwrite,
            )
        result = sim2sim(
            args.policy,
            args.env,
            episodes=args.episodes,
            episode_seed=args.episode_seed,
            max_steps=args.max_steps,
            video=video,
            run_dir=args.run_dir,
        )
    except _errors() as error:
        return fail(first_line(error))
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)
    _print_sim2sim(result, args.episodes)
    return 0


def _print_sim2sim(result, episodes: int) -> None:
    for index, episode in enumerate(result.episodes):
        end = (
            "unstable (MuJoCo reset it)"
            if episode.unstable
            else ("terminated" if episode.terminated else "time limit")
        )
        print(f"episode {index + 1}: return {episode.ret:.2f} in {episode.steps} steps ({end})")
    print(
        f"fastbrc: {result.env} in MuJoCo (mj_step), checkpoint {result.checkpoint:,}: mean "
        f"return {result.mean:.2f} +- {result.std:.2f} over {episodes} episodes"
    )
    summary = {"env": result.env, "checkpoint": result.checkpoint, "mujoco_mean": result.mean}
    summary.update(mujoco_std=result.std, mujoco_returns=[e.ret for e in result.episodes])
    if result.mjx is not None:
        diff = result.mean - result.mjx["mean"]
        share = diff / abs(result.mjx["mean"]) if result.mjx["mean"] else float("nan")
        print(
            f"fastbrc: MJX (fastbrc eval, the same initial draws): mean return "
            f"{result.mjx['mean']:.2f}; MuJoCo - MJX = {diff:+.2f} ({share:+.1%})"
        )
        summary.update(mjx_mean=result.mjx["mean"], mjx_std=result.mjx["std"], difference=diff)
    if result.video is not None:
        print(f"fastbrc: wrote {result.video}")
        summary["video"] = str(result.video)
    print(json.dumps(summary))
