"""`fastbrc export`: a run's checkpoint as a policy file, ONNX or `jax.export`, checked.

The checkpoint is read through `fastbrc.run.policy.load_policy` (networks and normaliser
only; nothing of the trainer). Every check that needs no checkpoint comes first; nothing is
written unless the whole export succeeded: the file is converted in memory, loaded back into
its runtime (ONNX Runtime, or `jax.export.deserialize`), and its actions must equal the JAX
policy's within `TOLERANCE` on `CHECK_SAMPLES` observations drawn from the run's observation
normaliser (the distribution the policy saw in training); only then is it written, under a
temporary name renamed into place.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np

from fastbrc.config import Config, ConfigError
from fastbrc.deploy.errors import DeployError
from fastbrc.deploy.exported import runner_for
from fastbrc.deploy.metadata import (
    FORMAT_VERSION,
    as_list,
    config_hash,
    fastbrc_version,
    task_info,
)
from fastbrc.deploy.signature import Signature, policy_signature

FORMATS = ("onnx", "jax")
TOLERANCE = 1e-5  # max |action difference|, float32
CHECK_SAMPLES = 1024


@dataclass(frozen=True)
class Export:
    """A written policy file and what its check found."""

    path: Path
    format: str
    size_bytes: int
    checkpoint: int
    seconds: float  # loading the checkpoint to the written file, the check included
    max_abs_diff: float  # exported vs JAX actions on the check's observations
    samples: int
    metadata: dict[str, Any]


def read_run_config(run_dir: Path) -> Config:
    path = run_dir / "config.json"
    if not path.is_file():
        raise DeployError(f"{run_dir} is not a fastbrc run directory (no config.json)")
    try:
        return Config.from_json(path.read_text())
    except (ValueError, TypeError, OSError) as error:
        raise DeployError(f"{path} is not a valid config: {error}") from None


def check_request(run_dir: Path, fmt: str, out: Path, task: str | None, overwrite: bool) -> Config:
    """The cheap checks, before any checkpoint is read; returns the run's config."""
    if fmt not in FORMATS:
        raise DeployError(f"unknown format {fmt!r} (expected one of: {', '.join(FORMATS)})")
    if out.is_dir():
        raise DeployError(f"--out {out} is a directory; give the file to write")
    if out.exists() and not overwrite:
        raise DeployError(f"{out} exists; pass --overwrite to replace it")
    config = read_run_config(run_dir)
    if not (run_dir / "checkpoints").is_dir():
        raise DeployError(f"no checkpoint in {run_dir / 'checkpoints'}")
    if task is not None and task not in config.env_names:
        raise DeployError(
            f"--task {task!r} is not a task of this run ({', '.join(config.env_names)})"
        )
    return config


def load_checkpoint(
    run_dir: Path, checkpoint: int | None, seed: int | None = None, say=print
) -> Any:
    """The run's policy (of a --seeds run: the member `seed`, by default the best, said in
    one line); a damaged checkpoint on the way is an error, not a silent fallback."""
    from fastbrc.run.checkpoint import CheckpointError
    from fastbrc.run.members import choose_member
    from fastbrc.run.policy import load_policy

    def refuse(message: str) -> None:
        text = message.removeprefix("fastbrc: warning: ")
        raise DeployError(f"{text}; pass --checkpoint to export an older one")

    try:
        seed = choose_member(run_dir, read_run_config(run_dir), seed, say=say)
        return load_policy(run_dir, checkpoint, seed=seed, warn=refuse)
    except (CheckpointError, ConfigError) as error:
        raise DeployError(str(error)) from None


def check_observations(policy: Any, signature: Signature, tasks: dict, count: int) -> dict:
    """`count` rows of inputs: observations drawn from the normaliser's per-feature mean and
    std (a row's task's own features; padding stays 0), and task ids where they are inputs."""
    stats = policy.params.obs_stats
    mean = np.asarray(stats.mean["state"], np.float64)
    std = np.sqrt(np.asarray(stats.var["state"], np.float64))
    rng = np.random.default_rng(0)
    names = list(tasks) if signature.task is None else [signature.task]
    task_index = rng.integers(0, len(names), count)
    width = signature.inputs[0].size
    obs = rng.normal(mean[:width], std[:width], (count, width)).astype(np.float32)
    for index, name in enumerate(names):
        obs[task_index == index, tasks[name]["obs_size"] :] = 0.0
    feeds = {signature.inputs[0].name: obs}
    if len(signature.inputs) > 1:
        feeds[signature.inputs[1].name] = task_index.astype(np.int32)
    return feeds


