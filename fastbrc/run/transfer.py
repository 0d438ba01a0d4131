"""Transfer to a new task from a multi-task run (BRC's transfer experiments).

``fastbrc train --env NEWTASK --init-from RUN_DIR`` builds the new run with the source run's
network sizes and input sizes (observations and actions padded to the source's), copies every
critic and actor weight of the source's newest checkpoint except the task-embedding table,
and gives the new task a fresh embedding row. Targets start equal to the copied networks;
optimiser states, normalisers, reward statistics and the replay buffer start fresh.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from fastbrc.config import Config, ConfigError, validate
from fastbrc.learner import build, make_envs
from fastbrc.run.checkpoint import Checkpoints, Restored

# Fields that shape the copied networks or the meaning of their outputs.
_ARCHITECTURE = (
    "critic_width",
    "critic_depth",
    "num_critics",
    "num_atoms",
    "v_min",
    "v_max",
    "task_embedding_dim",
    "actor",
    "actor_type",
    "actor_hidden",
    "actor_width",
    "actor_depth",
    "critic_bf16",
    "obs_normalization",
)


def source_config(config: Config) -> Config:
    path = Path(config.init_from) / "config.json"
    if not path.exists():
        raise ConfigError(f"--init-from {config.init_from}: no run there (no config.json)")
    return Config.from_json(path.read_text())


def prepare(config: Config) -> Config:
    """`config` with the source run's architecture checked and its input sizes applied."""
    source = source_config(config)
    if source.multi_seed:
        raise ConfigError(
            f"--init-from {config.init_from}: that run trained seeds "
            f"{','.join(map(str, source.seeds))} in one program; transfer starts from a "
            "single-seed run"
        )
    if source.conditioning != "embedding":
        raise ConfigError(
            f"--init-from {config.init_from}: that run has no task embeddings "
            f"(task conditioning '{source.conditioning}'); transfer needs a multi-task run "
            "trained with embeddings"
        )
    if config.task_conditioning not in ("auto", "embedding"):
        raise ConfigError("--init-from needs --task-conditioning embedding (or auto)")
    for name in _ARCHITECTURE:
        if getattr(source, name) != getattr(config, name):
            raise ConfigError(
                f"--init-from {config.init_from}: --{name.replace('_', '-')} is "
                f"{getattr(source, name)!r} there but {getattr(config, name)!r} here; "
                "the networks must have the same shape"
            )
    src_env, _ = make_envs(source.agent, len(source.env_names))
    src = src_env.spec
    config = dataclasses.replace(
        config,
        task_conditioning="embedding",
        min_obs_size=max(config.min_obs_size, src.obs_size),
        min_action_size=max(config.min_action_size, src.action_size),
    )
    new_env, _ = make_envs(config.agent, len(config.env_names))
    new = new_env.spec
    if (new.obs_size, new.action_size) != (src.obs_size, src.action_size):
        raise ConfigError(
            f"--init-from {config.init_from}: the new task needs {new.obs_size} observation "
            f"features and {new.action_size} action dims, more than the source run's "
            f"{src.obs_size} and {src.action_size}"
        )
    if new.privileged_obs_size != src.privileged_obs_size:
        raise ConfigError(
            f"--init-from {config.init_from}: the critic sees {new.privileged_obs_size} "
            f"privileged features here but {src.privileged_obs_size} there"
        )
    return validate(config)


def load_source(config: Config) -> Restored:
    """The source run's newest good checkpoint (networks only)."""
    source = source_config(config)
    # one device whatever the source ran on: only its networks are read
    fns = build(dataclasses.replace(source, num_eval_envs=len(source.env_names), num_devices=1))
    abstract = jax.eval_shape(fns.init, jax.random.PRNGKey(0))
    checkpoints = Checkpoints(Path(config.init_from) / "checkpoints")
    try:
        return checkpoints.restore(abstract, source, with_buffer=False)
    finally:
        checkpoints.close()


def apply(state: Any, source_state: Any) -> Any:
    """`state` (a fresh init of the new run) with the source's shared weights copied in."""
    critic = copy_shared(state.critic_params, source_state.critic_params)
    copy = lambda tree: jax.tree.map(jnp.copy, tree)  # noqa: E731 (own buffers: the chunk donates them)
    return state.replace(
        critic_params=critic,
        target_critic_params=copy(critic),
        actor_params=source_state.actor_params,
        target_actor_params=copy(source_state.actor_params),
    )


def copy_shared(new: Any, source: Any) -> Any:
    """Every leaf of `source` except the task-embedding table, which stays `new`'s."""
    if _shapes_without_table(new) != _shapes_without_table(source):
        raise ConfigError("--init-from: the source run's networks do not match this run's shapes")

    def pick(path, new_leaf, source_leaf):
        return new_leaf if _is_table(path) else source_leaf

    return jax.tree_util.tree_map_with_path(pick, new, source)


def _is_table(path) -> bool:
    return "task_embedding" in jax.tree_util.keystr(path)


def _shapes_without_table(tree: Any) -> dict[str, tuple[int, ...]]:
    return {
        jax.tree_util.keystr(path): leaf.shape
        for path, leaf in jax.tree_util.tree_leaves_with_path(tree)
        if not _is_table(path)
    }
