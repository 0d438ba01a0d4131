"""Name-based loading of single (unbatched) environments: Playground tasks and probe envs.

`load_env` returns the raw env object; `env_info` reports the episode settings a batched
env needs (time limit and action repeat, Playground config semantics). Playground is imported
lazily so that probe-only use stays cheap. User-caused problems raise `EnvLoadError`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import io
import math
import subprocess
from collections.abc import Mapping
from typing import Any

from .probes import PROBE_ENVS

VALID_IMPLS = ("jax", "warp")
MENAGERIE_REPO_URL = "https://github.com/google-deepmind/mujoco_menagerie"


class EnvLoadError(ValueError):
    """An environment could not be loaded because of a user-fixable problem."""


@dataclasses.dataclass(frozen=True)
class EnvInfo:
    """Episode settings of one task.

    `episode_length` is the time limit in raw env control steps, as in Playground's config
    (Brax's EpisodeWrapper adds `action_repeat` per agent step); `agent_episode_length` is the
    same limit in agent steps.
    """

    name: str
    episode_length: int
    action_repeat: int

    @property
    def agent_episode_length(self) -> int:
        return math.ceil(self.episode_length / self.action_repeat)


def list_envs() -> tuple[str, ...]:
    """All loadable environment names: every Playground task, then the probe envs."""
    from mujoco_playground import registry

    return tuple(registry.ALL_ENVS) + tuple(PROBE_ENVS)


def load_env(
    name: str, *, impl: str = "jax", config_overrides: Mapping[str, Any] | None = None
) -> Any:
    """Load the single (unbatched) env `name`: a Playground MjxEnv or a probe env.

    `impl` selects the MJX backend ("jax" or "warp"; ignored by probe envs).
    `config_overrides` is a flattened mapping (e.g. {"episode_length": 500}) applied to the
    task's default config.
    """
    _check_impl(impl)
    if name in PROBE_ENVS:
        return _make_probe(name, config_overrides)
    config = _playground_config(name, impl, config_overrides)
    _ensure_menagerie(name)
    from mujoco_playground import registry

    return registry.load(name, config=config)


def env_info(
    name: str,
    *,
    config_overrides: Mapping[str, Any] | None = None,
    episode_length: int | None = None,
    action_repeat: int | None = None,
) -> EnvInfo:
    """Episode settings of `name`: from its config (with overrides) unless given explicitly.

    `episode_length` is in raw env control steps, like Playground's config.
    """
    if name in PROBE_ENVS:
        probe = _make_probe(name, config_overrides)
        default_length, default_repeat = probe.episode_length, probe.action_repeat
    else:
        config = _playground_config(name, None, config_overrides)
        default_length, default_repeat = config.episode_length, config.action_repeat
    length = default_length if episode_length is None else episode_length
    repeat = default_repeat if action_repeat is None else action_repeat
    for label, value in (("episode_length", length), ("action_repeat", repeat)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise EnvLoadError(f"{label} must be a positive int for '{name}', got {value!r}")
    return EnvInfo(name=name, episode_length=length, action_repeat=repeat)


def _check_impl(impl: str) -> None:
    if impl not in VALID_IMPLS:
        raise EnvLoadError(f"unknown impl {impl!r}; expected one of: {', '.join(VALID_IMPLS)}")


def _unknown_env_error(name: str) -> EnvLoadError:
    names = list_envs()
    by_lower = {candidate.lower(): candidate for candidate in names}
    matches = difflib.get_close_matches(name.lower(), list(by_lower), n=5, cutoff=0.6)
    hint = "(fastbrc.envs.list_envs() lists all)"
    if not matches:
        return EnvLoadError(f"unknown environment {name!r} {hint}")
    suggestions = ", ".join(by_lower[match] for match in matches)
    return EnvLoadError(f"unknown environment {name!r}; did you mean: {suggestions}? {hint}")


def _make_probe(name: str, config_overrides: Mapping[str, Any] | None) -> Any:
    probe_class = PROBE_ENVS[name]
    overrides = dict(config_overrides or {})
    unknown = sorted(set(overrides) - set(probe_class.CONFIG_KEYS))
    if unknown:
        raise EnvLoadError(
            f"invalid config override for '{name}': unknown key(s) {', '.join(unknown)}; "
            f"valid keys: {', '.join(probe_class.CONFIG_KEYS)}"
        )
    try:
        return probe_class(**overrides)
    except (TypeError, ValueError) as error:
        raise EnvLoadError(f"invalid config override for '{name}': {error}") from error


def _playground_config(
    name: str, impl: str | None, config_overrides: Mapping[str, Any] | None
) -> Any:
    """Default config of a Playground task with `impl` and the overrides applied, locked."""
    from mujoco_playground import registry

    if name not in registry.ALL_ENVS:
        raise _unknown_env_error(name)
    config = registry.get_default_config(name)
    config.lock()
    overrides = dict(config_overrides or {})
    if impl is not None and "impl" in config:
        overrides.setdefault("impl", impl)
    try:
        config.update_from_flattened_dict(overrides)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        detail = str(error).splitlines()[0].split(" Other fields present")[0].strip("'\"")
        raise EnvLoadError(f"invalid config override for '{name}': {detail}") from error
    return config


def _ensure_menagerie(name: str) -> None:
    """Fetch MuJoCo Menagerie for locomotion/manipulation tasks, failing with a clear message."""
    from mujoco_playground import locomotion, manipulation
    from mujoco_playground._src import mjx_env

    if name not in locomotion.ALL_ENVS and name not in manipulation.ALL_ENVS:
        return
    path = mjx_env.MENAGERIE_PATH
    if not path.exists():
        # Playground prints a progress bar and a bare CalledProcessError when offline; our
        # error below replaces that noise.
        captured = io.StringIO()
        try:
            with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
                mjx_env.ensure_menagerie_exists()
        except (subprocess.CalledProcessError, OSError) as error:
            raise _menagerie_error(path, mjx_env.MENAGERIE_COMMIT_SHA) from error
    if not path.exists() or not any(path.iterdir()):
        raise _menagerie_error(path, mjx_env.MENAGERIE_COMMIT_SHA)


def _menagerie_error(path: Any, commit_sha: str) -> EnvLoadError:
    partial = " (remove the partial copy there first)" if path.exists() else ""
    return EnvLoadError(
        f"MuJoCo Menagerie meshes are missing at {path}: Playground fetches them with git on "
        f"first use, which needs network access; fix: git clone {MENAGERIE_REPO_URL} {path} "
        f"&& git -C {path} checkout {commit_sha}{partial} (or use the Docker image)"
    )
