"""Use a trained run: `load_policy` for inference, `evaluate_run` behind `fastbrc eval`.

Both read the run's config.json and one checkpoint (the newest good one by default); only the
networks and normalisers are restored, never the replay buffer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from fastbrc import normalization as norm
from fastbrc.checkpoint import Checkpoints, Restored
from fastbrc.config import Config, ConfigError, validate
from fastbrc.runner import make_envs
from fastbrc.train import TrainFns, make_train_fns


def _read_config(run_dir: Path) -> Config:
    path = run_dir / "config.json"
    if not path.exists():
        raise ConfigError(f"{run_dir} is not a fastbrc run directory (no config.json)")
    return Config.from_json(path.read_text())


def restore_run(
    run_dir: str | Path,
    checkpoint: int | None = None,
    num_eval_envs: int | None = None,
    warn=print,
) -> tuple[Config, TrainFns, Restored]:
    """The run's config, train functions and restored state (without the replay buffer)."""
    run_dir = Path(run_dir)
    config = _read_config(run_dir)
    if num_eval_envs is not None:
        config = validate(dataclasses.replace(config, num_eval_envs=num_eval_envs))
    env, eval_env = make_envs(config)
    fns = make_train_fns(config, env, eval_env)
    abstract = jax.eval_shape(fns.init, jax.random.PRNGKey(0))
    checkpoints = Checkpoints(run_dir / "checkpoints", keep=config.keep_checkpoints)
    try:
        restored = checkpoints.restore(
            abstract, config, step=checkpoint, with_buffer=False, warn=warn
        )
    finally:
        checkpoints.close()
    return config, fns, restored


@dataclass(frozen=True)
class Policy:
    """A trained deterministic policy: ``policy(obs) -> action`` (jitted).

    ``obs`` is the actor's observation, shaped ``[..., obs_size]`` (or a dict with a
    ``"state"`` entry, as the envs return it); actions are in [-1, 1], ``[..., action_size]``.
    """

    config: Config
    step: int  # env steps of the checkpoint
    obs_size: int
    action_size: int
    params: Any
    obs_stats: norm.RunningStats
    _apply: Any

    def __call__(self, obs: Any) -> jax.Array:
        if isinstance(obs, dict):
            obs = obs["state"]
        obs = jnp.asarray(obs, jnp.float32)
        if obs.shape[-1] != self.obs_size:
            raise ValueError(f"observation has {obs.shape[-1]} features, expected {self.obs_size}")
        return self._apply(self.params, self.obs_stats, obs)


def load_policy(run_dir: str | Path, checkpoint: int | None = None) -> Policy:
    """The policy of the run in `run_dir` at `checkpoint` env steps (default: the newest)."""
    config, fns, restored = restore_run(run_dir, checkpoint, num_eval_envs=len(_tasks(run_dir)))
    stats = restored.state.obs_stats
    state_stats = norm.RunningStats(
        mean={"state": stats.mean["state"]}, var={"state": stats.var["state"]}, count=stats.count
    )

    def apply(params, obs_stats, obs):
        return fns.policy(params, obs_stats, {"state": obs})

    return Policy(
        config=config,
        step=restored.step,
        obs_size=fns.env.spec.obs_size,
        action_size=fns.env.spec.action_size,
        params=restored.state.actor_params,
        obs_stats=state_stats,
        _apply=jax.jit(apply),
    )


def _tasks(run_dir: str | Path) -> tuple[str, ...]:
    return _read_config(Path(run_dir)).env_names


def evaluate_run(
    run_dir: str | Path,
    checkpoint: int | None = None,
    num_episodes: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Run one deterministic episode in each of `num_episodes` envs (default: the run's
    num_eval_envs); return the eval metrics and the checkpoint step."""
    config, fns, restored = restore_run(run_dir, checkpoint, num_eval_envs=num_episodes)
    metrics = jax.device_get(fns.evaluate(restored.state, jax.random.PRNGKey(seed)))
    return {"checkpoint": restored.step, **{k: float(v) for k, v in metrics.items()}}
