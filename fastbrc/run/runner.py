"""The thin Python loop around jitted chunks: compile, train, evaluate, log, checkpoint.

Nothing here runs per environment step: one chunk call covers ``iterations_per_chunk`` x
``num_envs`` env steps, followed by one host read of the chunk's already-reduced metrics
(including the in-graph non-finite flag). Compilation is done ahead of time and timed
separately from training. Every check of the user's input (config, environment, run
directory, memory, checkpoint compatibility) happens before anything is written.

A training process holds its run directory's lock (`fastbrc.run.runlock`) for the whole run. A
failed write (disk full, permission denied, directory removed) ends the run with one line
naming the step, the path and the OS error; its traceback goes to ``<run_dir>/errors.log``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax

from fastbrc.config import Config, ConfigError, validate
from fastbrc.core import parallel
from fastbrc.learner import (
    NONFINITE_CHECKS,
    expand_task_metrics,
    make_envs,
    make_train_fns,
)
from fastbrc.run import compile_options, memory, render, transfer
from fastbrc.run.checkpoint import CheckpointError, Checkpoints
from fastbrc.run.logger import MetricsLogger, NullLogger, Progress, import_wandb, read_metric_lines
from fastbrc.run.runlock import RunLock

# What a run directory holds; --overwrite removes exactly these.
RUN_ENTRIES = (
    "config.json",
    "metrics.jsonl",
    "tensorboard",
    "checkpoints",
    "wandb",
    "wandb_id",
    "videos",
    "errors.log",
)
# Tracebacks of failed writes (and what Orbax prints while a save fails) go here, not to the
# terminal.
ERROR_LOG = "errors.log"

# Length cap of the clips --video-every writes, in agent steps.
VIDEO_MAX_STEPS = 250

__all__ = ["CheckpointError", "RunWriteError", "TrainingDiverged", "train"]


class TrainingDiverged(RuntimeError):
    """A loss, Q value or parameter became non-finite (one-line message)."""


class RunWriteError(RuntimeError):
    """Writing the run directory failed: disk full, permission denied, ... (one line).
    `error_log`: the run's errors.log, where the traceback went."""

    def __init__(self, message: str, error_log: Path):
        super().__init__(message)
        self.error_log = error_log


def _os_error(error: BaseException) -> BaseException:
    """The OSError behind `error` (Orbax wraps some), else `error` itself."""
    seen = error
    while seen is not None:
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return error


def _describe(error: BaseException) -> str:
    """The OS error in `error`, e.g. "No space left on device (errno 28)"."""
    cause = _os_error(error)
    if isinstance(cause, OSError) and cause.strerror:
        return f"{cause.strerror} (errno {cause.errno})"
    # TensorStore (Orbax's array writer) raises ValueError("... [os_error_code='28']")
    code = re.search(r"os_error_code='?(\d+)", str(error))
    if code:
        number = int(code.group(1))
        return f"{os.strerror(number)} (errno {number})"
    return " ".join(f"{type(cause).__name__}: {cause}".split())[:200]


def _kept(last_saved: int | None) -> str:
    if last_saved is None:
        return "no checkpoint was saved before"
    return f"checkpoint {last_saved:,} is kept"


def log_error(run_dir: Path, error: BaseException) -> str:
    """Append `error`'s traceback to the run's errors.log; return where it went."""
    path = run_dir / ERROR_LOG
    try:
        with open(path, "a") as f:
            f.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}\n")
            f.write("".join(traceback.format_exception(error)))
    except OSError:
        return "no traceback kept: errors.log cannot be written either"
    return f"traceback in {path}"


