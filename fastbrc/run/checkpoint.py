"""Checkpoints of the whole `TrainState` with Orbax: atomic, verified, with fallback.

Layout: ``<run_dir>/checkpoints/<env_steps>/`` holds three Orbax items:

- ``state``: every leaf of the `TrainState` except the replay buffer (networks, targets,
  optimiser states, normalisers, env state, rng, counters);
- ``replay``: the replay buffer (absent when the run has ``save_buffer=False``);
- ``meta``: JSON with the step, the chunk index, the run's config, the tree path of every
  leaf and a fingerprint of every stored leaf.

The array items are flat ``{"00042": leaf}`` dicts in tree order (empty arrays are left out
and recreated on restore); the paths in ``meta`` make a structure change an explicit error.

Orbax writes a step into a temporary directory and renames it once complete, so a kill during
a save leaves no step behind. A damaged file usually fails Orbax's own decoding; restoring
also recomputes the fingerprints, so damage that still decodes is caught too. Either way
`restore` warns and falls back to the newest older checkpoint that verifies.

Only the directory's owner (the training run, which holds the run lock) changes it: it removes
the temporary directories of killed saves and, once an older checkpoint has restored (which
shows the failure is the checkpoint's, not the machine's), renames each damaged newer one to
``<step>.damaged`` so the run saves over that step again. Readers (`fastbrc eval`,
`load_policy`, `render`) may run while a training run writes, so they skip a damaged
checkpoint without touching it.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import math
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from fastbrc.config import RESUMABLE_FIELDS, WRITTEN_BEFORE_DEFAULT_CHANGED, Config

# Orbax logs every save and restore at INFO/WARNING through absl; the trainer prints its own.
logging.getLogger("absl").setLevel(logging.ERROR)


class CheckpointError(RuntimeError):
    """No usable checkpoint, or one written by an incompatible config (one-line message)."""


@dataclass(frozen=True)
class Restored:
    state: Any  # TrainState; `replay` is None when the checkpoint has no buffer
    step: int  # env steps at the checkpoint
    chunk: int  # chunks completed at the checkpoint
    has_buffer: bool


@dataclass(frozen=True)
class SaveInfo:
    step: int
    seconds: float
    nbytes: int  # bytes on disk of this checkpoint


def _leaf_fingerprint(x: jax.Array) -> jax.Array:
    """A position-weighted wrapping uint32 sum of the bits of `x` (catches flips and zeroing)."""
    if x.dtype == jnp.bool_:
        bits = x.astype(jnp.uint32)
    else:
        width = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint32}[x.dtype.itemsize]
        bits = jax.lax.bitcast_convert_type(x, width).astype(jnp.uint32)
    bits = bits.reshape(-1)
    weights = jnp.arange(bits.size, dtype=jnp.uint32) * jnp.uint32(2654435761) + jnp.uint32(1)
    return jnp.sum(bits * weights, dtype=jnp.uint32)


@jax.jit
def fingerprint(tree: Any) -> list[jax.Array]:
    return [_leaf_fingerprint(leaf) for leaf in jax.tree.leaves(tree)]


def _paths(tree: Any) -> list[str]:
    return [jax.tree_util.keystr(path) for path, _ in jax.tree_util.tree_leaves_with_path(tree)]


def _flatten(tree: Any) -> dict[str, Any]:
    """Leaves by position ("00042"), leaving out empty arrays (Orbax cannot store them; MJX
    states have some, e.g. actuator activations of a model without any)."""
    return {
        f"{i:05d}": leaf
        for i, leaf in enumerate(jax.tree.leaves(tree))
        if math.prod(leaf.shape) > 0
    }


def _unflatten(abstract: Any, flat: dict[str, Any]) -> Any:
    leaves, treedef = jax.tree.flatten(abstract)
    return jax.tree.unflatten(
        treedef,
        [
            flat[f"{i:05d}"] if f"{i:05d}" in flat else jnp.zeros(leaf.shape, leaf.dtype)
            for i, leaf in enumerate(leaves)
        ],
    )


# Leaves added to the TrainState since checkpoints were first written, by tree path. A
# checkpoint without them restores with the leaf at zeros, the value `init` gives it (both
# belong to reward normalisation "max_value_to_go", which older runs could not use).
ADDED_LEAVES = frozenset({".reward_stats.max_abs_value", ".reward_stats.episode_rewards"})


def _saved_positions(current: list[str], saved: list[str]) -> dict[int, int] | None:
    """{position in `current`: position in `saved`} when `saved` is `current` without some
    ADDED_LEAVES (an older checkpoint), else None (a structure we cannot map)."""
    kept = [i for i, path in enumerate(current) if path not in ADDED_LEAVES or path in saved]
    if [current[i] for i in kept] != saved:
        return None
    return {i: j for j, i in enumerate(kept)}


def _fingerprint_list(tree: Any) -> list[int]:
    return [int(v) for v in jax.device_get(fingerprint(tree))]


def _dir_nbytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:160]}{'...' if len(text) > 160 else ''}"


def incompatibility(saved: dict[str, Any], config: Config) -> str | None:
    """Why a checkpoint written with config dict `saved` cannot continue `config`, or None.

    A field the checkpoint's config lacks was added later and takes its default, which keeps
    the behaviour the checkpoint was trained with (that is the rule for adding a field); a
    field whose default changed since takes the value it had then
    (`WRITTEN_BEFORE_DEFAULT_CHANGED`)."""
    current = config.agent.__dict__  # the run part (RESUMABLE_FIELDS) may change
    defaults = {**Config().__dict__, **WRITTEN_BEFORE_DEFAULT_CHANGED}
    for name in sorted((set(saved) - RESUMABLE_FIELDS) | set(current)):
        old, new = saved.get(name, defaults.get(name)), current.get(name)
        if isinstance(old, list):
            old = tuple(old)
        if old != new:
            return f"{name} is {old!r} in the checkpoint but {new!r} now"
    return None


def damaged_name(directory: Path, step: int) -> Path:
    """Where the owner moves a damaged checkpoint: ``<step>.damaged`` (``.damaged-2``, ...
    when an earlier one of that step is still kept)."""
    path, n = directory / f"{step}.damaged", 1
    while path.exists():
        n += 1
        path = directory / f"{step}.damaged-{n}"
    return path


class Checkpoints:
    """Save and restore `TrainState`s under `directory` (one sub-directory per env step).

    `owner`: this process holds the run (the training loop, under the run lock): it cleans up
    killed saves and moves damaged checkpoints aside. Readers leave the directory as it is.
    `error_log`: while a save runs, the process's stderr (Orbax's and TensorStore's threads
    print tracebacks there) goes to this file instead of the terminal.
    """

    def __init__(
        self,
        directory: Path | str,
        keep: int = 2,
        *,
        owner: bool = False,
        error_log: Path | None = None,
    ):
        self.directory = Path(directory).absolute()
        self.owner = owner
        self.error_log = error_log
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep,
            create=False,
            enable_async_checkpointing=False,
            # leftovers of a save that was killed; a reader must not remove the temporary
            # directory of a save that a training run is writing right now
            cleanup_tmp_directories=owner,
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def steps(self) -> list[int]:
        """Env steps of the finished checkpoints, oldest first."""
        if not self.directory.exists():
            return []
        self._manager.reload()
        return sorted(self._manager.all_steps())

    def save(self, state: Any, *, step: int, chunk: int, config: Config) -> SaveInfo:
        """Write `state` (with its buffer when `config.save_buffer`) as checkpoint `step`."""
        tick = time.perf_counter()
        self.directory.mkdir(exist_ok=True)  # not its parent: a removed run dir is an error
        trees = {"state": state.replace(replay=None)}
        if config.save_buffer:
            trees["replay"] = state.replay
        items = {name: _flatten(tree) for name, tree in trees.items()}
        meta = {
            "step": step,
            "chunk": chunk,
            "has_buffer": config.save_buffer,
            "config": json.loads(config.to_json()),
            "paths": {name: _paths(tree) for name, tree in trees.items()},
            "fingerprints": {name: _fingerprint_list(flat) for name, flat in items.items()},
        }
        args = {name: ocp.args.StandardSave(tree) for name, tree in items.items()}
        args["meta"] = ocp.args.JsonSave(meta)
        with _stderr_to(self.error_log):
            self._manager.save(step, args=ocp.args.Composite(**args), force=True)
            self._manager.wait_until_finished()
        seconds = time.perf_counter() - tick
        return SaveInfo(step, seconds, _dir_nbytes(self.directory / str(step)))

    def restore(
        self,
        abstract_state: Any,
        config: Config,
        *,
        step: int | None = None,
        with_buffer: bool = True,
        warn: Callable[[str], None] = print,
    ) -> Restored:
        """The newest checkpoint that verifies (or exactly `step`), shaped like `abstract_state`.

        Unreadable or damaged checkpoints are skipped with one warning line each (the owner
        moves them aside once an older one restored); a checkpoint from an incompatible config
        raises `CheckpointError` at once (an older one would be no better).
        """
        available = self.steps()
        if step is not None:
            if step not in available:
                listing = ", ".join(map(str, available)) or "none"
                raise CheckpointError(
                    f"no checkpoint at step {step} in {self.directory} (available: {listing})"
                )
            candidates = [step]
        else:
            candidates = available[::-1]
        if not candidates:
            raise CheckpointError(f"no checkpoint in {self.directory}")
        failed: list[tuple[int, str]] = []
        for candidate in candidates:
            try:
                with _quiet_async_errors():
                    restored = self._restore_one(abstract_state, config, candidate, with_buffer)
            except CheckpointError:
                raise
            except Exception as error:  # noqa: BLE001 - any failure means "not restorable"
                failed.append((candidate, _short(error)))
                continue
            for step_, why in failed:
                done = self._set_aside(step_)
                warn(
                    f"fastbrc: warning: checkpoint {step_} is damaged or unreadable ({why}); {done}"
                )
            return restored
        errors = "; ".join(f"{step_}: {why}" for step_, why in failed)
        raise CheckpointError(f"no restorable checkpoint in {self.directory} ({errors})")

    def _set_aside(self, step: int) -> str:
        """Move damaged checkpoint `step` out of the way (owner only); say what was done."""
        if not self.owner:
            return "skipped it"
        target = damaged_name(self.directory, step)
        try:
            os.rename(self.directory / str(step), target)
        except OSError as error:
            return f"skipped it (could not move it aside: {error})"
        self._manager.reload()
        return f"moved it to {target} (kept for inspection)"

    def _restore_one(
        self, abstract_state: Any, config: Config, step: int, with_buffer: bool
    ) -> Restored:
        meta = self._manager.restore(
            step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())
        ).meta
        problem = incompatibility(meta["config"], config)
        if problem:
            raise CheckpointError(
                f"checkpoint {step} in {self.directory} was written by an incompatible config: "
                f"{problem}"
            )
        trees = {"state": abstract_state.replace(replay=None)}
        if with_buffer and meta["has_buffer"]:
            trees["replay"] = abstract_state.replay
        positions = {}
        for name, tree in trees.items():
            positions[name] = _saved_positions(_paths(tree), meta["paths"][name])
            if positions[name] is None:
                raise CheckpointError(
                    f"checkpoint {step} in {self.directory} holds a different '{name}' "
                    "structure (written by another fastbrc version?)"
                )
        wanted = {  # the abstract leaves under their keys in the checkpoint
            name: {
                f"{positions[name][int(key)]:05d}": leaf
                for key, leaf in _flatten(tree).items()
                if int(key) in positions[name]
            }
            for name, tree in trees.items()
        }
        args = {
            name: ocp.args.StandardRestore(_with_sharding(flat)) for name, flat in wanted.items()
        }
        restored = self._manager.restore(step, args=ocp.args.Composite(**args))
        for name in trees:
            if _fingerprint_list(restored[name]) != meta["fingerprints"][name]:
                raise ValueError(f"the '{name}' data does not match its saved fingerprint")
        out = {}
        for name, tree in trees.items():
            saved_key = {f"{j:05d}": f"{i:05d}" for i, j in positions[name].items()}
            flat = {saved_key[key]: leaf for key, leaf in restored[name].items()}
            out[name] = _unflatten(tree, flat)
        state = out["state"].replace(replay=out.get("replay"))
        return Restored(state, int(meta["step"]), int(meta["chunk"]), "replay" in out)

    def delete_all(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def close(self) -> None:
        self._manager.close()


@contextlib.contextmanager
def _quiet_async_errors():
    """A failed Orbax read leaves sibling coroutines whose errors Python would print as
    "Exception ignored" tracebacks, asyncio logs "Task exception was never retrieved" and
    Python warns "coroutine ... was never awaited" when it collects them; the failure is
    already reported as one line."""
    previous = sys.unraisablehook
    sys.unraisablehook = lambda _info: None
    asyncio_log = logging.getLogger("asyncio")
    try:
        yield
    finally:
        asyncio_log.disabled = True
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "coroutine .* was never awaited", RuntimeWarning)
                gc.collect()
        finally:
            asyncio_log.disabled = False
            sys.unraisablehook = previous


@contextlib.contextmanager
def _stderr_to(path: Path | None):
    """File descriptor 2 appended to `path` for the duration (None: left alone).

    A failed Orbax write (disk full, permission denied) makes its writer threads log
    tracebacks through absl and TensorStore's callbacks print more from C; the caller reports
    the failure as one line, and the details stay in the file.
    """
    if path is None:
        yield
        return
    new = not path.exists()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:  # the run directory itself is unwritable: the save will say so
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(fd, 2)
    os.close(fd)
    try:
        yield
    except BaseException:
        # the failed write's other futures report when collected ("exception was never
        # retrieved"): collect them now, into the file
        gc.collect()
        raise
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        with contextlib.suppress(OSError):
            if new and path.stat().st_size == 0:  # nothing went wrong: no empty log left
                path.unlink()


def _with_sharding(tree: Any) -> Any:
    """Abstract leaves with the sharding to restore onto: the leaf's own when it has one (a
    sharded run: Orbax reads each device's slice, whatever device count wrote the
    checkpoint), else the default device."""
    default = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    return jax.tree.map(
        lambda leaf: jax.ShapeDtypeStruct(
            leaf.shape, leaf.dtype, sharding=getattr(leaf, "sharding", None) or default
        ),
        tree,
    )
