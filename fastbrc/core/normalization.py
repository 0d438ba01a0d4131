"""Running mean/variance statistics for observation normalisation.

A pure state struct in the manner of brax's ``running_statistics``: ``init_stats`` builds the
state, ``update_stats`` folds in a batch with the parallel (pairwise) update of Chan, Golub &
LeVeque (1979, "Updating Formulae and a Pairwise Algorithm for Computing Sample Variances"),
and ``normalize`` standardises and clips.  All three are jit-able.

Structure: ``RunningStats.mean`` and ``RunningStats.var`` are pytrees with the structure of the
example passed to ``init_stats`` (e.g. an observation dict ``{"state": [d], ...}``); ``count``
is one scalar shared by every leaf, since every leaf is updated with the same rows.  ``var`` is
the population variance (``ddof=0``, as ``np.var``).

Precision: everything is float32.  The update is written in relative weights,
``w_batch = n_batch / (n_old + n_batch)``, so no ``count * var`` sum of squares grows with the
count.  A float32 ``count`` is exact up to 2**24 (~1.7e7) rows; beyond that each update rounds
it by at most one ulp (relative 6e-8), which only perturbs the weight of the new batch by the
same relative amount; it is correct to well under 1e-4 up to ~1e9 rows for batch sizes of 64 or
more.  (At ~1e9 a float32 ulp is 64, so much smaller batches would stall the count.)
"""

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class RunningStats:
    """Running statistics; ``mean`` and ``var`` share the structure of the tracked pytree."""

    mean: Any  # pytree of float32 arrays shaped like the example leaves
    var: Any  # pytree of float32 arrays: population variance
    count: jax.Array  # float32 scalar: number of rows folded in


def init_stats(example: Any) -> RunningStats:
    """Returns empty statistics for pytrees shaped like ``example`` (no batch dims).

    Starts at ``mean = 0``, ``var = 1``, ``count = 0``, so ``normalize`` is the identity (up to
    clipping) before any update; the first update replaces these values entirely.
    """
    return RunningStats(
        mean=jax.tree.map(lambda leaf: jnp.zeros(jnp.shape(leaf), jnp.float32), example),
        var=jax.tree.map(lambda leaf: jnp.ones(jnp.shape(leaf), jnp.float32), example),
        count=jnp.zeros((), jnp.float32),
    )


def update_stats(stats: RunningStats, batch: Any, mask: jax.Array | None = None) -> RunningStats:
    """Folds the rows of ``batch`` into ``stats``.

    Args:
        stats: current statistics.
        batch: pytree like the example, every leaf with the same leading batch dims (usually
            one, ``[B, ...]``; more are flattened, e.g. ``[T, B, ...]``).
        mask: optional bool array of the batch dims; rows where it is False are ignored.
            A batch with no included rows leaves the statistics unchanged.
    """
    mean_leaves, treedef = jax.tree.flatten(stats.mean)
    var_leaves = treedef.flatten_up_to(stats.var)
    batch_leaves = treedef.flatten_up_to(batch)

    first_mean, first_batch = mean_leaves[0], batch_leaves[0]
    batch_shape = first_batch.shape[: first_batch.ndim - first_mean.ndim]
    num_rows = 1
    for dim in batch_shape:
        num_rows *= dim
    if mask is None:
        row_weights = jnp.ones((num_rows,), jnp.float32)
    else:
        row_weights = jnp.reshape(mask, (num_rows,)).astype(jnp.float32)
    batch_count = jnp.sum(row_weights)
    total_count = stats.count + batch_count
    # Share of the combined rows that come from this batch (0 for an empty batch).
    batch_share = batch_count / jnp.maximum(total_count, 1.0)
    old_share = 1.0 - batch_share
    safe_batch_count = jnp.maximum(batch_count, 1.0)

    new_means, new_vars = [], []
    for old_mean, old_var, leaf in zip(mean_leaves, var_leaves, batch_leaves, strict=True):
        rows = jnp.reshape(leaf, (num_rows,) + old_mean.shape).astype(jnp.float32)
        weights = jnp.reshape(row_weights, (num_rows,) + (1,) * old_mean.ndim)
        batch_mean = jnp.sum(weights * rows, axis=0) / safe_batch_count
        batch_var = jnp.sum(weights * jnp.square(rows - batch_mean), axis=0) / safe_batch_count
        delta = batch_mean - old_mean
        new_means.append(old_mean + batch_share * delta)
        new_vars.append(
            old_share * old_var + batch_share * batch_var + old_share * batch_share * delta**2
        )
    return RunningStats(
        mean=treedef.unflatten(new_means),
        var=treedef.unflatten(new_vars),
        count=total_count,
    )


def normalize(stats: RunningStats, x: Any, clip: float = 10.0, eps: float = 1e-8) -> Any:
    """Returns ``clip((x - mean) / sqrt(var + eps), -clip, clip)`` leaf by leaf.

    ``x`` has the structure of the tracked pytree, its leaves any leading dims.
    """
    return jax.tree.map(
        lambda leaf, mean, var: jnp.clip((leaf - mean) / jnp.sqrt(var + eps), -clip, clip),
        x,
        stats.mean,
        stats.var,
    )
