"""`BatchedEnv`: many copies of one or several tasks stepped as one jit-able batch.

Each task is a contiguous group of envs stepped by its own `jax.vmap(env.step)`; the groups'
results are padded and concatenated so the batch presents one set of arrays. The batch owns
action repeat, the time limit and auto-reset, and keeps the true final observation of every
finished episode (`StepResult.next_obs`) apart from the reset one (`StepResult.obs`).
An env whose step yields a non-finite observation, reward or physics state (NaN physics) is
reset and reported as a zero-reward truncation from its last finite observation
(`StepResult.nan_reset`), so NaNs never reach the learner or the replay buffer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from .registry import EnvInfo, EnvLoadError, env_info, load_env
from .spec import EnvSpec

ConfigOverrides = Mapping[str, Any] | Sequence[Mapping[str, Any] | None] | None


@struct.dataclass
class EnvState:
    """Carry of a `BatchedEnv`: per-task stacked env states plus batch bookkeeping."""

    task_states: tuple[Any, ...]
    obs: dict[str, jax.Array]
    episode_step: jax.Array  # int32 [num_envs], agent steps taken in the current episode
    episode_return: jax.Array  # float32 [num_envs], reward summed over the current episode
    rng: jax.Array  # raw uint32 key for the randomness of auto-resets


@struct.dataclass
class StepResult:
    """One batched transition.

    `obs` is what to act on next (the reset observation where an episode ended); `next_obs`
    is the true next observation (the final one where an episode ended). `episode_return` and
    `episode_length` (agent steps) describe the episode that just ended and are zero elsewhere.
    `nan_reset` (bool [num_envs]) marks envs whose step produced a non-finite next observation,
    reward or physics state (`data`); they are reset, and their transition is reported as a
    truncation with reward 0 and `next_obs` equal to the observation the action was taken in
    (so it bootstraps from the last finite state), with `terminated` False.
    """

    obs: dict[str, jax.Array]
    next_obs: dict[str, jax.Array]
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    episode_return: jax.Array
    episode_length: jax.Array
    task_id: jax.Array
    nan_reset: jax.Array


@dataclasses.dataclass(frozen=True)
class _Task:
    """One task group: its env, episode settings and where it sits in the batch."""

    env: Any
    info: EnvInfo
    start: int
    count: int
    obs_is_dict: bool
    has_privileged: bool
    obs_size: int
    privileged_obs_size: int  # the critic's obs size; equals obs_size without privileged obs
    action_size: int

    @property
    def stop(self) -> int:
        return self.start + self.count


class BatchedEnv:
    """`num_envs` envs of `task_names`, with padded dict observations and own auto-reset.

    `envs_per_task` defaults to an even split. `episode_length` (raw env control steps, as
    in Playground's config) and `action_repeat` override every task's config when given;
    `spec.episode_lengths` reports the limits in agent steps. `config_overrides` is one
    flattened mapping applied to every task, or a sequence with one per task.
    `min_obs_size` / `min_action_size` pad observations and actions to at least that size
    (a run that starts from another run's networks needs that run's input sizes).
    `reset` and `step` are pure and jit-able; actions are expected in [-1, 1].
    """

    def __init__(
        self,
        task_names: Sequence[str],
        num_envs: int,
        *,
        impl: str = "jax",
        envs_per_task: Sequence[int] | None = None,
        episode_length: int | None = None,
        action_repeat: int | None = None,
        config_overrides: ConfigOverrides = None,
        min_obs_size: int = 0,
        min_action_size: int = 0,
    ) -> None:
        task_names = _as_names(task_names)
        counts = _split_envs(task_names, num_envs, envs_per_task)
        overrides = _per_task_overrides(task_names, config_overrides)
        loaded = []
        for name, task_overrides in zip(task_names, overrides, strict=True):
            env = load_env(name, impl=impl, config_overrides=task_overrides)
            info = env_info(
                name,
                config_overrides=task_overrides,
                episode_length=episode_length,
                action_repeat=action_repeat,
            )
            loaded.append((env, info))
        self._build(task_names, num_envs, counts, tuple(loaded), min_obs_size, min_action_size)

    def resized(
        self,
        num_envs: int,
        envs_per_task: Sequence[int] | None = None,
        episode_length: int | None = None,
    ) -> BatchedEnv:
        """A batch of `num_envs` envs of the same tasks and settings sharing these env objects.

        Sharing them means each task's physics is traced once for both batches (the training
        and the evaluation batch of a run). `envs_per_task` defaults to an even split;
        `episode_length` (raw control steps) gives every task that time limit instead of its
        own (a run's shorter training episodes).
        """
        counts = _split_envs(self.spec.task_names, num_envs, envs_per_task)
        loaded = tuple(
            (
                task.env,
                task.info
                if episode_length is None
                else dataclasses.replace(task.info, episode_length=episode_length),
            )
            for task in self._tasks
        )
        other = object.__new__(BatchedEnv)
        other._build(
            self.spec.task_names, num_envs, counts, loaded, self._min_obs, self._min_action
        )
        return other

    def _build(
        self,
        task_names: tuple[str, ...],
        num_envs: int,
        counts: tuple[int, ...],
        loaded: tuple[tuple[Any, EnvInfo], ...],
        min_obs_size: int,
        min_action_size: int,
    ) -> None:
        tasks = []
        start = 0
        for name, count, (env, info) in zip(task_names, counts, loaded, strict=True):
            tasks.append(_make_task(name, env, info, start, count))
            start += count
        self._tasks = tuple(tasks)
        self._min_obs, self._min_action = min_obs_size, min_action_size
        self.spec = _build_spec(
            task_names, num_envs, counts, self._tasks, min_obs_size, min_action_size
        )
        self.num_tasks = self.spec.num_tasks
        self.num_envs = num_envs
        self.task_ids = jnp.asarray(self.spec.task_ids)
        self._episode_limits = jnp.asarray(
            np.repeat(np.asarray(self.spec.episode_lengths, np.int32), counts)
        )

    @property
    def envs(self) -> tuple[Any, ...]:
        """The raw single env of each task."""
        return tuple(task.env for task in self._tasks)

    def reset(self, key: jax.Array) -> EnvState:
        """Reset every env from `key` (a raw `jax.random.PRNGKey` or a typed key)."""
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            key = jax.random.key_data(key)
        key, *task_keys = jax.random.split(key, self.num_tasks + 1)
        task_states = tuple(
            self._reset_task(task, task_key)
            for task, task_key in zip(self._tasks, task_keys, strict=True)
        )
        return EnvState(
            task_states=task_states,
            obs=self._batch_obs(task_states),
            episode_step=jnp.zeros(self.num_envs, jnp.int32),
            episode_return=jnp.zeros(self.num_envs, jnp.float32),
            rng=key,
        )

    def step(
        self,
        state: EnvState,
        action: jax.Array,
        *,
        auto_reset: bool = True,
        sync_axis: str | None = None,
    ) -> tuple[EnvState, StepResult]:
        """Step every env with `action` [num_envs, spec.action_size]; auto-reset finished ones.

        `auto_reset=False` leaves finished envs where they are: they step on from their final
        state and `obs` is `next_obs`, for callers that run one episode per env and mask what
        follows (evaluation), so their programs hold no reset physics.
        `sync_axis`: the name of an axis this step is vmapped over (a run's seed axis): whether
        any env finished is agreed over it, so auto-reset stays a branch that runs no reset
        physics when no env of any member finished (a batched flag would run it every step).
        """
        action = jnp.asarray(action, jnp.float32)
        expected = (self.num_envs, self.spec.action_size)
        if action.shape != expected:
            raise ValueError(f"action has shape {action.shape}, expected {expected}")
        rng, reset_key = jax.random.split(state.rng)
        reset_keys = jax.random.split(reset_key, self.num_tasks)

        stepped, rewards, terminations = [], [], []
        for task, task_state in zip(self._tasks, state.task_states, strict=True):
            task_action = action[task.start : task.stop, : task.action_size]
            new_state, reward, terminated = jax.vmap(
                lambda env_state, env_action, task=task: _step_traced_once(
                    task.env, env_state, env_action, task.info.action_repeat
                )
            )(task_state, task_action)
            stepped.append(new_state)
            rewards.append(reward)
            terminations.append(terminated)

        reward = jnp.concatenate(rewards).astype(jnp.float32)
        next_obs = self._batch_obs(tuple(stepped))
        nan_reset = self._non_finite(stepped, next_obs, reward)
        # NaN physics: report a zero-reward truncation from the last finite observation.
        reward = jnp.where(nan_reset, 0.0, reward)
        next_obs = {
            key: _where_envs(nan_reset, state.obs[key], value) for key, value in next_obs.items()
        }
        terminated = jnp.concatenate(terminations) & ~nan_reset
        episode_step = state.episode_step + 1
        truncated = nan_reset | ((episode_step >= self._episode_limits) & ~terminated)
        done = terminated | truncated
        episode_return = state.episode_return + reward

        if auto_reset:
            task_states = tuple(
                self._auto_reset(
                    task, task_state, done[task.start : task.stop], task_key, sync_axis
                )
                for task, task_state, task_key in zip(self._tasks, stepped, reset_keys, strict=True)
            )
        else:
            task_states = tuple(stepped)
        result = StepResult(
            obs=self._batch_obs(task_states),
            next_obs=next_obs,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            episode_return=jnp.where(done, episode_return, 0.0),
            episode_length=jnp.where(done, episode_step, 0),
            task_id=self.task_ids,
            nan_reset=nan_reset,
        )
        new_state = EnvState(
            task_states=task_states,
            obs=result.obs,
            episode_step=jnp.where(done, 0, episode_step),
            episode_return=jnp.where(done, 0.0, episode_return),
            rng=rng,
        )
        return new_state, result

    def _non_finite(
        self, stepped: tuple[Any, ...], next_obs: dict[str, jax.Array], reward: jax.Array
    ) -> jax.Array:
        """Per env: any non-finite value in its next observation, reward or physics `data`."""
        bad = ~jnp.isfinite(reward)
        for value in next_obs.values():
            bad = bad | _any_non_finite(value)
        physics = [
            _any_non_finite_leaf(getattr(task_state, "data", None), task.count)
            for task, task_state in zip(self._tasks, stepped, strict=True)
        ]
        return bad | jnp.concatenate(physics)

    def _reset_task(self, task: _Task, key: jax.Array) -> Any:
        keys = jax.random.split(key, task.count)
        return jax.vmap(lambda key: _reset_traced_once(task.env, key))(keys)

    def _auto_reset(
        self, task: _Task, stepped: Any, done: jax.Array, key: jax.Array, sync_axis: str | None
    ) -> Any:
        """Replace the states of finished envs by fresh resets; no reset work if none finished
        (in any member along `sync_axis`)."""

        def reset_finished(current: Any) -> Any:
            fresh = self._reset_task(task, key)
            return jax.tree.map(lambda new, old: _where_envs(done, new, old), fresh, current)

        any_done = jnp.any(done)
        if sync_axis is not None:
            any_done = jax.lax.pmax(any_done.astype(jnp.int32), sync_axis) > 0
        return jax.lax.cond(any_done, reset_finished, lambda current: current, stepped)

    def _batch_obs(self, task_states: tuple[Any, ...]) -> dict[str, jax.Array]:
        """Padded, concatenated {"state"[, "privileged_state"]} observations of all tasks."""
        privileged_size = self.spec.privileged_obs_size
        actor, critic = [], []
        for task, task_state in zip(self._tasks, task_states, strict=True):
            obs = task_state.obs
            actor_obs = obs["state"] if task.obs_is_dict else obs
            actor.append(_pad_features(actor_obs, self.spec.obs_size))
            if privileged_size is not None:
                critic_obs = obs["privileged_state"] if task.has_privileged else actor_obs
                critic.append(_pad_features(critic_obs, privileged_size))
        batch = {"state": jnp.concatenate(actor)}
        if privileged_size is not None:
            batch["privileged_state"] = jnp.concatenate(critic)
        return batch


def reset_one(env: Any, key: jax.Array) -> Any:
    """Reset one (unbatched) env: the state, with strong dtypes, that `step_one` takes."""
    return _strong_types(env.reset(key))


def step_one(
    env: Any, state: Any, action: jax.Array, action_repeat: int
) -> tuple[Any, jax.Array, jax.Array]:
    """One agent step of one (unbatched) env exactly as `BatchedEnv` steps each of its envs:
    `action_repeat` env steps, rewards summed, the state frozen at termination and cast to
    the dtypes of `state`. Returns (state, reward, terminated)."""
    new_state, reward, terminated = _repeat_step(env, state, action, action_repeat)
    return _cast_like(new_state, state), reward, terminated


# `reset_one` / `step_one` jitted with the env (and the repeat) static. Tracing an MJX reset or
# step is seconds of Python, and a run resets and steps each env in several programs (init,
# the chunk's auto-reset and step, evaluation): through these, JAX traces each env's physics
# once per input type and reuses the jaxpr in every later trace. XLA inlines the call, so
# the compiled programs are unchanged.
_reset_traced_once = jax.jit(reset_one, static_argnums=0)
_step_traced_once = jax.jit(step_one, static_argnums=(0, 3))


def _repeat_step(
    env: Any, state: Any, action: jax.Array, action_repeat: int
) -> tuple[Any, jax.Array, jax.Array]:
    """Step one env `action_repeat` times; sum rewards and freeze the state at termination."""
    if action_repeat == 1:
        stepped = env.step(_fresh_containers(state), action)
        return stepped, stepped.reward, stepped.done > 0

    def inner_step(carry: tuple[Any, jax.Array, jax.Array], _: None) -> tuple[Any, None]:
        current, total, finished = carry
        stepped = _cast_like(env.step(_fresh_containers(current), action), current)
        kept = jax.tree.map(
            lambda old, new: jnp.where(finished, old, new).astype(old.dtype), current, stepped
        )
        total = total + jnp.where(finished, 0.0, stepped.reward)
        return (kept, total, finished | (stepped.done > 0)), None

    init = (state, jnp.zeros((), jnp.float32), jnp.zeros((), bool))
    (state, total, terminated), _ = jax.lax.scan(inner_step, init, None, length=action_repeat)
    return state, total, terminated


def _any_non_finite(batch: jax.Array) -> jax.Array:
    """Per row of `batch` [n, ...]: whether any entry is NaN or infinite."""
    return jnp.any(~jnp.isfinite(batch), axis=tuple(range(1, batch.ndim)))


def _any_non_finite_leaf(tree: Any, count: int) -> jax.Array:
    """Per env of a stacked pytree: any non-finite value in a floating-point leaf (bool [count]).

    Leaves without the env axis (MuJoCo Warp's data carries some, e.g. empty or shared
    buffers) belong to no env and are skipped."""
    bad = jnp.zeros(count, bool)
    for leaf in jax.tree.leaves(tree):
        if (
            hasattr(leaf, "dtype")
            and jnp.issubdtype(leaf.dtype, jnp.inexact)
            and leaf.ndim >= 1
            and leaf.shape[0] == count
        ):
            bad = bad | _any_non_finite(jnp.asarray(leaf))
    return bad


def _fresh_containers(tree: Any) -> Any:
    """Rebuild every container, so envs that mutate `state.info` in place cannot alias ours."""
    return jax.tree.map(lambda leaf: leaf, tree)


def _strong_types(tree: Any) -> Any:
    """Drop weak types so reset and step states have identical avals (scan/cond carries)."""

    def strong(leaf: Any) -> jax.Array:
        leaf = jnp.asarray(leaf)  # Python scalars in a state become arrays too
        return jax.lax.convert_element_type(leaf, leaf.dtype)

    return jax.tree.map(strong, tree)


def _cast_like(tree: Any, reference: Any) -> Any:
    return jax.tree.map(
        lambda leaf, ref: jax.lax.convert_element_type(leaf, ref.dtype), tree, reference
    )


def _where_envs(done: jax.Array, new: jax.Array, old: jax.Array) -> jax.Array:
    """Per env, `new` where `done` else `old`; a leaf without the env axis (MuJoCo Warp's data
    carries some) is no env's and stays as it is."""
    if old.ndim == 0 or old.shape[0] != done.shape[0]:
        return old
    mask = jnp.reshape(done, done.shape + (1,) * (old.ndim - 1))
    return jnp.where(mask, new, old).astype(old.dtype)


def _pad_features(obs: jax.Array, width: int) -> jax.Array:
    obs = obs.astype(jnp.float32)
    return jnp.pad(obs, ((0, 0), (0, width - obs.shape[-1])))


def _as_names(task_names: Sequence[str]) -> tuple[str, ...]:
    if isinstance(task_names, str):
        return (task_names,)
    names = tuple(task_names)
    if not names:
        raise EnvLoadError("task_names is empty; give at least one environment name")
    return names


def _split_envs(
    task_names: tuple[str, ...], num_envs: int, envs_per_task: Sequence[int] | None
) -> tuple[int, ...]:
    num_tasks = len(task_names)
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
        raise EnvLoadError(f"num_envs must be a positive int, got {num_envs!r}")
    if envs_per_task is None:
        if num_envs % num_tasks:
            raise EnvLoadError(
                f"num_envs={num_envs} is not divisible by the {num_tasks} tasks; "
                "pass envs_per_task to split unevenly"
            )
        return (num_envs // num_tasks,) * num_tasks
    counts = tuple(envs_per_task)
    if len(counts) != num_tasks:
        raise EnvLoadError(
            f"envs_per_task has {len(counts)} entries but there are {num_tasks} tasks"
        )
    if any(isinstance(count, bool) or not isinstance(count, int) or count < 1 for count in counts):
        raise EnvLoadError(f"envs_per_task entries must be positive ints, got {list(counts)}")
    if sum(counts) != num_envs:
        raise EnvLoadError(f"envs_per_task {list(counts)} sums to {sum(counts)}, not {num_envs}")
    return counts


def _per_task_overrides(
    task_names: tuple[str, ...], config_overrides: ConfigOverrides
) -> tuple[Mapping[str, Any] | None, ...]:
    if config_overrides is None or isinstance(config_overrides, Mapping):
        return (config_overrides,) * len(task_names)
    overrides = tuple(config_overrides)
    if len(overrides) != len(task_names):
        raise EnvLoadError(
            f"config_overrides has {len(overrides)} entries but there are "
            f"{len(task_names)} tasks; give one mapping for all tasks or one per task"
        )
    return overrides


def _make_task(name: str, env: Any, info: EnvInfo, start: int, count: int) -> _Task:
    obs = jax.eval_shape(lambda key: _reset_traced_once(env, key), jax.random.PRNGKey(0)).obs
    obs_is_dict = isinstance(obs, Mapping)
    if obs_is_dict and "state" not in obs:
        raise EnvLoadError(
            f"task '{name}' has dict observations without a 'state' key "
            f"(keys: {', '.join(sorted(obs))}); only vector observations are supported"
        )
    shapes = {"state": (obs["state"] if obs_is_dict else obs).shape}
    if obs_is_dict and "privileged_state" in obs:
        shapes["privileged_state"] = obs["privileged_state"].shape
    for key, shape in shapes.items():
        if len(shape) != 1:
            raise EnvLoadError(
                f"task '{name}' observation '{key}' has shape {shape}; "
                "only flat vector observations are supported"
            )
    actor_size = shapes["state"][0]
    return _Task(
        env=env,
        info=info,
        start=start,
        count=count,
        obs_is_dict=obs_is_dict,
        has_privileged="privileged_state" in shapes,
        obs_size=actor_size,
        privileged_obs_size=shapes.get("privileged_state", (actor_size,))[0],
        action_size=int(env.action_size),
    )


def _build_spec(
    task_names: tuple[str, ...],
    num_envs: int,
    counts: tuple[int, ...],
    tasks: tuple[_Task, ...],
    min_obs_size: int = 0,
    min_action_size: int = 0,
) -> EnvSpec:
    obs_sizes = tuple(task.obs_size for task in tasks)
    critic_sizes = tuple(task.privileged_obs_size for task in tasks)
    any_privileged = any(task.has_privileged for task in tasks)
    action_sizes = tuple(task.action_size for task in tasks)
    return EnvSpec(
        task_names=task_names,
        num_envs=num_envs,
        envs_per_task=counts,
        obs_size=max(*obs_sizes, min_obs_size),
        privileged_obs_size=max(critic_sizes) if any_privileged else None,
        action_size=max(*action_sizes, min_action_size),
        task_obs_sizes=obs_sizes,
        task_privileged_obs_sizes=critic_sizes if any_privileged else None,
        task_action_sizes=action_sizes,
        episode_lengths=tuple(task.info.agent_episode_length for task in tasks),
        action_repeats=tuple(task.info.action_repeat for task in tasks),
    )
