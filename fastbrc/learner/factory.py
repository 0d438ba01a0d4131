"""The factory: a config and its envs in, the jitted entry points of one run out.

FastTD3's loop (Seo et al. 2025) with the BRC critic (Nauman et al. 2025). One *iteration*:

    COLLECT  normalise obs -> actor (TD3: + per-env noise; SAC: a policy sample) ->
             vmapped env step (auto-reset keeps the true final obs) -> ring-buffer add ->
             obs-normaliser and per-task reward-statistics update        (`collect`)
    LEARN    updates_per_iteration x [sample n-step batch -> scale rewards per task ->
             critic update (categorical CE; SAC adds the entropy bonus to the target)
             -> every policy_frequency-th: actor update (+ SAC temperature) + actor-target
             Polyak -> critic-target Polyak]                                (`updates`)

With several tasks the critic and actor are conditioned on the task (BRC's embeddings or
separate heads, `models`) and metrics are also reduced per task (`metrics`).

``train_chunk`` is a ``lax.scan`` over ``iterations_per_chunk`` iterations (`chunk`), jitted
once with the state donated; metrics are sums carried through the scan and reduced to means
in the graph. Static sizes are Python ints closed over here; this module only wires.

With ``seeds`` (several seeds in one program) init, the chunk, evaluation, collect and learn
are vmapped over a leading seed axis of the state (`seeds`); their metrics gain that axis.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp

from fastbrc.config import AgentConfig, Config, check_divisible, validate
from fastbrc.core import losses, parallel, sac
from fastbrc.core import normalization as norm
from fastbrc.core import replay as rb
from fastbrc.core import reward_norm as rn
from fastbrc.envs import BatchedEnv
from fastbrc.learner import chunk, collect, evaluate, seeds, updates
from fastbrc.learner.agent import Agent, make_agent
from fastbrc.learner.metrics import NONFINITE_CHECKS, expand_task_metrics
from fastbrc.learner.state import Metrics, TrainState

__all__ = [
    "NONFINITE_CHECKS",
    "TrainFns",
    "TrainState",
    "build",
    "expand_task_metrics",
    "make_envs",
    "make_train_fns",
]


@dataclass
class TrainFns:
    """The jitted entry points of one run plus what the Python loop needs to know."""

    config: AgentConfig
    env: BatchedEnv
    eval_env: BatchedEnv
    init: Callable[[jax.Array], TrainState]
    train_chunk: Callable[[TrainState], tuple[TrainState, Metrics]]
    evaluate: Callable[[TrainState, jax.Array], Metrics]
    collect: Callable  # (state) -> (state, collect metrics): for the Python-loop baseline
    learn: Callable  # (state) -> (state, update metrics): likewise
    policy: Callable  # (state, obs, task_id) -> deterministic action
    empty_replay: Callable[[], rb.ReplayState]  # a fresh buffer (resume without a saved one)
    q_values: Callable  # (state, obs, action) -> [num_critics, B] expected values
    mesh: jax.sharding.Mesh  # the devices the envs, buffer and batch are split over
    state_shardings: Any  # TrainState of shardings (per-env leaves split, the rest replicated)
    trace_counts: dict[str, int] = field(default_factory=dict)
    num_seeds: int = 0  # the leading seed axis of the state and metrics (0: none)


def _unbatched(x: jax.Array) -> jax.Array:
    return jnp.zeros(x.shape[1:], x.dtype)


def empty_replay(agent: Agent, env: BatchedEnv) -> rb.ReplayState:
    obs = jax.tree.map(_unbatched, jax.eval_shape(env.reset, jax.random.PRNGKey(0)).obs)
    example = rb.Transition(
        obs=obs,
        action=jnp.zeros((agent.spec.action_size,)),
        reward=jnp.zeros(()),
        next_obs=obs,
        terminated=jnp.zeros((), bool),
        truncated=jnp.zeros((), bool),
        task_id=jnp.zeros((), jnp.int32),
    )
    return rb.init_replay(example, agent.spec.num_envs, agent.config.replay_capacity_per_env)


def init_state(agent: Agent, env: BatchedEnv, key: jax.Array) -> TrainState:
    """A fresh train state: networks, their targets and optimisers, reset envs, an empty
    buffer, statistics at zero and each env's exploration std."""
    c, spec = agent.config, agent.spec
    k_env, k_actor, k_critic, k_noise, rng = jax.random.split(key, 5)
    env_state = env.reset(k_env)
    obs = env_state.obs
    one_obs = jax.tree.map(lambda x: x[:1], obs)
    one_action = jnp.zeros((1, spec.action_size))
    one_task = jnp.zeros((1,), jnp.int32)
    actor_params, critic_params = agent.nets.init(k_actor, k_critic, one_obs, one_action, one_task)
    # max_value_to_go keeps each env's running episode's rewards, up to the longest time limit
    value_to_go = c.reward_normalization == "max_value_to_go"
    kept_episode_length = max(spec.episode_lengths) if value_to_go else 0
    return TrainState(
        actor_params=actor_params,
        critic_params=critic_params,
        target_actor_params=actor_params,
        target_critic_params=critic_params,
        actor_opt_state=agent.actor_opt.init(actor_params),
        critic_opt_state=agent.critic_opt.init(critic_params),
        log_alpha=jnp.asarray(sac.INIT_LOG_ALPHA, jnp.float32),
        alpha_opt_state=agent.alpha_opt.init(jnp.zeros((), jnp.float32)),
        obs_stats=norm.init_stats(jax.tree.map(_unbatched, obs)),
        reward_stats=rn.init_stats(spec.num_tasks, spec.num_envs, kept_episode_length),
        replay=empty_replay(agent, env),
        env_state=env_state,
        noise_std=jax.random.uniform(k_noise, (spec.num_envs,), minval=c.std_min, maxval=c.std_max),
        rng=rng,
        iteration=jnp.zeros((), jnp.int32),
        gradient_steps=jnp.zeros((), jnp.int32),
    )


