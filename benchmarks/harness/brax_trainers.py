"""The ``brax_sac`` and ``brax_ppo`` trainers: Brax's own agents with Playground's published
configs, in the peers' own environment (``benchmarks/peers/``: jax 0.9.2, Brax 0.14.2).

``brax.training.agents.{sac,ppo}.train`` with MuJoCo Playground's published config
(``mujoco_playground.config.<family>_params.brax_{sac,ppo}_config(env)``, family =
dm_control_suite, locomotion or manipulation), called as Playground's notebooks call it:
``train(environment=env, wrap_env_fn=wrapper.wrap_for_brax_training,
network_factory=partial(make_*_networks, **config.network_factory), progress_fn=...,
**config)``. Keys the installed ``train`` does not take are dropped and listed under
``dropped`` (Playground's SAC config carries ``num_resets_per_eval``, which Brax 0.14.2's
``sac.train`` has no argument for). A trainer with no published config (e.g. SAC on a
locomotion task) is recorded as skipped.

Scaling (``--scale S``, default 16 on the CPU, 1 elsewhere): the published configs assume a
GPU. PPO's update round (one ``training_step``) is ``batch_size x unroll_length x
num_minibatches`` = 983,040 env steps with 2048 envs, minutes on 2 CPU cores, so a 180 s
budget would see no trained eval. Both Brax trainers get ``num_envs // S`` and
``batch_size // S`` (PPO 128 envs / 64, SAC 8 envs / 32 at S = 16); every other published
value (SAC's ``grad_updates_per_step``, ``min_replay_size``, ``max_replay_size``; PPO's
``num_minibatches``, ``unroll_length``, ``num_updates_per_batch``, ...) is kept, so the
published ratios hold: transitions sampled per env step (SAC), unrolls per env per update
round and passes over each batch (PPO). ``--scale brax_sac=A,brax_ppo=B`` scales them
differently (the JSON says so under ``scaling``): at S = 16 SAC runs 8 envs and does 16x
more, 16x smaller gradient steps per env step, which costs it throughput on a CPU. The JSON
lists the published value and the value used of every changed key (``changes``).

Eval spacing: Brax keeps the published ``num_timesteps`` and gets ``num_evals`` (SAC:
``num_evals - 1 = round((num_timesteps - prefill) / interval)``). Brax PPO evaluates every
``num_resets_per_eval`` epochs, an epoch being the update rounds between two host-side env
resets; the published epoch length (1 round for DM Control) is kept,
``num_resets_per_eval = round(interval / epoch)`` and ``num_evals`` to match, so PPO trains
exactly as published and only its eval points move (the minimum spacing is one epoch). Brax
also evaluates the untrained policy at step 0 (inside the budget); fastbrc does not.
"""

from __future__ import annotations

import functools
import inspect
import math
import statistics
import sys
import time
from typing import Any

from common import UsageError  # benchmarks/common.py

from harness.protocol import TINY
from harness.worker import changes, eval_protocol, published_config


class BudgetReached(Exception):  # noqa: N818 - a signal, not an error
    """Raised from a Brax progress_fn once the wall-clock budget is spent."""


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _float_or_none(x: Any) -> float | None:
    return None if x is None else float(x)


