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
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax

from fastbrc.config import Config, ConfigError, check_divisible, validate
from fastbrc.core import parallel
from fastbrc.learner import NONFINITE_CHECKS, TrainFns, make_envs, make_train_fns, seeds
from fastbrc.run import compile_options, memory, render, transfer
from fastbrc.run.background import BackgroundCompile
from fastbrc.run.checkpoint import CheckpointError, Checkpoints, Restored
from fastbrc.run.cpu_devices import split_cpu
from fastbrc.run.logger import MetricsLogger, NullLogger, Progress, import_wandb, read_metric_lines
from fastbrc.run.members import EVAL_KEY, split_metrics, summary
from fastbrc.run.rundir import (
    ERROR_LOG,
    RunWriteError,
    before_first_checkpoint,
    check_run_dir,
    clear_run_dir,
    describe_os_error,
    kept_note,
    log_error,
    run_dir_of,
)
from fastbrc.run.runlock import RunLock

# Length cap of the clips --video-every writes, in agent steps.
VIDEO_MAX_STEPS = 250

__all__ = [
    "CheckpointError",
    "Prepared",
    "RunLoop",
    "RunWriteError",
    "Started",
    "TrainingDiverged",
    "prepare",
    "start",
    "train",
]


class TrainingDiverged(RuntimeError):
    """A loss, Q value or parameter became non-finite (one-line message)."""


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
        prepared = prepare(config, held, resume=resume, overwrite=overwrite, verbose=verbose)
        return RunLoop(prepared, start(prepared, held)).run()


# ----------------------------------------------------------------------------- prepare
@dataclass
class Prepared:
    """A run whose every input is checked (config, run directory, transfer source, memory);
    its lock is held, nothing is compiled or written yet."""

    config: Config
    run_dir: Path
    resume: bool  # as asked: continue the run in run_dir
    restart: bool  # a resumed run with no checkpoint yet: it starts over from its seed
    overwrite: bool
    verbose: bool
    primary: bool  # process 0: writes the run directory and prints
    locked: bool  # the lock is held already (the directory existed)
    videos: bool
    say: Callable[..., None]
    source: Restored | None  # --init-from's checkpoint
    fns: TrainFns
    abstract: Any  # the train state's shapes and shardings
    key_init: jax.Array
    key_eval: jax.Array
    need: memory.MemoryEstimate

    @property
    def continues(self) -> bool:
        """Whether training continues from a checkpoint."""
        return self.resume and not self.restart

    @property
    def device(self) -> Any:
        return self.fns.mesh.devices.flat[0]


def prepare(
    config: Config,
    held: contextlib.ExitStack,
    *,
    resume: bool = False,
    overwrite: bool = False,
    verbose: bool = True,
) -> Prepared:
    """Check everything about the run before anything is written (the lock goes on `held`)."""
    config = validate(config)
    split = split_cpu(config.cpu_devices)  # before the first JAX call, where that is still early
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
    if not split and jax.default_backend() == "cpu":
        say(
            f"fastbrc: --cpu-devices {config.cpu_devices} takes effect only before JAX starts "
            f"(the fastbrc command sees to that); this process trains on "
            f"{len(jax.devices())} CPU device(s)"
        )
    videos = _check_videos(config, primary, say)
    # a run killed before its first checkpoint starts over: from its seed, that is exact
    restart = resume and before_first_checkpoint(run_dir, config)
    if restart:
        say(f"fastbrc: {run_dir} has no checkpoint yet; starting it over from 0 env steps")
    source = None
    if config.init_from and (restart or not resume):
        config = transfer.prepare(config)
        source = transfer.load_source(config)
    env, eval_env = make_envs(config.agent, config.num_eval_envs)
    mesh = parallel.make_mesh(config.num_devices)
    check_divisible(config, env.spec.envs_per_task, mesh.size)
    fns = make_train_fns(config.agent, env, eval_env, mesh)
    key_init, key_eval = seeds.run_keys(config.seed, config.seeds)
    abstract = parallel.with_shardings(jax.eval_shape(fns.init, key_init), fns.state_shardings)
    device = fns.mesh.devices.flat[0]
    need = memory.estimate(
        config, abstract, env.spec.obs_size, env.spec.action_size, num_devices=fns.mesh.size
    )
    where = "this machine" if device.platform == "cpu" else f"each {device.device_kind}"
    memory.check_fits(need, memory.available_bytes(device), where, num_seeds=fns.num_seeds)
    return Prepared(
        config=config,
        run_dir=run_dir,
        resume=resume,
        restart=restart,
        overwrite=overwrite,
        verbose=verbose,
        primary=primary,
        locked=locked,
        videos=videos,
        say=say,
        source=source,
        fns=fns,
        abstract=abstract,
        key_init=key_init,
        key_eval=key_eval,
        need=need,
    )


