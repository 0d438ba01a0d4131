"""One trainer in a fresh process (``peers.py --worker SPEC``): read the spec the parent wrote,
train, write the result JSON. Also what the trainers share: Playground's published Brax
configs, the evaluation protocol they derive, and the record of changed settings.

It runs under the trainer's interpreter (``orchestrate.trainer_python``), so the trainers'
packages are imported inside the functions that use them.
"""

from __future__ import annotations

import json
import math
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from harness.protocol import json_default


def published_config(trainer: str, env_name: str) -> dict[str, Any] | None:
    """Playground's published Brax config for `env_name` (None if there is none)."""
    from mujoco_playground import registry
    from mujoco_playground.config import (
        dm_control_suite_params,
        locomotion_params,
        manipulation_params,
    )

    algo = trainer.removeprefix("brax_")
    for family, module in (
        (registry.dm_control_suite, dm_control_suite_params),
        (registry.locomotion, locomotion_params),
        (registry.manipulation, manipulation_params),
    ):
        if env_name in family.ALL_ENVS:
            make = getattr(module, f"brax_{algo}_config", None)
            return None if make is None else make(env_name, "jax").to_dict()
    return None


def eval_protocol(env_name: str) -> dict[str, Any]:
    """Episode length (control steps) and action repeat for every trainer: Brax PPO's
    published values, else the env's own."""
    from fastbrc.envs import env_info

    info = env_info(env_name)
    ppo = published_config("brax_ppo", env_name) or {}
    length = int(ppo.get("episode_length") or info.episode_length)
    repeat = int(ppo.get("action_repeat") or info.action_repeat)
    return {
        "episode_length": length,
        "action_repeat": repeat,
        "agent_episode_length": math.ceil(length / repeat),
        "env_default": {"episode_length": info.episode_length, "action_repeat": info.action_repeat},
        "source": "Brax PPO published config" if ppo else "env config",
    }


def changes(
    before: dict[str, Any], after: dict[str, Any], label: str = "published", prefix: str = ""
) -> dict[str, Any]:
    """{key: {label: before, "used": after}} for every (nested) key whose value differs."""
    out: dict[str, Any] = {}
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out.update(changes(a, b, label, f"{prefix}{key}."))
        elif json.dumps(a, default=json_default) != json.dumps(b, default=json_default):
            out[f"{prefix}{key}"] = {label: a, "used": b}
    return out


def _version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _trainer(name: str) -> Any:
    """The trainer's `run(spec) -> result`, imported here: each needs its own packages."""
    if name == "fastbrc":
        from harness import fastbrc_trainer as module
    elif name == "fasttd3":
        from harness import fasttd3_trainer as module
    else:
        from harness import brax_trainers as module
    return module.run


def main(spec_path: Path) -> int:
    """Run the spec's trainer and write its result JSON; 0, or 1 if it failed."""
    spec = json.loads(spec_path.read_text())
    from machine import machine_info  # benchmarks/machine.py (imports jax)

    result: dict[str, Any]
    tick = time.perf_counter()
    try:
        result = _trainer(spec["trainer"])(spec)
    except Exception as error:  # noqa: BLE001 - recorded, the parent carries on
        traceback.print_exc()
        result = {"status": "failed", "error": f"{type(error).__name__}: {error}"}
    result["worker_wall_s"] = time.perf_counter() - tick
    result["machine"] = machine_info()
    result["environment"] = {  # Brax's agents run in the peers' own environment (jax 0.9.2)
        "python": sys.executable,
        "jax": result["machine"].get("jax") or _version("jax"),
    }
    if spec["trainer"] == "fasttd3":
        result["environment"].update(torch=_version("torch"), tensordict=_version("tensordict"))
    Path(spec["result"]).write_text(json.dumps(result, indent=2, default=json_default) + "\n")
    return 0 if result["status"] != "failed" else 1
