"""FLOPs per replayed sample of one gradient step, from the networks' parameter counts.

A dense layer costs ~2 FLOPs per parameter per sample forward and ~4 backward. One critic
update runs the critic ensemble forward and backward (6 P_c), the target critic forward (2 P_c)
and the target actor forward (2 P_a); every ``policy_frequency``-th update also runs the actor
forward and backward and backpropagates through the critic to its action (~6 P_a + 6 P_c).
Normalisers, the loss and the optimiser are left out (small next to the matmuls).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from fastbrc.config import Config
from fastbrc.learner import make_envs
from fastbrc.learner.models import make_networks


def parameter_counts(config: Config) -> tuple[int, int]:
    """(critic ensemble, actor) parameters of `config`'s networks on its task."""
    env, _ = make_envs(config.agent, len(config.env_names))
    spec = env.spec
    nets = make_networks(config.agent, spec.num_tasks, spec.action_size)
    obs = {"state": jnp.zeros((1, spec.obs_size))}
    if spec.privileged_obs_size not in (None, spec.obs_size):
        obs["privileged_state"] = jnp.zeros((1, spec.privileged_obs_size))
    shapes = jax.eval_shape(
        lambda k: nets.init(k, k, obs, jnp.zeros((1, spec.action_size)), jnp.zeros((1,), int)),
        jax.random.PRNGKey(0),
    )
    count = lambda tree: sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))  # noqa: E731
    return count(shapes[1]), count(shapes[0])


def flops_per_sample(config: Config) -> float:
    critic, actor = parameter_counts(config)
    return 8 * critic + 2 * actor + (6 * actor + 6 * critic) / config.policy_frequency


__all__ = ["flops_per_sample", "parameter_counts"]
