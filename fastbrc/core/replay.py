"""On-device, per-environment, time-major ring buffer with n-step returns.

The replay design of FastTD3 (Seo et al. 2025, "FastTD3: Simple, Fast, and Capable
Reinforcement Learning for Humanoid Control"): every one of ``num_envs`` parallel environments
owns a ring of ``capacity_per_env`` time steps, all environments add one transition per
iteration, and a batch draws the same number of start times from every environment.  n-step
returns are built at sample time by walking forward in each environment's own time line.

Everything here is a pure function over the ``ReplayState`` struct (in the spirit of flashbax's
``init``/``add``/``sample``) and is jit-able with static shapes; ``batch_size`` and ``n_step``
are static Python ints.

Layout: every leaf of ``ReplayState.data`` (a ``Transition`` pytree) has shape
``[num_envs, capacity_per_env, ...]``.  ``position`` is the next slot written (the same for
every environment) and ``size`` counts the filled slots, so the stored time line of each
environment is the slots ``(position - size + offset) % capacity_per_env`` for
``offset = 0 .. size - 1``, oldest first.
"""

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class Transition:
    """One environment step; leaves may carry any leading batch dims.

    ``next_obs`` is the TRUE next observation: for a step that ended an episode it is the final
    observation of that episode, not the first observation after the reset.
    """

    obs: dict[str, jax.Array]  # e.g. {"state": [..., d], "privileged_state": [..., p]}
    action: jax.Array  # [..., a]
    reward: jax.Array  # [...] float32
    next_obs: dict[str, jax.Array]  # same keys and shapes as obs
    terminated: jax.Array  # [...] bool: episode ended in a terminal state (no bootstrap)
    truncated: jax.Array  # [...] bool: episode ended by a time limit (bootstrap)
    task_id: jax.Array  # [...] int32


@struct.dataclass
class ReplayState:
    """Ring buffer state; ``data`` leaves are ``[num_envs, capacity_per_env, ...]``."""

    data: Transition
    position: jax.Array  # int32 scalar: next slot to write, shared by all envs
    size: jax.Array  # int32 scalar: number of filled slots per env, <= capacity_per_env


@struct.dataclass
class NStepBatch:
    """A sampled batch; every leaf is ``[batch_size, ...]``."""

    obs: dict[str, jax.Array]  # observation at the start step t
    action: jax.Array  # action at t
    reward: jax.Array  # n-step return sum_{i<k} gamma^i r_{t+i}
    discount: jax.Array  # gamma^k, or 0.0 if step t+k-1 was terminated
    next_obs: dict[str, jax.Array]  # stored next_obs of step t+k-1
    task_id: jax.Array  # task id at t
    steps: jax.Array  # int32 k, the number of steps summed (1 <= k <= n_step)


def init_replay(example: Transition, num_envs: int, capacity_per_env: int) -> ReplayState:
    """Returns an empty buffer shaped for transitions like ``example`` (no batch dims).

    The stored dtype of each field is the dtype of its ``example`` leaf, so passing e.g. a
    bfloat16 observation stores observations in bfloat16 (``add`` casts).
    """
    if num_envs < 1 or capacity_per_env < 1:
        raise ValueError(
            f"num_envs ({num_envs}) and capacity_per_env ({capacity_per_env}) must be positive"
        )
    data = jax.tree.map(
        lambda leaf: jnp.zeros(
            (num_envs, capacity_per_env) + jnp.shape(leaf), dtype=jnp.asarray(leaf).dtype
        ),
        example,
    )
    return ReplayState(data=data, position=jnp.zeros((), jnp.int32), size=jnp.zeros((), jnp.int32))


def _num_envs_and_capacity(state: ReplayState) -> tuple[int, int]:
    num_envs, capacity_per_env = jax.tree.leaves(state.data)[0].shape[:2]
    return num_envs, capacity_per_env


def add(state: ReplayState, batch: Transition) -> ReplayState:
    """Writes one transition per environment (``batch`` leaves ``[num_envs, ...]``)."""
    _, capacity_per_env = _num_envs_and_capacity(state)
    data = jax.tree.map(
        lambda stored, new: jax.lax.dynamic_update_index_in_dim(
            stored, new.astype(stored.dtype), state.position, axis=1
        ),
        state.data,
        batch,
    )
    return ReplayState(
        data=data,
        position=(state.position + 1) % capacity_per_env,
        size=jnp.minimum(state.size + 1, capacity_per_env),
    )


