"""The fused trainer: act, step MJX envs, store, and update the critic/actor in one scan.

FastTD3's loop (Seo et al. 2025) with the BRC critic (Nauman et al. 2025). One *iteration*:

    COLLECT  normalise obs -> actor (TD3: + per-env noise; SAC: a policy sample) ->
             vmapped env step (auto-reset keeps the true final obs) -> ring-buffer add ->
             obs-normaliser and per-task reward-statistics update
    LEARN    updates_per_iteration x [sample n-step batch -> scale rewards per task ->
             critic update (categorical CE; SAC adds the entropy bonus to the target)
             -> every policy_frequency-th: actor update (+ SAC temperature) + actor-target
             Polyak -> critic-target Polyak]

With several tasks the critic and actor are conditioned on the task (BRC's embeddings or
separate heads) and metrics are also reduced per task.

``train_chunk`` is a ``lax.scan`` over ``iterations_per_chunk`` iterations, jitted once with
the state donated; metrics are sums carried through the scan and reduced to means in the
graph. Static sizes are Python ints closed over by ``make_train_fns``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from fastbrc.config import Config, check_divisible, validate
from fastbrc.core import distributional as dist
from fastbrc.core import losses, parallel, sac
from fastbrc.core import normalization as norm
from fastbrc.core import replay as rb
from fastbrc.core import reward_norm as rn
from fastbrc.envs import BatchedEnv
from fastbrc.learner.models import make_actor, make_critic

Params = Any
Metrics = dict[str, jax.Array]


@flax.struct.dataclass
class TrainState:
    """Everything that changes during training: one pytree, one checkpoint."""

    actor_params: Params
    critic_params: Params
    target_actor_params: Params
    target_critic_params: Params
    actor_opt_state: optax.OptState
    critic_opt_state: optax.OptState
    log_alpha: jax.Array  # SAC temperature, alpha = exp(log_alpha) (unused by TD3)
    alpha_opt_state: optax.OptState
    obs_stats: Any
    reward_stats: rn.RewardStats  # per-task return statistics (reward normalisation)
    replay: rb.ReplayState
    env_state: Any
    noise_std: jax.Array  # [num_envs] exploration std, re-drawn on reset
    rng: jax.Array
    # int32 counters; env steps = iteration * num_envs is computed on the host in Python
    # ints, so no count overflows before 2**31 iterations / gradient steps.
    iteration: jax.Array
    gradient_steps: jax.Array


def actor_input(obs: dict[str, jax.Array]) -> jax.Array:
    return obs["state"]


def critic_input(obs: dict[str, jax.Array]) -> jax.Array:
    """Asymmetric actor-critic: the critic sees the privileged state when there is one."""
    return obs.get("privileged_state", obs["state"])


def polyak(target: Params, online: Params, tau: float) -> Params:
    return jax.tree.map(lambda t, o: t + tau * (o - t), target, online)


def _optimizer(lr: float, weight_decay: float, max_grad_norm: float):
    adamw = optax.adamw(lr, weight_decay=weight_decay)
    return optax.chain(optax.clip_by_global_norm(max_grad_norm), adamw) if max_grad_norm else adamw


# Keys of the in-graph metric sums carried through the chunk; `_reduce` turns them into means.
_COLLECT_METRICS = (
    "train/episode_return",
    "train/episode_length",
    "train/episodes",
    "train/reward",
    "train/nan_env_resets",
    "train/tasks/episode_return",
    "train/tasks/episodes",
)
_CRITIC_METRICS = ("train/critic_loss", "train/q_mean", "train/target_q_mean")
_TASK_CRITIC_METRICS = ("train/tasks/critic_loss", "train/tasks/q_mean")
_LEARN_METRICS = (
    *_CRITIC_METRICS,
    *_TASK_CRITIC_METRICS,
    "train/actor_loss",
    "train/actor_updates",
)
_CHUNK_METRICS = (*_COLLECT_METRICS, *_LEARN_METRICS, "train/critic_updates")

# What `train/nonfinite` names: 0 when all are finite, else 1 + the index of the first bad one.
NONFINITE_CHECKS = (
    "train/critic_loss",
    "train/q_mean",
    "train/target_q_mean",
    "train/actor_loss",
    "critic parameters",
    "actor parameters",
)


@dataclass
class TrainFns:
    """The jitted entry points of one run plus what the Python loop needs to know."""

    config: Config
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


def make_train_fns(
    config: Config, env: BatchedEnv, eval_env: BatchedEnv, mesh: jax.sharding.Mesh | None = None
) -> TrainFns:
    """`mesh`: the devices to split the envs over (default: `config.num_devices` of them)."""
    c = config
    mesh = mesh if mesh is not None else parallel.make_mesh(c.num_devices)
    check_divisible(c, env.spec.envs_per_task, mesh.size)
    spec = env.spec
    num_envs = spec.num_envs
    num_tasks = spec.num_tasks
    conditioning = c.conditioning
    actor = make_actor(c, spec.action_size)
    critic = make_critic(c, num_tasks, conditioning)
    actor_opt = _optimizer(c.actor_lr, c.actor_weight_decay, c.max_grad_norm)
    critic_opt = _optimizer(c.critic_lr, c.critic_weight_decay, c.max_grad_norm)
    alpha_opt = optax.adam(c.actor_lr)
    # SAC: each sample's real action dims (multi-task batches pad to the largest task)
    action_mask = jnp.asarray(spec.action_mask, jnp.float32)  # [num_tasks, A]
    task_entropy = sac.target_entropy(jnp.asarray(spec.task_action_sizes))  # [num_tasks]
    support = dist.make_support(c.v_min, c.v_max, c.num_atoms)
    # max_value_to_go keeps each env's running episode's rewards, up to the longest time limit
    value_to_go = c.reward_normalization == "max_value_to_go"
    kept_episode_length = max(spec.episode_lengths) if value_to_go else 0
    trace_counts = {"train_chunk": 0, "evaluate": 0}

    def per_task_sum(x: jax.Array, task_id: jax.Array) -> jax.Array:
        return jax.ops.segment_sum(x, task_id, num_segments=num_tasks)

    def per_task_mean(x: jax.Array, task_id: jax.Array) -> jax.Array:
        count = per_task_sum(jnp.ones_like(x), task_id)
        return per_task_sum(x, task_id) / jnp.maximum(count, 1.0)

    def zero_metric(key: str) -> jax.Array:
        return jnp.zeros((num_tasks,) if "/tasks/" in key else ())

    def normalize(stats, obs):
        # eps 1e-4 floors the std at 0.01 (FastTD3 adds 1e-2), so near-constant features
        # are not blown up from rounding noise.
        return norm.normalize(stats, obs, eps=1e-4) if c.obs_normalization else obs

    # ----------------------------------------------------------------- task conditioning
    def critic_apply(params, obs, action, task_id):
        """[E, B, num_atoms] logits; `obs` normalised, the task given by `task_id` [B]."""
        obs = critic_input(obs)
        if conditioning == "none":
            return critic.apply(params, obs, action)
        return critic.apply(params, obs, action, task_id)

    def task_features(critic_params, task_id):
        """What the actor is told about the task: the critic's embedding of it (BRC shares
        the table; only the TD loss trains it), a one-hot id, or nothing ([B, 0])."""
        if conditioning == "embedding":
            rows = critic.apply(critic_params, task_id, method=critic.embed)
            return jax.lax.stop_gradient(rows)
        if conditioning == "separate_heads":
            return jax.nn.one_hot(task_id, num_tasks)
        return jnp.zeros(task_id.shape + (0,))

    def actor_apply(actor_params, critic_params, obs, task_id):
        """The actor's output for normalised `obs` (TD3: actions; SAC: (mean, log_std)),
        with the task features of `critic_params`' table."""
        features = task_features(critic_params, task_id)
        return actor.apply(actor_params, jnp.concatenate([actor_input(obs), features], axis=-1))

    def deterministic_action(actor_params, critic_params, obs, task_id):
        out = actor_apply(actor_params, critic_params, obs, task_id)
        return sac.mode(out[0]) if c.actor == "sac" else out

    def sampled_action(actor_params, critic_params, obs, task_id, key):
        """SAC: a reparameterised action and its log-probability over the task's dims."""
        mean, log_std = actor_apply(actor_params, critic_params, obs, task_id)
        return sac.sample(mean, log_std, key, action_mask[task_id])

    def reward_scales(state):
        """[num_tasks] multipliers of the raw rewards (reward_scale x per-task normaliser);
        with SAC the max-return rule counts the entropy bonus's share of the return (BRC)."""
        entropy_return = None
        if c.actor == "sac":
            alpha = jnp.exp(state.log_alpha)
            entropy_return = alpha * jnp.abs(task_entropy) / (1.0 - min(c.gamma, 0.999))
        scales = rn.task_scales(
            state.reward_stats, c.reward_normalization, c.reward_norm_target, entropy_return
        )
        return c.reward_scale * scales

    def policy(state, obs, task_id):
        """Deterministic action for raw `obs`; `state` needs actor/critic params, obs stats."""
        obs = normalize(state.obs_stats, obs)
        return deterministic_action(state.actor_params, state.critic_params, obs, task_id)

    def q_values(state: TrainState, obs, action: jax.Array, task_id: jax.Array) -> jax.Array:
        obs = normalize(state.obs_stats, obs)
        return losses.q_values(critic_apply(state.critic_params, obs, action, task_id), support)

    # ---------------------------------------------------------------------------- init
    def empty_replay() -> rb.ReplayState:
        obs = jax.eval_shape(env.reset, jax.random.PRNGKey(0)).obs
        example = rb.Transition(
            obs=jax.tree.map(_unbatched, obs),
            action=jnp.zeros((spec.action_size,)),
            reward=jnp.zeros(()),
            next_obs=jax.tree.map(_unbatched, obs),
            terminated=jnp.zeros((), bool),
            truncated=jnp.zeros((), bool),
            task_id=jnp.zeros((), jnp.int32),
        )
        return rb.init_replay(example, num_envs, c.replay_capacity_per_env)

    def init(key: jax.Array) -> TrainState:
        k_env, k_actor, k_critic, k_noise, rng = jax.random.split(key, 5)
        env_state = env.reset(k_env)
        obs = env_state.obs
        one_obs = jax.tree.map(lambda x: x[:1], obs)
        one_action = jnp.zeros((1, spec.action_size))
        one_task = jnp.zeros((1,), jnp.int32)
        if conditioning == "none":
            critic_params = critic.init(k_critic, critic_input(one_obs), one_action)
        else:
            critic_params = critic.init(k_critic, critic_input(one_obs), one_action, one_task)
        actor_in = jnp.concatenate(
            [actor_input(one_obs), task_features(critic_params, one_task)], axis=-1
        )
        actor_params = actor.init(k_actor, actor_in)
        return TrainState(
            actor_params=actor_params,
            critic_params=critic_params,
            target_actor_params=actor_params,
            target_critic_params=critic_params,
            actor_opt_state=actor_opt.init(actor_params),
            critic_opt_state=critic_opt.init(critic_params),
            log_alpha=jnp.asarray(sac.INIT_LOG_ALPHA, jnp.float32),
            alpha_opt_state=alpha_opt.init(jnp.zeros((), jnp.float32)),
            obs_stats=norm.init_stats(jax.tree.map(_unbatched, obs)),
            reward_stats=rn.init_stats(spec.num_tasks, num_envs, kept_episode_length),
            replay=empty_replay(),
            env_state=env_state,
            noise_std=jax.random.uniform(k_noise, (num_envs,), minval=c.std_min, maxval=c.std_max),
            rng=rng,
            iteration=jnp.zeros((), jnp.int32),
            gradient_steps=jnp.zeros((), jnp.int32),
        )

    # the state's layout over the devices: per-env leaves split, everything else replicated
    shardings = parallel.state_shardings(jax.eval_shape(init, jax.random.PRNGKey(0)), mesh)

    # ------------------------------------------------------------------------- COLLECT
    def collect(state: TrainState) -> tuple[TrainState, Metrics]:
        rng, k_noise, k_random, k_std = jax.random.split(state.rng, 4)
        obs = state.env_state.obs
        # uniform random actions during the warm-up
        if c.actor == "sac":  # act: a sample of the stochastic policy
            normalized = normalize(state.obs_stats, obs)
            explore, _ = sampled_action(
                state.actor_params, state.critic_params, normalized, env.task_ids, k_noise
            )
        else:  # act: deterministic policy + per-env Gaussian noise
            mean_action = policy(state, obs, env.task_ids)
            noise = jax.random.normal(k_noise, mean_action.shape) * state.noise_std[:, None]
            explore = jnp.clip(mean_action + noise, -1.0, 1.0)
        uniform = jax.random.uniform(k_random, explore.shape, minval=-1.0, maxval=1.0)
        action = jnp.where(state.iteration < c.learning_starts_iterations, uniform, explore)
        # step every env; auto-reset keeps the true final observation in next_obs
        env_state, step = env.step(state.env_state, action)
        # store raw observations; they are normalised with the current statistics at update
        replay = rb.add(
            state.replay,
            rb.Transition(
                obs=obs,
                action=action,
                reward=step.reward,
                next_obs=step.next_obs,
                terminated=step.terminated,
                truncated=step.truncated,
                task_id=step.task_id,
            ),
        )
        obs_stats = (
            norm.update_stats(state.obs_stats, obs) if c.obs_normalization else state.obs_stats
        )
        done = step.terminated | step.truncated
        reward_stats = rn.update_stats(
            state.reward_stats,
            step.reward,
            done,
            state.env_state.episode_step,  # the step index of this reward in its episode
            step.task_id,
            spec.num_tasks,
            c.gamma,
            truncated=step.truncated,
        )
        new_std = jax.random.uniform(k_std, (num_envs,), minval=c.std_min, maxval=c.std_max)
        state = state.replace(
            env_state=env_state,
            replay=replay,
            obs_stats=obs_stats,
            reward_stats=reward_stats,
            noise_std=jnp.where(done, new_std, state.noise_std),
            rng=rng,
            iteration=state.iteration + 1,
        )
        metrics = {
            "train/episode_return": jnp.sum(jnp.where(done, step.episode_return, 0.0)),
            "train/episode_length": jnp.sum(jnp.where(done, step.episode_length, 0)),
            "train/episodes": jnp.sum(done),
            "train/reward": jnp.mean(step.reward),
            "train/nan_env_resets": jnp.sum(step.nan_reset),
            "train/tasks/episode_return": per_task_sum(
                jnp.where(done, step.episode_return, 0.0), step.task_id
            ),
            "train/tasks/episodes": per_task_sum(done.astype(jnp.float32), step.task_id),
        }
        return state, metrics

    # --------------------------------------------------------------------------- LEARN
    def critic_update(state: TrainState, batch: rb.NStepBatch, key: jax.Array):
        """`batch.obs` / `batch.next_obs` arrive normalised (once per update, in one_update)."""
        obs, next_obs = batch.obs, batch.next_obs
        # target: target critic at the target actor's smoothed next action
        noise = jnp.clip(
            jax.random.normal(key, batch.action.shape) * c.target_noise,
            -c.target_noise_clip,
            c.target_noise_clip,
        )
        task = batch.task_id
        reward = batch.reward  # scaled in one_update
        if c.actor == "sac":  # next action from the current policy; soft target
            next_action, next_log_prob = sampled_action(
                state.actor_params, state.critic_params, next_obs, task, key
            )
            alpha = jnp.exp(state.log_alpha)
            reward = reward + sac.entropy_bonus(next_log_prob, alpha, batch.discount)
        else:  # TD3: target actor's action with clipped smoothing noise
            next_action = deterministic_action(
                state.target_actor_params, state.target_critic_params, next_obs, task
            )
            next_action = jnp.clip(next_action + noise, -1.0, 1.0)
        next_logits = critic_apply(state.target_critic_params, next_obs, next_action, task)
        target = losses.target_distribution(
            next_logits,
            reward,
            batch.discount,
            support,
            ensemble_mode=c.critic_target,
            value_target=c.value_target,
            hl_gauss_sigma=c.hl_gauss_sigma,
        )

        def loss_fn(params):
            logits = critic_apply(params, obs, batch.action, task)
            per_sample = losses.critic_loss_per_sample(logits, target)
            return per_sample.mean(), (logits, per_sample)

        (loss, (logits, per_sample)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state.critic_params
        )
        updates, opt_state = critic_opt.update(grads, state.critic_opt_state, state.critic_params)
        params = optax.apply_updates(state.critic_params, updates)
        state = state.replace(
            critic_params=params,
            critic_opt_state=opt_state,
            target_critic_params=polyak(state.target_critic_params, params, c.tau),
        )
        q = losses.q_values(logits, support).mean(axis=0)  # [B], ensemble mean
        metrics = {
            "train/critic_loss": loss,
            "train/q_mean": q.mean(),
            "train/target_q_mean": dist.expected_value(target, support).mean(),
            "train/tasks/critic_loss": per_task_mean(per_sample, task),
            "train/tasks/q_mean": per_task_mean(q, task),
        }
        return state, metrics

    def actor_update(state: TrainState, batch: rb.NStepBatch, key: jax.Array):
        obs, task = batch.obs, batch.task_id  # obs already normalised

        def loss_fn(params):
            if c.actor == "sac":
                action, log_prob = sampled_action(params, state.critic_params, obs, task, key)
                q = losses.q_values(critic_apply(state.critic_params, obs, action, task), support)
                alpha = jnp.exp(state.log_alpha)
                return sac.actor_loss(alpha, log_prob, q.mean(axis=0)), log_prob
            action = deterministic_action(params, state.critic_params, obs, task)
            logits = critic_apply(state.critic_params, obs, action, task)
            return losses.actor_loss(logits, support), jnp.zeros(obs["state"].shape[:1])

        (loss, log_prob), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.actor_params)
        updates, opt_state = actor_opt.update(grads, state.actor_opt_state, state.actor_params)
        params = optax.apply_updates(state.actor_params, updates)
        state = state.replace(
            actor_params=params,
            actor_opt_state=opt_state,
            target_actor_params=polyak(state.target_actor_params, params, c.tau),
        )
        if c.actor == "sac":  # temperature towards the target entropy of each sample's task
            alpha_grad = jax.grad(sac.temperature_loss)(
                state.log_alpha, log_prob, task_entropy[task]
            )
            step, alpha_opt_state = alpha_opt.update(alpha_grad, state.alpha_opt_state)
            state = state.replace(
                log_alpha=optax.apply_updates(state.log_alpha, step),
                alpha_opt_state=alpha_opt_state,
            )
        return state, loss

    def one_update(state: TrainState, key: jax.Array):
        if c.actor == "sac":
            k_sample, k_target, k_actor = jax.random.split(key, 3)
        else:  # the TD3 actor update draws no randomness
            (k_sample, k_target), k_actor = jax.random.split(key), None
        batch = rb.sample(state.replay, k_sample, c.batch_size, c.n_step, c.gamma)
        # rows are env-major, so each device's rows come from its own envs
        batch = parallel.constrain(batch, parallel.per_env(batch, mesh))
        # the statistics don't change during learning: normalise once for critic and actor
        scales = reward_scales(state)
        batch = batch.replace(
            obs=normalize(state.obs_stats, batch.obs),
            next_obs=normalize(state.obs_stats, batch.next_obs),
            reward=batch.reward * scales[batch.task_id],
        )
        state, metrics = critic_update(state, batch, k_target)
        update_actor = state.gradient_steps % c.policy_frequency == 0
        state, actor_loss = jax.lax.cond(
            update_actor,
            lambda s: actor_update(s, batch, k_actor),
            lambda s: (s, jnp.zeros(())),
            state,
        )
        state = state.replace(gradient_steps=state.gradient_steps + 1)
        metrics["train/actor_loss"] = actor_loss
        metrics["train/actor_updates"] = update_actor.astype(jnp.float32)
        return state, metrics

    def learn(state: TrainState) -> tuple[TrainState, Metrics]:
        rng, key = jax.random.split(state.rng)
        keys = jax.random.split(key, c.updates_per_iteration)
        state, per_update = jax.lax.scan(one_update, state.replace(rng=rng), keys)
        return state, jax.tree.map(lambda x: jnp.sum(x, axis=0), per_update)

    def no_learning(state: TrainState) -> tuple[TrainState, Metrics]:
        return state, {k: zero_metric(k) for k in _LEARN_METRICS}

    # --------------------------------------------------------------------------- CHUNK
    def iteration(carry, _):
        state, sums = carry
        state = parallel.constrain(state, shardings)  # keep the scan carry split by env
        state, collect_metrics = collect(state)
        # learn once the buffer holds the warm-up (for a fresh run: iteration >= learning
        # starts; after a resume without a saved buffer: once it has refilled)
        learning = state.replay.size >= min(c.learning_starts_iterations, c.replay_capacity_per_env)
        state, update_metrics = jax.lax.cond(learning, learn, no_learning, state)
        update_metrics["train/critic_updates"] = learning * jnp.float32(c.updates_per_iteration)
        new = {**collect_metrics, **update_metrics}
        sums = {k: sums[k] + new[k].astype(jnp.float32) for k in sums}
        return (state, sums), None

    def train_chunk(state: TrainState) -> tuple[TrainState, Metrics]:
        trace_counts["train_chunk"] += 1  # runs at trace time only
        zero_sums = {k: zero_metric(k) for k in _CHUNK_METRICS}
        (state, sums), _ = jax.lax.scan(
            iteration, (state, zero_sums), None, length=c.iterations_per_chunk
        )
        metrics = _reduce(sums, c.iterations_per_chunk)
        metrics["train/nonfinite"] = _first_nonfinite(sums, state)
        scales = reward_scales(state)
        metrics["train/reward_scale"] = jnp.mean(scales)
        metrics["train/tasks/reward_scale"] = scales
        metrics["train/alpha"] = jnp.exp(state.log_alpha)
        return state, metrics

    # ------------------------------------------------------------------------ EVALUATE
    max_episode_length = max(eval_env.spec.episode_lengths)

    def evaluate(state: TrainState, key: jax.Array) -> Metrics:
        """Deterministic policy, one episode per eval env, fully on device."""
        trace_counts["evaluate"] += 1

        def step(carry, _):
            env_state, ret, length, active = carry
            action = policy(state, env_state.obs, eval_env.task_ids)
            env_state, out = eval_env.step(env_state, action, auto_reset=False)
            ret = ret + jnp.where(active, out.reward, 0.0)
            length = length + active.astype(jnp.int32)
            active = active & ~(out.terminated | out.truncated)
            return (env_state, ret, length, active), None

        n = eval_env.spec.num_envs
        eval_state = eval_env.reset(key)
        eval_state = parallel.constrain(eval_state, parallel.env_state_shardings(eval_state, mesh))
        init_carry = (eval_state, jnp.zeros(n), jnp.zeros(n, jnp.int32), jnp.ones(n, bool))
        (_, ret, length, _), _ = jax.lax.scan(step, init_carry, None, length=max_episode_length)
        task = eval_env.task_ids
        return {
            "eval/episode_return": ret.mean(),
            "eval/episode_return_std": ret.std(),
            "eval/episode_length": length.mean(),
            "eval/tasks/episode_return": per_task_mean(ret, task),
            "eval/tasks/episode_length": per_task_mean(length.astype(jnp.float32), task),
        }

    rep = parallel.replicated(mesh)
    return TrainFns(
        config=c,
        env=env,
        eval_env=eval_env,
        init=parallel.KeysOnMesh(jax.jit(init, out_shardings=shardings), mesh, (0,)),
        train_chunk=jax.jit(
            train_chunk,
            in_shardings=(shardings,),
            out_shardings=(shardings, rep),
            donate_argnums=0,
        ),
        # the state's own shardings are used (eval may get a state without its buffer)
        evaluate=parallel.KeysOnMesh(jax.jit(evaluate, out_shardings=rep), mesh, (1,)),
        collect=collect,
        learn=learn,
        policy=policy,
        empty_replay=jax.jit(empty_replay, out_shardings=shardings.replay),
        q_values=jax.jit(q_values),
        mesh=mesh,
        state_shardings=shardings,
        trace_counts=trace_counts,
    )


