"""The two actors, TD3 and SAC, behind one interface.

What differs between them, and only that, lives here; the critic update, the actor update and
the gradient step (`fastbrc.learner.updates`) are shared. Observations arrive normalised.

    explore         the action taken in the envs
    target          the next action the critic's target is computed at, and the reward the
                    target adds to (SAC adds the entropy bonus to it)
    loss            the actor's loss, and the log-probabilities the temperature step needs
    temperature     SAC's temperature step towards the target entropy (TD3: nothing)
    act             the deterministic action (evaluation, inference)

TD3 (Fujimoto et al. 2018, as in FastTD3): a deterministic tanh policy, per-env Gaussian
exploration noise, target-policy smoothing with clipped noise, loss -Q(s, pi(s)).
SAC (Haarnoja et al. 2018, as in BRC): a tanh-Gaussian policy, a soft target, a learned
temperature towards the target entropy -|A|/2 of each sample's task.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import optax

from fastbrc.config import AgentConfig
from fastbrc.core import losses, sac
from fastbrc.core import replay as rb
from fastbrc.envs import EnvSpec
from fastbrc.learner.models import Networks
from fastbrc.learner.state import TrainState


@dataclass(frozen=True)
class TD3:
    """Deterministic actor with per-env exploration noise and target-policy smoothing."""

    nets: Networks
    support: jax.Array
    target_noise: float
    target_noise_clip: float

    def act(self, actor_params, critic_params, obs, task_id) -> jax.Array:
        return self.nets.actor_apply(actor_params, critic_params, obs, task_id)

    def split_update_key(self, key: jax.Array) -> tuple[jax.Array, jax.Array, None]:
        """(sample, target, actor) keys of one gradient step; the actor loss draws none."""
        k_sample, k_target = jax.random.split(key)
        return k_sample, k_target, None

    def explore(self, state: TrainState, obs, task_id, key) -> jax.Array:
        """The deterministic action plus each env's Gaussian noise (std `state.noise_std`)."""
        mean_action = self.act(state.actor_params, state.critic_params, obs, task_id)
        noise = jax.random.normal(key, mean_action.shape) * state.noise_std[:, None]
        return jnp.clip(mean_action + noise, -1.0, 1.0)

    def target(self, state: TrainState, batch: rb.NStepBatch, key) -> tuple[jax.Array, jax.Array]:
        """The target actor's next action with clipped smoothing noise; the reward as is."""
        noise = jnp.clip(
            jax.random.normal(key, batch.action.shape) * self.target_noise,
            -self.target_noise_clip,
            self.target_noise_clip,
        )
        next_action = self.act(
            state.target_actor_params, state.target_critic_params, batch.next_obs, batch.task_id
        )
        return jnp.clip(next_action + noise, -1.0, 1.0), batch.reward

    def loss(self, actor_params, state: TrainState, obs, task_id, key):
        """-Q of the policy's action (ensemble mean); no log-probabilities (zeros)."""
        action = self.act(actor_params, state.critic_params, obs, task_id)
        logits = self.nets.critic_apply(state.critic_params, obs, action, task_id)
        return losses.actor_loss(logits, self.support), jnp.zeros(obs["state"].shape[:1])

    def temperature(self, state: TrainState, log_prob, task_id) -> TrainState:
        return state

    def entropy_return(self, state: TrainState) -> None:
        return None


@dataclass(frozen=True)
class SAC:
    """Tanh-Gaussian actor with a soft target and a learned temperature."""

    nets: Networks
    support: jax.Array
    alpha_opt: optax.GradientTransformation
    action_mask: jax.Array  # [num_tasks, A]: each task's real action dims (padding is 0)
    task_entropy: jax.Array  # [num_tasks] target entropies
    gamma: float
    backup_entropy: bool = True  # the soft target (False: rewards alone)
    alpha_min: float = 0.0  # floor of the temperature (0: none)

    def act(self, actor_params, critic_params, obs, task_id) -> jax.Array:
        mean, _ = self.nets.actor_apply(actor_params, critic_params, obs, task_id)
        return sac.mode(mean)

    def sample(self, actor_params, critic_params, obs, task_id, key):
        """A reparameterised action and its log-probability over the task's dims."""
        mean, log_std = self.nets.actor_apply(actor_params, critic_params, obs, task_id)
        return sac.sample(mean, log_std, key, self.action_mask[task_id])

    def split_update_key(self, key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        k_sample, k_target, k_actor = jax.random.split(key, 3)
        return k_sample, k_target, k_actor

    def explore(self, state: TrainState, obs, task_id, key) -> jax.Array:
        action, _ = self.sample(state.actor_params, state.critic_params, obs, task_id, key)
        return action

    def target(self, state: TrainState, batch: rb.NStepBatch, key) -> tuple[jax.Array, jax.Array]:
        """A next action of the current policy; the reward plus the entropy bonus (the reward
        alone without `backup_entropy`)."""
        next_action, next_log_prob = self.sample(
            state.actor_params, state.critic_params, batch.next_obs, batch.task_id, key
        )
        if not self.backup_entropy:
            return next_action, batch.reward
        alpha = jnp.exp(state.log_alpha)
        return next_action, batch.reward + sac.entropy_bonus(next_log_prob, alpha, batch.discount)

    def loss(self, actor_params, state: TrainState, obs, task_id, key):
        action, log_prob = self.sample(actor_params, state.critic_params, obs, task_id, key)
        logits = self.nets.critic_apply(state.critic_params, obs, action, task_id)
        q = losses.q_values(logits, self.support)
        alpha = jnp.exp(state.log_alpha)
        return sac.actor_loss(alpha, log_prob, q.mean(axis=0)), log_prob

    def temperature(self, state: TrainState, log_prob, task_id) -> TrainState:
        """One step of the temperature towards the target entropy of each sample's task."""
        target = self.task_entropy[task_id]
        alpha_grad = jax.grad(sac.temperature_loss)(state.log_alpha, log_prob, target)
        step, alpha_opt_state = self.alpha_opt.update(alpha_grad, state.alpha_opt_state)
        log_alpha = optax.apply_updates(state.log_alpha, step)
        if self.alpha_min > 0:  # projected onto alpha >= alpha_min
            log_alpha = jnp.maximum(log_alpha, math.log(self.alpha_min))
        return state.replace(log_alpha=log_alpha, alpha_opt_state=alpha_opt_state)

    def entropy_return(self, state: TrainState) -> jax.Array:
        """The entropy bonus's share of a return (BRC's max-return rule counts it); zero when
        the bonus is not backed up."""
        alpha = jnp.exp(state.log_alpha) * float(self.backup_entropy)
        return alpha * jnp.abs(self.task_entropy) / (1.0 - min(self.gamma, 0.999))


Actor = TD3 | SAC


def make_actor_rule(
    config: AgentConfig,
    nets: Networks,
    spec: EnvSpec,
    support: jax.Array,
    alpha_opt: optax.GradientTransformation,
) -> Actor:
    """The config's actor (`config.actor`: "td3" or "sac")."""
    if config.actor == "sac":
        return SAC(
            nets=nets,
            support=support,
            alpha_opt=alpha_opt,
            action_mask=jnp.asarray(spec.action_mask, jnp.float32),
            task_entropy=sac.target_entropy(
                jnp.asarray(spec.task_action_sizes), config.sac_target_entropy_per_dim
            ),
            gamma=config.gamma,
            backup_entropy=config.sac_backup_entropy,
            alpha_min=config.sac_alpha_min,
        )
    return TD3(nets, support, config.target_noise, config.target_noise_clip)
