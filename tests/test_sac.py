"""SAC pieces: tanh-Gaussian density against float64 references, masking, gradients, alpha."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from fastbrc.core import sac


def _reference_log_prob(mean, log_std, eps):
    """float64 change of variables with the exact log(1 - tanh(u)^2), summed over the last dim."""
    mean, log_std, eps = (np.asarray(a, np.float64) for a in (mean, log_std, eps))
    u = mean + np.exp(log_std) * eps
    gaussian = stats.norm.logpdf(u, loc=mean, scale=np.exp(log_std))
    return (gaussian - np.log(1 - np.tanh(u) ** 2)).sum(-1)


def _tanh_gaussian_density(a, mean, std):
    """float64 density of tanh(N(mean, std^2)) at a in (-1, 1)."""
    return stats.norm.pdf(np.arctanh(a), mean, std) / (1 - a**2)


@pytest.mark.parametrize("dims", [1, 3])
def test_log_prob_matches_float64_reference(dims):
    k_mean, k_std, k_eps = jax.random.split(jax.random.PRNGKey(0), 3)
    mean = jax.random.uniform(k_mean, (256, dims), minval=-1.5, maxval=1.5)
    log_std = jax.random.uniform(k_std, (256, dims), minval=-2.0, maxval=0.5)
    action, log_prob = sac.sample(mean, log_std, k_eps)
    eps = jax.random.normal(k_eps, (256, dims))  # the draw `sample` documents
    assert log_prob.shape == (256,)
    np.testing.assert_allclose(log_prob, _reference_log_prob(mean, log_std, eps), 1e-4, 1e-4)
    u = np.float64(mean) + np.exp(np.float64(log_std)) * np.float64(eps)
    np.testing.assert_allclose(action, np.tanh(u), atol=1e-6)


def test_log_prob_finite_for_saturated_pre_tanh_values():
    mean = jnp.array([[20.0, -20.0, 12.0, -15.0]])
    log_std = jnp.full_like(mean, sac.LOG_STD_MIN)
    _, log_prob = sac.sample(mean, log_std, jax.random.PRNGKey(1))
    naive = jnp.log(1 - jnp.tanh(mean) ** 2)  # what the direct formula gives in float32
    assert bool(jnp.isneginf(naive).all())
    eps = jax.random.normal(jax.random.PRNGKey(1), mean.shape)
    u = np.float64(mean) + np.exp(np.float64(log_std)) * np.float64(eps)
    # log(1 - tanh^2) = -2 log cosh u, evaluated without cancellation in float64
    log_det = -2 * (np.abs(u) + np.log1p(np.exp(-2 * np.abs(u))) - np.log(2))
    gaussian = -0.5 * np.float64(eps) ** 2 - np.float64(log_std) - 0.5 * np.log(2 * np.pi)
    assert bool(jnp.isfinite(log_prob).all())
    np.testing.assert_allclose(log_prob, (gaussian - log_det).sum(-1), rtol=1e-5)


def test_samples_follow_the_density_log_prob_describes():
    m, s, n = 0.4, 0.9, 200_000
    mean, log_std = jnp.full((n, 1), m), jnp.full((n, 1), math.log(s))
    action, log_prob = sac.sample(mean, log_std, jax.random.PRNGKey(2))
    action, log_prob = np.float64(action[:, 0]), np.float64(log_prob)
    # sampler: histogram against the exact bin masses of tanh(N(m, s^2))
    edges = np.linspace(-1, 1, 21)
    cdf = stats.norm.cdf(np.arctanh(np.clip(edges, -1 + 1e-12, 1 - 1e-12)), m, s)
    expected = np.diff(cdf)
    observed = np.histogram(action, edges)[0] / n
    np.testing.assert_allclose(observed, expected, atol=3e-3, rtol=0.05)
    # density: log_prob at each sample is the log of the exact density there
    np.testing.assert_allclose(log_prob, np.log(_tanh_gaussian_density(action, m, s)), atol=1e-3)
    # entropy: E[-log_prob] against numeric integration of the density
    f = lambda a: -_tanh_gaussian_density(a, m, s) * np.log(_tanh_gaussian_density(a, m, s))
    entropy = integrate.quad(f, -1 + 1e-9, 1 - 1e-9, limit=200)[0]
    assert abs(-log_prob.mean() - entropy) < 0.02 * abs(entropy) + 5e-3


def test_actions_strictly_inside_unit_box_even_when_saturated():
    mean = jnp.array([[8.0, -8.0, 30.0, -30.0, 0.0]])
    log_std = jnp.array([[0.0, 0.0, -10.0, -10.0, 2.0]])
    for seed in range(20):
        action, log_prob = sac.sample(mean, log_std, jax.random.PRNGKey(seed))
        assert action.dtype == jnp.float32
        assert float(jnp.abs(action).max()) < 1.0
        assert bool(jnp.isfinite(log_prob).all())
    assert float(jnp.abs(sac.mode(jnp.array([0.5, -3.0]))[0] - math.tanh(0.5))) < 1e-6


def test_action_mask_drops_padded_dims_exactly():
    k_mean, k_std, k_eps = jax.random.split(jax.random.PRNGKey(3), 3)
    mean = jax.random.normal(k_mean, (64, 3))
    log_std = jax.random.uniform(k_std, (64, 3), minval=-3.0, maxval=1.0)
    eps = jax.random.normal(k_eps, (64, 3))
    mask = jnp.array([1.0, 1.0, 0.0])
    action, masked = sac.sample(mean, log_std, k_eps, action_mask=mask)
    _, full = sac.sample(mean, log_std, k_eps)
    ref = _reference_log_prob(mean[:, :2], log_std[:, :2], eps[:, :2])
    np.testing.assert_allclose(masked, ref, rtol=1e-5, atol=1e-5)
    assert not np.allclose(masked, full, rtol=1e-5, atol=1e-5)
    assert action.shape == (64, 3)  # padded dims' actions are still returned
    # whatever the actor emits in a padded dim, even overflowing values, leaves log_prob alone
    junk_mean, junk_log_std = mean.at[:, 2].set(1e6), log_std.at[:, 2].set(100.0)
    _, junk = sac.sample(junk_mean, junk_log_std, k_eps, action_mask=mask)
    np.testing.assert_array_equal(junk, masked)
    # a bool, per-sample mask (multi-task batch) selects each row's own dims
    per_sample = jnp.array([[True, True, False], [True, True, True]])
    _, mixed = sac.sample(mean[:2], log_std[:2], jax.random.PRNGKey(4), per_sample)
    _, first_two = sac.sample(mean[:2], log_std[:2], jax.random.PRNGKey(4), jnp.array([1, 1, 0]))
    _, all_three = sac.sample(mean[:2], log_std[:2], jax.random.PRNGKey(4))
    np.testing.assert_array_equal(mixed, jnp.array([first_two[0], all_three[1]]))


@pytest.mark.parametrize("trunk", ["mlp", "bronet"])
def test_gradients_reach_mean_and_log_std_through_the_sample(trunk):
    actor = sac.TanhGaussianActor((16,), 3, trunk=trunk, width=16, depth=1)
    obs = jax.random.normal(jax.random.PRNGKey(5), (32, 4))
    params = actor.init(jax.random.PRNGKey(6), obs)

    def action_sum(p):  # no log_prob: any log_std gradient must come through the sample
        action, _ = sac.sample(*actor.apply(p, obs), jax.random.PRNGKey(7))
        return (action * jnp.array([1.0, -2.0, 0.5])).sum()

    grads = jax.grad(action_sum)(params)
    head = (
        grads["params"]["BroNet_0"]["Dense_3"] if trunk == "bronet" else grads["params"]["Dense_1"]
    )
    kernel = np.asarray(head["kernel"])
    assert np.abs(kernel[:, :3]).sum() > 0  # mean half of the head
    assert np.abs(kernel[:, 3:]).sum() > 0  # log_std half of the head


@pytest.mark.parametrize("trunk", ["mlp", "bronet"])
def test_actor_shapes_and_log_std_bounds(trunk):
    actor = sac.TanhGaussianActor((16, 16), 5, trunk=trunk, width=16, depth=2)
    obs = jax.random.normal(jax.random.PRNGKey(8), (7, 4))
    params = actor.init(jax.random.PRNGKey(9), obs)
    for scale in (1.0, 1e4, -1e4):
        mean, log_std = actor.apply(params, scale * obs)
        assert mean.shape == log_std.shape == (7, 5)
        assert bool(jnp.isfinite(mean).all())
        assert float(log_std.min()) >= sac.LOG_STD_MIN and float(log_std.max()) <= sac.LOG_STD_MAX
    # extreme pre-activations land on the bounds, not past them
    huge = {"params": jax.tree.map(lambda p: 1e3 * p, params["params"])}
    _, log_std = actor.apply(huge, 1e3 * obs)
    assert float(log_std.min()) >= sac.LOG_STD_MIN and float(log_std.max()) <= sac.LOG_STD_MAX
    mean, log_std = actor.apply(params, obs[0])  # unbatched obs
    assert mean.shape == log_std.shape == (5,)


def test_unknown_trunk_is_rejected():
    actor = sac.TanhGaussianActor((8,), 2, trunk="transformer")
    with pytest.raises(ValueError, match="transformer"):
        actor.init(jax.random.PRNGKey(0), jnp.ones((1, 3)))


def test_temperature_gradient_raises_alpha_only_below_target_entropy():
    target = sac.target_entropy(4)  # -2
    grad = jax.grad(sac.temperature_loss)
    low_entropy = jnp.full((16,), 3.0)  # entropy -3 < -2
    high_entropy = jnp.full((16,), -1.0)  # entropy 1 > -2
    assert float(grad(jnp.float32(sac.INIT_LOG_ALPHA), low_entropy, target)) < 0
    assert float(grad(jnp.float32(sac.INIT_LOG_ALPHA), high_entropy, target)) > 0
    np.testing.assert_allclose(grad(jnp.float32(0.0), low_entropy, target), -1.0)
    # log_prob is a constant of this loss: no gradient flows back into the actor
    np.testing.assert_allclose(
        jax.grad(sac.temperature_loss, argnums=1)(jnp.float32(0.3), low_entropy, target), 0.0
    )


def test_actor_loss_and_entropy_bonus():
    log_prob, q = jnp.array([1.0, -2.0]), jnp.array([3.0, 5.0])
    np.testing.assert_allclose(sac.actor_loss(0.5, log_prob, q), (0.5 - 3 - 1 - 5) / 2)
    assert float(jax.grad(sac.actor_loss)(jnp.float32(0.5), log_prob, q)) == 0.0
    np.testing.assert_allclose(jax.grad(sac.actor_loss, argnums=1)(0.5, log_prob, q), [0.25] * 2)
    # bonus + discount * z' == discount * (z' - alpha * logp) for every atom z'
    atoms, discount, alpha, logp = jnp.linspace(-2, 2, 5), jnp.float32(0.97**3), 0.2, -1.3
    bonus = sac.entropy_bonus(logp, alpha, discount)
    np.testing.assert_allclose(bonus + discount * atoms, discount * (atoms - alpha * logp), 1e-6)
    assert float(sac.entropy_bonus(logp, alpha, 0.0)) == 0.0  # terminal: no bonus


def test_target_entropy_scalar_and_per_sample():
    assert float(sac.target_entropy(6)) == -3.0
    per_sample = sac.target_entropy(jnp.array([6, 17, 1]))
    assert per_sample.dtype == jnp.float32
    np.testing.assert_array_equal(per_sample, [-3.0, -8.5, -0.5])
    assert float(sac.target_entropy(6, per_dim=1.0)) == -6.0  # SAC's and Brax's -|A|


def test_temperature_floor_holds_alpha_where_the_entropy_stays_above_target():
    import optax
    from flax import struct

    from fastbrc.learner.actors import SAC

    @struct.dataclass
    class State:
        log_alpha: jax.Array
        alpha_opt_state: optax.OptState

    def final_alpha(alpha_min):
        opt = optax.adam(0.1)
        rule = SAC(None, None, opt, jnp.ones((1, 4)), sac.target_entropy(jnp.array([4])), 0.99,
                   alpha_min=alpha_min)  # fmt: skip
        state = State(jnp.float32(sac.INIT_LOG_ALPHA), opt.init(jnp.float32(0.0)))
        high_entropy = jnp.full((16,), -1.0)  # entropy 1 > target -2: alpha falls
        for _ in range(200):
            state = rule.temperature(state, high_entropy, jnp.zeros((16,), jnp.int32))
        return float(jnp.exp(state.log_alpha))

    assert final_alpha(0.0) < 1e-3  # without the floor it falls far below
    np.testing.assert_allclose(final_alpha(1e-2), 1e-2, rtol=1e-5)
