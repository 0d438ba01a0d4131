"""Where one training iteration's time goes: the trainer's parts timed apart, and a trace.

    python benchmarks/profile_iteration.py --env HumanoidWalk --profile gpu --num-envs 1024 \\
        --out runs/profile

Written after the first GPU run (H200, 1024 envs, the GPU preset): the fused iteration took
260 ms where its env step (14.5 ms) and its two updates (44 ms) add to 58 ms, and the Python
loop was as slow, so the extra sits inside ``collect`` or ``learn`` on that backend (on the
CPU, ``collect`` costs what the env step costs). This script splits it, all in one process
and on the same sizes as ``benchmarks/throughput.py`` (``bench_config``):

``env_only``     a scan of the env step with uniform random actions (no policy, no replay);
``collect_only`` a scan of the trainer's ``collect``: policy, env step, replay write, the
                 observation and reward statistics;
``learn_only``   a scan of the trainer's ``learn`` on a full replay of random data;
``fused``        the trainer's ``train_chunk`` (collect then learn, every iteration).

Each is compiled, run once, then timed ``--repeats`` times (median), in ms per iteration.
The env-only scan is timed ``--env-blocks`` times in a row from one reset (its median is
``env_only``; each block is in ``env_blocks_ms_per_step``), so a cost that grows as the
bodies fall and touch the floor shows up. Then one call of
``collect_only`` and one of ``fused`` run under ``jax.profiler.trace`` (the programs are
already compiled, so the trace holds execution only); the Perfetto trace is summarised into
the JSON (per trace process, e.g. the GPU's streams and the host threads: the events with the
most total time) and copied beside it (``trace.json.gz``) when under 15 MiB.

Output: ``<out>/profile-<env>-<num_envs>.json`` and a table on stdout; ``--out`` is a folder.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TRACE_COPY_LIMIT = 15 * 2**20  # bytes; the device tool brings back files up to 16 MiB


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="HumanoidWalk")
    parser.add_argument("--profile", choices=("auto", "cpu", "gpu"), default="auto")
    parser.add_argument("--num-envs", type=int, default=1024)
    parser.add_argument("--iterations", type=int, default=10, help="K, iterations per call")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--env-blocks", type=int, default=5, help="env-only calls from one reset")
    parser.add_argument("--replay-capacity-per-env", type=int, default=None)
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="change a config field, e.g. --override batch_size=1024 (repeatable)",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/profile"), help="a folder")
    parser.add_argument("--no-trace", action="store_true", help="time only, no profiler trace")
    ns = parser.parse_args(argv)
    for name in ("num_envs", "iterations", "repeats", "env_blocks"):
        if getattr(ns, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    for item in ns.override:
        if "=" not in item:
            parser.error(f"--override takes FIELD=VALUE, got {item!r}")
    return ns


# ------------------------------------------------------------------------- trace summary
def summarize_trace(trace: dict[str, Any] | list[Any], top: int = 25) -> dict[str, Any]:
    """Per trace process (named by its metadata event): the `top` complete events ("ph" X) by
    total duration, with counts, in ms; plus each process's total event time. Python frames
    (names starting with "$") are left out.

    Nested events (a host call and the calls inside it) are each counted, so a process's
    total can exceed wall time; compare names within a process."""
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    names: dict[Any, str] = {}
    for event in events:
        if event.get("ph") == "M" and event.get("name") == "process_name":
            names[event.get("pid")] = str(event.get("args", {}).get("name", event.get("pid")))
    totals: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for event in events:
        if event.get("ph") != "X" or str(event.get("name", "")).startswith("$"):
            continue  # "$file.py:line fn" events are Python frames, not device or XLA work
        process = names.get(event.get("pid"), str(event.get("pid")))
        name = str(event.get("name", "?"))
        totals[process][name] += float(event.get("dur", 0.0)) / 1000.0  # us -> ms
        counts[process][name] += 1
    summary = {}
    for process, by_name in totals.items():
        summary[process] = {
            "total_ms": sum(by_name.values()),
            "events": sum(counts[process].values()),
            "top": [
                {"name": name, "ms": ms, "count": counts[process][name]}
                for name, ms in by_name.most_common(top)
            ],
        }
    return summary


def find_perfetto(folder: Path) -> Path | None:
    found = sorted(folder.rglob("perfetto_trace.json.gz"))
    return found[-1] if found else None


# ------------------------------------------------------------------------------- timing
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import dataclasses

    import jax

    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here.parent))
    sys.path.insert(0, str(here))
    import throughput as tp
    from machine import machine_info

    from fastbrc.config import ConfigError, validate
    from fastbrc.learner.factory import build
    from fastbrc.presets import resolve_profile

    profile = resolve_profile(args.profile, jax.default_backend())
    config = tp.bench_config(
        args.env,
        profile,
        args.num_envs,
        iterations=args.iterations,
        impl="jax",
        replay_capacity_per_env=args.replay_capacity_per_env,
    )
    changes = {}
    for item in args.override:
        field, value = item.split("=", 1)
        current = getattr(config, field, None)
        if current is None and not hasattr(config, field):
            print(f"profile_iteration: error: no config field {field!r}", file=sys.stderr)
            return 2
        if isinstance(current, bool):  # bool("False") is True: parse it
            if value.lower() not in ("true", "false", "1", "0"):
                print(f"profile_iteration: error: {field} takes true or false", file=sys.stderr)
                return 2
            changes[field] = value.lower() in ("true", "1")
        else:
            try:
                if isinstance(current, tuple):  # "512,256" -> (512, 256), as on the CLI
                    kind = type(current[0]) if current else int
                    changes[field] = tuple(kind(v) for v in value.split(",") if v.strip())
                else:
                    changes[field] = type(current)(value) if current is not None else value
            except ValueError:
                print(
                    f"profile_iteration: error: {field}={value!r} is not of type "
                    f"{type(current).__name__}",
                    file=sys.stderr,
                )
                return 2
    try:
        config = validate(dataclasses.replace(config, **changes))
    except ConfigError as error:
        print(f"profile_iteration: error: {error}", file=sys.stderr)
        return 2
    k, n = config.iterations_per_chunk, config.num_envs
    say = lambda message: print(f"[profile] {message}", file=sys.stderr, flush=True)  # noqa: E731
    say(
        f"{args.env} {profile} num_envs={n} batch={config.batch_size} K={k} on "
        f"{jax.default_backend()} ({jax.devices()[0].device_kind})"
    )
    fns = build(config)
    key_env, key_state = jax.random.split(jax.random.PRNGKey(0))

    say("env only")
    # throughput's env-only timing threads the env state through its calls: blocks in a row
    env_t = tp.bench_env_only(fns, k, args.env_blocks, key_env)

    say("learn only")
    state = tp.filled_state(fns, key_state)
    learn_t, state = tp.bench_update_only(fns, state, k, args.repeats)

    say("collect only")

    def collect_scan(state):
        state, _ = jax.lax.scan(lambda s, _: (fns.collect(s)[0], None), state, None, length=k)
        return state

    collect_call = jax.jit(collect_scan, donate_argnums=0)
    collect_t, state = tp.time_calls(collect_call, state, args.repeats)

    say("fused")
    tick = time.perf_counter()
    chunk = fns.train_chunk.lower(state).compile()  # as throughput.bench_fused, kept for the trace
    compile_s = time.perf_counter() - tick
    fused_t, state = tp.time_calls(lambda s: chunk(s)[0], state, args.repeats)

    timings = {
        "env_only": env_t,
        "collect_only": collect_t,
        "learn_only": learn_t,
        "fused": fused_t,
    }
    per_iteration = {name: 1000.0 * t.median_s / k for name, t in timings.items()}
    trace_summary = None
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.no_trace:
        say("trace: one collect_only call and one fused call")
        trace_dir = args.out / "trace-raw"
        shutil.rmtree(trace_dir, ignore_errors=True)
        with jax.profiler.trace(str(trace_dir), create_perfetto_trace=True):
            state = jax.block_until_ready(collect_call(state))
            state = jax.block_until_ready(chunk(state)[0])
        perfetto = find_perfetto(trace_dir)
        if perfetto is None:
            say("trace: no Perfetto trace was written")
        else:
            with gzip.open(perfetto, "rt") as handle:
                trace_summary = summarize_trace(json.load(handle))
            if perfetto.stat().st_size <= TRACE_COPY_LIMIT:
                shutil.copy(perfetto, args.out / "trace.json.gz")
            shutil.rmtree(trace_dir, ignore_errors=True)  # the raw .xplane.pb can be large
    del state

    result = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "machine": machine_info(),
        "profile": profile,
        "num_envs": n,
        "iterations": k,
        "ms_per_iteration": per_iteration,
        "collect_overhead_ms": per_iteration["collect_only"] - per_iteration["env_only"],
        "fused_minus_parts_ms": per_iteration["fused"]
        - per_iteration["collect_only"]
        - per_iteration["learn_only"],
        "env_blocks_ms_per_step": [1000.0 * s / k for s in env_t.seconds],
        "fused_compile_s": compile_s,
        "seconds": {name: t.as_json() for name, t in timings.items()},
        "trace": trace_summary,
        "config": dataclasses.asdict(config),
    }
    out = args.out / f"profile-{args.env.replace(',', '+')}-{n}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("| part | ms per iteration |\n|---|---|")
    for name, ms in per_iteration.items():
        print(f"| {name} | {ms:,.2f} |")
    print(f"| collect - env | {result['collect_overhead_ms']:,.2f} |")
    print(f"| fused - collect - learn | {result['fused_minus_parts_ms']:,.2f} |")
    print(
        f"env steps from one reset, ms per step by block of {k}: "
        + ", ".join(f"{1000.0 * s / k:.2f}" for s in env_t.seconds)
    )
    if trace_summary:
        for process, entry in trace_summary.items():
            top = ", ".join(
                f"{e['name'][:60]} {e['ms']:.1f} ms x{e['count']}" for e in entry["top"][:5]
            )
            print(f"trace {process[:40]}: {top}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
