"""Several seeds in one compiled program (``fastbrc train --seeds``): equality and cost.

    python benchmarks/seeds.py --env CartpoleBalance --num-seeds 1,2,4,8
    python benchmarks/seeds.py --env HumanoidWalk --num-seeds 1,2,4 --iterations 20

**Equality.** A run of ``--equality-seeds`` seeds in one program against the single-seed run of
each seed, from the keys the trainer draws (`fastbrc.learner.seeds.run_keys`): after init,
after a first chunk that only collects, after ``--equality-chunks`` - 1 chunks that learn (each
``--equality-iterations`` long) and for one evaluation, the largest absolute and relative
difference over the train state's leaves and the metrics, and how many leaves are
bit-identical. (A vmapped reduction may sum in another order, so float32 rounding can differ,
and learning grows it: the JSON says by how much, step by step.)

**Cost.** For each N of ``--num-seeds`` (1 is the plain single-seed program), the preset of
``--env``/``--profile`` learning from the first iteration: compile time of the chunk, then
``--repeats`` rounds in which one chunk of every size is timed in turn (round-robin: a shared
machine's load drifts over minutes), as env steps/s of all seeds together and per seed (the
median over rounds), and the ratio of N seeds' total to one seed's.

One process, the sizes back to back, so the ratios come from the same conditions. JSON to
``--out`` (default ``benchmarks/results/seeds-<env>-<backend>-<machine>.json``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jax
import numpy as np
from common import say, write_result  # benchmarks/common.py
from machine import machine_info, result_path

from fastbrc.config import Config
from fastbrc.learner import build, seeds
from fastbrc.presets import PROFILES, preset, resolve_profile


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="CartpoleBalance")
    parser.add_argument("--profile", choices=PROFILES, default="auto")
    parser.add_argument("--num-seeds", default="1,2,4,8", help="seed counts, comma-separated")
    parser.add_argument("--iterations", type=int, default=None, help="iterations per chunk")
    parser.add_argument("--repeats", type=int, default=3, help="timed chunks per size")
    parser.add_argument("--equality-seeds", type=int, default=3, help="0 skips the equality")
    parser.add_argument("--equality-chunks", type=int, default=3)
    parser.add_argument(
        "--equality-iterations", type=int, default=5, help="iterations per equality chunk"
    )
    parser.add_argument(
        "--override", action="append", default=[], metavar="FIELD=VALUE", help="config field"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        args.num_seeds = [int(n) for n in args.num_seeds.split(",") if n.strip()]
    except ValueError:
        parser.error(f"--num-seeds must be integers, got {args.num_seeds!r}")
    if not args.num_seeds or min(args.num_seeds) < 1:
        parser.error("--num-seeds needs integers >= 1")
    return args


def base_config(args: argparse.Namespace) -> Config:
    from common import config_overrides

    config = preset(args.env, resolve_profile(args.profile, jax.default_backend()))
    config = dataclasses.replace(
        config,
        learning_starts_iterations=1,
        iterations_per_chunk=args.iterations or config.iterations_per_chunk,
        num_devices=1,
        **config_overrides(Config, args.override, "--override"),
    )
    return config


def with_seeds(config: Config, count: int) -> Config:
    """One seed: the plain single-seed program; more: seeds 0..count-1 in one program."""
    return dataclasses.replace(config, seed=0, seeds=tuple(range(count)) if count > 1 else ())


# -------------------------------------------------------------------------------- equality
def _runs(config: Config, chunks: int) -> tuple[list[Any], list[dict]]:
    """The host train state after init and after every chunk, and the metrics of each chunk
    plus a last entry for one evaluation."""
    fns = build(config)
    key_init, key_eval = seeds.run_keys(config.seed, config.seeds)
    state = fns.init(key_init)
    states, metrics = [jax.device_get(state)], []
    for _ in range(chunks):
        state, chunk_metrics = fns.train_chunk(state)
        states.append(jax.device_get(state))
        metrics.append(jax.device_get(chunk_metrics))
    metrics.append(jax.device_get(fns.evaluate(state, seeds.eval_key(key_eval, 0))))
    return states, metrics


def _diff(a: Any, b: Any) -> tuple[float, float]:
    """(max |a - b|, max |a - b| / max(|b|, 1e-6)) over the entries finite in both."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size == 0:
        return 0.0, 0.0
    if (np.isfinite(a) != np.isfinite(b)).any():
        return float("inf"), float("inf")
    both = np.isfinite(a) & np.isfinite(b)
    gap = np.abs(a - b)[both]
    return float(gap.max(initial=0.0)), float(
        (gap / np.maximum(np.abs(b[both]), 1e-6)).max(initial=0.0)
    )


def _compare(mine: Any, alone: Any) -> dict[str, Any]:
    pairs = list(zip(jax.tree.leaves(mine), jax.tree.leaves(alone), strict=True))
    gaps = [_diff(x, y) for x, y in pairs]
    same = sum(np.array_equal(x, y, equal_nan=True) for x, y in pairs)
    return {
        "max_abs": max(g[0] for g in gaps),
        "max_rel": max(g[1] for g in gaps),
        "identical_leaves": int(same),
        "leaves": len(pairs),
    }


