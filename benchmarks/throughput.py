"""Throughput of the fused fastbrc trainer against its parts and a Python-loop baseline.

Run from the repository root on any JAX backend (CPU here, a GPU elsewhere)::

    python benchmarks/throughput.py                      # default envs and sizes
    python benchmarks/throughput.py --envs CartpoleBalance --num-envs 16 --iterations 20

Every row starts from ``preset(env, profile)`` with ``num_envs`` overridden, the total batch
scaled with it (per-env share = preset batch / preset num_envs, at least 1), the preset's
*total* replay capacity kept (so per-env capacity shrinks as num_envs grows, and a GPU sweep
to 8192 envs fits in memory; ``--replay-capacity-per-env`` fixes it instead) and
``learning_starts_iterations = 0`` so that every iteration learns. ``K`` is the config's
``iterations_per_chunk`` unless ``--iterations`` is given (then the chunk is ``K`` too).
The four modes of one row run back to back in one process, so their ratios come from the
same conditions on a noisy machine:

``env_only_steps_per_s``
    A jitted ``lax.scan`` of ``env.step`` with uniform random actions over ``K`` iterations:
    ``num_envs * K / seconds``. The simulator alone, no policy, no replay, no learning.
``update_only_updates_per_s``
    A jitted ``lax.scan`` of the trainer's ``learn`` over ``K`` iterations on a full replay
    buffer of random data: ``K * updates_per_iteration / seconds`` gradient updates (critic
    updates; the actor updates every ``policy_frequency``-th, as in training).
``fused_env_steps_per_s``
    The trainer itself: ``train_chunk`` compiled ahead of time (``.lower(state).compile()``),
    ``num_envs * iterations_per_chunk / seconds per chunk``. Each iteration acts, steps every
    env, writes the replay, then runs ``updates_per_iteration`` updates.
``python_loop_env_steps_per_s``
    FastTD3's structure: ``jax.jit(collect)`` and ``jax.jit(learn)`` (both donating the
    state) called alternately ``K`` times from a Python ``for`` loop, ``num_envs * K /
    seconds``. The same work as the fused chunk, plus one dispatch per call and no fusion
    across the env/learn boundary.
``additive_bound_env_steps_per_s``
    ``1 / (1 / env_only + (updates_per_iteration / num_envs) / update_only)``: env steps/s if
    the simulator and the updates ran back to back with zero overhead. The fused trainer also
    does inference, replay writes and normaliser updates, so it cannot beat this by much.

Target: ``fused >= 0.9 * additive bound`` (the fused scan adds little beyond its parts) and
``fused > python loop`` (fusing pays). ``meets_target`` in the JSON records both.

Timing: each function is compiled and run once (``block_until_ready``), then ``--repeats``
calls are timed, each ending in ``jax.block_until_ready``, and the MEDIAN is reported (every
repeat's seconds are in the JSON). Output: a Markdown table on stdout (progress on stderr) and
JSON in ``benchmarks/results/throughput-<backend>-<host or device>.json`` (``--out``), written
after every row so that a sweep cut short keeps what it measured.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import socket
import statistics
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
from common import say, write_result  # benchmarks/common.py (the script's folder)
from machine import machine_info  # benchmarks/machine.py

from fastbrc.config import Config
from fastbrc.learner import TrainFns, TrainState, build
from fastbrc.presets import Profile, preset, resolve_profile

Carry = TypeVar("Carry")

DEFAULT_ENVS = ("HumanoidWalk", "CartpoleBalance")
DEFAULT_NUM_ENVS = {"cpu": (16, 64, 256), "accelerator": (1024, 4096, 8192)}
RESULTS_DIR = Path(__file__).resolve().parent / "results"
TARGET_FRACTION_OF_BOUND = 0.9

# CPU may decline to reuse a donated buffer; that changes nothing that is measured here.
warnings.filterwarnings("ignore", message="Some donated buffers were not usable")


# ------------------------------------------------------------------------------- arguments
@dataclasses.dataclass(frozen=True)
class Args:
    envs: tuple[str, ...]
    num_envs: tuple[int, ...] | None  # None: the backend's default sweep
    profile: Profile
    iterations: int | None
    repeats: int
    out: Path | None
    impl: str
    replay_capacity_per_env: int | None
    seed: int
    deadline_s: float | None


def _split_list(values: Sequence[str]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def parse_args(argv: Sequence[str] | None = None) -> Args:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--envs",
        nargs="+",
        default=None,
        help="environments, comma- or space-separated; join tasks of one multi-task run "
        f"with '+' (e.g. HumanoidWalk+HumanoidRun). Default: {','.join(DEFAULT_ENVS)}",
    )
    parser.add_argument(
        "--num-envs",
        nargs="+",
        default=None,
        help="num_envs values, comma- or space-separated. Default: "
        f"{','.join(map(str, DEFAULT_NUM_ENVS['cpu']))} on CPU, "
        f"{','.join(map(str, DEFAULT_NUM_ENVS['accelerator']))} on a GPU",
    )
    parser.add_argument(
        "--profile",
        choices=("auto", "cpu", "gpu"),
        default="auto",
        help="preset profile; auto = cpu on the CPU backend, else gpu. Default: %(default)s",
    )
    parser.add_argument(
        "--iterations",
        type=int,
        default=None,
        help="K, iterations per timed call of every mode (also the fused chunk length). "
        "Default: the preset's iterations_per_chunk",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed calls per mode. Default: %(default)s"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON output path. Default: benchmarks/results/throughput-<backend>-<machine>.json",
    )
    parser.add_argument(
        "--impl", choices=("jax", "warp"), default="jax", help="physics backend (MJX impl)"
    )
    parser.add_argument(
        "--replay-capacity-per-env",
        type=int,
        default=None,
        help="fix the per-env replay capacity. Default: keep the preset's total capacity",
    )
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed. Default: %(default)s")
    parser.add_argument(
        "--deadline-s",
        type=float,
        default=None,
        help="start no row after this many seconds since the script started (rows left out "
        "are recorded as skipped); for calls with a time limit, e.g. the GPU device check",
    )
    ns = parser.parse_args(argv)
    if ns.iterations is not None and ns.iterations < 1:
        parser.error("--iterations must be >= 1")
    if ns.repeats < 1:
        parser.error("--repeats must be >= 1")
    if ns.replay_capacity_per_env is not None and ns.replay_capacity_per_env < 1:
        parser.error("--replay-capacity-per-env must be >= 1")
    envs = tuple(name.replace("+", ",") for name in _split_list(ns.envs or DEFAULT_ENVS))
    if not envs:
        parser.error("--envs names no environment")
    num_envs = None
    if ns.num_envs is not None:
        try:
            num_envs = tuple(int(n) for n in _split_list(ns.num_envs))
        except ValueError:
            parser.error(f"--num-envs must be integers, got {' '.join(ns.num_envs)}")
        if not num_envs or min(num_envs) < 1:
            parser.error("--num-envs needs positive integers")
    return Args(
        envs=envs,
        num_envs=num_envs,
        profile=ns.profile,
        iterations=ns.iterations,
        repeats=ns.repeats,
        out=ns.out,
        impl=ns.impl,
        replay_capacity_per_env=ns.replay_capacity_per_env,
        seed=ns.seed,
        deadline_s=ns.deadline_s,
    )


# ---------------------------------------------------------------------------------- config
def bench_config(
    env: str,
    profile: Profile,
    num_envs: int,
    *,
    iterations: int | None,
    impl: str,
    replay_capacity_per_env: int | None,
) -> Config:
    """`preset(env, profile)` resized to `num_envs`, learning from the first iteration."""
    base = preset(env, resolve_profile(profile, jax.default_backend()))
    per_env_batch = max(1, base.batch_size // base.num_envs)
    if replay_capacity_per_env is None:
        total_capacity = base.replay_capacity_per_env * base.num_envs
        replay_capacity_per_env = max(total_capacity // num_envs, base.n_step)
    return dataclasses.replace(
        base,
        impl=impl,
        num_envs=num_envs,
        batch_size=per_env_batch * num_envs,
        replay_capacity_per_env=replay_capacity_per_env,
        learning_starts_iterations=0,
        iterations_per_chunk=iterations or base.iterations_per_chunk,
        num_devices=1,  # one device (benchmarks/scaling.py measures several)
    )


def filled_state(fns: TrainFns, key: jax.Array) -> TrainState:
    """`fns.init`, then a full replay of random data (normal floats, no episode ends)."""
    k_init, k_fill = jax.random.split(key)
    state = fns.init(k_init)

    def fill(state: TrainState, key: jax.Array) -> TrainState:
        leaves, treedef = jax.tree.flatten(state.replay.data)
        keys = jax.random.split(key, len(leaves))
        leaves = [
            jax.random.normal(k, leaf.shape, leaf.dtype)
            if jnp.issubdtype(leaf.dtype, jnp.floating)
            else jnp.zeros_like(leaf)  # terminated/truncated False, task_id 0
            for leaf, k in zip(leaves, keys, strict=True)
        ]
        capacity = jax.tree.leaves(state.replay.data)[0].shape[1]
        replay = state.replay.replace(
            data=jax.tree.unflatten(treedef, leaves),
            position=jnp.zeros((), jnp.int32),
            size=jnp.full((), capacity, jnp.int32),
        )
        return state.replace(replay=replay)

    return jax.block_until_ready(jax.jit(fill, donate_argnums=0)(state, k_fill))


# ---------------------------------------------------------------------------------- timing
@dataclasses.dataclass(frozen=True)
class Timing:
    warmup_s: float  # the first call (including compilation where the call compiles)
    seconds: tuple[float, ...]  # every timed call

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    def as_json(self) -> dict[str, Any]:
        return {"warmup": self.warmup_s, "median": self.median_s, "repeats": list(self.seconds)}


def time_calls(call: Callable[[Carry], Carry], carry: Carry, repeats: int) -> tuple[Timing, Carry]:
    """One warm-up call, then `repeats` timed calls; the carry is threaded (donation)."""
    tick = time.perf_counter()
    carry = jax.block_until_ready(call(carry))
    warmup_s = time.perf_counter() - tick
    seconds = []
    for _ in range(repeats):
        tick = time.perf_counter()
        carry = jax.block_until_ready(call(carry))
        seconds.append(time.perf_counter() - tick)
    return Timing(warmup_s, tuple(seconds)), carry


def bench_env_only(fns: TrainFns, iterations: int, repeats: int, key: jax.Array) -> Timing:
    env = fns.env
    shape = (env.spec.num_envs, env.spec.action_size)

    def rollout(carry: tuple[Any, jax.Array]) -> tuple[Any, jax.Array]:
        def step(inner: tuple[Any, jax.Array], _: None) -> tuple[tuple[Any, jax.Array], None]:
            env_state, key = inner
            key, k_action = jax.random.split(key)
            action = jax.random.uniform(k_action, shape, minval=-1.0, maxval=1.0)
            env_state, _ = env.step(env_state, action)
            return (env_state, key), None

        carry, _ = jax.lax.scan(step, carry, None, length=iterations)
        return carry

    k_reset, k_run = jax.random.split(key)
    carry = (jax.jit(env.reset)(k_reset), k_run)
    timing, _ = time_calls(jax.jit(rollout, donate_argnums=0), carry, repeats)
    return timing


def bench_update_only(
    fns: TrainFns, state: TrainState, iterations: int, repeats: int
) -> tuple[Timing, TrainState]:
    # the metrics are returned, as the trainer keeps them: dropped, XLA would remove their
    # cost (on an H200 a per-task metric scatter took 100 ms per update and only the fused
    # chunk showed it)
    def learn_scan(state: TrainState) -> tuple[TrainState, Any]:
        state, metrics = jax.lax.scan(lambda s, _: fns.learn(s), state, None, length=iterations)
        return state, jax.tree.map(lambda x: jnp.sum(x, axis=0), metrics)

    learn = jax.jit(learn_scan, donate_argnums=0)
    return time_calls(lambda s: learn(s)[0], state, repeats)


def bench_fused(fns: TrainFns, state: TrainState, repeats: int) -> tuple[Timing, float, TrainState]:
    tick = time.perf_counter()
    chunk = fns.train_chunk.lower(state).compile()
    compile_s = time.perf_counter() - tick
    timing, state = time_calls(lambda s: chunk(s)[0], state, repeats)
    return timing, compile_s, state


def bench_python_loop(
    fns: TrainFns, state: TrainState, iterations: int, repeats: int
) -> tuple[Timing, TrainState]:
    collect = jax.jit(fns.collect, donate_argnums=0)
    learn = jax.jit(fns.learn, donate_argnums=0)

    def loop(state: TrainState) -> TrainState:
        for _ in range(iterations):  # metrics are dropped, as between FastTD3's log points
            state, _ = collect(state)
            state, _ = learn(state)
        return state

    return time_calls(loop, state, repeats)


# ------------------------------------------------------------------------------------ rows
def _say(message: str) -> None:
    say("throughput", message)


def run_row(config: Config, repeats: int, seed: int) -> dict[str, Any]:
    """Measure the four modes for one config, back to back; return one result row."""
    k = config.iterations_per_chunk
    n = config.num_envs
    upi = config.updates_per_iteration
    label = f"{config.env} num_envs={n} batch={config.batch_size} K={k}"
    key_env, key_state = jax.random.split(jax.random.PRNGKey(seed))
    fns = build(config)

    _say(f"{label}: env only")
    env_t = bench_env_only(fns, k, repeats, key_env)
    env_only = n * k / env_t.median_s

    _say(f"{label}: update only")
    state = filled_state(fns, key_state)
    update_t, state = bench_update_only(fns, state, k, repeats)
    update_only = k * upi / update_t.median_s

    _say(f"{label}: fused train_chunk")
    fused_t, compile_s, state = bench_fused(fns, state, repeats)
    fused = n * k / fused_t.median_s

    _say(f"{label}: python loop")
    loop_t, state = bench_python_loop(fns, state, k, repeats)
    python_loop = n * k / loop_t.median_s
    del state

    bound = 1.0 / (1.0 / env_only + (upi / n) / update_only)
    row = {
        "env": config.env,
        "backend": jax.default_backend(),
        "device_kind": jax.devices()[0].device_kind,
        "num_envs": n,
        "batch_size": config.batch_size,
        "critic_width": config.critic_width,
        "updates_per_iteration": upi,
        "iterations": k,
        "replay_capacity_per_env": config.replay_capacity_per_env,
        "env_only_steps_per_s": env_only,
        "update_only_updates_per_s": update_only,
        "fused_env_steps_per_s": fused,
        "python_loop_env_steps_per_s": python_loop,
        "fused_over_python_loop": fused / python_loop,
        "additive_bound_env_steps_per_s": bound,
        "fused_over_additive_bound": fused / bound,
        "fused_compile_s": compile_s,
        "meets_target": fused >= TARGET_FRACTION_OF_BOUND * bound and fused > python_loop,
        "seconds": {
            "env_only": env_t.as_json(),
            "update_only": update_t.as_json(),
            "fused": fused_t.as_json(),
            "python_loop": loop_t.as_json(),
        },
        "config": dataclasses.asdict(config),
    }
    _say(
        f"{label}: fused {fused:,.0f} env steps/s = {row['fused_over_additive_bound']:.2f} x "
        f"bound, {row['fused_over_python_loop']:.2f} x python loop"
    )
    return row


# ---------------------------------------------------------------------------------- output
_COLUMNS = (
    ("env", "env", "{}"),
    ("backend", "backend", "{}"),
    ("device_kind", "device", "{}"),
    ("num_envs", "num_envs", "{}"),
    ("batch_size", "batch", "{}"),
    ("critic_width", "width", "{}"),
    ("updates_per_iteration", "upd/it", "{}"),
    ("env_only_steps_per_s", "env-only steps/s", "{:,.0f}"),
    ("update_only_updates_per_s", "update-only upd/s", "{:,.1f}"),
    ("fused_env_steps_per_s", "fused steps/s", "{:,.0f}"),
    ("python_loop_env_steps_per_s", "py-loop steps/s", "{:,.0f}"),
    ("fused_over_python_loop", "fused/py-loop", "{:.2f}"),
    ("additive_bound_env_steps_per_s", "additive bound steps/s", "{:,.0f}"),
    ("fused_over_additive_bound", "fused/bound", "{:.2f}"),
    ("fused_compile_s", "compile s", "{:.1f}"),
    ("meets_target", "target", "{}"),
)


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    header = "| " + " | ".join(title for _, title, _ in _COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in _COLUMNS) + "|"
    lines = [header, rule]
    for row in rows:
        if "error" in row:
            cells = [row["env"], row["backend"], row["device_kind"], str(row["num_envs"])]
            cells += ["error: " + row["error"].splitlines()[-1][:80]]
            cells += [""] * (len(_COLUMNS) - len(cells))
        else:
            cells = []
            for key, _, fmt in _COLUMNS:
                value = row[key]
                cells.append(
                    ("yes" if value else "no") if key == "meets_target" else fmt.format(value)
                )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def default_out_path() -> Path:
    """CPU results are named after the host, accelerator results after the device kind."""
    backend = jax.default_backend()
    machine = socket.gethostname() if backend == "cpu" else jax.devices()[0].device_kind
    return RESULTS_DIR / f"throughput-{backend}-{_slug(machine)}.json"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    backend = jax.default_backend()
    profile = resolve_profile(args.profile, backend)
    num_envs_list = args.num_envs or DEFAULT_NUM_ENVS["cpu" if backend == "cpu" else "accelerator"]
    out = args.out or default_out_path()
    report: dict[str, Any] = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.orig_argv),
        "argv": list(sys.orig_argv),
        "profile": profile,
        "target": f"fused >= {TARGET_FRACTION_OF_BOUND} x additive bound and fused > python loop",
        "machine": machine_info(),
        "rows": [],
    }
    _say(
        f"backend {backend} ({report['machine']['device_kind']}), profile {profile}, "
        f"envs {list(args.envs)}, num_envs {list(num_envs_list)}, repeats {args.repeats}"
    )
    rows: list[dict[str, Any]] = report["rows"]
    started = time.perf_counter()
    for env in args.envs:
        for num_envs in num_envs_list:
            elapsed = time.perf_counter() - started
            if args.deadline_s is not None and elapsed > args.deadline_s:
                _say(f"{env} num_envs={num_envs} skipped: {elapsed:.0f} s > --deadline-s")
                report.setdefault("skipped", []).append(
                    {"env": env, "num_envs": num_envs, "reason": "--deadline-s passed"}
                )
                continue
            config = bench_config(
                env,
                profile,
                num_envs,
                iterations=args.iterations,
                impl=args.impl,
                replay_capacity_per_env=args.replay_capacity_per_env,
            )
            try:
                rows.append(run_row(config, args.repeats, args.seed))
            except Exception as exc:  # keep the sweep going (e.g. out of memory at a size)
                error = traceback.format_exc()  # whole, in the JSON; one line on the terminal
                first = (str(exc).strip().splitlines() or [""])[0][:200]
                _say(f"{env} num_envs={num_envs} failed: {type(exc).__name__}: {first}")
                rows.append(
                    {
                        "env": config.env,
                        "backend": backend,
                        "device_kind": report["machine"]["device_kind"],
                        "num_envs": num_envs,
                        "error": error,
                        "config": dataclasses.asdict(config),
                    }
                )
            write_result(out, report)
    print(markdown_table(rows))
    print(f"\nwrote {out}")
    return 1 if any("error" in row for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
