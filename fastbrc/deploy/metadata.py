"""What an exported policy file says about itself: the metadata `fastbrc export` writes.

One JSON object, stored in the file (ONNX: the model's ``metadata_props["fastbrc"]``; jax:
``metadata.json`` in the zip). Its keys:

    fastbrc_policy      format version of this object (1)
    fastbrc_version     the package version that exported it; jax_version: the JAX's
    format              "onnx" or "jax"; converter: "jax2onnx 0.17.1 (opset 23)" or the
                        jax.export serialization version
    env, tasks          the run's --env and its tasks; task: the fixed --task, else null
    inputs, outputs     name, shape (``"batch"`` first) and dtype of each; the action lies in
                        [-1, 1]
    task_info           per task the file serves: its observation (keys and sizes; the actor
                        reads ``state``) and where the task builds it, action size, actuator
                        names, ctrlrange and force law (gain, bias), the affine map the task
                        applies (``ctrl = offset + scale * action``), the physics timestep,
                        substeps, action repeat, the control period and the episode length in
                        policy steps
    checkpoint_step     env steps of the checkpoint; config_hash: sha256 of the run's agent
                        config (the part locked on resume, seeds left out), first 16 hex
                        digits; seed: the training seed (a --seeds run's member)
    actor, obs_normalization   TD3/SAC; whether the normaliser is folded into the graph
    example             one input and the JAX policy's action for it, a self-test for a runtime
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import importlib
import importlib.metadata
import inspect
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np

from fastbrc.config import Config
from fastbrc.deploy.errors import DeployError
from fastbrc.deploy.physics import action_to_ctrl
from fastbrc.envs import env_info, load_env

FORMAT_VERSION = 1
KEY = "fastbrc"  # the ONNX metadata_props key; the jax zip's member is metadata.json


def fastbrc_version() -> str:
    return _version("fastbrc")


def config_hash(config: Config) -> str:
    """The agent config's fingerprint: what was trained, whatever a resume changed after; the
    seeds are left out, so each member of a --seeds run has the run's fingerprint."""
    agent = {
        k: v for k, v in dataclasses.asdict(config.agent).items() if k not in ("seed", "seeds")
    }
    text = json.dumps(agent, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def task_info(name: str, config: Config) -> dict[str, Any]:
    """What a controller needs to know about task `name` as the run trained on it."""
    return copy.deepcopy(_task_info(name, config.episode_length, config.action_repeat))


@functools.lru_cache(maxsize=32)
def _task_info(name: str, episode_length: int | None, action_repeat: int | None) -> dict:
    env = load_env(name, impl="jax")
    info = env_info(name, episode_length=episode_length, action_repeat=action_repeat)
    obs = jax.eval_shape(env.reset, jax.random.PRNGKey(0)).obs
    keys = (
        {key: int(value.shape[-1]) for key, value in obs.items()}
        if isinstance(obs, Mapping)
        else None
    )
    out: dict[str, Any] = {
        "obs_keys": keys,
        "obs_size": keys["state"] if keys else int(obs.shape[-1]),
        "action_size": int(env.action_size),
        "action_repeat": info.action_repeat,
        "episode_length": info.agent_episode_length,
    }
    model = getattr(env, "mj_model", None)
    if model is None:  # a probe env: no MuJoCo model
        return out
    out.update(obs_source=obs_source(env), **actuator_info(env, model))
    out.update(
        sim_dt=float(model.opt.timestep),
        ctrl_dt=float(env.dt),
        n_substeps=int(env.n_substeps),
        control_dt=float(env.dt) * info.action_repeat,
    )
    return out


def actuator_info(env: Any, model: Any) -> dict[str, Any]:
    """Actuator names, ctrlrange, MuJoCo's force law (``gain * ctrl + bias[0] + bias[1] *
    length + bias[2] * velocity``: a position servo's kp is ``gain``, its kd ``-bias[2]``) and
    the task's action-to-ctrl map."""
    ctrl_map = action_to_ctrl(env)
    limited = model.actuator_ctrllimited.astype(bool)
    ranges = zip(model.actuator_ctrlrange, limited, strict=True)
    return {
        "actuators": [model.actuator(i).name for i in range(model.nu)],
        "ctrlrange": [list(map(float, r)) if lim else None for r, lim in ranges],
        "actuator_gain": _float32_list(model.actuator_gainprm[:, 0]),
        "actuator_bias": [_float32_list(row) for row in model.actuator_biasprm[:, :3]],
        "action_to_ctrl": None
        if ctrl_map is None
        else {"offset": _float32_list(ctrl_map[0]), "scale": _float32_list(ctrl_map[1])},
    }


def obs_source(env: Any) -> str:
    """Where the task builds its observation (the reference for the order of its entries)."""
    cls = type(env)
    method = getattr(cls, "_get_obs", None)
    owner = next((k for k in cls.__mro__ if "_get_obs" in vars(k)), cls)
    try:
        path = Path(inspect.getsourcefile(method or cls) or "")
        package = Path(inspect.getsourcefile(importlib.import_module("mujoco_playground")) or "")
        where = path.relative_to(package.parent.parent).as_posix()
    except (TypeError, ValueError):
        where = cls.__module__
    version = _version("playground")
    return f"{where}, {owner.__name__}._get_obs (playground {version})"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _float32_list(values: np.ndarray) -> list[float]:
    """The shortest decimals that are these values in float32 (the task computes in float32)."""
    return [float(str(np.float32(value))) for value in values]


def dumps(metadata: Mapping[str, Any]) -> str:
    return json.dumps(metadata, sort_keys=True, allow_nan=False)


def loads(text: str | bytes, source: str) -> dict[str, Any]:
    """The metadata in `text`, checked to be fastbrc's and of a version this reads."""
    try:
        metadata = json.loads(text)
    except ValueError as error:
        raise DeployError(f"{source}: its fastbrc metadata is not valid JSON ({error})") from None
    version = metadata.get("fastbrc_policy") if isinstance(metadata, dict) else None
    if version != FORMAT_VERSION:
        raise DeployError(
            f"{source}: fastbrc policy metadata version {version!r}, this fastbrc reads "
            f"{FORMAT_VERSION}"
        )
    return metadata


def as_list(array: Any) -> list:
    return np.asarray(array).tolist()