def build_metadata(
    policy: Any, signature: Signature, tasks: dict, fmt: str, converter: str, example: tuple
) -> dict[str, Any]:
    config = policy.config
    feeds, action = example
    return {
        "fastbrc_policy": FORMAT_VERSION,
        "fastbrc_version": fastbrc_version(),
        "jax_version": jax.__version__,
        "format": fmt,
        "converter": converter,
        "env": config.env,
        "tasks": list(policy.tasks),
        "task": signature.task if len(policy.tasks) > 1 else None,
        "inputs": [tensor.describe() for tensor in signature.inputs],
        "outputs": [{**signature.output.describe(), "range": [-1.0, 1.0]}],
        "task_info": tasks if signature.task is None else {signature.task: tasks[signature.task]},
        "checkpoint_step": int(policy.step),
        "config_hash": config_hash(config),
        "seed": int(config.seed),
        "actor": config.actor,
        "obs_normalization": bool(config.obs_normalization),
        "example": {"inputs": {k: as_list(v) for k, v in feeds.items()}, "action": as_list(action)},
    }


def export_run(
    run_dir: str | Path,
    fmt: str,
    out: str | Path,
    *,
    checkpoint: int | None = None,
    task: str | None = None,
    overwrite: bool = False,
    seed: int | None = None,
) -> Export:
    """Export the policy of `run_dir` at `checkpoint` (default: newest) to `out` as `fmt`; of
    a --seeds run, the member `seed` (default: the best, said in one line)."""
    run_dir, out = Path(run_dir), Path(out)
    check_request(run_dir, fmt, out, task, overwrite)
    start = time.perf_counter()
    policy = load_checkpoint(run_dir, checkpoint, seed)
    done = export_policy(policy, fmt, out, task=task, overwrite=overwrite)
    return dataclasses.replace(done, seconds=time.perf_counter() - start)


def export_policy(
    policy: Any, fmt: str, out: str | Path, *, task: str | None = None, overwrite: bool = False
) -> Export:
    """Export a loaded `fastbrc.run.policy.Policy` to `out` as `fmt` (checked, then written)."""
    start, out = time.perf_counter(), Path(out)
    if fmt not in FORMATS:
        raise DeployError(f"unknown format {fmt!r} (expected one of: {', '.join(FORMATS)})")
    names = policy.config.env_names if task is None else (task,)
    tasks = {name: task_info(name, policy.config) for name in names}
    signature = policy_signature(policy, tasks, task)
    feeds = check_observations(policy, signature, tasks, CHECK_SAMPLES)
    expected = np.asarray(jax.jit(signature.fn)(*feeds.values()))
    data, metadata = convert(policy, signature, tasks, fmt, feeds, expected)
    runner = runner_for(data, fmt, f"the exported {fmt} file")
    if fmt == "jax":
        runner.set_input_names(list(feeds))
    diff = float(np.max(np.abs(np.asarray(runner(feeds)) - expected)))
    if not diff <= TOLERANCE:
        raise DeployError(
            f"the {fmt} file's actions differ from the JAX policy's by {diff:.2e} "
            f"(> {TOLERANCE:g}) on {CHECK_SAMPLES} observations; nothing written"
        )
    write_atomically(out, data, overwrite)
    seconds = time.perf_counter() - start
    return Export(out, fmt, len(data), policy.step, seconds, diff, CHECK_SAMPLES, metadata)


def convert(
    policy: Any, signature: Signature, tasks: dict, fmt: str, feeds: dict, expected: np.ndarray
) -> tuple[bytes, dict[str, Any]]:
    """The file's bytes and its metadata (with the first check row as its example)."""
    if fmt == "onnx":
        from fastbrc.deploy.onnx_file import converter_name
        from fastbrc.deploy.onnx_file import onnx_bytes as to_bytes
    else:
        from fastbrc.deploy.jax_file import converter_name
        from fastbrc.deploy.jax_file import jax_bytes as to_bytes
    example = ({name: value[:1] for name, value in feeds.items()}, expected[:1])
    metadata = build_metadata(policy, signature, tasks, fmt, converter_name(), example)
    return to_bytes(signature, metadata), metadata


def write_atomically(out: Path, data: bytes, overwrite: bool) -> None:
    """`data` at `out`, written under a hidden name and renamed into place."""
    import os

    if out.exists() and not overwrite:
        raise DeployError(f"{out} exists; pass --overwrite to replace it")
    partial = out.with_name(f".{out.name}.partial")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(data)
        os.replace(partial, out)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise DeployError(f"could not write {out}: {error.strerror or error}") from None
