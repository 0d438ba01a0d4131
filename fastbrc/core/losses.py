"""TD targets and losses of the distributional critic and the deterministic actor.

Critic (BRC, Nauman et al. 2025; C51, Bellemare et al. 2017; HL-Gauss, Farebrother et al.
2024): the target distribution comes from the target critic at the target actor's smoothed
next action (TD3, Fujimoto et al. 2018). With ``critic_target="min"`` each sample takes the
ensemble member whose *target* has the lower mean (FastTD3's clipped double-Q); with ``"mean"``
it takes the ensemble-average distribution (BRC). The loss is the categorical cross-entropy of
every member against that target, summed over members.

Clipped double-Q picks the member after the C51 projection, as FastTD3 does (``update_main``
in its ``train.py`` compares ``get_value`` of the projected distributions). Inside the support
the projection keeps the mean, ``E[proj(r + g Z)] = r + g E[Z]``, so both orders pick the same
member. Near an edge they differ: mass of ``r + g Z`` beyond ``v_max`` (or ``v_min``) is
clipped onto the end atom, which lowers the mean of the member with the longer upper tail
most, and the member with the lower ``E[Z]`` can have the higher projected mean. The critic
is trained on the projected distribution and can only represent clipped values, so the
pessimistic choice is the one whose projected target is lower; picking before projection
would then train on the larger of the two targets, just where values press against the
support's edge. HL-Gauss targets clip the scalar ``r + g E[Z]``, which is monotone in
``E[Z]``, so there the two orders agree and the member is picked by ``E[Z]``.

Actor: maximise the ensemble-mean expected value of the critic at the actor's action.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fastbrc.core import distributional as dist


def select_target_distribution(next_logits: jax.Array, support: jax.Array, mode: str) -> jax.Array:
    """[E, B, A] logits -> [B, A] probabilities of the next-state value distribution: the
    ensemble mean, or (``"min"``) per sample the member with the lower mean of Z itself
    (before any projection; `target_distribution` picks after it for categorical targets)."""
    next_probs = jax.nn.softmax(next_logits, axis=-1)
    if mode == "mean":
        return next_probs.mean(axis=0)
    means = dist.expected_value(next_probs, support)  # [E, B]
    member = jnp.argmin(means, axis=0)  # [B]
    return jnp.take_along_axis(next_probs, member[None, :, None], axis=0)[0]


def target_distribution(
    next_logits: jax.Array,
    reward: jax.Array,
    discount: jax.Array,
    support: jax.Array,
    *,
    ensemble_mode: str,
    value_target: str,
    hl_gauss_sigma: float,
) -> jax.Array:
    """Projected (or HL-Gauss) distribution of reward + discount * Z(s', a'), no gradient.

    [E, B, A] next logits, [B] reward and discount -> [B, A]. With ``ensemble_mode="min"``
    and a categorical target, each sample takes the member whose projected target has the
    lower mean (see the module docstring)."""
    if value_target == "categorical" and ensemble_mode == "min":
        # one projection per member (vmapped, so a batch split over devices stays split)
        project = lambda probs: dist.project_categorical(probs, reward, discount, support)
        projected = jax.vmap(project)(jax.nn.softmax(next_logits, axis=-1))  # [E, B, A]
        member = jnp.argmin(dist.expected_value(projected, support), axis=0)  # [B]
        target = jnp.take_along_axis(projected, member[None, :, None], axis=0)[0]
        return jax.lax.stop_gradient(target)
    next_probs = select_target_distribution(next_logits, support, ensemble_mode)
    if value_target == "hl_gauss":
        scalar = reward + discount * dist.expected_value(next_probs, support)
        delta = support[1] - support[0]
        target = dist.hl_gauss_probs(scalar, support, hl_gauss_sigma * delta)
    else:
        target = dist.project_categorical(next_probs, reward, discount, support)
    return jax.lax.stop_gradient(target)


def critic_loss_per_sample(logits: jax.Array, target_probs: jax.Array) -> jax.Array:
    """[B] cross-entropy of each member's [E, B, A] logits against [B, A], summed over E."""
    return jax.vmap(dist.cross_entropy, in_axes=(0, None))(logits, target_probs).sum(axis=0)


def critic_loss(logits: jax.Array, target_probs: jax.Array) -> jax.Array:
    """Cross-entropy of each member's [E, B, A] logits against [B, A]: mean over B, sum over E."""
    return critic_loss_per_sample(logits, target_probs).mean()


def q_values(logits: jax.Array, support: jax.Array) -> jax.Array:
    """[E, B, A] logits -> [E, B] expected values."""
    return dist.expected_value(jax.nn.softmax(logits, axis=-1), support)


def actor_loss(logits: jax.Array, support: jax.Array) -> jax.Array:
    """Negative ensemble-mean Q of the actor's actions."""
    return -q_values(logits, support).mean()
