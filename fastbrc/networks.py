"""Networks: the BroNet critic ensemble (BRC) and the deterministic tanh actor (TD3).

BroNet (Nauman et al. 2024/2025): Dense(w) -> LayerNorm -> ReLU, then `depth` residual
blocks [Dense -> LN -> ReLU -> Dense -> LN] + skip, then a Dense head. The critic head emits
`num_atoms` logits of a categorical value distribution; an ensemble of `num_critics` members
shares one set of stacked params (`nn.vmap`). Matmuls may run in bfloat16; LayerNorm and the
logits stay float32.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


class BroNet(nn.Module):
    """BroNet trunk plus a linear head of size `out_dim`."""

    width: int
    depth: int
    out_dim: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        dense = lambda n: nn.Dense(n, dtype=self.dtype, kernel_init=nn.initializers.orthogonal())
        norm = lambda: nn.LayerNorm(dtype=jnp.float32)
        x = nn.relu(norm()(dense(self.width)(x)))
        for _ in range(self.depth):
            y = nn.relu(norm()(dense(self.width)(x)))
            y = norm()(dense(self.width)(y))
            x = x + y
        return nn.Dense(self.out_dim, dtype=self.dtype)(x).astype(jnp.float32)


class Critic(nn.Module):
    """One categorical critic: logits over the value support for (obs, action)."""

    width: int
    depth: int
    num_atoms: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        x = jnp.concatenate([obs, action], axis=-1)
        return BroNet(self.width, self.depth, self.num_atoms, self.dtype)(x)


class CriticEnsemble(nn.Module):
    """`num_critics` independent critics with stacked params; returns [E, B, num_atoms]."""

    num_critics: int
    width: int
    depth: int
    num_atoms: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        ensemble = nn.vmap(
            Critic,
            variable_axes={"params": 0},
            split_rngs={"params": True},
            in_axes=None,
            out_axes=0,
            axis_size=self.num_critics,
        )
        return ensemble(self.width, self.depth, self.num_atoms, self.dtype)(obs, action)


class MLPActor(nn.Module):
    """FastTD3's deterministic actor: ReLU MLP, tanh output in [-1, 1]."""

    hidden: Sequence[int]
    action_size: int

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        x = obs
        for n in self.hidden:
            x = nn.relu(nn.Dense(n)(x))
        return jnp.tanh(nn.Dense(self.action_size)(x))


class BroNetActor(nn.Module):
    """BRC-style actor trunk with a deterministic tanh head."""

    width: int
    depth: int
    action_size: int

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        return jnp.tanh(BroNet(self.width, self.depth, self.action_size)(obs))


def make_actor(config, action_size: int) -> nn.Module:
    if config.actor_type == "bronet":
        return BroNetActor(config.actor_width, config.actor_depth, action_size)
    return MLPActor(tuple(config.actor_hidden), action_size)


def make_critic(config) -> CriticEnsemble:
    dtype = jnp.bfloat16 if config.critic_bf16 else jnp.float32
    return CriticEnsemble(
        config.num_critics, config.critic_width, config.critic_depth, config.num_atoms, dtype
    )
