"""The `fastbrc` command line: `fastbrc train ...` and `fastbrc eval ...`.

The preset for ``--env`` and the hardware profile supplies every default; any field given on
the command line overrides it. ``--resume DIR`` continues a run with its own config (only
the fields in `RESUMABLE_FIELDS` may change). Bad input (a run directory another process
trains in included) exits with status 2 and a one-line error, never a traceback; a diverged
run, or one that cannot write its run directory (disk full, ...), exits with status 1.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

# the light modules only: jax (and what imports it) is imported inside the commands, after
# the argument checks, so that --help and bad flags answer at once
from fastbrc.config import RESUMABLE_FIELDS, Config, ConfigError
from fastbrc.presets import PROFILES, describe, preset, resolve_profile
from fastbrc.run.args import Parser, UsageError, fail, seed_flags, tyro_cli
from fastbrc.run.cpu_devices import requested, split_cpu

__all__ = ["USAGE", "UsageError", "eval_main", "main", "train_main"]

USAGE = """usage: fastbrc train [--env NAME] [--profile PROFILE] [--CONFIG-FIELD VALUE ...]
       fastbrc train ... --seeds 0,1,2,3 (or --num-seeds N [--seed FIRST])
       fastbrc train --resume RUN_DIR [--total-env-steps N ...]
       fastbrc train ... --coordinator-address HOST:PORT --num-processes N --process-id I
       fastbrc eval --run-dir RUN_DIR [--checkpoint STEP] [--num-episodes N] [--seed S]
                    [--episode-seed E]
       fastbrc plot RUN_DIR [RUN_DIR ...] [--out PATH] [--title T]
       fastbrc render --run-dir RUN_DIR [--out video.mp4] [--checkpoint STEP] [--max-steps N]
       fastbrc export --run-dir RUN_DIR --format onnx|jax --out FILE [--checkpoint STEP] [--task T]
                      [--seed S]
       fastbrc sim2sim --policy FILE --env NAME [--episodes N] [--run-dir RUN_DIR] [--no-video]
       fastbrc plan sweep|fit|recommend ...   (fastbrc plan --help)

commands:
  train    train an agent (see `fastbrc train --help` for every field); --profile picks the
           preset: auto (cpu without an accelerator, else gpu), gpu, gpu-fasttd3 (FastTD3's
           recipe sizes) or cpu; --overwrite replaces
           the run in --run-dir, --resume continues it from its newest good checkpoint;
           --seeds trains several seeds in one compiled program (one run directory);
           the envs are split over every device (--num-devices); for several hosts run one
           process per host with --coordinator-address/--num-processes/--process-id (or the
           JAX_COORDINATOR_ADDRESS/JAX_NUM_PROCESSES/JAX_PROCESS_ID variables, or
           --distributed to detect SLURM/Open MPI)
  eval     evaluate a run's checkpoint with the deterministic policy (of a --seeds run: the
           member --seed, by default the best)
  plot     learning curves of runs (eval return vs env steps and vs wall-clock; per task)
  render   mp4 of the deterministic policy (one clip per task; headless EGL or OSMesa)
  plan     the value-based scaling laws: sweep a task's UTD x batch x learning rate grid, fit
           the laws, recommend the recipe for a budget in env steps, FLOPs or wall-clock
  export   the deterministic policy (normaliser folded in) as ONNX or a jax.export function
  sim2sim  an exported policy in plain MuJoCo (mj_step, no MJX): returns, a video, and with
           --run-dir the MJX evaluation of the same checkpoint
"""


_EXITING = False  # `main` runs as the process (the console script), not called by a test


def _stderr_to_file(path: Path) -> None:
    """The rest of the process's stderr to `path` (else nowhere): after a failed write,
    Orbax's threads and TensorBoard's exit handler go on reporting it while Python exits."""
    sys.stderr.flush()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:
        fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 2)
    os.close(fd)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _resume_config(run_dir: Path, rest: list[str]):
    """The run's saved config with the overrides in `rest` (only RESUMABLE_FIELDS)."""
    if not (run_dir / "config.json").exists():
        raise ConfigError(f"--resume {run_dir}: no run there (no config.json)")
    try:
        saved = Config.from_json((run_dir / "config.json").read_text())
    except (ValueError, TypeError) as error:
        raise ConfigError(f"{run_dir / 'config.json'} is not a valid config: {error}") from None
    defaults = dataclasses.replace(saved, run_dir=str(run_dir))
    config = tyro_cli(Config, defaults, rest, f"Resume the run in {run_dir}.")
    locked = config.agent.changed_fields(defaults.agent)  # the agent part is the run's own
    locked += ["run_dir"] if config.run_dir != defaults.run_dir else []
    if locked:
        allowed = ", ".join(_flag(f) for f in sorted(RESUMABLE_FIELDS - {"run_dir"}))
        raise ConfigError(
            f"{_flag(locked[0])} cannot change when resuming (the run has "
            f"{getattr(defaults, locked[0])!r}); only {allowed} can"
        )
    return config


