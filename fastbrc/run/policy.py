"""Use a trained run: `load_policy` for inference, `evaluate_run` behind `fastbrc eval`.

Neither builds the trainer: a run's networks, observation normaliser and env spec (its
`Agent`) and the restored parameters are all inference needs; evaluation adds its envs.

Both read the run's config.json and one checkpoint (the newest good one by default); only the
networks and normalisers are restored, never the replay buffer. A run of several seeds
(``--seeds``) is read one member at a time: ``seed`` picks it, by default the seed with the
best last eval return (`fastbrc.run.members.choose_member`, which says so in one line).

They only read: a damaged checkpoint is skipped with a warning and left in place (a training
run may be writing the directory; it moves damaged checkpoints aside itself), and they never
take the run's lock.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from fastbrc.config import Config, ConfigError, validate
from fastbrc.core import normalization as norm
from fastbrc.core import parallel
from fastbrc.envs import BatchedEnv
from fastbrc.learner import Agent, expand_task_metrics, init_state, make_agent, make_envs, seeds
from fastbrc.learner.evaluate import evaluate
from fastbrc.run.checkpoint import Checkpoints, Restored
from fastbrc.run.members import choose_member


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
    seed: int | None = None,
) -> tuple[Config, Agent, BatchedEnv, Restored]:
    """The config of the run's member `seed` (a single-seed config; see `choose_member`), its
    agent (networks, normaliser and actor rule, on one device), its evaluation envs and its
    restored state (without the replay buffer). Nothing of the trainer is built or compiled:
    the training envs are loaded for their spec, and their reset traced (never run) because
    the checkpoint's state holds their state."""
    run_dir = Path(run_dir)
    config = _read_config(run_dir)
    if num_eval_envs is not None:
        config = validate(dataclasses.replace(config, num_eval_envs=num_eval_envs))
    chosen = choose_member(run_dir, config, seed, say=warn)
    member = config.member(chosen)
    env, eval_env = make_envs(member.agent, member.num_eval_envs)
    # inference and evaluation run on one device, whatever the run trained on
    agent = make_agent(member.agent, env.spec, parallel.make_mesh(1))
    init = functools.partial(init_state, agent, env)
    key_init, _ = seeds.run_keys(config.seed, config.seeds)  # the checkpoint's seed axis
    abstract = jax.eval_shape(jax.vmap(init) if config.multi_seed else init, key_init)
    checkpoints = Checkpoints(run_dir / "checkpoints", keep=config.keep_checkpoints)
    try:
        restored = checkpoints.restore(
            abstract, config, step=checkpoint, with_buffer=False, warn=warn
        )
    finally:
        checkpoints.close()
    if config.multi_seed:
        one = seeds.member(restored.state, config.seeds.index(chosen))
        restored = dataclasses.replace(restored, state=one)
    return member, agent, eval_env, restored


@struct.dataclass
class PolicyParams:
    """What `Agent.policy` reads from a train state (the critic for its task table)."""

    actor_params: Any
    critic_params: Any
    obs_stats: norm.RunningStats


@dataclass(frozen=True)
class Policy:
    """A trained deterministic policy: ``policy(obs, task=0) -> action`` (jitted).

    ``obs`` is the actor's observation, shaped ``[..., obs_size]`` (or a dict with a
    ``"state"`` entry, as the envs return it); ``task`` is a task name of the run or its
    index (multi-task runs). Actions are in [-1, 1], ``[..., action_size]`` (padded to the
    largest task's action size in multi-task runs).
    """

    config: Config
    step: int  # env steps of the checkpoint
    tasks: tuple[str, ...]
    obs_size: int
    action_size: int
    params: PolicyParams
    _apply: Any

    def __call__(self, obs: Any, task: int | str = 0) -> jax.Array:
        if isinstance(obs, dict):
            obs = obs["state"]
        obs = jnp.asarray(obs, jnp.float32)
        if obs.shape[-1] != self.obs_size:
            raise ValueError(f"observation has {obs.shape[-1]} features, expected {self.obs_size}")
        if isinstance(task, str):
            if task not in self.tasks:
                raise ValueError(f"unknown task {task!r}; this run has {', '.join(self.tasks)}")
            task = self.tasks.index(task)
        if not 0 <= task < len(self.tasks):
            raise ValueError(f"task index {task} out of range for {len(self.tasks)} tasks")
        flat = obs.reshape((-1, obs.shape[-1]))
        task_id = jnp.full((flat.shape[0],), task, jnp.int32)
        action = self._apply(self.params, flat, task_id)
        return action.reshape(obs.shape[:-1] + (action.shape[-1],))

    def apply(self, obs: jax.Array, task_id: jax.Array) -> jax.Array:
        """The policy as a function of arrays alone (what `fastbrc export` traces): `obs`
        float32 ``[B, obs_size]``, `task_id` int32 ``[B]`` -> actions ``[B, action_size]``."""
        return self._apply(self.params, obs, task_id)


def load_policy(
    run_dir: str | Path, checkpoint: int | None = None, seed: int | None = None, warn=print
) -> Policy:
    """The policy of the run in `run_dir` at `checkpoint` env steps (default: the newest); of
    a --seeds run, the member `seed` (default: the best, said in one line). `warn` is told of
    each damaged checkpoint skipped on the way."""
    config, agent, _, restored = restore_run(run_dir, checkpoint, warn=warn, seed=seed)
    stats = restored.state.obs_stats
    params = PolicyParams(
        actor_params=restored.state.actor_params,
        critic_params=restored.state.critic_params,
        obs_stats=norm.RunningStats(
            mean={"state": stats.mean["state"]},
            var={"state": stats.var["state"]},
            count=stats.count,
        ),
    )

    def apply(params, obs, task_id):
        return agent.policy(params, {"state": obs}, task_id)

    return Policy(
        config=config,
        step=restored.step,
        tasks=config.env_names,
        obs_size=agent.spec.obs_size,
        action_size=agent.spec.action_size,
        params=params,
        _apply=jax.jit(apply),
    )


def evaluate_run(
    run_dir: str | Path,
    checkpoint: int | None = None,
    num_episodes: int | None = None,
    episode_seed: int = 0,
    seed: int | None = None,
) -> dict[str, Any]:
    """Run one deterministic episode in each of `num_episodes` envs (default: the run's
    num_eval_envs), their initial states drawn from `episode_seed`; return the eval metrics,
    the checkpoint step and the seed of the run's member that was evaluated."""
    config, agent, eval_env, restored = restore_run(
        run_dir, checkpoint, num_eval_envs=num_episodes, seed=seed
    )
    run_episodes = jax.jit(functools.partial(evaluate, agent, eval_env))
    key = jax.random.PRNGKey(episode_seed)
    metrics = expand_task_metrics(
        jax.device_get(run_episodes(restored.state, key)), config.env_names
    )
    return {
        "checkpoint": restored.step,
        "seed": config.seed,
        **{k: float(v) for k, v in metrics.items()},
    }