def _check_videos(config: Config, primary: bool, say: Callable[..., None]) -> bool:
    """Whether this process writes --video-every clips (OpenGL is checked now)."""
    videos = config.video_every > 0 and primary
    if videos and jax.process_count() > 1:
        say("fastbrc: --video-every is ignored in multi-host runs")
        return False  # rendering restores a checkpoint in one process; not across hosts
    if videos:
        try:
            render.check_gl()  # no OpenGL: one line now, not after hours of training
        except render.RenderError as error:
            raise ConfigError(f"--video-every: {error}") from None
    return videos


# ------------------------------------------------------------------------------- start
@dataclass
class Started:
    """The first train state on the devices and the compiled programs."""

    state: Any
    chunk: Any  # the compiled training chunk
    evaluate: BackgroundCompile  # the evaluation, compiling in the background
    checkpoints: Checkpoints
    first_chunk: int  # index of the next chunk (0 for a fresh run)
    start_time: float  # perf_counter() when starting began (the wall-clock origin)
    compile_s: float  # init (or restore) and chunk: everything before the first chunk
    seconds: dict[str, float]  # lowering and compile times of init and chunk


CompileOptions = Callable[[compile_options.Program, str], dict[str, Any]]


def start(
    prepared: Prepared, held: contextlib.ExitStack, options: CompileOptions | None = None
) -> Started:
    """Restore or initialise the train state and compile the chunk (the evaluation compiles in
    the background); writes config.json. `options(program, platform)`: XLA compile options
    (default `compile_options.for_program`)."""
    p, say = prepared, prepared.say
    platform = p.device.platform
    program_options = lambda program: (options or compile_options.for_program)(program, platform)
    start_time = time.perf_counter()
    seconds: dict[str, float] = {}
    if p.continues:
        checkpoints, state, first_chunk = _restore(p)
        tick = time.perf_counter()
        lowered_chunk = p.fns.train_chunk.lower(state)
        seconds["chunk_lower_s"] = time.perf_counter() - tick
    else:
        checkpoints, first_chunk = _open_fresh_run_dir(p, held), 0
        state, lowered_chunk = _init_state(p, program_options, seconds)
    if p.primary:
        (p.run_dir / "config.json").write_text(p.config.to_json() + "\n")
    jax.block_until_ready(state)
    _say_summary(p)
    # the evaluation compiles in the background while the first chunks train (the host's
    # cores are mostly idle then); the first evaluation waits for it if it must
    evaluate = BackgroundCompile(
        lambda: p.fns.evaluate.lower(p.abstract, p.key_eval),
        program_options("evaluate"),
        "evaluate",
    )
    tick = time.perf_counter()
    chunk = lowered_chunk.compile(program_options("chunk"))
    seconds["chunk_compile_s"] = time.perf_counter() - tick
    compile_s = time.perf_counter() - start_time
    say(f"fastbrc: compiled in {compile_s:.1f} s (init + chunk; evaluation in the background)")
    return Started(state, chunk, evaluate, checkpoints, first_chunk, start_time, compile_s, seconds)


def _open_checkpoints(p: Prepared) -> Checkpoints:
    error_log = p.run_dir / ERROR_LOG if p.primary else None
    return Checkpoints(
        p.run_dir / "checkpoints",
        keep=p.config.keep_checkpoints,
        owner=p.primary,
        error_log=error_log,
    )


def _restore(p: Prepared) -> tuple[Checkpoints, Any, int]:
    """The newest good checkpoint's state on the devices, and the index of its next chunk."""
    checkpoints = _open_checkpoints(p)
    restored = checkpoints.restore(p.abstract, p.config, warn=p.say)
    state = restored.state
    if not restored.has_buffer:
        state = state.replace(replay=p.fns.empty_replay())
        p.say(
            "fastbrc: the checkpoint has no replay buffer; refilling it before learning "
            "(this resume is not bit-exact)"
        )
    state = jax.device_put(state, p.fns.state_shardings)  # restored leaves sit on one device
    if restored.chunk >= p.config.num_chunks:
        raise ConfigError(
            f"the run in {p.run_dir} already reached {restored.step:,} env steps; pass a "
            "larger --total-env-steps to train on"
        )
    p.say(f"fastbrc: resuming {p.run_dir} from checkpoint {restored.step:,}")
    return checkpoints, state, restored.chunk


