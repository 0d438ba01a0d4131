"""Categorical value distributions on a fixed, evenly spaced support.

Holds the pieces a distributional critic needs, all pure and jit-able:

* ``make_support``: the atoms ``z_0 < ... < z_{A-1}`` (C51, Bellemare, Dabney & Munos 2017,
  "A Distributional Perspective on Reinforcement Learning").
* ``project_categorical``: the C51 projection of the distribution of ``r + discount * Z`` back
  onto the fixed support.  Written in the "triangular kernel" form
  ``p'_j = sum_i p_i * clip(1 - |b_i - j|, 0, 1)`` with ``b_i`` the target position measured in
  atom units, which conserves probability mass exactly (up to float rounding) also when a target
  lands exactly on an atom, where the usual scatter with ``floor``/``ceil`` drops or duplicates
  that mass (FastTD3 issues #29/#30).
* ``hl_gauss_probs``: the HL-Gauss histogram target of a scalar (Farebrother et al. 2024,
  "Stop Regressing: Training Value Functions via Classification for Scalable Deep RL"), as used
  by the BRC critic (Nauman et al. 2025, "Bigger, Regularized, Categorical: High-Capacity Value
  Functions are Efficient Multi-Task Learners").
* ``expected_value`` and ``cross_entropy``: the mean of a categorical distribution and the
  classification loss of critic logits against a target distribution.

Conventions: the atom axis is always the last axis; every function accepts any leading dims.
"""

import jax
import jax.numpy as jnp
import numpy as np


def make_support(v_min: float, v_max: float, num_atoms: int) -> jax.Array:
    """Returns the ``num_atoms`` evenly spaced atoms from ``v_min`` to ``v_max`` (float32).

    ``v_min``, ``v_max`` and ``num_atoms`` are static Python numbers.
    """
    if num_atoms < 2:
        raise ValueError(f"num_atoms must be at least 2, got {num_atoms}")
    if not v_max > v_min:
        raise ValueError(f"v_max ({v_max}) must be greater than v_min ({v_min})")
    # Built in float64 on the host and rounded once, so atoms such as 2.0 are exact in float32
    # (jnp.linspace in float32 is off by an ulp at some atoms).
    return jnp.asarray(np.linspace(v_min, v_max, num_atoms, dtype=np.float64), jnp.float32)


