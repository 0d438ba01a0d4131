"""Per-task sums and maxima as dense one-hot reductions instead of scatters.

``jax.ops.segment_sum`` lowers to a scatter-add; with one task (the common case) every row
of a batch adds into the same address. On an NVIDIA H200 (jax 0.11.2) one such scatter in the
critic update's per-task metrics took about 100 ms per call, more than the iteration's two
critic updates (43 ms) and env step (15 ms) together, so the GPU preset's iteration took
260 ms instead of 58 (``benchmarks/profile_iteration.py``,
``benchmarks/results/device-profile-*``). A reduction over a ``[rows, num_tasks]`` mask has no
atomics and is cheap for the handful of tasks a run trains (rows x tasks elements).

Ids outside ``[0, num_tasks)`` count towards no task, as with ``jax.ops.segment_*``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _mask(ids: jax.Array, num_tasks: int) -> jax.Array:
    """[rows, num_tasks] bool: row r belongs to task t."""
    return ids[:, None] == jnp.arange(num_tasks, dtype=ids.dtype)[None, :]


def segment_sum(x: jax.Array, ids: jax.Array, num_tasks: int) -> jax.Array:
    """[num_tasks] sums of the rows of `x` [rows] with each id (0 where a task has none)."""
    return jnp.sum(jnp.where(_mask(ids, num_tasks), x[:, None], jnp.zeros((), x.dtype)), axis=0)


def segment_max(x: jax.Array, ids: jax.Array, num_tasks: int) -> jax.Array:
    """[num_tasks] maxima of the rows of `x` [rows] with each id (the dtype's lowest value,
    -inf for floats, where a task has none: what ``jax.ops.segment_max`` gives)."""
    lowest = -jnp.inf if jnp.issubdtype(x.dtype, jnp.floating) else jnp.iinfo(x.dtype).min
    return jnp.max(
        jnp.where(_mask(ids, num_tasks), x[:, None], jnp.asarray(lowest, x.dtype)), axis=0
    )
