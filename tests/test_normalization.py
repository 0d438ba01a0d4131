"""Tests for fastbrc.core.normalization against numpy statistics over the concatenated data."""

import jax
import jax.numpy as jnp
import numpy as np

from fastbrc.core import normalization


def example_obs():
    return {"state": jnp.zeros((4,), jnp.float32), "image": jnp.zeros((2, 3), jnp.float32)}


def random_batch(rng, batch_size):
    return {
        "state": (
            rng.normal(size=(batch_size, 4)) * [1.0, 10.0, 0.01, 3.0] + [5.0, -2.0, 0, 1e3]
        ).astype(np.float32),
        "image": rng.uniform(-1.0, 4.0, size=(batch_size, 2, 3)).astype(np.float32),
    }


def test_init_is_identity_before_updates():
    stats = normalization.init_stats(example_obs())
    assert float(stats.count) == 0.0
    x = random_batch(np.random.default_rng(0), 5)
    x["state"] = np.clip(x["state"], -9.0, 9.0)
    normalized = normalization.normalize(stats, x)
    for key in x:
        np.testing.assert_allclose(np.asarray(normalized[key]), x[key], rtol=1e-6)


def test_many_updates_match_numpy_over_concatenation():
    rng = np.random.default_rng(1)
    stats = normalization.init_stats(example_obs())
    update = jax.jit(normalization.update_stats)
    batches = [random_batch(rng, int(size)) for size in rng.choice([1, 5, 64, 257], size=40)]
    for batch in batches:
        stats = update(stats, batch)
    concatenated = {key: np.concatenate([b[key] for b in batches]) for key in batches[0]}
    assert float(stats.count) == len(concatenated["state"])
    for key, values in concatenated.items():
        values64 = values.astype(np.float64)
        np.testing.assert_allclose(
            np.asarray(stats.mean[key]), values64.mean(0), rtol=1e-4, atol=1e-5
        )
        np.testing.assert_allclose(np.asarray(stats.var[key]), values64.var(0), rtol=1e-4)


def test_large_count_stays_accurate():
    """~1e6 rows with a large mean: a float32 E[x^2] - E[x]^2 would lose the variance."""
    rng = np.random.default_rng(2)
    stats = normalization.init_stats(jnp.zeros((3,), jnp.float32))

    def body(stats, batch):
        return normalization.update_stats(stats, batch), None

    batches = rng.normal(size=(200, 4096, 3)) * [2.0, 0.5, 7.0] + [100.0, -3.0, 0.0]
    batches = batches.astype(np.float32)
    stats, _ = jax.jit(lambda s, b: jax.lax.scan(body, s, b))(stats, batches)
    flat = batches.reshape(-1, 3).astype(np.float64)
    assert float(stats.count) == flat.shape[0]
    np.testing.assert_allclose(np.asarray(stats.mean), flat.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(stats.var), flat.var(0), rtol=1e-4)


def test_mask_excludes_rows():
    rng = np.random.default_rng(3)
    stats = normalization.init_stats(example_obs())
    update = jax.jit(normalization.update_stats)
    kept = []
    for size in (17, 64, 3, 40):
        batch = random_batch(rng, size)
        mask = rng.random(size) < 0.5
        # Excluded rows hold huge values: any leak would wreck the statistics.
        batch = {
            key: np.where(mask.reshape((-1,) + (1,) * (v.ndim - 1)), v, 1e6).astype(np.float32)
            for key, v in batch.items()
        }
        stats = update(stats, batch, mask)
        kept.append({key: v[mask] for key, v in batch.items()})
    empty_mask = np.zeros(8, bool)
    stats = update(stats, random_batch(rng, 8), empty_mask)  # no rows: unchanged
    concatenated = {key: np.concatenate([b[key] for b in kept]) for key in kept[0]}
    assert float(stats.count) == len(concatenated["state"])
    for key, values in concatenated.items():
        np.testing.assert_allclose(
            np.asarray(stats.mean[key]), values.mean(0), rtol=1e-4, atol=1e-5
        )
        np.testing.assert_allclose(np.asarray(stats.var[key]), values.var(0), rtol=1e-4)


def test_extra_leading_dims_are_flattened():
    rng = np.random.default_rng(4)
    batch = random_batch(rng, 24)
    nested = {key: v.reshape((4, 6) + v.shape[1:]) for key, v in batch.items()}
    flat_stats = normalization.update_stats(normalization.init_stats(example_obs()), batch)
    nested_stats = normalization.update_stats(normalization.init_stats(example_obs()), nested)
    for key in batch:
        np.testing.assert_allclose(nested_stats.mean[key], flat_stats.mean[key], rtol=1e-6)
        np.testing.assert_allclose(nested_stats.var[key], flat_stats.var[key], rtol=1e-6)


def test_normalize_matches_formula_with_any_leading_dims():
    rng = np.random.default_rng(5)
    stats = normalization.update_stats(
        normalization.init_stats(example_obs()), random_batch(rng, 100)
    )
    x = random_batch(rng, 30)
    x = {key: (v.reshape((5, 6) + v.shape[1:]) * 3.0) for key, v in x.items()}  # some clip
    clip, eps = 2.5, 1e-6
    normalized = jax.jit(normalization.normalize, static_argnames=("clip", "eps"))(
        stats, x, clip=clip, eps=eps
    )
    for key in x:
        mean, var = np.asarray(stats.mean[key]), np.asarray(stats.var[key])
        expected = np.clip((x[key] - mean) / np.sqrt(var + eps), -clip, clip)
        assert np.any(np.abs(expected) == clip)
        np.testing.assert_allclose(np.asarray(normalized[key]), expected, rtol=1e-5, atol=1e-6)
