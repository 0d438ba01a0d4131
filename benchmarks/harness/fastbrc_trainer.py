"""The ``fastbrc`` trainer: ``preset(env, profile)`` in this repository's interpreter.

``--profile auto`` is ``cpu`` on the CPU, else ``gpu``; ``max_wall_s = budget`` and an
unbounded ``total_env_steps``; checkpoints only at the end, without the replay buffer;
``--fastbrc-override FIELD=VALUE`` changes any other field of the preset. ``--fastbrc-seeds``
trains several seeds in one program (``Config.seeds``); the run's ``metrics.jsonl`` is read
with ``fastbrc.run.members.records_by_seed`` and each seed becomes a member of the entry
(``seed``, ``curve``), the entry keeping what they share (config, sizes, native timing).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from common import config_overrides  # benchmarks/common.py

from harness.protocol import TINY
from harness.worker import changes, eval_protocol

EVAL_KEY = "eval/episode_return"


def eval_curve(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The eval points of one seed's metrics records, in the harness's curve format."""
    return [
        {
            "wall_s": r["wall_s"],
            "env_steps": r["env_steps"],
            "eval_return": r[EVAL_KEY],
            "eval_return_std": r.get("eval/episode_return_std"),
        }
        for r in records
        if r.get(EVAL_KEY) is not None
    ]


def curves(by_seed: dict[int | None, list[dict[str, Any]]], seeds: tuple[int, ...]) -> dict:
    """The entry's curve (one seed: ``{"curve"}``) or its members (``--fastbrc-seeds``:
    ``{"seeds", "members": [{"seed", "curve"}, ...]}``), from `records_by_seed`'s groups."""
    if not seeds:
        return {"curve": eval_curve(by_seed.get(None, []))}
    members = [{"seed": s, "curve": eval_curve(by_seed.get(s, []))} for s in seeds]
    return {"seeds": list(seeds), "members": members}


def _native(records: list[dict[str, Any]]) -> dict[str, Any]:
    rates = [r["perf/env_steps_per_s"] for r in records[1:]] or [
        r["perf/env_steps_per_s"] for r in records
    ]
    return {
        "compile_s": records[0]["perf/compile_s"] if records else None,
        "train_sps_median": statistics.median(rates) if rates else None,
        "definition": "perf/compile_s (init + chunk compile; evaluation compiles in the "
        "background) and the median perf/env_steps_per_s of the chunks after the first (each "
        "seed's, with --fastbrc-seeds); excludes evaluation",
    }


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Train fastbrc's preset until the chunk that crosses the budget; its curve(s)."""
    import jax

    from fastbrc.config import Config
    from fastbrc.presets import preset, resolve_profile
    from fastbrc.run.cpu_devices import split_cpu
    from fastbrc.run.members import records_by_seed
    from fastbrc.run.runner import train

    env_name = spec["env"]
    if not spec["profile"].startswith("gpu"):  # the CPU preset's CPU devices, before JAX
        split_cpu(preset(env_name, "cpu").cpu_devices)
    protocol = eval_protocol(env_name)
    profile = resolve_profile(spec["profile"], jax.default_backend())
    base = preset(env_name, profile)
    interval = max(1, round(spec["sps"] * spec["budget_s"] / spec["evals"]))
    seeds = tuple(spec.get("fastbrc_seeds") or ())
    overrides: dict[str, Any] = dict(TINY["fastbrc"]) if spec["tiny"] else {}
    overrides.update(
        config_overrides(Config, spec.get("fastbrc_override", []), "--fastbrc-override")
    )
    overrides.update(
        run_dir=spec["run_dir"],
        seed=seeds[0] if seeds else spec["seed"],
        seeds=seeds,
        impl="jax",
        total_env_steps=10**15,
        max_wall_s=spec["budget_s"],
        eval_every_env_steps=interval,
        num_eval_envs=spec["num_eval_envs"],
        episode_length=protocol["episode_length"],
        action_repeat=protocol["action_repeat"],
        checkpoint_every=10**15,
        keep_checkpoints=1,
        save_buffer=False,
    )
    config = dataclasses.replace(base, **overrides)
    last = train(config, verbose=False)
    by_seed = records_by_seed(Path(config.run_dir) / "metrics.jsonl")
    result = curves(by_seed, seeds)
    for member in result.get("members") or [{"seed": None, "curve": result.get("curve")}]:
        who = "fastbrc" if member["seed"] is None else f"fastbrc seed {member['seed']}"
        for p in member["curve"]:
            print(
                f"{who}: {p['wall_s']:7.1f} s  {p['env_steps']:>11,} env steps  "
                f"eval return {p['eval_return']:.2f}",
                file=sys.stderr,
            )
    stopped = last.get("stopped_by")
    return {
        "status": "ok",
        "stopped_by": "budget" if stopped == "max_wall_s" else stopped or "total_env_steps",
        "profile": profile,
        "config": json.loads(config.to_json()),
        "changes": changes(json.loads(base.to_json()), json.loads(config.to_json()), "preset"),
        "protocol": protocol,
        "eval_interval_env_steps": interval,
        **result,
        "native": _native(by_seed.get(seeds[0] if seeds else None, [])),
        "sizes": {
            "profile": profile,
            "num_envs": config.num_envs,
            "batch_size": config.batch_size,
            "updates_per_iteration": config.updates_per_iteration,
            "critic_width": config.critic_width,
            "devices": f"{len(jax.devices())} x {jax.devices()[0].device_kind}",
            **({"seeds_in_one_program": len(seeds)} if seeds else {}),
        },
    }