def sample(
    state: ReplayState, key: jax.Array, batch_size: int, n_step: int, gamma: float
) -> NStepBatch:
    """Samples ``batch_size`` n-step transitions, ``batch_size // num_envs`` from every env.

    Start times are uniform over the ``size`` stored transitions of each environment.  From a
    start ``t`` the window takes steps ``t, t+1, ...`` up to ``n_step`` of them, stopping right
    after the first step that is terminated or truncated (it never enters the next episode)
    and at the newest stored step (it never reads unwritten or overwritten slots).  With ``k``
    steps taken the return is ``sum_{i<k} gamma^i r_{t+i}`` and the discount is ``gamma^k``,
    or 0 if step ``t+k-1`` was terminated; truncation bootstraps from the stored final obs.

    Rows are env-major: rows ``e * per_env .. (e + 1) * per_env - 1`` come from env ``e``.
    Requires ``size >= 1`` (with an empty buffer every row reads the zero slot).
    """
    num_envs, capacity_per_env = _num_envs_and_capacity(state)
    if batch_size % num_envs != 0:
        raise ValueError(f"batch_size ({batch_size}) must be a multiple of num_envs ({num_envs})")
    if n_step < 1:
        raise ValueError(f"n_step must be at least 1, got {n_step}")
    samples_per_env = batch_size // num_envs

    # Offset of each start from the oldest stored step, in [0, size).
    start_offsets = jax.random.randint(
        key, (num_envs, samples_per_env), 0, jnp.maximum(state.size, 1), dtype=jnp.int32
    )
    oldest_slot = (state.position - state.size) % capacity_per_env
    step_indices = jnp.arange(n_step, dtype=jnp.int32)
    window_offsets = start_offsets[..., None] + step_indices  # [E, P, n]
    window_slots = (oldest_slot + window_offsets) % capacity_per_env

    window_rewards = _per_env_take(state.data.reward, window_slots).astype(jnp.float32)
    window_terminated = _per_env_take(state.data.terminated, window_slots).astype(bool)
    window_truncated = _per_env_take(state.data.truncated, window_slots).astype(bool)
    window_episode_ends = window_terminated | window_truncated

    # Step i is taken if it is stored and no earlier step in the window ended an episode.
    is_stored = window_offsets < state.size
    episode_ends_before = jnp.cumsum(window_episode_ends, axis=-1) - window_episode_ends
    is_taken = is_stored & (episode_ends_before == 0)
    num_steps_taken = jnp.maximum(jnp.sum(is_taken, axis=-1, dtype=jnp.int32), 1)  # [E, P]

    gamma = jnp.asarray(gamma, jnp.float32)
    gamma_powers = gamma ** step_indices.astype(jnp.float32)
    n_step_returns = jnp.sum(jnp.where(is_taken, window_rewards * gamma_powers, 0.0), axis=-1)
    last_step = (num_steps_taken - 1)[..., None]
    last_terminated = jnp.take_along_axis(window_terminated, last_step, axis=-1)[..., 0]
    discounts = jnp.where(last_terminated, 0.0, gamma ** num_steps_taken.astype(jnp.float32))

    start_slots = window_slots[..., 0]
    last_slots = jnp.take_along_axis(window_slots, last_step, axis=-1)[..., 0]

    def gather(leaf: jax.Array, slots: jax.Array) -> jax.Array:
        rows = _per_env_take(leaf, slots)  # [E, P, ...]
        return rows.reshape((batch_size,) + rows.shape[2:])

    def flatten(x: jax.Array) -> jax.Array:
        return x.reshape((batch_size,) + x.shape[2:])

    return NStepBatch(
        obs=jax.tree.map(lambda leaf: gather(leaf, start_slots), state.data.obs),
        action=gather(state.data.action, start_slots),
        reward=flatten(n_step_returns),
        discount=flatten(discounts),
        next_obs=jax.tree.map(lambda leaf: gather(leaf, last_slots), state.data.next_obs),
        task_id=gather(state.data.task_id, start_slots),
        steps=flatten(num_steps_taken),
    )


def _per_env_take(leaf: jax.Array, slots: jax.Array) -> jax.Array:
    """``out[e, ...] = leaf[e, slots[e, ...]]``: each env reads only its own time line.

    Written as a vmap over envs so the gather's env axis is a batching dimension: with the
    buffer split over devices by env, XLA partitions the gather along it and every device
    reads only its own envs' slots (plain fancy indexing made XLA all-gather the buffer).
    """
    return jax.vmap(lambda env_leaf, env_slots: env_leaf[env_slots])(leaf, slots)
