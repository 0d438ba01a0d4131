"""The recipe sweep: a device's throughput profile, and the recipe it makes fastest.

    python benchmarks/recipe_sweep.py --env HumanoidWalk --profile gpu      # the GPU grid
    python benchmarks/recipe_sweep.py --env HumanoidWalk --small            # CPU rehearsal

An iteration's cost is the env step plus updates-per-iteration x the update (docs/recipe.md),
so the sweep times the two apart, each size in its own program, with
``benchmarks/throughput.py``'s env-only and update-only modes:

``env_rows``
    one per ``--num-envs``: seconds per step of all envs (uniform random actions).
``update_rows``
    one per ``--batch`` x ``--critic`` (WIDTHxDEPTH) x ``--bf16``: seconds per gradient update
    (the critic every update, the actor every ``policy_frequency``-th, as in training) on a
    replay buffer of random data.

Then `fastbrc.plan.recipe` predicts every candidate's iteration time, env steps/s, updates/s
and wall-clock to each ``--requirement`` (env steps and updates a run needs, e.g. a humanoid's
take-off), and chooses the fastest to the first. ``--fused`` times the fused chunk of the
chosen recipe and of FastTD3's (1024 envs, batch 32,768, 2 updates, width 1024, fp32) against
their additive bound (the target: fused >= 0.9 x bound).

Rows that would start after ``--deadline-s`` are recorded as skipped; a row that fails (out of
memory) is recorded with its error and the sweep goes on. The JSON (``--out``) is rewritten
after every row, so a sweep cut short keeps what it measured. ``chosen_flags`` is the recipe as
``fastbrc train`` flags (the device queue trains with them).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jax
from common import say, write_result  # benchmarks/common.py
from machine import machine_info, result_path
from throughput import bench_config, bench_env_only, bench_fused, bench_update_only, filled_state

from fastbrc.config import Config
from fastbrc.learner import build
from fastbrc.plan.profile import Critic, ProfileError, ThroughputProfile
from fastbrc.plan.recipe import Recipe, Requirement, candidates, choose

# The first is what the sweep chooses by (docs/recipe.md says where each comes from).
DEFAULT_REQUIREMENTS = (
    "50k-updates:2000000:50000",  # issue 32's hypothesis: CPU take-offs made 56k-160k updates
    "cpu-takeoff:160000:160000",  # the 8-env CPU preset's take-offs: 120k-160k of each
    "fasttd3-g1:15400000:30000",  # FastTD3 G1 flat at 90% of PPO's best: 15.4M env steps
)
FASTTD3 = Recipe(1024, 32768, 2, Critic(1024, 2, False))
GPU_GRID = dict(
    num_envs="1024,4096,8192",
    batch="4096,8192,16384,32768",
    critic="512x2,768x2,1024x2,1024x1",
    bf16="off,on",
    upi="1,2,4,8,16",
)
SMALL_GRID = dict(num_envs="8,16", batch="64,256", critic="64x1,128x1", bf16="off", upi="1,4,8")


def _ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"recipe_sweep: {flag} must be integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise SystemExit(f"recipe_sweep: {flag} needs integers >= 1")
    return values


def _critics(text: str) -> list[tuple[int, int]]:
    out = []
    for item in text.split(","):
        width, _, depth = item.strip().partition("x")
        if not (width.isdigit() and depth.isdigit()):
            raise SystemExit(f"recipe_sweep: --critic takes WIDTHxDEPTH items, got {item!r}")
        out.append((int(width), int(depth)))
    return out


def _requirement(text: str) -> Requirement:
    name, _, rest = text.partition(":")
    steps, _, updates = rest.partition(":")
    try:
        return Requirement(name, float(steps), float(updates))
    except ValueError:
        raise SystemExit(
            f"recipe_sweep: --requirement takes NAME:ENV_STEPS:UPDATES, got {text!r}"
        ) from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="HumanoidWalk")
    parser.add_argument("--profile", choices=("auto", "cpu", "gpu"), default="gpu")
    parser.add_argument("--small", action="store_true", help="the CPU rehearsal's small grid")
    parser.add_argument("--num-envs", help=f"env counts (GPU: {GPU_GRID['num_envs']})")
    parser.add_argument("--batch", help=f"total batch sizes (GPU: {GPU_GRID['batch']})")
    parser.add_argument("--critic", help=f"WIDTHxDEPTH critics (GPU: {GPU_GRID['critic']})")
    parser.add_argument("--bf16", help="off, on or off,on (GPU: off,on)")
    parser.add_argument("--upi", help=f"updates per iteration (GPU: {GPU_GRID['upi']})")
    parser.add_argument("--iterations", type=int, default=20, help="iterations per timed call")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per row (median)")
    parser.add_argument("--impl", choices=("jax", "warp"), default="jax")
    parser.add_argument("--requirement", action="append", default=None,
                        metavar="NAME:ENV_STEPS:UPDATES")  # fmt: skip
    parser.add_argument("--fused", action="store_true", help="time the chosen recipe fused")
    parser.add_argument(
        "--profile-only", action="store_true", help="measure the profile, choose nothing"
    )
    parser.add_argument("--deadline-s", type=float, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    grid = SMALL_GRID if args.small else GPU_GRID
    args.num_envs = _ints(args.num_envs or grid["num_envs"], "--num-envs")
    args.batch = _ints(args.batch or grid["batch"], "--batch")
    args.critic = _critics(args.critic or grid["critic"])
    bf16 = (args.bf16 or grid["bf16"]).split(",")
    if not set(bf16) <= {"off", "on"}:
        raise SystemExit(f"recipe_sweep: --bf16 takes off, on or off,on, got {args.bf16!r}")
    args.bf16 = [b == "on" for b in bf16]
    args.upi = _ints(args.upi or grid["upi"], "--upi")
    args.requirement = [_requirement(r) for r in args.requirement or DEFAULT_REQUIREMENTS]
    return args


# ------------------------------------------------------------------------------------ rows
def _base(args: argparse.Namespace, num_envs: int, **fields: Any) -> Config:
    config = bench_config(
        args.env,
        args.profile if not args.small else "cpu",
        num_envs,
        iterations=args.iterations,
        impl=args.impl,
        replay_capacity_per_env=64,
    )
    return dataclasses.replace(config, **fields)


def env_row(args: argparse.Namespace, num_envs: int) -> dict[str, Any]:
    fns = build(_base(args, num_envs, batch_size=num_envs))
    timing = bench_env_only(fns, args.iterations, args.repeats, jax.random.PRNGKey(0))
    per_step = timing.median_s / args.iterations
    return {"num_envs": num_envs, "seconds_per_step": per_step,
            "env_steps_per_s": num_envs / per_step, "seconds": timing.as_json()}  # fmt: skip


def update_row(args: argparse.Namespace, batch: int, critic: Critic) -> dict[str, Any]:
    num_envs = min(args.num_envs)  # the update's cost does not depend on the env count
    while batch % num_envs:
        num_envs //= 2
    config = _base(
        args,
        num_envs,
        batch_size=batch,
        updates_per_iteration=1,
        critic_width=critic.width,
        critic_depth=critic.depth,
        critic_bf16=critic.bf16,
    )
    fns = build(config)
    state = filled_state(fns, jax.random.PRNGKey(1))
    timing, _ = bench_update_only(fns, state, args.iterations, args.repeats)
    per_update = timing.median_s / args.iterations
    return {"batch_size": batch, "critic_width": critic.width, "critic_depth": critic.depth,
            "critic_bf16": critic.bf16, "seconds_per_update": per_update,
            "updates_per_s": 1 / per_update, "seconds": timing.as_json()}  # fmt: skip


def fused_row(args: argparse.Namespace, recipe: Recipe, profile: ThroughputProfile) -> dict:
    sizes = recipe.overrides()
    config = _base(args, sizes.pop("num_envs"), **sizes)
    fns = build(config)
    state = filled_state(fns, jax.random.PRNGKey(2))
    timing, compile_s, _ = bench_fused(fns, state, args.repeats)
    fused = timing.median_s / config.iterations_per_chunk
    bound = recipe.iteration_s(profile)
    return {**recipe.overrides(), "fused_iteration_s": fused, "additive_bound_s": bound,
            "fused_over_additive_bound": bound / fused, "compile_s": compile_s,
            "seconds": timing.as_json()}  # fmt: skip


# ------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    info = machine_info()
    out = args.out or result_path(f"recipe-sweep-{args.env}", info)
    result: dict[str, Any] = {
        "benchmark": "recipe_sweep",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", "benchmarks/recipe_sweep.py", *(argv or sys.argv[1:])]),
        "machine": info,
        "env": args.env,
        "impl": args.impl,
        "iterations": args.iterations,
        "env_rows": [],
        "update_rows": [],
        "skipped": [],
        "failed": [],
    }

    def measure(kind: str, label: str, fn, *fn_args) -> None:
        if args.deadline_s is not None and time.perf_counter() - started > args.deadline_s:
            result["skipped"].append(f"{kind} {label}: after the deadline")
            say("recipe", f"{kind} {label}: skipped (deadline)")
            return
        say("recipe", f"{kind} {label}")
        try:
            row = fn(args, *fn_args)
        except Exception as error:  # noqa: BLE001 - out of memory at a size: recorded, go on
            traceback.print_exc()
            result["failed"].append(f"{kind} {label}: {type(error).__name__}: {error}"[:300])
            say("recipe", f"{kind} {label}: failed ({type(error).__name__})")
        else:
            result[f"{kind}_rows"].append(row)
        write_result(out, result)

    for n in args.num_envs:
        measure("env", f"{n} envs", env_row, n)
    critics = [Critic(w, d, bf) for (w, d) in args.critic for bf in args.bf16]
    for critic in critics:
        for batch in args.batch:
            measure("update", f"batch {batch}, {critic}", update_row, batch, critic)
    if args.profile_only:
        print(f"recipe_sweep: wrote {out}")
        return 0
    try:
        profile = ThroughputProfile.from_json(result, str(out))
        recipes = candidates(profile, args.num_envs, args.batch, args.upi, critics)
        result.update(choose(recipes, profile, args.requirement))
    except ProfileError as error:
        say("recipe", f"no choice: {error}")
        result["choice_error"] = str(error)
        write_result(out, result)
        return 1
    write_result(out, result)
    chosen = result["chosen"]
    say("recipe", f"chosen ({chosen['by']}): {' '.join(result['chosen_flags'])}, predicted "
        f"{chosen['seconds']:.0f} s after compile")  # fmt: skip
    if args.fused:
        result["fused_rows"] = []
        best = Recipe(
            chosen["num_envs"],
            chosen["batch_size"],
            chosen["updates_per_iteration"],
            Critic(chosen["critic_width"], chosen["critic_depth"], chosen["critic_bf16"]),
        )
        for label, recipe in (("chosen", best), ("fasttd3", FASTTD3)):
            if recipe in recipes and (label == "chosen" or recipe != best):
                measure("fused", label, lambda a, r=recipe: fused_row(a, r, profile))
    print(f"recipe_sweep: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