def _unbatched(x: jax.Array) -> jax.Array:
    return jnp.zeros(x.shape[1:], x.dtype)


def _all_finite(tree: Any) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves))


def _first_nonfinite(sums: Metrics, state: TrainState) -> jax.Array:
    """0 if every quantity in NONFINITE_CHECKS is finite, else 1 + the index of the first bad.

    A sum over the chunk is non-finite iff one of its terms was, so one reduction per metric
    covers every update; the parameters are checked once, at the end of the chunk.
    """
    finite = jnp.stack(
        [jnp.isfinite(sums[k]) for k in NONFINITE_CHECKS[:4]]
        + [_all_finite(state.critic_params), _all_finite(state.actor_params)]
    )
    return jnp.where(jnp.all(finite), 0, 1 + jnp.argmin(finite)).astype(jnp.int32)


def _reduce(sums: Metrics, iterations: int) -> Metrics:
    """Turn in-graph sums into means over the right counts (NaN when nothing was counted)."""
    safe = lambda total, count: jnp.where(count > 0, total / jnp.maximum(count, 1.0), jnp.nan)
    episodes = sums["train/episodes"]
    critic_updates = sums["train/critic_updates"]
    out = {
        "train/episode_return": safe(sums["train/episode_return"], episodes),
        "train/episode_length": safe(sums["train/episode_length"], episodes),
        "train/episodes": episodes,
        "train/reward": sums["train/reward"] / iterations,
        "train/nan_env_resets": sums["train/nan_env_resets"],
        "train/critic_updates": critic_updates,
        "train/actor_updates": sums["train/actor_updates"],
        "train/actor_loss": safe(sums["train/actor_loss"], sums["train/actor_updates"]),
    }
    for k in (*_CRITIC_METRICS, *_TASK_CRITIC_METRICS):
        out[k] = safe(sums[k], critic_updates)
    out["train/tasks/episode_return"] = safe(
        sums["train/tasks/episode_return"], sums["train/tasks/episodes"]
    )
    return out


def expand_task_metrics(metrics: dict[str, Any], task_names: tuple[str, ...]) -> dict[str, Any]:
    """Host side: ``"train/tasks/q_mean": [T]`` -> ``"train/<Task>/q_mean"`` per task (only for
    multi-task runs; a single task's per-task values equal the overall ones and are dropped)."""
    out = {}
    for key, value in metrics.items():
        if "/tasks/" not in key:
            out[key] = value
        elif len(task_names) > 1:
            for name, item in zip(task_names, value, strict=True):
                out[key.replace("/tasks/", f"/{name}/")] = item
    return out


def make_envs(config: Config) -> tuple[BatchedEnv, BatchedEnv]:
    """The training batch and the evaluation batch (sharing the loaded envs)."""
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
    return env, env.resized(config.num_eval_envs)


def build(config: Config) -> TrainFns:
    """Train functions for `config` without a run directory (tests, benchmarks)."""
    env, eval_env = make_envs(validate(config))
    return make_train_fns(config, env, eval_env)