def make_train_fns(
    config: AgentConfig, env: BatchedEnv, eval_env: BatchedEnv, mesh: jax.sharding.Mesh
) -> TrainFns:
    """The jitted functions of the agent `config` on `env` (training) and `eval_env`, with the
    envs split over `mesh`'s devices (the caller checks the sizes divide: `check_divisible`).
    With `config.seeds` every state-taking function is vmapped over the seed axis."""
    agent = make_agent(config, env.spec, mesh)
    trace_counts = {"train_chunk": 0, "evaluate": 0}
    init = functools.partial(init_state, agent, env)
    # one member's layout over the devices: per-env leaves split, everything else replicated
    member_shardings = parallel.state_shardings(jax.eval_shape(init, jax.random.PRNGKey(0)), mesh)
    shardings = member_shardings

    def train_chunk(state: TrainState) -> tuple[TrainState, Metrics]:
        trace_counts["train_chunk"] += 1  # runs at trace time only
        return chunk.train_chunk(agent, env, member_shardings, state)

    def evaluate_fn(state: TrainState, key: jax.Array) -> Metrics:
        trace_counts["evaluate"] += 1
        return evaluate.evaluate(agent, eval_env, state, key)

    def q_values(state: TrainState, obs, action: jax.Array, task_id: jax.Array) -> jax.Array:
        obs = agent.nets.normalize(state.obs_stats, obs)
        logits = agent.nets.critic_apply(state.critic_params, obs, action, task_id)
        return losses.q_values(logits, agent.support)

    fresh_replay = functools.partial(empty_replay, agent, env)
    collect_fn = functools.partial(collect.collect, agent, env)
    learn_fn = functools.partial(updates.learn, agent)
    num_seeds = len(config.seeds)
    if num_seeds:  # the seed axis in front of every state-taking function
        per_seed = lambda fn: jax.vmap(fn, axis_name=seeds.AXIS)
        init, train_chunk, evaluate_fn = map(per_seed, (init, train_chunk, evaluate_fn))
        collect_fn, learn_fn = per_seed(collect_fn), per_seed(learn_fn)
        fresh_replay = lambda one=fresh_replay: seeds.broadcast(one(), num_seeds)
        shardings = seeds.stacked_shardings(shardings)
    rep = parallel.replicated(mesh)
    return TrainFns(
        config=config,
        env=env,
        eval_env=eval_env,
        init=parallel.KeysOnMesh(jax.jit(init, out_shardings=shardings), mesh, (0,)),
        train_chunk=jax.jit(
            train_chunk, in_shardings=(shardings,), out_shardings=(shardings, rep), donate_argnums=0
        ),
        # the state's own shardings are used (eval may get a state without its buffer)
        evaluate=parallel.KeysOnMesh(jax.jit(evaluate_fn, out_shardings=rep), mesh, (1,)),
        collect=collect_fn,
        learn=learn_fn,
        policy=agent.policy,
        empty_replay=jax.jit(fresh_replay, out_shardings=shardings.replay),
        q_values=jax.jit(q_values),
        mesh=mesh,
        state_shardings=shardings,
        trace_counts=trace_counts,
        num_seeds=num_seeds,
    )


def make_envs(config: AgentConfig, num_eval_envs: int) -> tuple[BatchedEnv, BatchedEnv]:
    """The training batch and the evaluation batch (sharing the loaded envs). Training
    episodes end at `train_episode_length` where it is set; evaluation keeps the full one."""
    env = BatchedEnv(
        config.env_names,
        config.num_envs,
        envs_per_task=config.envs_per_task,
        impl=config.impl,
        episode_length=config.episode_length,
        action_repeat=config.action_repeat,
        min_obs_size=config.min_obs_size,
        min_action_size=config.min_action_size,
    )
    eval_env = env.resized(num_eval_envs)
    if config.train_episode_length is not None:
        env = env.resized(
            config.num_envs, config.envs_per_task, episode_length=config.train_episode_length
        )
    return env, eval_env


def build(config: Config) -> TrainFns:
    """Train functions for `config` without a run directory (tests, benchmarks)."""
    config = validate(config)
    env, eval_env = make_envs(config.agent, config.num_eval_envs)
    mesh = parallel.make_mesh(config.num_devices)
    check_divisible(config, env.spec.envs_per_task, mesh.size)
    return make_train_fns(config.agent, env, eval_env, mesh)