def _open_fresh_run_dir(p: Prepared, held: contextlib.ExitStack) -> Checkpoints:
    """Make (or clear, with --overwrite) the run directory, locked as it is made."""
    if p.primary and not p.locked:  # a new directory: lock it as it is made
        p.run_dir.mkdir(parents=True, exist_ok=True)
        held.enter_context(RunLock(p.run_dir, warn=p.say))
        check_run_dir(p.run_dir, resume=False, overwrite=p.overwrite)  # a run started here?
    if p.overwrite and p.primary:
        clear_run_dir(p.run_dir)
    p.run_dir.mkdir(parents=True, exist_ok=True)
    return _open_checkpoints(p)


def _init_state(
    p: Prepared, program_options: Callable[[str], dict[str, Any]], seconds: dict[str, float]
) -> tuple[Any, Any]:
    """A fresh state (with --init-from's weights) and the lowered chunk. The envs' reset and
    step are traced once, here; XLA compiles init in the background while the chunk is traced
    from the state's shapes."""
    tick = time.perf_counter()
    lowered_init = p.fns.init.lower(p.key_init)
    seconds["init_lower_s"] = time.perf_counter() - tick
    init_compile = BackgroundCompile(lambda: lowered_init, program_options("init"), "init")
    tick = time.perf_counter()
    lowered_chunk = p.fns.train_chunk.lower(p.abstract)
    seconds["chunk_lower_s"] = time.perf_counter() - tick
    compiled_init = init_compile.result()
    seconds["init_compile_s"] = init_compile.seconds
    tick = time.perf_counter()
    state = jax.block_until_ready(compiled_init(parallel.on_mesh(p.key_init, p.fns.mesh)))
    seconds["init_run_s"] = time.perf_counter() - tick
    if p.source is not None:
        source = p.source.state
        if p.fns.num_seeds:  # every seed starts from the source's networks
            nets = seeds.broadcast((source.actor_params, source.critic_params), p.fns.num_seeds)
            source = source.replace(actor_params=nets[0], critic_params=nets[1])
        state = jax.device_put(transfer.apply(state, source), p.fns.state_shardings)
        p.say(
            f"fastbrc: initialised from {p.config.init_from} (checkpoint {p.source.step:,}); "
            "new task embedding, fresh optimiser and buffer"
        )
    return state, lowered_chunk


def _say_summary(p: Prepared) -> None:
    config, device, devices = p.config, p.device, p.fns.mesh.size
    capacity = config.replay_capacity_per_env * config.num_envs
    on = f"{devices} x {device.device_kind}" if devices > 1 else device.device_kind
    per = " per device" if devices > 1 else ""
    members = f" x {len(config.seeds)} seeds ({_seed_list(config)})" if config.seeds else ""
    p.say(
        f"fastbrc: {config.env} | {config.num_envs} envs{members} on {jax.default_backend()} "
        f"({on}) | replay {capacity:,} transitions "
        f"({config.replay_capacity_per_env:,}/env), {_human_bytes(p.need.replay)}{per} | "
        f"estimated peak {_human_bytes(p.need.total)}{per}"
    )
    p.say(f"fastbrc: run directory {p.run_dir}")


def _seed_list(config: Config) -> str:
    return ",".join(map(str, config.seeds))


