"""Tiny pure-JAX probe environments with known optimal values, for testing learners.

Each probe follows Playground's duck-typed env interface (`reset(rng) -> state`,
`step(state, action) -> state`, `action_size`, `observation_size`) and carries its own
`episode_length` (time limit in control steps) and `action_repeat`. Each exposes
`optimal_value(obs, gamma)`, the optimal Q-value (= V*, acting optimally) of a batch of
observations, and `optimal_action(obs)`. Rewards and values are per agent step, with the
time limit handled by bootstrapping (a truncated episode is not a terminal state).
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import struct

DEFAULT_EPISODE_LENGTH = 1000


@struct.dataclass
class ProbeState:
    """State of a probe env, with the same fields as Playground's `State`."""

    data: Any
    obs: Any
    reward: jax.Array
    done: jax.Array
    metrics: dict[str, jax.Array]
    info: dict[str, jax.Array]


class ProbeEnv:
    """Shared plumbing of the probes: config values, sizes and state construction."""

    CONFIG_KEYS: ClassVar[tuple[str, ...]] = ("episode_length", "action_repeat")
    DEFAULT_EPISODE_LENGTH: ClassVar[int] = DEFAULT_EPISODE_LENGTH
    ACTION_SIZE: ClassVar[int] = 1

    def __init__(self, episode_length: int | None = None, action_repeat: int = 1) -> None:
        self.episode_length = (
            self.DEFAULT_EPISODE_LENGTH if episode_length is None else episode_length
        )
        self.action_repeat = action_repeat
        if self.episode_length < 1 or self.action_repeat < 1:
            raise ValueError("episode_length and action_repeat must be positive")

    @property
    def action_size(self) -> int:
        return self.ACTION_SIZE

    @property
    def observation_size(self) -> int | dict[str, tuple[int, ...]]:
        obs = jax.eval_shape(self.reset, jax.random.PRNGKey(0)).obs
        if isinstance(obs, dict):
            return {key: value.shape for key, value in obs.items()}
        return obs.shape[-1]

    @property
    def unwrapped(self) -> ProbeEnv:
        return self

    def optimal_action(self, obs: jax.Array) -> jax.Array:
        """An optimal action for each observation (any action is optimal unless overridden)."""
        return jnp.zeros(obs.shape[:-1] + (self.action_size,), jnp.float32)

    @staticmethod
    def _state(obs: Any, reward: jax.Array, done: jax.Array, steps: jax.Array) -> ProbeState:
        return ProbeState(
            data=None,
            obs=obs,
            reward=jnp.asarray(reward, jnp.float32),
            done=jnp.asarray(done, jnp.float32),
            metrics={},
            info={"steps": jnp.asarray(steps, jnp.int32)},
        )


class ProbeConstant(ProbeEnv):
    """obs [1.0], 1-d action, reward 1, terminates after one step: Q* = 1 for any action."""

    def reset(self, rng: jax.Array) -> ProbeState:
        del rng
        return self._state(jnp.ones(1, jnp.float32), 0.0, 0.0, 0)

    def step(self, state: ProbeState, action: jax.Array) -> ProbeState:
        del action
        return self._state(state.obs, 1.0, 1.0, state.info["steps"] + 1)

    def optimal_value(self, obs: jax.Array, gamma: float) -> jax.Array:
        del gamma
        return jnp.ones(obs.shape[:-1], jnp.float32)


class ProbeBandit(ProbeEnv):
    """One-step contextual bandit: obs s in {-1, +1} (random), reward 1 - (a - 0.5 s)^2.

    The episode terminates after one step, so the optimal action is 0.5 s and Q* = 1.
    """

    def reset(self, rng: jax.Array) -> ProbeState:
        sign = jnp.where(jax.random.bernoulli(rng), 1.0, -1.0)
        return self._state(jnp.full(1, sign, jnp.float32), 0.0, 0.0, 0)

    def step(self, state: ProbeState, action: jax.Array) -> ProbeState:
        reward = 1.0 - (action[0] - 0.5 * state.obs[0]) ** 2
        return self._state(state.obs, reward, 1.0, state.info["steps"] + 1)

    def optimal_action(self, obs: jax.Array) -> jax.Array:
        return 0.5 * obs

    def optimal_value(self, obs: jax.Array, gamma: float) -> jax.Array:
        del gamma
        return jnp.ones(obs.shape[:-1], jnp.float32)


class ProbeTruncation(ProbeEnv):
    """Reward 1 every step, never terminates, constant obs [1.0], time limit of 20 steps.

    The time limit is not visible in the observation, so the truncated final step must be
    bootstrapped (not treated as terminal): then Q* = 1 / (1 - gamma) for every state.
    A learner that treats truncation as termination converges to something smaller.
    """

    DEFAULT_EPISODE_LENGTH: ClassVar[int] = 20

    def reset(self, rng: jax.Array) -> ProbeState:
        del rng
        return self._state(jnp.ones(1, jnp.float32), 0.0, 0.0, 0)

    def step(self, state: ProbeState, action: jax.Array) -> ProbeState:
        del action
        return self._state(state.obs, 1.0, 0.0, state.info["steps"] + 1)

    def optimal_value(self, obs: jax.Array, gamma: float) -> jax.Array:
        return jnp.full(obs.shape[:-1], 1.0 / (1.0 - gamma), jnp.float32)


