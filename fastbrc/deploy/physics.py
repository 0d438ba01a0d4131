"""Plain MuJoCo physics under a Playground task: the C library's `mj_step` in place of MJX.

A Playground task's `reset` and `step` are JAX code around two physics calls:
``mjx.forward(model, data)`` after drawing an initial state, and
``mjx_env.step(model, data, ctrl, n_substeps)`` (``n_substeps`` times ``mjx.step`` with
``data.ctrl = ctrl``). `MujocoPhysics.patched` replaces exactly those two calls, while a
task's functions are traced, by an `io_callback` into the C library on the host: one
`mujoco.MjData` in float64 on the task's own `MjModel` (``env.mj_model``: the XML's solver,
integrator, contact and timestep options, the same ``n_substeps``) is stepped with
``mujoco.mj_step`` and handed back as the `mjx.Data` the task expects (``mjx.put_data``).
Everything else, observations, rewards, terminations, the commands and pushes of the
locomotion tasks, is the task's own code, run on data the C library computed. A call to
``mjx.step`` outside ``mjx_env.step`` is refused while tracing, so no MJX physics slips in.

The host `MjData` is the physics state. The task sees it in float32 (MJX's precision); a
field the task changes between steps (a push on ``qvel``, a reset of ``time``) is written
back element by element, every other element keeps its float64 value. A step that MuJoCo
finds unstable (its ``mjWARN_BADQACC``: it resets the data and warns) sets `unstable`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np

from fastbrc.deploy.errors import DeployError

# The state fields a task may set on `data` (from a reset's draw, or between steps).
STATE_FIELDS = (
    "qpos",
    "qvel",
    "act",
    "ctrl",
    "time",
    "mocap_pos",
    "mocap_quat",
    "qfrc_applied",
    "xfrc_applied",
)


class MujocoPhysics:
    """One `MjData` of `env.mj_model`, stepped by the C library for the task's traced code."""

    def __init__(self, env: Any):
        import mujoco

        if not hasattr(env, "mj_model"):
            raise DeployError(f"{type(env).__name__} has no MuJoCo model to simulate")
        self.env = env
        self.model = env.mj_model
        self.data = mujoco.MjData(self.model)
        self.unstable = False
        self.calls = {"forward": 0, "step": 0}  # traced calls, to check the task used ours
        self._last: dict[str, np.ndarray] = {}  # what the task last saw of each state field

    # ------------------------------------------------------------------ traced side
    @contextlib.contextmanager
    def patched(self) -> Iterator[None]:
        """While tracing in this block, the task's physics calls run `mj_step` / `mj_forward`."""
        from mujoco import mjx
        from mujoco_playground._src import mjx_env

        saved = (mjx_env.step, mjx.forward, mjx.step)
        mjx_env.step, mjx.forward, mjx.step = self._step, self._forward, _refuse_mjx_step
        try:
            yield
        finally:
            mjx_env.step, mjx.forward, mjx.step = saved

    def _forward(self, model: Any, data: Any) -> Any:
        self.calls["forward"] += 1
        state = {name: getattr(data, name) for name in STATE_FIELDS}
        return self._call(self._host_forward, data, state)

    def _step(self, model: Any, data: Any, action: jax.Array, n_substeps: int = 1) -> Any:
        self.calls["step"] += 1
        state = {name: getattr(data, name) for name in STATE_FIELDS}
        state["ctrl"] = action
        return self._call(lambda fields: self._host_step(fields, int(n_substeps)), data, state)

    def _call(self, host: Callable[[dict], list], data: Any, state: dict) -> Any:
        from jax.experimental import io_callback

        leaves, treedef = jax.tree.flatten(data)
        shapes = [jax.ShapeDtypeStruct(leaf.shape, leaf.dtype) for leaf in leaves]

        def run(fields: dict) -> list[np.ndarray]:
            out = host(fields)
            if len(out) != len(shapes):
                raise DeployError("mjx.put_data gave another Data layout than the task's")
            pairs = zip(out, shapes, strict=True)
            return [np.array(x, s.dtype, copy=True).reshape(s.shape) for x, s in pairs]

        out = io_callback(run, shapes, state, ordered=True)
        return jax.tree.unflatten(treedef, out)

    # ------------------------------------------------------------------ host side
    def _host_forward(self, state: dict) -> list[np.ndarray]:
        """A new initial state: every state field from the task, then `mj_forward`."""
        import mujoco

        mujoco.mj_resetData(self.model, self.data)
        for name, value in state.items():
            _assign(self.data, name, np.asarray(value))
        self.unstable = False
        mujoco.mj_forward(self.model, self.data)
        return self._as_mjx()

    def _host_step(self, state: dict, n_substeps: int) -> list[np.ndarray]:
        """`n_substeps` of `mj_step` with the task's ctrl, after taking over its changes."""
        import mujoco

        data = self.data
        for name, value in state.items():
            value = np.asarray(value)
            if name == "ctrl":
                _assign(data, name, value)
                continue
            last = self._last.get(name)
            changed = np.ones(value.shape, bool) if last is None else ~_same(value, last)
            if changed.any():
                _assign(data, name, value, changed)
        bad_qacc = mujoco.mjtWarning.mjWARN_BADQACC
        before = int(data.warning[bad_qacc].number)
        for _ in range(n_substeps):
            mujoco.mj_step(self.model, data)
        if int(data.warning[bad_qacc].number) > before:
            self.unstable = True
        return self._as_mjx()

    def _as_mjx(self) -> list[np.ndarray]:
        """The host data as the leaves of the `mjx.Data` the task computes with (float32)."""
        from mujoco import mjx

        converted = mjx.put_data(self.model, self.data, impl="jax")
        self._last = {
            name: np.asarray(getattr(converted, name)).astype(np.float32, copy=True)
            for name in STATE_FIELDS
        }
        return [np.asarray(leaf) for leaf in jax.tree.leaves(converted)]


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise equality that counts NaN == NaN (a task that leaves NaN alone)."""
    a = a.astype(np.float32)
    return (a == b) | (np.isnan(a) & np.isnan(b))


def _assign(data: Any, name: str, value: np.ndarray, where: np.ndarray | None = None) -> None:
    if name == "time":
        data.time = float(value)
        return
    target = getattr(data, name)
    value = value.reshape(target.shape)
    if where is None:
        target[...] = value
    else:
        target[where.reshape(target.shape)] = value[where.reshape(target.shape)]


def _refuse_mjx_step(*_: Any, **__: Any) -> Any:
    raise DeployError(
        "the task calls mjx.step outside mujoco_playground's mjx_env.step; "
        "sim2sim cannot run its physics in plain MuJoCo"
    )


def action_to_ctrl(env: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """``(offset, scale)`` with ``ctrl = offset + scale * action``, as the task's own `step`
    maps an action to the controls it hands to ``mjx_env.step`` (read off that call, with the
    physics stubbed out); None where the map is not affine or not the same from two states."""
    from mujoco import mjx
    from mujoco_playground._src import mjx_env

    captured: list[jax.Array] = []

    def ctrl_of(key: jax.Array, action: jax.Array) -> jax.Array:
        captured.clear()
        env.step(env.reset(key), action)
        if not captured:
            raise DeployError(f"{type(env).__name__} does not step through mjx_env.step")
        return captured[-1]

    def capture(model: Any, data: Any, ctrl: jax.Array, n_substeps: int = 1) -> Any:
        captured.append(ctrl)
        return data

    saved = (mjx_env.step, mjx.forward)
    mjx_env.step, mjx.forward = capture, lambda model, data: data
    try:
        ctrl = jax.jit(ctrl_of)
        size = int(env.action_size)
        keys = jax.random.split(jax.random.PRNGKey(0), 2)
        offset = np.asarray(ctrl(keys[0], np.zeros(size, np.float32)), np.float64)
        scale = np.asarray(ctrl(keys[0], np.ones(size, np.float32)), np.float64) - offset
        action = np.random.default_rng(0).uniform(-1, 1, size).astype(np.float32)
        other = np.asarray(ctrl(keys[1], action), np.float64)
    finally:
        mjx_env.step, mjx.forward = saved
    if offset.shape != (size,) or not np.allclose(other, offset + scale * action, atol=1e-5):
        return None
    return offset, scale