def train_main(argv: list[str]) -> int:
    pre = Parser(add_help=False)
    pre.add_argument("--env")
    pre.add_argument("--profile", choices=PROFILES)
    pre.add_argument("--resume", metavar="RUN_DIR")
    pre.add_argument("--overwrite", action="store_true")
    # multi-host (jax.distributed): one process per host, all with the same flags
    pre.add_argument("--distributed", action="store_true")
    pre.add_argument("--coordinator-address")
    pre.add_argument("--num-processes", type=int)
    pre.add_argument("--process-id", type=int)
    known, rest = pre.parse_known_args(argv)

    try:
        rest = seed_flags(rest)
    except UsageError as error:
        return fail(str(error))

    import jax  # after the argument checks: importing jax takes a while

    gpu = (known.profile or "").startswith("gpu")
    if not known.resume and not gpu:  # (a resumed run's CPU devices are set in `prepare`)
        split_cpu(requested(known.env or Config.env, rest))

    if (
        known.distributed
        or known.coordinator_address
        or known.num_processes
        or os.environ.get("JAX_COORDINATOR_ADDRESS")
    ):
        from fastbrc.core.parallel import initialize_distributed

        try:
            initialize_distributed(known.coordinator_address, known.num_processes, known.process_id)
        except (RuntimeError, ValueError) as error:
            return fail(f"jax.distributed.initialize failed: {' '.join(str(error).split())}")

    from fastbrc.envs import EnvLoadError
    from fastbrc.run.checkpoint import CheckpointError
    from fastbrc.run.gpu_check import warn_if_gpu_unused
    from fastbrc.run.runner import RunWriteError, TrainingDiverged, train

    try:
        if known.resume:
            if known.env or known.profile or known.overwrite:
                raise UsageError(
                    "--resume continues a run with its own config; drop --env, "
                    "--profile and --overwrite"
                )
            config = _resume_config(Path(known.resume), rest)
        else:
            env = known.env or Config.env
            warn_if_gpu_unused(jax.default_backend())  # a driver, but JAX on the CPU: one line
            profile = resolve_profile(known.profile or "auto", jax.default_backend())
            defaults = preset(env, profile)
            config = tyro_cli(
                Config,
                defaults,
                rest,
                f"Train with the '{profile}' preset of {env}; flags override it. "
                "--profile auto|gpu|gpu-fasttd3|cpu picks the hardware profile (auto: cpu when "
                "JAX sees no accelerator; gpu-fasttd3: FastTD3's recipe sizes).",
            )
            if config.seeds:  # --seed says nothing more; keep config.json plain
                config = dataclasses.replace(config, seed=config.seeds[0])
            if (known.profile or "auto") == "auto" and profile == "cpu":
                print(
                    "fastbrc: no accelerator found, using the CPU profile "
                    f"({describe(defaults)}); pass --profile gpu for the full-size preset"
                )
        train(config, resume=bool(known.resume), overwrite=known.overwrite)
    except (UsageError, ConfigError, EnvLoadError, CheckpointError) as error:
        return fail(str(error))
    except TrainingDiverged as error:
        return fail(str(error), code=1)
    except RunWriteError as error:
        code = fail(str(error), code=1)
        if _EXITING:
            _stderr_to_file(error.error_log)
        return code
    except OSError as error:  # e.g. a read-only metrics.jsonl met when opening the logs
        return fail(f"{error.strerror}: {error.filename or error}", code=1)
    except KeyboardInterrupt:
        return fail("interrupted", code=130)
    return 0


def eval_main(argv: list[str]) -> int:
    parser = Parser(prog="fastbrc eval", description="Evaluate a run's checkpoint.")
    parser.add_argument("--run-dir", required=True, help="the run directory")
    parser.add_argument(
        "--checkpoint", type=int, help="env step of the checkpoint (default: newest)"
    )
    parser.add_argument("--num-episodes", type=int, help="episodes (default: the run's eval envs)")
    parser.add_argument(
        "--seed", type=int, help="which seed of a --seeds run (default: the best; else the run's)"
    )
    parser.add_argument(
        "--episode-seed", type=int, default=0, help="seed of the episodes' initial states"
    )
    args = parser.parse_args(argv)
    if args.num_episodes is not None and args.num_episodes < 1:
        raise UsageError("--num-episodes must be >= 1")

    from fastbrc.envs import EnvLoadError
    from fastbrc.run.checkpoint import CheckpointError
    from fastbrc.run.policy import evaluate_run

    try:
        result = evaluate_run(
            args.run_dir, args.checkpoint, args.num_episodes, args.episode_seed, args.seed
        )
    except (ConfigError, EnvLoadError, CheckpointError) as error:
        return fail(str(error))
    print(
        f"fastbrc: {args.run_dir} seed {result['seed']} checkpoint {result['checkpoint']:,}: "
        f"eval return "
        f"{result['eval/episode_return']:.1f} +- {result['eval/episode_return_std']:.1f}, "
        f"episode length {result['eval/episode_length']:.0f}"
    )
    print(json.dumps(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    global _EXITING
    _EXITING = argv is None
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    from fastbrc.deploy.commands import export_main, sim2sim_main
    from fastbrc.plan.cli import plan_main
    from fastbrc.run.plot import plot_main  # here, like jax: render imports it
    from fastbrc.run.render import render_main

    commands = {
        "train": train_main,
        "eval": eval_main,
        "plot": plot_main,
        "render": render_main,
        "export": export_main,
        "sim2sim": sim2sim_main,
        "plan": plan_main,
    }
    if command not in commands:
        return fail(f"unknown command '{command}' (expected: {', '.join(commands)})")
    try:
        return commands[command](rest)
    except UsageError as error:
        return fail(str(error))


if __name__ == "__main__":
    sys.exit(main())
