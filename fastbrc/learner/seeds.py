"""Several seeds in one compiled program (purejaxrl's recipe): the train state gains a leading
seed axis and the jitted entry points are `jax.vmap`ped over it, so N seeds compile once and
share every kernel launch.

Member ``i`` of a run with ``seeds=(s_0, ..., s_{N-1})`` is the single-seed run of ``s_i``: its
keys are the ones that run draws (`run_keys`), and the learner's branches that depend only on
counters all members share (learning started, an actor step, an env finished) are agreed over
the seed axis with `any_member`, so they stay real branches instead of both sides computed and
selected. Nothing else in the update math knows about seeds.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

AXIS = "seeds"


def axis_of(seeds: tuple[int, ...]) -> str | None:
    """The vmapped axis name of a run with `seeds` (None: one seed, no seed axis)."""
    return AXIS if seeds else None


def any_member(flag: jax.Array, axis: str | None) -> jax.Array:
    """`flag` (a boolean scalar) OR-ed over the seed axis: unbatched, so a `lax.cond` on it
    stays a branch. The learner's flags are equal in every member (their counters move in
    lockstep), so this changes no member's value."""
    if axis is None:
        return flag
    return jax.lax.pmax(flag.astype(jnp.int32), axis) > 0


def run_keys(seed: int, seeds: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
    """(init key, eval key) of a run: ``split(PRNGKey(seed))``, or one row per seed of
    `seeds` (each the pair its single-seed run draws)."""
    if not seeds:
        key_init, key_eval = jax.random.split(jax.random.PRNGKey(seed))
        return key_init, key_eval
    pairs = jnp.stack([jax.random.split(jax.random.PRNGKey(s)) for s in seeds])
    return pairs[:, 0], pairs[:, 1]


def eval_key(key_eval: jax.Array, index: int) -> jax.Array:
    """The key of the evaluation after chunk `index`: ``fold_in(key_eval, index)``, per row
    of a stacked key."""
    if key_eval.ndim == 1:
        return jax.random.fold_in(key_eval, index)
    return jax.vmap(jax.random.fold_in, in_axes=(0, None))(key_eval, index)


def stacked_shardings(shardings: Any) -> Any:
    """One member's state shardings with the seed axis in front (not split over devices)."""
    return jax.tree.map(
        lambda s: NamedSharding(s.mesh, P(None, *s.spec)),
        shardings,
        is_leaf=lambda x: isinstance(x, NamedSharding),
    )


def broadcast(tree: Any, num_seeds: int) -> Any:
    """`tree` repeated along a new leading seed axis."""
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (num_seeds, *x.shape)), tree)


def member(tree: Any, index: int) -> Any:
    """Member `index` of a stacked tree."""
    return jax.tree.map(lambda x: x[index], tree)


def unstack(tree: Any, num_seeds: int) -> list[Any]:
    """A stacked tree of host values as a list of `num_seeds` members."""
    return [member(tree, i) for i in range(num_seeds)]


__all__ = [
    "AXIS",
    "any_member",
    "axis_of",
    "broadcast",
    "eval_key",
    "member",
    "run_keys",
    "stacked_shardings",
    "unstack",
]
