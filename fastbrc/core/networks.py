"""Networks: the BroNet critic ensemble (BRC), its task conditioning, and the TD3 actor.

BroNet (Nauman et al. 2024/2025): Dense(w) -> LayerNorm -> ReLU, then `depth` residual
blocks [Dense -> LN -> ReLU -> Dense -> LN] + skip, then a Dense head. The critic head emits
`num_atoms` logits of a categorical value distribution; an ensemble of `num_critics` members
shares one set of stacked params (`nn.vmap`). The hidden matmuls may run in bfloat16
(`critic_bf16`); LayerNorm, the residual stream and the output head stay float32, so the
logits are computed, not just returned, in float32.

Initialisation (`bronet_init`): ``"orthogonal_sqrt2"``, the config's default, is BRC's released
choice (``default_init`` in its ``jaxrl/networks.py``): every kernel, head included, orthogonal
with scale sqrt(2); ``"default"`` (fastbrc's before issue 20) draws the hidden kernels
orthogonally with scale 1 and the head with Flax's default (LeCun normal). Biases start at zero
either way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

INITS = ("default", "orthogonal_sqrt2")


def kernel_inits(init: str) -> tuple[nn.initializers.Initializer, nn.initializers.Initializer]:
    """(hidden, head) kernel initialisers of a BroNet for `bronet_init` (see module doc)."""
    if init == "default":
        return nn.initializers.orthogonal(), nn.initializers.lecun_normal()
    if init == "orthogonal_sqrt2":
        brc = nn.initializers.orthogonal(math.sqrt(2.0))
        return brc, brc
    raise ValueError(f"unknown BroNet init {init!r}; expected one of {INITS}")


class BroNet(nn.Module):
    """BroNet trunk plus a linear head of size `out_dim`; `dtype` is the hidden matmuls'."""

    width: int
    depth: int
    out_dim: int
    dtype: jnp.dtype = jnp.float32
    init_scheme: str = "default"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        hidden_init, head_init = kernel_inits(self.init_scheme)
        dense = lambda n: nn.Dense(n, dtype=self.dtype, kernel_init=hidden_init)
        norm = lambda: nn.LayerNorm(dtype=jnp.float32)
        x = nn.relu(norm()(dense(self.width)(x)))
        for _ in range(self.depth):
            y = nn.relu(norm()(dense(self.width)(x)))
            y = norm()(dense(self.width)(y))
            x = x + y
        # the head in float32: bf16 logits (8 bits of mantissa) would be coarse in the softmax
        return nn.Dense(self.out_dim, dtype=jnp.float32, kernel_init=head_init)(x)


class Critic(nn.Module):
    """One categorical critic: logits over the value support for (obs, action)."""

    width: int
    depth: int
    num_atoms: int
    dtype: jnp.dtype = jnp.float32
    init_scheme: str = "default"

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        x = jnp.concatenate([obs, action], axis=-1)
        return BroNet(self.width, self.depth, self.num_atoms, self.dtype, self.init_scheme)(x)


class CriticEnsemble(nn.Module):
    """`num_critics` independent critics with stacked params; returns [E, B, num_atoms]."""

    num_critics: int
    width: int
    depth: int
    num_atoms: int
    dtype: jnp.dtype = jnp.float32
    init_scheme: str = "default"

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
        critic = ensemble(self.width, self.depth, self.num_atoms, self.dtype, self.init_scheme)
        return critic(obs, action)


class TaskEmbedding(nn.Module):
    """BRC's learnable task embeddings: one row per task, L2-normalised to unit norm."""

    num_tasks: int
    dim: int

    @nn.compact
    def __call__(self, task_id: jax.Array) -> jax.Array:
        table = self.param("table", nn.initializers.normal(1.0), (self.num_tasks, self.dim))
        # a masked sum, not `table[task_id]`: that gather's gradient is a scatter-add of every
        # row into a few table rows, the atomics-bound pattern `segments` avoids on a GPU
        mask = task_id[..., None] == jnp.arange(self.num_tasks, dtype=task_id.dtype)
        rows = jnp.sum(jnp.where(mask[..., None], table, 0.0), axis=-2)
        return rows / jnp.maximum(jnp.linalg.norm(rows, axis=-1, keepdims=True), 1e-6)


class TaskCritic(nn.Module):
    """The critic ensemble conditioned on the task (multi-task runs).

    ``"embedding"`` (BRC): the task's unit-norm embedding is appended to the observation; one
    table for the whole ensemble, trained by the TD loss. ``"separate_heads"`` (BRC's
    ablation): no embedding, one output head of ``num_atoms`` logits per task, the task's head
    is selected. Returns [E, B, num_atoms] like `CriticEnsemble`.
    """

    num_critics: int
    width: int
    depth: int
    num_atoms: int
    num_tasks: int
    conditioning: str  # "embedding" | "separate_heads"
    embedding_dim: int = 32
    dtype: jnp.dtype = jnp.float32
    init_scheme: str = "default"

    def setup(self) -> None:
        heads = self.num_tasks if self.conditioning == "separate_heads" else 1
        self.ensemble = CriticEnsemble(
            self.num_critics,
            self.width,
            self.depth,
            self.num_atoms * heads,
            self.dtype,
            self.init_scheme,
        )
        if self.conditioning == "embedding":
            self.task_embedding = TaskEmbedding(self.num_tasks, self.embedding_dim)

    def embed(self, task_id: jax.Array) -> jax.Array:
        return self.task_embedding(task_id)

    def __call__(self, obs: jax.Array, action: jax.Array, task_id: jax.Array) -> jax.Array:
        if self.conditioning == "embedding":
            obs = jnp.concatenate([obs, self.embed(task_id)], axis=-1)
        logits = self.ensemble(obs, action)
        if self.conditioning == "separate_heads":
            e, b = logits.shape[:2]
            logits = logits.reshape(e, b, self.num_tasks, self.num_atoms)
            logits = jnp.take_along_axis(logits, task_id[None, :, None, None], axis=2)[:, :, 0]
        return logits


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
    init_scheme: str = "default"

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        net = BroNet(self.width, self.depth, self.action_size, init_scheme=self.init_scheme)
        return jnp.tanh(net(obs))