class ProbeChain(ProbeEnv):
    """Reward 1 per step, terminates after L = 5 steps, obs = remaining steps / L.

    With k = L * obs steps remaining, V*(obs) = Q*(obs, any action) = (1 - gamma^k) / (1 - gamma);
    at step t, k = L - t.
    """

    CHAIN_LENGTH: ClassVar[int] = 5

    def _obs(self, steps: jax.Array) -> jax.Array:
        remaining = (self.CHAIN_LENGTH - steps).astype(jnp.float32)
        return jnp.reshape(remaining / self.CHAIN_LENGTH, (1,))

    def reset(self, rng: jax.Array) -> ProbeState:
        del rng
        steps = jnp.int32(0)
        return self._state(self._obs(steps), 0.0, 0.0, steps)

    def step(self, state: ProbeState, action: jax.Array) -> ProbeState:
        del action
        steps = state.info["steps"] + 1
        done = steps >= self.CHAIN_LENGTH
        return self._state(self._obs(steps), 1.0, done, steps)

    def optimal_value(self, obs: jax.Array, gamma: float) -> jax.Array:
        remaining = jnp.round(obs[..., 0] * self.CHAIN_LENGTH)
        return (1.0 - gamma**remaining) / (1.0 - gamma)


class ProbePrivileged(ProbeEnv):
    """One-step bandit with dict observations and a 2-d action (asymmetric actor-critic probe).

    Two random signs s = [s1, s2] in {-1, +1}^2; target = [0.5 s1, -0.5 s2];
    obs = {"state": s, "privileged_state": [s1, s2, target]} so the critic sees the target
    directly; reward = 1 - mean((a - target)^2). Terminates after one step: the optimal
    action is the target and Q* = 1.
    """

    ACTION_SIZE: ClassVar[int] = 2

    @staticmethod
    def _target(signs: jax.Array) -> jax.Array:
        return 0.5 * signs * jnp.array([1.0, -1.0], jnp.float32)

    def reset(self, rng: jax.Array) -> ProbeState:
        signs = jnp.where(jax.random.bernoulli(rng, shape=(2,)), 1.0, -1.0).astype(jnp.float32)
        obs = {
            "state": signs,
            "privileged_state": jnp.concatenate([signs, self._target(signs)]),
        }
        return self._state(obs, 0.0, 0.0, 0)

    def step(self, state: ProbeState, action: jax.Array) -> ProbeState:
        target = self._target(state.obs["state"])
        reward = 1.0 - jnp.mean((action[:2] - target) ** 2)
        return self._state(state.obs, reward, 1.0, state.info["steps"] + 1)

    def optimal_action(self, obs: jax.Array) -> jax.Array:
        return self._target(obs[..., :2])

    def optimal_value(self, obs: jax.Array, gamma: float) -> jax.Array:
        del gamma
        return jnp.ones(obs.shape[:-1], jnp.float32)


class ProbeBlowup(ProbeEnv):
    """Reward 1 every step, never terminates, obs = steps taken [float], time limit 50 steps.

    An action with `action[0] > 0.5` makes the physics blow up: the returned state's obs,
    reward and float `data` leaf ({"qpos": [steps], "step": int32}) are NaN and `done` is 1,
    as Playground's DM Control envs flag NaN physics. The optimal action never blows up (-1);
    with time-limit bootstrapping Q* = 1 / (1 - gamma) for every observation.
    """

    DEFAULT_EPISODE_LENGTH: ClassVar[int] = 50
    BLOWUP_THRESHOLD: ClassVar[float] = 0.5

    @staticmethod
    def _blowup_state(
        qpos: jax.Array, reward: jax.Array, done: jax.Array, steps: jax.Array
    ) -> ProbeState:
        qpos = jnp.asarray(qpos, jnp.float32)
        state = ProbeEnv._state(qpos, reward, done, steps)
        return state.replace(data={"qpos": qpos, "step": jnp.asarray(steps, jnp.int32)})

    def reset(self, rng: jax.Array) -> ProbeState:
        del rng
        return self._blowup_state(jnp.zeros(1), 0.0, 0.0, 0)

    def step(self, state: ProbeState, action: jax.Array) -> ProbeState:
        blowup = action[0] > self.BLOWUP_THRESHOLD
        nan_if_blowup = jnp.where(blowup, jnp.nan, 0.0)
        steps = state.info["steps"] + 1
        qpos = state.data["qpos"] + 1.0 + nan_if_blowup
        return self._blowup_state(qpos, 1.0 + nan_if_blowup, blowup, steps)

    def optimal_action(self, obs: jax.Array) -> jax.Array:
        return -jnp.ones(obs.shape[:-1] + (self.action_size,), jnp.float32)

    def optimal_value(self, obs: jax.Array, gamma: float) -> jax.Array:
        return jnp.full(obs.shape[:-1], 1.0 / (1.0 - gamma), jnp.float32)


PROBE_ENVS: dict[str, type[ProbeEnv]] = {
    "ProbeConstant": ProbeConstant,
    "ProbeBandit": ProbeBandit,
    "ProbeTruncation": ProbeTruncation,
    "ProbeChain": ProbeChain,
    "ProbePrivileged": ProbePrivileged,
    "ProbeBlowup": ProbeBlowup,
}
