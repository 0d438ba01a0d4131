"""The one-hot per-task reductions against `jax.ops.segment_*` (the scatter they replace)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fastbrc.core import segments
from fastbrc.core.networks import TaskEmbedding
from fastbrc.learner.metrics import per_task_mean, per_task_sum


@pytest.mark.parametrize("num_tasks", [1, 3, 7])
def test_segment_sum_and_max_match_the_scatter_versions_with_empty_and_invalid_ids(num_tasks):
    key_x, key_ids = jax.random.split(jax.random.PRNGKey(num_tasks))
    x = jax.random.normal(key_x, (257,))
    # ids from -1 to num_tasks + 1: some out of range (counted nowhere); task 1 left empty
    ids = jax.random.randint(key_ids, (257,), -1, num_tasks + 2)
    ids = jnp.where(ids == 1, 0, ids)
    want_sum = jax.ops.segment_sum(jnp.where(ids >= 0, x, 0.0), jnp.maximum(ids, 0), num_tasks)
    want_max = jax.ops.segment_max(jnp.where(ids >= 0, x, -jnp.inf), jnp.maximum(ids, 0), num_tasks)
    np.testing.assert_allclose(
        segments.segment_sum(x, ids, num_tasks), want_sum, rtol=1e-5, atol=1e-5
    )
    np.testing.assert_array_equal(segments.segment_max(x, ids, num_tasks), want_max)
    if num_tasks > 1:  # the empty task: 0 and -inf, as the scatters give
        assert segments.segment_sum(x, ids, num_tasks)[1] == 0.0
        assert segments.segment_max(x, ids, num_tasks)[1] == -jnp.inf


def test_segment_max_of_integers_gives_the_lowest_integer_to_an_empty_task():
    out = segments.segment_max(jnp.array([3, 5], jnp.int32), jnp.array([0, 0]), 2)
    np.testing.assert_array_equal(out, [5, jnp.iinfo(jnp.int32).min])


def test_task_embedding_rows_and_gradient_match_the_gather():
    module = TaskEmbedding(num_tasks=4, dim=8)
    task_id = jnp.array([0, 3, 3, 1, 0, 2, 3])
    params = module.init(jax.random.PRNGKey(0), task_id)
    table = params["params"]["table"]

    def gathered(table):
        rows = table[task_id]
        return rows / jnp.maximum(jnp.linalg.norm(rows, axis=-1, keepdims=True), 1e-6)

    weights = jax.random.normal(jax.random.PRNGKey(1), (7, 8))
    ours = lambda t: jnp.sum(module.apply({"params": {"table": t}}, task_id) * weights)
    theirs = lambda t: jnp.sum(gathered(t) * weights)
    np.testing.assert_allclose(module.apply(params, task_id), gathered(table), rtol=1e-6)
    np.testing.assert_allclose(jax.grad(ours)(table), jax.grad(theirs)(table), rtol=1e-5, atol=1e-6)


def test_the_per_task_metrics_and_the_embedding_gradient_lower_without_a_scatter():
    """The point of `segments`: no scatter (a GPU's slow path) in what runs every update."""
    x, ids = jnp.ones(64), jnp.zeros(64, jnp.int32)
    for fn in (per_task_sum, per_task_mean, segments.segment_max):
        text = jax.jit(lambda x, ids, fn=fn: fn(x, ids, 3)).lower(x, ids).as_text()
        assert "scatter" not in text, fn.__name__
    module = TaskEmbedding(num_tasks=3, dim=4)
    params = module.init(jax.random.PRNGKey(0), ids)
    grad = jax.grad(lambda p: jnp.sum(module.apply(p, ids)))
    assert "scatter" not in jax.jit(grad).lower(params).as_text()
    # the check can fail: the scatter it guards against shows in the same text
    assert (
        "scatter" in jax.jit(lambda x, ids: jax.ops.segment_sum(x, ids, 3)).lower(x, ids).as_text()
    )