def run_dir_of(config: Config) -> Path:
    if config.run_dir is not None:
        return Path(config.run_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{config.env.replace(',', '+')}-{stamp}"


def holds_run(path: Path) -> bool:
    return any((path / name).exists() for name in RUN_ENTRIES)


def check_run_dir(path: Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse a directory that holds another run (unless resuming or overwriting)."""
    if resume:
        if not (path / "config.json").exists():
            raise ConfigError(f"--resume {path}: no run there (no config.json)")
        return
    if holds_run(path) and not overwrite:
        raise ConfigError(
            f"run directory {path} already holds a run; pass --resume {path} to continue it "
            "or --overwrite to replace it"
        )
    if path.exists() and not path.is_dir():
        raise ConfigError(f"run directory {path} exists and is not a directory")


def clear_run_dir(path: Path) -> None:
    for name in RUN_ENTRIES:
        entry = path / name
        if entry.is_dir():
            shutil.rmtree(entry)
        elif entry.exists():
            entry.unlink()


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GiB"


class StopRequest:
    """SIGINT/SIGTERM set a flag the loop reads between chunks; a second SIGINT interrupts."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: Any) -> None:
        self.signal_name = signal.Signals(signum).name
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C is final

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


class BackgroundCompile:
    """`lower()` (a jitted function's lowering) compiled by XLA on a background thread.

    XLA compiles outside the GIL, so the caller's thread goes on tracing the next program, or
    training; on a GPU box the host's cores are idle then. `result` waits for it (once) and
    re-raises its error; `seconds` is how long lowering and compiling took.
    """

    def __init__(self, lower: Callable[[], Any], options: dict[str, Any], name: str) -> None:
        self.seconds: float | None = None
        self._compiled: Any = None
        self._error: BaseException | None = None
        self.waited: float | None = None  # seconds the first `result` call waited
        self._thread = threading.Thread(
            target=self._run, args=(lower, options), name=f"fastbrc-{name}-compile", daemon=True
        )
        self._thread.start()

    def _run(self, lower: Callable[[], Any], options: dict[str, Any]) -> None:
        tick = time.perf_counter()
        try:
            self._compiled = lower().compile(options)
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            self._error = error
        self.seconds = time.perf_counter() - tick

    def result(self) -> Any:
        if self.waited is None:
            tick = time.perf_counter()
            self._thread.join()
            self.waited = time.perf_counter() - tick
            if self._error is not None:
                raise self._error
        return self._compiled

    def close(self) -> None:
        self._thread.join()


def _before_first_checkpoint(run_dir: Path, config: Config) -> bool:
    """Whether the run in `run_dir` was stopped before it saved a checkpoint: no step folder,
    and no metrics from where its first one would have been (else they were removed)."""
    folder = run_dir / "checkpoints"
    if folder.is_dir() and any(p.name.isdigit() for p in folder.iterdir()):
        return False
    per_chunk = config.env_steps_per_chunk
    first = -(-config.checkpoint_every // per_chunk) * per_chunk  # its record comes first
    lines = read_metric_lines(run_dir / "metrics.jsonl", warn=lambda _: None)
    return max((step for step, _ in lines), default=0) <= first


def _crossed(env_steps: int, per_chunk: int, every: int) -> bool:
    return env_steps // every > (env_steps - per_chunk) // every


def train(
    config: Config, *, resume: bool = False, overwrite: bool = False, verbose: bool = True
) -> dict[str, Any]:
    """Train to `config.total_env_steps`; return the last logged record.

    `resume`: continue the run in `config.run_dir` from its newest good checkpoint.
    `overwrite`: replace the run in `config.run_dir` instead of refusing it.
    """
    with contextlib.ExitStack() as held:  # the run directory's lock, once taken
        return _train(config, resume, overwrite, verbose, held)


def _train(
    config: Config, resume: bool, overwrite: bool, verbose: bool, held: contextlib.ExitStack
) -> dict[str, Any]:
    config = validate(config)
    # multi-host: every process runs this loop on its own devices' envs; process 0 alone
    # writes the run directory's files and prints (Orbax coordinates the checkpoints)
    primary = jax.process_index() == 0
    say = print if verbose and primary else (lambda *a, **k: None)
    run_dir = run_dir_of(config)
    check_run_dir(run_dir, resume=resume, overwrite=overwrite)
    locked = primary and run_dir.is_dir()
    if locked:
        # one writer per run directory: a second one stops here, before compiling anything
        held.enter_context(RunLock(run_dir, warn=say))
        if resume:
            read_metric_lines(run_dir / "metrics.jsonl", warn=lambda _: None)  # a bad line
    if config.wandb and primary:
        import_wandb()  # a missing package is reported before anything is written
    videos = config.video_every > 0 and primary
    if videos and jax.process_count() > 1:
        videos = False  # rendering restores a checkpoint in one process; not across hosts
        say("fastbrc: --video-every is ignored in multi-host runs")
    if videos:
        try:
            render.check_gl()  # no OpenGL: one line now, not after hours of training
        except render.RenderError as error:
            raise ConfigError(f"--video-every: {error}") from None
    # a run killed before its first checkpoint starts over: from its seed, that is exact
    restart = resume and _before_first_checkpoint(run_dir, config)
    if restart:
        say(f"fastbrc: {run_dir} has no checkpoint yet; starting it over from 0 env steps")
    source = None
    if config.init_from and (restart or not resume):
        config = transfer.prepare(config)
        source = transfer.load_source(config)
    env, eval_env = make_envs(config)
    fns = make_train_fns(config, env, eval_env)
    shardings = fns.state_shardings
    key_init, key_eval = jax.random.split(jax.random.PRNGKey(config.seed))
    abstract = parallel.with_shardings(jax.eval_shape(fns.init, key_init), shardings)
    device = fns.mesh.devices.flat[0]

    def options(program: compile_options.Program) -> dict[str, Any]:
        return compile_options.for_program(program, device.platform)

    need = memory.estimate(
        config, abstract, env.spec.obs_size, env.spec.action_size, num_devices=fns.mesh.size
    )
    where = "this machine" if device.platform == "cpu" else f"each {device.device_kind}"
    memory.check_fits(need, memory.available_bytes(device), where)

    start = time.perf_counter()
    checkpoints_dir = run_dir / "checkpoints"
    first_chunk = 0

    def open_checkpoints() -> Checkpoints:
        error_log = run_dir / ERROR_LOG if primary else None
        return Checkpoints(
            checkpoints_dir, keep=config.keep_checkpoints, owner=primary, error_log=error_log
        )

    if resume and not restart:
        checkpoints = open_checkpoints()
        restored = checkpoints.restore(abstract, config, warn=say)
        state = restored.state
        if not restored.has_buffer:
            state = state.replace(replay=fns.empty_replay())
            say(
                "fastbrc: the checkpoint has no replay buffer; refilling it before learning "
                "(this resume is not bit-exact)"
            )
        state = jax.device_put(state, shardings)  # leaves rebuilt on restore sit on one device
        first_chunk = restored.chunk
        if first_chunk >= config.num_chunks:
            raise ConfigError(
                f"the run in {run_dir} already reached {restored.step:,} env steps; pass a "
                "larger --total-env-steps to train on"
            )
        lowered_chunk = fns.train_chunk.lower(state)
        say(f"fastbrc: resuming {run_dir} from checkpoint {restored.step:,}")
    else:
        if primary and not locked:  # a new directory: lock it as it is made
            run_dir.mkdir(parents=True, exist_ok=True)
            held.enter_context(RunLock(run_dir, warn=say))
            check_run_dir(run_dir, resume=False, overwrite=overwrite)  # a run started here?
        if overwrite and primary:
            clear_run_dir(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        checkpoints = open_checkpoints()
        # the envs' reset and step are traced here, once; XLA compiles init in the background
        # while the chunk is traced from the state's shapes
        lowered_init = fns.init.lower(key_init)
        init_compile = BackgroundCompile(lambda: lowered_init, options("init"), "init")
        lowered_chunk = fns.train_chunk.lower(abstract)
        state = init_compile.result()(parallel.on_mesh(key_init, fns.mesh))
        if source is not None:
            state = jax.device_put(transfer.apply(state, source.state), shardings)
            say(
                f"fastbrc: initialised from {config.init_from} (checkpoint {source.step:,}); "
                "new task embedding, fresh optimiser and buffer"
            )
    if primary:
        (run_dir / "config.json").write_text(config.to_json() + "\n")
    jax.block_until_ready(state)
    capacity = config.replay_capacity_per_env * config.num_envs
    devices = fns.mesh.size
    on = f"{devices} x {device.device_kind}" if devices > 1 else device.device_kind
    per = " per device" if devices > 1 else ""
    say(
        f"fastbrc: {config.env} | {config.num_envs} envs on {jax.default_backend()} "
        f"({on}) | replay {capacity:,} transitions "
        f"({config.replay_capacity_per_env:,}/env), {_human_bytes(need.replay)}{per} | "
        f"estimated peak {_human_bytes(need.total)}{per}"
    )
    say(f"fastbrc: run directory {run_dir}")

    def eval_key(index: int) -> jax.Array:  # on the mesh, where the compiled eval expects it
        return parallel.on_mesh(jax.random.fold_in(key_eval, index), fns.mesh)

    # the evaluation compiles in the background while the first chunks train (the host's
    # cores are mostly idle then); the first evaluation waits for it if it must
    eval_compile = BackgroundCompile(
        lambda: fns.evaluate.lower(abstract, key_eval), options("evaluate"), "evaluate"
    )
    chunk = lowered_chunk.compile(options("chunk"))
    compile_s = time.perf_counter() - start
    say(f"fastbrc: compiled in {compile_s:.1f} s (init + chunk; evaluation in the background)")

    per_chunk = config.env_steps_per_chunk
    resume_step = first_chunk * per_chunk if resume else None
    logger = (
        MetricsLogger(run_dir, resume_from_step=resume_step, config=config, warn=say)
        if primary
        else NullLogger()
    )
    progress = Progress(config.total_env_steps) if verbose and primary else None
    train_s = 0.0
    last_eval: float | None = None
    last_saved = first_chunk * per_chunk if resume and not restart else None
    record: dict[str, Any] = {}

    def save(state: Any, chunk_index: int) -> None:
        nonlocal last_saved
        env_steps = chunk_index * per_chunk
        try:
            logger.sync()  # the records up to the checkpoint are on disk before it
            info = checkpoints.save(state, step=env_steps, chunk=chunk_index, config=config)
        except Exception as error:  # noqa: BLE001 - disk full, permissions, ...: one line
            raise RunWriteError(
                f"could not save checkpoint {env_steps:,} to {checkpoints.directory}: "
                f"{_describe(error)}; {_kept(last_saved)}; {log_error(run_dir, error)}",
                run_dir / ERROR_LOG,
            ) from error
        last_saved = env_steps
        buffer = "with" if config.save_buffer else "without"
        say(
            f"fastbrc: checkpoint {env_steps:,} saved ({buffer} replay buffer, "
            f"{_human_bytes(info.nbytes)}, {info.seconds:.1f} s)"
        )

    evaluations = 0

    def video(env_steps: int) -> None:
        """A short clip of the policy at this checkpoint; a failure warns, training goes on."""
        tick = time.perf_counter()
        try:
            paths = render.render_checkpoint(run_dir, env_steps, max_steps=VIDEO_MAX_STEPS)
        except Exception as error:  # noqa: BLE001 - a video must never end a training run
            say(f"fastbrc: warning: no video at {env_steps:,} env steps: {error}")
            return
        names = ", ".join(str(p) for p in paths)
        say(f"fastbrc: video {names} ({time.perf_counter() - tick:.1f} s)")

    try:
        with StopRequest() as stop:
            for index in range(first_chunk, config.num_chunks):
                tick = time.perf_counter()
                state, metrics = chunk(state)
                metrics = expand_task_metrics(jax.device_get(metrics), config.env_names)
                chunk_s = time.perf_counter() - tick
                train_s += chunk_s
                env_steps = (index + 1) * per_chunk
                record = {"env_steps": env_steps, **metrics}
                bad = int(metrics["train/nonfinite"])
                out_of_time = bool(config.max_wall_s) and (
                    time.perf_counter() - start >= config.max_wall_s
                )
                last_chunk = index == config.num_chunks - 1 or out_of_time
                if not bad and (
                    last_chunk or _crossed(env_steps, per_chunk, config.eval_every_env_steps)
                ):
                    evaluate = eval_compile.result()
                    if evaluations == 0:
                        say(
                            f"fastbrc: evaluation compiled in the background in "
                            f"{eval_compile.seconds:.1f} s (training waited "
                            f"{eval_compile.waited:.1f} s for it)"
                        )
                    eval_metrics = expand_task_metrics(
                        jax.device_get(evaluate(state, eval_key(index))),
                        config.env_names,
                    )
                    record.update(eval_metrics)
                    record["perf/eval_compile_s"] = eval_compile.seconds
                    last_eval = float(eval_metrics["eval/episode_return"])
                    evaluations += 1
                record.update(
                    {
                        "wall_s": time.perf_counter() - start,
                        "perf/train_s": train_s,
                        "perf/compile_s": compile_s,
                        "perf/env_steps_per_s": per_chunk / chunk_s,
                        "perf/updates_per_s": float(metrics["train/critic_updates"]) / chunk_s,
                    }
                )
                record = logger.write(record)
                if bad:
                    kept = (
                        f"the last good checkpoint ({last_saved:,} env steps) is kept in "
                        f"{checkpoints.directory}"
                        if last_saved is not None
                        else "no checkpoint was saved before it"
                    )
                    raise TrainingDiverged(
                        f"training diverged: {NONFINITE_CHECKS[bad - 1]} became non-finite in "
                        f"the chunk ending at env step {env_steps:,}; {kept}; lower the "
                        "learning rates or the reward scale"
                    )
                if progress:
                    rate = (env_steps - first_chunk * per_chunk) / train_s
                    eta = (config.total_env_steps - env_steps) / max(rate, 1e-9)
                    progress.update(env_steps, per_chunk / chunk_s, last_eval, eta)
                if (
                    last_chunk
                    or stop.signal_name
                    or _crossed(env_steps, per_chunk, config.checkpoint_every)
                ):
                    save(state, index + 1)
                if videos and "eval/episode_return" in record:
                    if evaluations % config.video_every == 0:
                        if last_saved != env_steps:
                            save(state, index + 1)
                        video(env_steps)
                if stop.signal_name:
                    if progress:
                        progress.close()
                        progress = None
                    say(
                        f"fastbrc: stopped by {stop.signal_name} at {env_steps:,} env steps; "
                        f"resume with: fastbrc train --resume {run_dir}"
                    )
                    record["stopped_by"] = stop.signal_name
                    break
                if out_of_time and index < config.num_chunks - 1:
                    say(
                        f"fastbrc: stopped at {env_steps:,} env steps after "
                        f"{time.perf_counter() - start:.0f} s (--max-wall-s "
                        f"{config.max_wall_s:g}); continue with: fastbrc train --resume "
                        f"{run_dir} --max-wall-s 0"
                    )
                    record["stopped_by"] = "max_wall_s"
                    break
    except OSError as error:  # metrics.jsonl or TensorBoard could not be written
        raise RunWriteError(
            f"could not write to {error.filename or run_dir}: {_describe(error)}; "
            f"{_kept(last_saved)}; {log_error(run_dir, error)}",
            run_dir / ERROR_LOG,
        ) from error
    finally:
        failing = sys.exc_info()[0] is not None
        eval_compile.close()
        if progress:
            progress.close()
        # after a failed write (a full disk), closing fails too: the first error is the one
        with contextlib.suppress(OSError) if failing else contextlib.nullcontext():
            logger.close()
        checkpoints.close()
    if "stopped_by" not in record:
        say(
            f"fastbrc: done, {record.get('env_steps', 0):,} env steps in {train_s:.1f} s "
            f"training + {compile_s:.1f} s compile; final eval return {last_eval}"
        )
    record["run_dir"] = str(run_dir)
    record["trace_counts"] = dict(fns.trace_counts)
    return record