def _support_bounds(support: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Returns ``(v_min, v_max, atom_spacing)`` of an evenly spaced support."""
    num_atoms = support.shape[-1]
    v_min = support[0]
    v_max = support[-1]
    atom_spacing = (v_max - v_min) / (num_atoms - 1)
    return v_min, v_max, atom_spacing


def project_categorical(
    next_probs: jax.Array,
    rewards: jax.Array,
    discounts: jax.Array,
    support: jax.Array,
) -> jax.Array:
    """C51-projects the distribution of ``rewards + discounts * Z`` onto ``support``.

    Args:
        next_probs: ``[..., A]`` probabilities of ``Z`` on ``support`` (rows sum to 1).
        rewards: ``[...]`` (n-step) rewards.
        discounts: ``[...]`` bootstrap discounts, already ``gamma**k`` and 0 for terminal steps.
        support: ``[A]`` evenly spaced atoms.

    Returns:
        ``[..., A]`` projected probabilities; each row keeps the mass of its ``next_probs`` row.

    Targets outside ``[v_min, v_max]`` are clipped onto the end atoms.  Each source atom ``i``
    lands at ``b_i = clip((Tz_i - v_min) / spacing, 0, A-1)`` and splits its mass between the
    neighbours ``l = min(floor(b_i), A-2)`` and ``l + 1`` with weights ``1 - (b_i - l)`` and
    ``b_i - l``.  The two weights sum to exactly 1 for any ``b_i``, so mass is conserved and a
    target on an atom puts all its mass there (FastTD3's floor == ceil bug cannot occur).
    The shares are scatter-added: O(B * A) work and memory instead of a dense ``[B, A, A]``
    kernel (on 2 CPU cores: 2 ms vs 35 ms standalone at B=2048; inside a full update, 6-25%
    more updates/s; at FastTD3's batch of 32k the dense kernel would be 1.3 GB).
    """
    num_atoms = support.shape[-1]
    v_min, v_max, atom_spacing = _support_bounds(support)
    target_atoms = rewards[..., None] + discounts[..., None] * support  # [..., A]
    # Position of each target in atom units, clipped to [0, A-1]: this clips targets outside
    # [v_min, v_max] onto the end atoms, and rounding can never leave the support.
    target_positions = jnp.clip((target_atoms - v_min) / atom_spacing, 0.0, num_atoms - 1.0)
    # rewards/discounts may broadcast against next_probs (e.g. a scalar discount)
    shape = jnp.broadcast_shapes(next_probs.shape, target_positions.shape)
    next_probs = jnp.broadcast_to(next_probs, shape)
    target_positions = jnp.broadcast_to(target_positions, shape)
    lower = jnp.minimum(jnp.floor(target_positions), num_atoms - 2.0)
    upper_share = target_positions - lower  # in [0, 1]
    lower_index = lower.astype(jnp.int32)

    def scatter_row(probs, index, share):
        out = jnp.zeros_like(probs)
        out = out.at[index].add(probs * (1.0 - share))
        return out.at[index + 1].add(probs * share)

    batch_shape = next_probs.shape[:-1]
    flat = lambda x: x.reshape((-1, num_atoms))
    projected = jax.vmap(scatter_row)(flat(next_probs), flat(lower_index), flat(upper_share))
    return projected.reshape(batch_shape + (num_atoms,))


def hl_gauss_probs(values: jax.Array, support: jax.Array, sigma: float | jax.Array) -> jax.Array:
    """HL-Gauss histogram target: a Gaussian ``N(value, sigma^2)`` integrated over the bins.

    Bins are centred on the atoms, with edges halfway between neighbouring atoms and outer edges
    at ``v_min - spacing/2`` and ``v_max + spacing/2``.  ``values`` are first clipped to
    ``[v_min, v_max]``; the mass falling outside the outer edges is dropped and the rest is
    renormalised to sum to 1.  Farebrother et al. (2024) recommend ``sigma = 0.75 * spacing``.

    Args:
        values: ``[...]`` scalar targets.
        support: ``[A]`` evenly spaced atoms.
        sigma: standard deviation of the Gaussian, in value units.

    Returns:
        ``[..., A]`` probabilities.
    """
    v_min, v_max, atom_spacing = _support_bounds(support)
    bin_edges = jnp.concatenate([support - atom_spacing / 2, (v_max + atom_spacing / 2)[None]])
    values = jnp.clip(values, v_min, v_max)
    edge_cdfs = jax.scipy.special.erf(
        (bin_edges - values[..., None]) / (jnp.sqrt(2.0) * sigma)
    )  # [..., A+1]; 2*Phi - 1, the constant and factor cancel in the renormalisation.
    bin_masses = edge_cdfs[..., 1:] - edge_cdfs[..., :-1]
    return bin_masses / jnp.sum(bin_masses, axis=-1, keepdims=True)


def expected_value(probs: jax.Array, support: jax.Array) -> jax.Array:
    """Mean ``sum_j probs_j * z_j`` of ``[..., A]`` probabilities; returns ``[...]``."""
    return jnp.sum(probs * support, axis=-1)


def expected_value_from_logits(logits: jax.Array, support: jax.Array) -> jax.Array:
    """Mean of the categorical distribution ``softmax(logits)``; returns ``[...]``."""
    return expected_value(jax.nn.softmax(logits, axis=-1), support)


def cross_entropy(logits: jax.Array, target_probs: jax.Array) -> jax.Array:
    """``-sum_j target_j * log_softmax(logits)_j`` over the last axis; returns ``[...]``.

    Gradients flow into ``target_probs`` too; wrap it in ``jax.lax.stop_gradient`` for a
    bootstrapped target.
    """
    return -jnp.sum(target_probs * jax.nn.log_softmax(logits, axis=-1), axis=-1)
