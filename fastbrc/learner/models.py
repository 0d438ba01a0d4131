"""The actor and critic networks a config asks for, and how they are applied.

The network modules themselves are pure (`fastbrc.core.networks`, `fastbrc.core.sac`); here a
config picks them, and `Networks` applies them with the run's task conditioning: BRC's
learnable task embeddings (the actor reads the critic's table), one critic head per task with
a one-hot task id for the actor, or nothing for a single task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from fastbrc.config import AgentConfig
from fastbrc.core import normalization as norm
from fastbrc.core.networks import BroNetActor, CriticEnsemble, MLPActor, TaskCritic
from fastbrc.core.sac import TanhGaussianActor


def make_actor(config: AgentConfig, action_size: int) -> nn.Module:
    if config.actor == "sac":
        return TanhGaussianActor(
            tuple(config.actor_hidden),
            action_size,
            config.actor_type,
            config.actor_width,
            config.actor_depth,
            config.bronet_init,
        )
    if config.actor_type == "bronet":
        return BroNetActor(config.actor_width, config.actor_depth, action_size, config.bronet_init)
    return MLPActor(tuple(config.actor_hidden), action_size)


def make_critic(config: AgentConfig, num_tasks: int = 1, conditioning: str = "none") -> nn.Module:
    """`CriticEnsemble` for one task (or `conditioning="none"`), else a `TaskCritic`."""
    dtype = jnp.bfloat16 if config.critic_bf16 else jnp.float32
    if conditioning == "none":
        return CriticEnsemble(
            config.num_critics,
            config.critic_width,
            config.critic_depth,
            config.num_atoms,
            dtype,
            config.bronet_init,
        )
    return TaskCritic(
        config.num_critics,
        config.critic_width,
        config.critic_depth,
        config.num_atoms,
        num_tasks,
        conditioning,
        config.task_embedding_dim,
        dtype,
        config.bronet_init,
    )


def actor_input(obs: dict[str, jax.Array]) -> jax.Array:
    return obs["state"]


def critic_input(obs: dict[str, jax.Array]) -> jax.Array:
    """Asymmetric actor-critic: the critic sees the privileged state when there is one."""
    return obs.get("privileged_state", obs["state"])


@dataclass(frozen=True)
class Networks:
    """The actor and critic of a run, and how the task reaches each (its conditioning).

    Observations given to the apply functions are normalised (`normalize`); `task_id` is
    ``[B]`` ints.
    """

    actor: nn.Module
    critic: nn.Module
    conditioning: str  # "none", "embedding" or "separate_heads"
    num_tasks: int
    obs_normalization: bool

    def normalize(self, stats: Any, obs: Any) -> Any:
        # eps 1e-4 floors the std at 0.01 (FastTD3 adds 1e-2), so near-constant features
        # are not blown up from rounding noise.
        return norm.normalize(stats, obs, eps=1e-4) if self.obs_normalization else obs

    def critic_apply(self, params, obs, action, task_id) -> jax.Array:
        """[E, B, num_atoms] logits."""
        obs = critic_input(obs)
        if self.conditioning == "none":
            return self.critic.apply(params, obs, action)
        return self.critic.apply(params, obs, action, task_id)

    def task_features(self, critic_params, task_id) -> jax.Array:
        """What the actor is told about the task: the critic's embedding of it (BRC shares
        the table; only the TD loss trains it), a one-hot id, or nothing ([B, 0])."""
        if self.conditioning == "embedding":
            rows = self.critic.apply(critic_params, task_id, method=self.critic.embed)
            return jax.lax.stop_gradient(rows)
        if self.conditioning == "separate_heads":
            return jax.nn.one_hot(task_id, self.num_tasks)
        return jnp.zeros(task_id.shape + (0,))

    def actor_apply(self, actor_params, critic_params, obs, task_id):
        """The actor's output (TD3: actions; SAC: (mean, log_std)), with the task features
        of `critic_params`' table."""
        features = self.task_features(critic_params, task_id)
        inputs = jnp.concatenate([actor_input(obs), features], axis=-1)
        return self.actor.apply(actor_params, inputs)

    def init(self, k_actor, k_critic, one_obs, one_action, one_task) -> tuple[Any, Any]:
        """(actor params, critic params) from one example of each input."""
        if self.conditioning == "none":
            critic_params = self.critic.init(k_critic, critic_input(one_obs), one_action)
        else:
            critic_params = self.critic.init(k_critic, critic_input(one_obs), one_action, one_task)
        actor_in = jnp.concatenate(
            [actor_input(one_obs), self.task_features(critic_params, one_task)], axis=-1
        )
        return self.actor.init(k_actor, actor_in), critic_params


def make_networks(config: AgentConfig, num_tasks: int, action_size: int) -> Networks:
    return Networks(
        actor=make_actor(config, action_size),
        critic=make_critic(config, num_tasks, config.conditioning),
        conditioning=config.conditioning,
        num_tasks=num_tasks,
        obs_normalization=config.obs_normalization,
    )
