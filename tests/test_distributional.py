"""Tests for fastbrc.core.distributional against slow numpy/loop references."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fastbrc.core import distributional

V_MIN, V_MAX, NUM_ATOMS = -10.0, 10.0, 21  # spacing 1.0: easy to land exactly on atoms
SPACING = (V_MAX - V_MIN) / (NUM_ATOMS - 1)


def reference_projection(next_probs, rewards, discounts, support):
    """C51 projection with the plain per-atom floor/ceil loop, done right (l == u case)."""
    v_min, v_max = float(support[0]), float(support[-1])
    spacing = (v_max - v_min) / (len(support) - 1)
    out = np.zeros_like(next_probs, dtype=np.float64)
    for row in range(next_probs.shape[0]):
        for atom in range(len(support)):
            target = rewards[row] + discounts[row] * support[atom]
            target = min(max(target, v_min), v_max)
            position = (target - v_min) / spacing
            # Snap rounding noise so exact hits are treated as exact (the reference is float64).
            if abs(position - round(position)) < 1e-9:
                position = float(round(position))
            lower, upper = math.floor(position), math.ceil(position)
            mass = next_probs[row, atom]
            if lower == upper:
                out[row, lower] += mass
            else:
                out[row, lower] += mass * (upper - position)
                out[row, upper] += mass * (position - lower)
    return out


def random_probs(rng, batch, num_atoms):
    logits = rng.normal(size=(batch, num_atoms)) * 2.0
    probs = np.exp(logits)
    return (probs / probs.sum(-1, keepdims=True)).astype(np.float32)


def make_case(rng, batch=64):
    """Rewards mixing interior values, exact atom hits and values far outside the support."""
    probs = random_probs(rng, batch, NUM_ATOMS)
    rewards = rng.uniform(-3.0, 3.0, size=batch)
    rewards[:16] = rng.integers(-5, 6, size=16).astype(np.float64)  # integer: lands on atoms
    rewards[16:24] = rng.choice([-1.0, 1.0], size=8) * rng.uniform(25.0, 1000.0, size=8)
    discounts = rng.choice([0.0, 0.99, 0.9**3, 1.0], size=batch)
    discounts[:8] = 1.0  # with integer rewards: every target is exactly an atom
    discounts[8:16] = 0.0
    return probs, rewards.astype(np.float32), discounts.astype(np.float32)


def test_make_support():
    support = distributional.make_support(V_MIN, V_MAX, NUM_ATOMS)
    np.testing.assert_array_equal(np.asarray(support), np.arange(-10.0, 11.0))
    assert support.dtype == jnp.float32
    with pytest.raises(ValueError):
        distributional.make_support(1.0, 1.0, 5)


def test_projection_conserves_mass_and_matches_reference():
    rng = np.random.default_rng(0)
    support = distributional.make_support(V_MIN, V_MAX, NUM_ATOMS)
    probs, rewards, discounts = make_case(rng)
    projected = np.asarray(
        jax.jit(distributional.project_categorical)(probs, rewards, discounts, support)
    )
    assert projected.shape == probs.shape
    assert np.all(projected >= 0.0)
    np.testing.assert_allclose(projected.sum(-1), 1.0, atol=1e-5)
    expected = reference_projection(probs, rewards, discounts, np.asarray(support, np.float64))
    np.testing.assert_allclose(projected, expected, atol=1e-5)


def test_projection_exact_atom_hits_keep_mass():
    """Integer shift with discount 1 is a pure shift of the histogram (bug #29/#30 case)."""
    rng = np.random.default_rng(1)
    support = distributional.make_support(V_MIN, V_MAX, NUM_ATOMS)
    probs = random_probs(rng, 3, NUM_ATOMS)
    rewards = np.array([0.0, 2.0, -3.0], np.float32)
    projected = np.asarray(
        distributional.project_categorical(probs, rewards, np.ones(3, np.float32), support)
    )
    np.testing.assert_allclose(projected[0], probs[0], atol=1e-6)  # identity
    shifted = np.zeros(NUM_ATOMS)
    shifted[2:] = probs[1, :-2]
    shifted[-1] += probs[1, -2:].sum()  # clipped at v_max
    np.testing.assert_allclose(projected[1], shifted, atol=1e-6)
    shifted = np.zeros(NUM_ATOMS)
    shifted[:-3] = probs[2, 3:]
    shifted[0] += probs[2, :3].sum()  # clipped at v_min
    np.testing.assert_allclose(projected[2], shifted, atol=1e-6)


def test_projection_discount_zero_puts_mass_around_reward():
    rng = np.random.default_rng(2)
    support = distributional.make_support(V_MIN, V_MAX, NUM_ATOMS)
    probs = random_probs(rng, 4, NUM_ATOMS)
    rewards = np.array([2.25, -4.0, 50.0, -50.0], np.float32)
    projected = np.asarray(
        distributional.project_categorical(probs, rewards, np.zeros(4, np.float32), support)
    )
    expected = np.zeros((4, NUM_ATOMS))
    expected[0, 12], expected[0, 13] = 0.75, 0.25  # 2.25 sits between atoms 2 and 3
    expected[1, 6] = 1.0
    expected[2, -1] = 1.0
    expected[3, 0] = 1.0
    np.testing.assert_allclose(projected, expected, atol=1e-6)


def test_projection_preserves_mean_without_clipping():
    rng = np.random.default_rng(3)
    support = distributional.make_support(V_MIN, V_MAX, NUM_ATOMS)
    # Mass only on the middle atoms so r + d * z stays inside the support.
    probs = np.zeros((32, NUM_ATOMS), np.float32)
    probs[:, 7:14] = random_probs(rng, 32, 7)
    rewards = rng.uniform(-2.0, 2.0, size=32).astype(np.float32)
    discounts = rng.uniform(0.0, 1.0, size=32).astype(np.float32)
    projected = distributional.project_categorical(probs, rewards, discounts, support)
    mean_before = np.asarray(distributional.expected_value(probs, support))
    mean_after = np.asarray(distributional.expected_value(projected, support))
    np.testing.assert_allclose(mean_after, rewards + discounts * mean_before, atol=1e-4)


def test_projection_accepts_extra_leading_dims():
    rng = np.random.default_rng(4)
    support = distributional.make_support(V_MIN, V_MAX, NUM_ATOMS)
    probs, rewards, discounts = make_case(rng, batch=24)
    flat = distributional.project_categorical(probs, rewards, discounts, support)
    nested = distributional.project_categorical(
        probs.reshape(2, 12, NUM_ATOMS), rewards.reshape(2, 12), discounts.reshape(2, 12), support
    )
    np.testing.assert_allclose(np.asarray(nested).reshape(24, NUM_ATOMS), flat, atol=1e-7)


def reference_hl_gauss(values, support, sigma):
    spacing = support[1] - support[0]
    edges = np.concatenate([support - spacing / 2, [support[-1] + spacing / 2]])
    out = np.zeros((len(values), len(support)))
    for row, value in enumerate(values):
        value = min(max(value, support[0]), support[-1])
        cdf = [0.5 * (1 + math.erf((edge - value) / (math.sqrt(2) * sigma))) for edge in edges]
        masses = np.diff(cdf)
        out[row] = masses / masses.sum()
    return out


def test_hl_gauss_probs():
    support = distributional.make_support(V_MIN, V_MAX, NUM_ATOMS)
    sigma = 0.75 * SPACING
    values = np.array([0.0, 0.3, -2.6, 4.49, 7.0, V_MIN, V_MAX, 123.0, -77.0], np.float32)
    probs = np.asarray(jax.jit(distributional.hl_gauss_probs)(values, support, sigma))
    assert np.all(probs >= 0.0)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(
        probs, reference_hl_gauss(values, np.asarray(support, np.float64), sigma), atol=1e-5
    )
    support_np = np.asarray(support)
    nearest_atoms = np.argmin(np.abs(np.clip(values, V_MIN, V_MAX)[:, None] - support_np), -1)
    np.testing.assert_array_equal(np.argmax(probs, -1), nearest_atoms)
    interior = np.abs(values) < 8.0
    means = np.asarray(distributional.expected_value(probs, support))
    np.testing.assert_allclose(means[interior], values[interior], atol=1e-3)
    # Out-of-range values are clipped to the end atoms.
    np.testing.assert_allclose(probs[7], probs[6], atol=1e-6)
    np.testing.assert_allclose(probs[8], probs[5], atol=1e-6)


def test_expected_value_and_cross_entropy():
    rng = np.random.default_rng(5)
    support = distributional.make_support(V_MIN, V_MAX, NUM_ATOMS)
    logits = rng.normal(size=(6, NUM_ATOMS)).astype(np.float32) * 3.0
    targets = random_probs(rng, 6, NUM_ATOMS)
    logits64 = logits.astype(np.float64)
    log_softmax = logits64 - np.log(np.exp(logits64).sum(-1, keepdims=True))
    expected_ce = np.array(
        [-sum(targets[r, j] * log_softmax[r, j] for j in range(NUM_ATOMS)) for r in range(6)]
    )
    np.testing.assert_allclose(
        np.asarray(distributional.cross_entropy(logits, targets)), expected_ce, rtol=1e-5
    )
    softmax = np.exp(log_softmax)
    expected_mean = np.array(
        [sum(softmax[r, j] * float(support[j]) for j in range(NUM_ATOMS)) for r in range(6)]
    )
    np.testing.assert_allclose(
        np.asarray(distributional.expected_value(softmax.astype(np.float32), support)),
        expected_mean,
        atol=1e-4,
    )
    np.testing.assert_allclose(
        np.asarray(distributional.expected_value_from_logits(logits, support)),
        expected_mean,
        atol=1e-4,
    )
    # Cross-entropy is minimised (over logits) at the target itself: H(p) <= H(p, q).
    entropy = distributional.cross_entropy(jnp.log(targets), targets)
    assert np.all(np.asarray(entropy) <= np.asarray(distributional.cross_entropy(logits, targets)))


def test_projection_broadcasts_scalar_reward_and_discount():
    support = distributional.make_support(-5.0, 5.0, 11)
    probs = jax.nn.softmax(jax.random.normal(jax.random.PRNGKey(0), (3, 11)))
    scalar = distributional.project_categorical(probs, jnp.float32(0.5), jnp.float32(0.9), support)
    per_row = distributional.project_categorical(probs, jnp.full(3, 0.5), jnp.full(3, 0.9), support)
    np.testing.assert_allclose(scalar, per_row, atol=1e-6)
    assert scalar.shape == (3, 11)
