"""The train state: everything that changes during training, as one pytree (one checkpoint,
one ``donate_argnums``), and the small update rules every learner step uses."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import optax

from fastbrc.core import replay as rb
from fastbrc.core import reward_norm as rn

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


def polyak(target: Params, online: Params, tau: float) -> Params:
    return jax.tree.map(lambda t, o: t + tau * (o - t), target, online)


def optimizer(lr: float, weight_decay: float, max_grad_norm: float) -> optax.GradientTransformation:
    """AdamW, after global-norm clipping when `max_grad_norm` > 0."""
    adamw = optax.adamw(lr, weight_decay=weight_decay)
    return optax.chain(optax.clip_by_global_norm(max_grad_norm), adamw) if max_grad_norm else adamw


def apply_gradients(
    opt: optax.GradientTransformation, grads: Params, opt_state: optax.OptState, params: Params
) -> tuple[Params, optax.OptState]:
    """One optimiser step: (new params, new optimiser state)."""
    updates, opt_state = opt.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state