def equality(config: Config, count: int, chunks: int) -> dict[str, Any]:
    """Each member of a `count`-seed program against its seed alone: init, then a first chunk
    that only collects (learning starts after it), then `chunks` - 1 chunks that learn."""
    config = dataclasses.replace(config, learning_starts_iterations=config.iterations_per_chunk)
    members = tuple(range(count))
    say("seeds", f"equality: {count} seeds in one program against each alone, {chunks} chunks")
    multi_states, multi_metrics = _runs(dataclasses.replace(config, seeds=members), chunks)
    out = []
    for index, seed in enumerate(members):
        states, metrics = _runs(dataclasses.replace(config, seed=seed), chunks)
        rows = [("init", multi_states[0], states[0], None, None)]
        for c in range(chunks):
            what = "collect only" if c == 0 else "learning"
            rows.append(
                (
                    f"chunk {c + 1} ({what})",
                    multi_states[c + 1],
                    states[c + 1],
                    multi_metrics[c],
                    metrics[c],
                )
            )
        rows.append(("evaluation", None, None, multi_metrics[-1], metrics[-1]))
        member = {"seed": seed, "steps": []}
        for name, multi_state, state, multi_m, m in rows:
            step = {"after": name}
            if state is not None:
                step["state"] = _compare(seeds.member(multi_state, index), state)
            if m is not None:
                step["metrics"] = _compare({k: multi_m[k][index] for k in m}, m)
            member["steps"].append(step)
        out.append(member)
        say(
            "seeds",
            f"  seed {seed}: "
            + "; ".join(
                f"{s['after']}: state {s.get('state', {}).get('max_abs', '-')}, metrics "
                f"{s.get('metrics', {}).get('max_abs', '-')}"
                for s in member["steps"]
            ),
        )
    return {
        "seeds": count,
        "chunks": chunks,
        "iterations_per_chunk": config.iterations_per_chunk,
        "updates_per_iteration": config.updates_per_iteration,
        "members": out,
    }


# ------------------------------------------------------------------------------------ cost
def costs(config: Config, counts: list[int], repeats: int) -> list[dict[str, Any]]:
    """Compile every size first, then time one chunk of each size in turn, `repeats` rounds:
    a shared machine's load drifts over minutes, and round-robin timing gives each size the
    same drift."""
    programs = []
    for count in counts:
        sized = with_seeds(config, count)
        fns = build(sized)
        key_init, _ = seeds.run_keys(sized.seed, sized.seeds)
        tick = time.perf_counter()
        state = jax.block_until_ready(fns.init(key_init))
        init_s = time.perf_counter() - tick
        tick = time.perf_counter()
        chunk = fns.train_chunk.lower(state).compile()
        compile_s = time.perf_counter() - tick
        state, _ = jax.block_until_ready(chunk(state))  # warm-up: the buffer fills
        programs.append({"count": count, "config": sized, "chunk": chunk, "state": state,
                         "init_s": init_s, "compile_s": compile_s, "seconds": []})  # fmt: skip
        say("seeds", f"  {count} seed(s) compiled in {compile_s:.1f} s")
    for round_ in range(repeats):
        for program in programs:
            tick = time.perf_counter()
            program["state"], _ = jax.block_until_ready(program["chunk"](program["state"]))
            program["seconds"].append(time.perf_counter() - tick)
        say(
            "seeds",
            f"  round {round_ + 1}: "
            + ", ".join(f"{p['count']} seed(s) {p['seconds'][-1]:.2f} s" for p in programs),
        )
    rows = []
    for p in programs:
        median = statistics.median(p["seconds"])
        per_seed = p["config"].env_steps_per_chunk / median
        rows.append(
            {
                "num_seeds": p["count"],
                "init_s": p["init_s"],
                "chunk_compile_s": p["compile_s"],
                "chunk_s": {"median": median, "repeats": p["seconds"]},
                "env_steps_per_s_per_seed": per_seed,
                "env_steps_per_s_total": per_seed * p["count"],
            }
        )
    base = next((r for r in rows if r["num_seeds"] == 1), None)
    for row in rows if base else []:
        row["total_vs_one_seed"] = row["env_steps_per_s_total"] / base["env_steps_per_s_total"]
        row["compile_vs_one_seed"] = row["chunk_compile_s"] / base["chunk_compile_s"]
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = base_config(args)
    info = machine_info()
    result: dict[str, Any] = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", "benchmarks/seeds.py", *(argv or sys.argv[1:])]),
        "machine": info,
        "env": args.env,
        "config": json.loads(config.to_json()),
    }
    out = args.out or result_path(f"seeds-{args.env}", info)
    if args.equality_seeds:
        short = dataclasses.replace(config, iterations_per_chunk=args.equality_iterations)
        result["equality"] = equality(short, args.equality_seeds, args.equality_chunks)
        write_result(out, result)
    say("seeds", f"cost: {args.num_seeds} seeds, {args.repeats} rounds of one chunk each")
    result["cost"] = costs(config, args.num_seeds, args.repeats)
    result["cost_method"] = (
        "every size compiled first, then one chunk of each in turn per round (round-robin, so "
        "the machine's drifting load falls on every size alike); the median over rounds"
    )
    write_result(out, result)
    print(f"seeds: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