def brax_config(
    trainer: str,
    published: dict[str, Any],
    *,
    scale: int,
    tiny: bool,
    protocol: dict[str, Any],
    num_eval_envs: int,
    seed: int,
    interval: float,
) -> dict[str, Any]:
    """The published config, scaled, with the shared protocol and the eval spacing."""
    config = dict(published)
    for key in ("num_envs", "batch_size"):
        if config[key] % scale:
            raise UsageError(f"--scale {scale} does not divide {trainer}'s {key} {config[key]}")
        config[key] //= scale
    if tiny:
        config = _merge(config, TINY[trainer])
    config.update(
        episode_length=protocol["episode_length"],
        action_repeat=protocol["action_repeat"],
        num_eval_envs=num_eval_envs,
        deterministic_eval=True,
        seed=seed,
    )
    total = config["num_timesteps"]
    if trainer == "brax_ppo":
        if (config["batch_size"] * config["num_minibatches"]) % config["num_envs"]:
            raise UsageError(
                f"brax_ppo: batch_size {config['batch_size']} x num_minibatches "
                f"{config['num_minibatches']} is not divisible by num_envs {config['num_envs']}"
            )
        # Keep the published number of update rounds between host-side env resets (an
        # "epoch"; 1 for DM Control) and evaluate every `num_resets_per_eval` epochs.
        rounds = ppo_rounds_per_epoch(published)
        per_epoch = rounds * ppo_steps_per_round(config)
        if published.get("num_resets_per_eval", 0) > 0:
            config["num_resets_per_eval"] = max(1, round(interval / per_epoch))
        epochs_per_eval = max(config.get("num_resets_per_eval", 0), 1)
        config["num_evals"] = 1 + max(1, math.ceil(total / (per_epoch * epochs_per_eval)))
    else:
        prefill = -(-config["min_replay_size"] // config["num_envs"]) * config["num_envs"]
        config["num_evals"] = max(
            2, round((total - prefill * config["action_repeat"]) / interval) + 1
        )
    return config


def ppo_steps_per_round(config: dict[str, Any]) -> int:
    """Env steps (Brax's count) of one PPO update round (one `training_step`)."""
    return (
        config["batch_size"]
        * config["unroll_length"]
        * config["num_minibatches"]
        * config["action_repeat"]
    )


def ppo_rounds_per_epoch(config: dict[str, Any]) -> int:
    """Update rounds per `training_epoch` (between env resets) as Brax PPO plans them."""
    n = max(config["num_evals"] - 1, 1)
    resets = max(config.get("num_resets_per_eval", 0), 1)
    return math.ceil(config["num_timesteps"] / (n * ppo_steps_per_round(config) * resets))


def eval_interval_in_brax_steps(trainer: str, config: dict[str, Any]) -> int:
    """Env steps (Brax's count: x action_repeat) between two evaluations, as Brax plans them."""
    if trainer == "brax_ppo":
        resets = max(config.get("num_resets_per_eval", 0), 1)
        return ppo_rounds_per_epoch(config) * ppo_steps_per_round(config) * resets
    n = max(config["num_evals"] - 1, 1)
    total, repeat = config["num_timesteps"], config["action_repeat"]
    per_actor_step = config["num_envs"] * repeat
    prefill = -(-config["min_replay_size"] // config["num_envs"]) * per_actor_step
    return -(-(total - prefill) // (n * per_actor_step)) * per_actor_step


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Train spec["trainer"] (brax_sac or brax_ppo) until the eval point that crosses the
    budget; its curve, config and sizes."""
    trainer, env_name = spec["trainer"], spec["env"]
    published = published_config(trainer, env_name)
    if published is None:
        return {
            "status": "skipped",
            "reason": f"Playground publishes no {trainer} config for {env_name}",
        }
    protocol = eval_protocol(env_name)
    interval = spec["sps"] * spec["budget_s"] / spec["evals"] * protocol["action_repeat"]
    config = brax_config(
        trainer,
        published,
        scale=spec["scale"],
        tiny=spec["tiny"],
        protocol=protocol,
        num_eval_envs=spec["num_eval_envs"],
        seed=spec["seed"],
        interval=interval,
    )
    curve, native, stopped_by, dropped = _train(trainer, env_name, config, protocol, spec)
    rates = [n["sps"] for n in native[1:]] or [n["sps"] for n in native]
    repeat = protocol["action_repeat"]
    return {
        "status": "ok",
        "stopped_by": stopped_by,
        "published_config": published,
        "config": config,
        "changes": changes(published, config),
        "dropped": dropped,
        "protocol": protocol,
        "eval_interval_env_steps": eval_interval_in_brax_steps(trainer, config) // repeat,
        "curve": curve,
        "native": {
            "train_sps_median": statistics.median(rates) if rates else None,
            "definition": "median over epochs after the first of Brax's training/sps "
            "(/ action_repeat; PPO: also / num_resets_per_eval, which Brax multiplies in but "
            "does not time); excludes evaluation",
        },
        "sizes": {
            "scale": spec["scale"],
            "num_envs": config["num_envs"],
            "batch_size": config["batch_size"],
            "published_num_envs": published["num_envs"],
            "published_batch_size": published["batch_size"],
        },
    }


def _train(
    trainer: str,
    env_name: str,
    config: dict[str, Any],
    protocol: dict[str, Any],
    spec: dict[str, Any],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str, list[str]]:
    """Brax's train() until the budget: (curve, native rates, stopped_by, dropped keys)."""
    from brax.training.agents.ppo import networks as ppo_networks
    from brax.training.agents.ppo import train as ppo
    from brax.training.agents.sac import networks as sac_networks
    from brax.training.agents.sac import train as sac
    from mujoco_playground import wrapper

    from fastbrc.envs import load_env

    train_fn, make_networks = (
        (ppo.train, ppo_networks.make_ppo_networks)
        if trainer == "brax_ppo"
        else (sac.train, sac_networks.make_sac_networks)
    )
    accepted = set(inspect.signature(train_fn).parameters)
    params = {k: v for k, v in config.items() if k in accepted and k != "network_factory"}
    dropped = sorted(k for k in config if k not in accepted and k != "network_factory")
    net = config.get("network_factory") or {}
    factory = functools.partial(make_networks, **net) if net else make_networks

    env = load_env(env_name, impl="jax")
    repeat = protocol["action_repeat"]
    # Brax PPO's training/sps counts num_resets_per_eval epochs but times one of them.
    sps_overcount = max(config.get("num_resets_per_eval", 0), 1) if trainer == "brax_ppo" else 1
    budget = spec["budget_s"]
    curve: list[dict[str, Any]] = []
    native: list[dict[str, Any]] = []

    def progress(step: int, metrics: dict[str, Any]) -> None:
        wall = time.perf_counter() - start
        curve.append(
            {
                "wall_s": wall,
                "env_steps": int(step) // repeat,
                "eval_return": float(metrics["eval/episode_reward"]),
                "eval_return_std": _float_or_none(metrics.get("eval/episode_reward_std")),
            }
        )
        if "training/sps" in metrics:
            native.append(
                {
                    "sps": float(metrics["training/sps"]) / repeat / sps_overcount,
                    "walltime": _float_or_none(metrics.get("training/walltime")),
                }
            )
        print(
            f"{trainer}: {wall:7.1f} s  {step // repeat:>11,} env steps  "
            f"eval return {curve[-1]['eval_return']:.2f}",
            file=sys.stderr,
            flush=True,
        )
        if wall >= budget and step > 0:  # like fastbrc: at least one trained eval
            raise BudgetReached

    stopped_by = "num_timesteps"
    start = time.perf_counter()
    try:
        train_fn(
            environment=env,
            wrap_env_fn=wrapper.wrap_for_brax_training,
            network_factory=factory,
            progress_fn=progress,
            **params,
        )
    except BudgetReached:
        stopped_by = "budget"
    return curve, native, stopped_by, dropped
