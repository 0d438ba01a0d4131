"""The thin Python loop around jitted chunks: compile, train, evaluate, log.

Nothing here runs per environment step: one chunk call covers ``iterations_per_chunk`` x
``num_envs`` env steps, followed by one host read of the chunk's already-reduced metrics.
Compilation is done ahead of time and timed separately from training.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jax

from fastbrc.config import Config, ConfigError, validate
from fastbrc.envs import BatchedEnv
from fastbrc.logger import MetricsLogger, Progress
from fastbrc.replay import buffer_nbytes
from fastbrc.train import TrainFns, make_train_fns


def make_envs(config: Config) -> tuple[BatchedEnv, BatchedEnv]:
    kwargs = dict(
        impl=config.impl, episode_length=config.episode_length, action_repeat=config.action_repeat
    )
    env = BatchedEnv(config.env_names, config.num_envs, **kwargs)
    eval_env = BatchedEnv(config.env_names, config.num_eval_envs, **kwargs)
    return env, eval_env


def prepare_run_dir(config: Config) -> Path:
    """Create the run directory; refuse one that already holds a run."""
    if config.run_dir is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path("runs") / f"{config.env.replace(',', '+')}-{stamp}"
    else:
        path = Path(config.run_dir)
    if (path / "metrics.jsonl").exists() or (path / "config.json").exists():
        raise ConfigError(f"run directory {path} already holds a run; choose another --run-dir")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return f"{n:.1f} GiB"


def train(config: Config, *, verbose: bool = True) -> dict[str, Any]:
    """Train to `config.total_env_steps`; return the last logged record."""
    config = validate(config)
    say = print if verbose else (lambda *a, **k: None)
    env, eval_env = make_envs(config)
    run_dir = prepare_run_dir(config)
    (run_dir / "config.json").write_text(config.to_json() + "\n")
    fns = make_train_fns(config, env, eval_env)

    start = time.perf_counter()
    key_init, key_eval = jax.random.split(jax.random.PRNGKey(config.seed))
    state = fns.init(key_init)
    jax.block_until_ready(state)
    capacity = config.replay_capacity_per_env * config.num_envs
    say(
        f"fastbrc: {config.env} | {config.num_envs} envs on {jax.default_backend()} "
        f"({jax.devices()[0].device_kind}) | replay {capacity:,} transitions "
        f"({config.replay_capacity_per_env:,}/env), {_human_bytes(buffer_nbytes(state.replay))}"
    )
    say(f"fastbrc: run directory {run_dir}")
    chunk = fns.train_chunk.lower(state).compile()
    evaluate = fns.evaluate.lower(state, key_eval).compile()
    compile_s = time.perf_counter() - start
    say(f"fastbrc: compiled in {compile_s:.1f} s (init + chunk + eval)")

    logger = MetricsLogger(run_dir)
    progress = Progress(config.total_env_steps) if verbose else None
    env_steps_per_chunk = config.env_steps_per_chunk
    train_s = 0.0
    last_eval: float | None = None
    record: dict[str, Any] = {}
    for index in range(config.num_chunks):
        tick = time.perf_counter()
        state, metrics = chunk(state)
        metrics = jax.device_get(metrics)
        chunk_s = time.perf_counter() - tick
        train_s += chunk_s
        env_steps = (index + 1) * env_steps_per_chunk
        record = {"env_steps": env_steps, **metrics}
        last_chunk = index == config.num_chunks - 1
        if (
            last_chunk
            or env_steps // config.eval_every_env_steps
            > (env_steps - env_steps_per_chunk) // config.eval_every_env_steps
        ):
            eval_metrics = jax.device_get(evaluate(state, jax.random.fold_in(key_eval, index)))
            record.update(eval_metrics)
            last_eval = float(eval_metrics["eval/episode_return"])
        record.update(
            {
                "wall_s": time.perf_counter() - start,
                "perf/train_s": train_s,
                "perf/compile_s": compile_s,
                "perf/env_steps_per_s": env_steps_per_chunk / chunk_s,
                "perf/updates_per_s": float(metrics["train/critic_updates"]) / chunk_s,
            }
        )
        record = logger.write(record)
        if progress:
            rate = env_steps / train_s
            eta = (config.total_env_steps - env_steps) / max(rate, 1e-9)
            progress.update(env_steps, env_steps_per_chunk / chunk_s, last_eval, eta)
    if progress:
        progress.close()
    logger.close()
    say(
        f"fastbrc: done, {record.get('env_steps', 0):,} env steps in {train_s:.1f} s training "
        f"+ {compile_s:.1f} s compile; final eval return {last_eval}"
    )
    record["run_dir"] = str(run_dir)
    record["trace_counts"] = dict(fns.trace_counts)
    return record


def build(config: Config) -> TrainFns:
    """Train functions for `config` without a run directory (tests, benchmarks)."""
    env, eval_env = make_envs(validate(config))
    return make_train_fns(config, env, eval_env)
