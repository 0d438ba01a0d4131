"""SAC pieces for the BRC actor: tanh-Gaussian policy, learned temperature, soft C51 target.

BRC (Nauman et al. 2025) trains a stochastic actor with SAC (Haarnoja et al. 2018): the policy
is a Gaussian squashed by tanh, the temperature alpha = exp(log_alpha) is learned towards a
target entropy of -|A|/2, and the critic's target carries the entropy bonus (unless the
config's `sac_backup_entropy` is False: then the critic learns the rewards alone). Everything here
is a pure function or a small module; the trainer owns the params, optimisers and RNG.

Multi-task batches pad actions to the largest task; an `action_mask` (1 for a task's real
dims) keeps the padded dims out of log-probabilities, and `target_entropy` takes each sample's
real action count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from fastbrc.core.networks import BroNet

LOG_STD_MIN = -10.0
LOG_STD_MAX = 2.0
INIT_LOG_ALPHA = math.log(0.1)
# XLA's float32 tanh returns exactly +-1.0 from |u| ~ 7.9 on; see `sample`.
ACTION_BOUND = 1.0 - 1e-6


class TanhGaussianActor(nn.Module):
    """Gaussian policy head over pre-tanh actions: obs -> (mean, log_std), each [..., A].

    The trunk is a ReLU MLP (`hidden`, as MLPActor) or, with `trunk="bronet"`, a BroNet of
    `width` x `depth` (as BroNetActor). log_std is squashed smoothly into
    [LOG_STD_MIN, LOG_STD_MAX] so the std can neither vanish nor explode, and its gradient
    never dies at a hard clip.
    """

    hidden: Sequence[int]
    action_size: int
    trunk: str = "mlp"
    width: int = 256
    depth: int = 1
    init_scheme: str = "default"  # the BroNet trunk's `bronet_init`

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        out = 2 * self.action_size
        if self.trunk == "bronet":
            x = BroNet(self.width, self.depth, out, init_scheme=self.init_scheme)(obs)
        elif self.trunk == "mlp":
            x = obs
            for n in self.hidden:
                x = nn.relu(nn.Dense(n)(x))
            x = nn.Dense(out)(x)
        else:
            raise ValueError(f"unknown actor trunk {self.trunk!r}")
        mean, raw_log_std = jnp.split(x, 2, axis=-1)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (jnp.tanh(raw_log_std) + 1)
        return mean, log_std


def sample(
    mean: jax.Array,
    log_std: jax.Array,
    key: jax.Array,
    action_mask: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Reparameterised draw: (action [..., A], log_prob [...]) of the tanh-Gaussian policy.

    u = mean + exp(log_std) * eps with eps = jax.random.normal(key, shape of mean/log_std
    broadcast), action = tanh(u), so gradients reach mean and log_std through the sample.
    log_prob = sum_i [log N(u_i; mean_i, std_i) - log(1 - tanh(u_i)^2)] by the change of
    variables, with the Jacobian term in the stable form 2 * (log 2 - u - softplus(-2u)),
    which stays finite where 1 - tanh(u)^2 underflows to 0.

    `action_mask` ([A] or broadcastable, 1/True for real dims) drops padded dims from the sum;
    their actions are still returned (the env ignores them).

    The action is clipped to +-ACTION_BOUND: in float32 tanh(u) is exactly +-1.0 for
    |u| >~ 7.9, outside the open box the density lives on (atanh of it is infinite). The clip
    does not touch log_prob, which is computed from u, and only removes a gradient that is
    below 1e-6 anyway.
    """
    shape = jnp.broadcast_shapes(jnp.shape(mean), jnp.shape(log_std))
    eps = jax.random.normal(key, shape, jnp.float32)
    u = mean + jnp.exp(log_std) * eps
    gaussian = -0.5 * jnp.square(eps) - log_std - 0.5 * math.log(2 * math.pi)
    log_det = 2 * (math.log(2.0) - u - jax.nn.softplus(-2 * u))
    per_dim = gaussian - log_det
    if action_mask is not None:
        per_dim = jnp.where(jnp.asarray(action_mask, bool), per_dim, 0.0)
    action = jnp.clip(jnp.tanh(u), -ACTION_BOUND, ACTION_BOUND)
    return action, per_dim.sum(axis=-1)


def mode(mean: jax.Array) -> jax.Array:
    """Deterministic action for evaluation: tanh of the Gaussian mean."""
    return jnp.tanh(mean)


def target_entropy(action_size: int | jax.Array, per_dim: float = 0.5) -> jax.Array:
    """The entropy target -per_dim * |A|: BRC's -|A|/2 by default (SAC's and Brax's: per_dim
    1); per-sample action counts give a per-sample target."""
    return -jnp.asarray(action_size, jnp.float32) * per_dim


def temperature_loss(
    log_alpha: jax.Array, log_prob: jax.Array, target_entropy: jax.Array
) -> jax.Array:
    """Loss of the scalar temperature param; alpha = exp(log_alpha).

    -mean(log_alpha * sg(log_prob + target_entropy)): its gradient is
    -mean(target_entropy - entropy) with entropy = -log_prob, so descent raises alpha while the
    policy's entropy is below target and lowers it while above. The initial log_alpha is the
    caller's choice (INIT_LOG_ALPHA = log 0.1 is the usual one).
    """
    return -jnp.mean(log_alpha * jax.lax.stop_gradient(log_prob + target_entropy))


def actor_loss(alpha: jax.Array, log_prob: jax.Array, q: jax.Array) -> jax.Array:
    """SAC actor loss mean(alpha * log_prob - q) for actions drawn with `sample`.

    `q` is the critic's expected value at the sampled action, already reduced over the
    ensemble. alpha is held constant (stop-gradient): only `temperature_loss` trains it.
    """
    return jnp.mean(jax.lax.stop_gradient(alpha) * log_prob - q)


def entropy_bonus(next_log_prob: jax.Array, alpha: jax.Array, discount: jax.Array) -> jax.Array:
    """Term to add to the (n-step) reward so that a categorical critic learns the soft value.

    The soft target is r + d * (Z' - alpha * logp'), with d the discount that multiplies the
    next-state atoms (gamma^n, zero at termination). Since
    r + d * (z' - alpha * logp') = (r - d * alpha * logp') + d * z' for every atom z', the C51
    projection of `reward + bonus + discount * z'` with bonus = -d * alpha * logp' is exactly the
    projection of the soft target: every atom is shifted by the same constant. Pass the same
    `discount` the projection uses, so terminal transitions get no bonus.
    """
    return -discount * alpha * next_log_prob
