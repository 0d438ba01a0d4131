"""The actor and critic networks a config asks for (the pure modules are in `fastbrc.core`)."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from fastbrc.config import Config
from fastbrc.core.networks import BroNetActor, CriticEnsemble, MLPActor, TaskCritic
from fastbrc.core.sac import TanhGaussianActor


def make_actor(config: Config, action_size: int) -> nn.Module:
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


def make_critic(config: Config, num_tasks: int = 1, conditioning: str = "none") -> nn.Module:
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