# -------------------------------------------------------------------------------- loop
class RunLoop:
    """The chunks, and after each the hooks: evaluate, divergence guard, progress,
    checkpoint, video, stop request (a signal or --max-wall-s)."""

    def __init__(self, prepared: Prepared, started: Started) -> None:
        p, s = prepared, started
        self.p, self.s, self.say = p, s, p.say
        self.config = p.config
        self.per_chunk = p.config.env_steps_per_chunk
        self.resume_from = s.first_chunk * self.per_chunk
        resume_step = self.resume_from if p.resume else None
        self.logger = (
            MetricsLogger(p.run_dir, resume_from_step=resume_step, config=p.config, warn=p.say)
            if p.primary
            else NullLogger()
        )
        self.progress = Progress(p.config.total_env_steps) if p.verbose and p.primary else None
        self.train_s = 0.0
        self.last_eval: list[float | None] = [None] * len(p.config.seed_list)  # per seed
        self.last_saved = self.resume_from if p.continues else None
        self.evaluations = 0
        self.seeds = len(p.config.seeds)

    def run(self) -> dict[str, Any]:
        record: dict[str, Any] = {}
        try:
            with StopRequest() as stop:
                for index in range(self.s.first_chunk, self.config.num_chunks):
                    record = self.step(index, stop)
                    if "stopped_by" in record:
                        break
        except OSError as error:  # metrics.jsonl or TensorBoard could not be written
            raise RunWriteError(
                f"could not write to {error.filename or self.p.run_dir}: "
                f"{describe_os_error(error)}; {kept_note(self.last_saved)}; "
                f"{log_error(self.p.run_dir, error)}",
                self.p.run_dir / ERROR_LOG,
            ) from error
        finally:
            self.close(failing=sys.exc_info()[0] is not None)
        if "stopped_by" not in record:
            over = f" (median [min, max] of seeds {_seed_list(self.config)})"
            self.say(
                f"fastbrc: done, {record.get('env_steps', 0):,} env steps in {self.train_s:.1f} "
                f"s training + {self.s.compile_s:.1f} s compile; final eval return "
                f"{summary(self.last_eval)}{over if self.config.multi_seed else ''}"
            )
        record["run_dir"] = str(self.p.run_dir)
        record["trace_counts"] = dict(self.p.fns.trace_counts)
        return record

    def step(self, index: int, stop: StopRequest) -> dict[str, Any]:
        """One chunk and its hooks; the record gains "stopped_by" when the run stops here. A
        --seeds run logs one record per seed and returns the first with all of them under
        "seeds"."""
        config, per_chunk = self.config, self.per_chunk
        tick = time.perf_counter()
        self.s.state, metrics = self.s.chunk(self.s.state)
        members = split_metrics(jax.device_get(metrics), config)
        chunk_s = time.perf_counter() - tick
        self.train_s += chunk_s
        env_steps = (index + 1) * per_chunk
        bad = [int(m["train/nonfinite"]) for m in members]
        out_of_time = bool(config.max_wall_s) and self.wall_s() >= config.max_wall_s
        last_chunk = index == config.num_chunks - 1 or out_of_time
        if not any(bad) and (
            last_chunk or _crossed(env_steps, per_chunk, config.eval_every_env_steps)
        ):
            for member, evaluation in zip(members, self.evaluate(index), strict=True):
                member.update(evaluation)
        perf = {
            "wall_s": self.wall_s(),
            "perf/train_s": self.train_s,
            "perf/compile_s": self.s.compile_s,
            "perf/env_steps_per_s": per_chunk / chunk_s,  # each seed's
            "perf/updates_per_s": float(members[0]["train/critic_updates"]) / chunk_s,
        }
        records = [
            self.logger.write(
                {"env_steps": env_steps, **({"seed": s} if config.multi_seed else {}), **m, **perf}
            )
            for s, m in zip(config.seed_list, members, strict=True)
        ]
        if any(bad):
            self.diverged(bad, env_steps)
        reached = config.stop_at_return is not None and all(
            r.get(EVAL_KEY) is not None and r[EVAL_KEY] >= config.stop_at_return for r in records
        )
        self.report_progress(env_steps, chunk_s)
        if (
            last_chunk
            or reached
            or stop.signal_name
            or _crossed(env_steps, per_chunk, config.checkpoint_every)
        ):
            self.checkpoint(index + 1)
        if self.p.videos and EVAL_KEY in records[0]:
            self.video(index + 1, env_steps)
        record = {**records[0], "seeds": records} if config.multi_seed else records[0]
        if reached and index < config.num_chunks - 1:
            self.say(
                f"fastbrc: every seed reached eval return {config.stop_at_return:g} at "
                f"{env_steps:,} env steps; stopped (--stop-at-return)"
            )
            record["stopped_by"] = "stop_at_return"
        elif stop.signal_name:
            self.stopped_by_signal(stop.signal_name, env_steps)
            record["stopped_by"] = stop.signal_name
        elif out_of_time and index < config.num_chunks - 1:
            self.stopped_by_wall_clock(env_steps)
            record["stopped_by"] = "max_wall_s"
        return record

    def wall_s(self) -> float:
        return time.perf_counter() - self.s.start_time

    # ----------------------------------------------------------------------- the hooks
    def evaluate(self, index: int) -> list[dict[str, Any]]:
        """The deterministic policy's eval metrics, per seed (the first call waits for the
        compile)."""
        compiled = self.s.evaluate.result()
        if self.evaluations == 0:
            self.say(
                f"fastbrc: evaluation compiled in the background in "
                f"{self.s.evaluate.seconds:.1f} s (training waited "
                f"{self.s.evaluate.waited:.1f} s for it)"
            )
        # the key on the mesh, where the compiled evaluation expects it
        key = parallel.on_mesh(seeds.eval_key(self.p.key_eval, index), self.p.fns.mesh)
        members = split_metrics(jax.device_get(compiled(self.s.state, key)), self.config)
        self.last_eval = [float(m[EVAL_KEY]) for m in members]
        self.evaluations += 1
        return [{**m, "perf/eval_compile_s": self.s.evaluate.seconds} for m in members]

    def diverged(self, bad: list[int], env_steps: int) -> None:
        """Stop the run: `bad` holds each seed's non-finite check (0: finite)."""
        first = next(b for b in bad if b)
        culprits = [s for s, b in zip(self.config.seed_list, bad, strict=True) if b]
        which = ""
        if self.config.multi_seed:
            which = f"seed{'s' if len(culprits) > 1 else ''} {', '.join(map(str, culprits))}: "
        kept = (
            f"the last good checkpoint ({self.last_saved:,} env steps) is kept in "
            f"{self.s.checkpoints.directory}"
            if self.last_saved is not None
            else "no checkpoint was saved before it"
        )
        raise TrainingDiverged(
            f"training diverged: {which}{NONFINITE_CHECKS[first - 1]} became non-finite in "
            f"the chunk ending at env step {env_steps:,}; {kept}; lower the "
            "learning rates or the reward scale"
        )

    def report_progress(self, env_steps: int, chunk_s: float) -> None:
        if self.progress:
            rate = (env_steps - self.resume_from) / self.train_s
            eta = (self.config.total_env_steps - env_steps) / max(rate, 1e-9)
            if self.config.max_wall_s:  # the wall-clock budget may end the run first
                eta = min(eta, max(self.config.max_wall_s - self.wall_s(), 0.0))
            self.progress.update(
                env_steps, self.per_chunk / chunk_s, summary(self.last_eval), eta, self.seeds
            )

    def checkpoint(self, chunk_index: int) -> None:
        env_steps = chunk_index * self.per_chunk
        checkpoints = self.s.checkpoints
        try:
            self.logger.sync()  # the records up to the checkpoint are on disk before it
            info = checkpoints.save(
                self.s.state, step=env_steps, chunk=chunk_index, config=self.config
            )
        except Exception as error:  # noqa: BLE001 - disk full, permissions, ...: one line
            raise RunWriteError(
                f"could not save checkpoint {env_steps:,} to {checkpoints.directory}: "
                f"{describe_os_error(error)}; {kept_note(self.last_saved)}; "
                f"{log_error(self.p.run_dir, error)}",
                self.p.run_dir / ERROR_LOG,
            ) from error
        self.last_saved = env_steps
        buffer = "with" if self.config.save_buffer else "without"
        self.say(
            f"fastbrc: checkpoint {env_steps:,} saved ({buffer} replay buffer, "
            f"{_human_bytes(info.nbytes)}, {info.seconds:.1f} s)"
        )

    def video(self, chunk_index: int, env_steps: int) -> None:
        """After every video_every-th evaluation, a short clip of the policy from a checkpoint
        there; a failure warns, training goes on."""
        if self.evaluations % self.config.video_every:
            return
        if self.last_saved != env_steps:
            self.checkpoint(chunk_index)
        tick = time.perf_counter()
        best = max(  # the best seed of this evaluation
            zip(self.config.seed_list, self.last_eval, strict=True),
            key=lambda pair: -float("inf") if pair[1] is None else pair[1],
        )[0]
        seed = best if self.config.multi_seed else None
        try:
            paths = render.render_checkpoint(
                self.p.run_dir, env_steps, max_steps=VIDEO_MAX_STEPS, seed=seed
            )
        except Exception as error:  # noqa: BLE001 - a video must never end a training run
            self.say(f"fastbrc: warning: no video at {env_steps:,} env steps: {error}")
            return
        names = ", ".join(str(p) for p in paths)
        self.say(f"fastbrc: video {names} ({time.perf_counter() - tick:.1f} s)")

    def stopped_by_signal(self, signal_name: str, env_steps: int) -> None:
        if self.progress:
            self.progress.close()
            self.progress = None
        self.say(
            f"fastbrc: stopped by {signal_name} at {env_steps:,} env steps; "
            f"resume with: fastbrc train --resume {self.p.run_dir}"
        )

    def stopped_by_wall_clock(self, env_steps: int) -> None:
        self.say(
            f"fastbrc: stopped at {env_steps:,} env steps after {self.wall_s():.0f} s "
            f"(--max-wall-s {self.config.max_wall_s:g}); continue with: fastbrc train --resume "
            f"{self.p.run_dir} --max-wall-s 0"
        )

    def close(self, failing: bool) -> None:
        self.s.evaluate.close()
        if self.progress:
            self.progress.close()
        # after a failed write (a full disk), closing fails too: the first error is the one
        with contextlib.suppress(OSError) if failing else contextlib.nullcontext():
            self.logger.close()
        self.s.checkpoints.close()
