"""A device's throughput profile: what one env step of N envs and one gradient update of a
given size cost there, as measured by ``benchmarks/recipe_sweep.py`` (the env-only and
update-only timings of ``benchmarks/throughput.py``, one program per size).

The profile answers "how long does this size take on that device" for sizes between the
measured ones: env time is interpolated log-log in the env count, update time log-log in the
batch among the measured rows of the same critic (width, depth, bf16). A size outside the
measured range, or a critic that was not measured, is a one-line `ProfileError`, never an
extrapolation.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastbrc.errors import ConfigError


class ProfileError(ConfigError):
    """A size the profile cannot answer for, or a file that is not a profile (one line)."""


@dataclass(frozen=True, order=True)
class Critic:
    """The critic sizes an update's cost depends on (besides the batch)."""

    width: int
    depth: int
    bf16: bool

    def __str__(self) -> str:
        return f"width {self.width}, depth {self.depth}, {'bf16' if self.bf16 else 'fp32'}"


def _loglog(points: dict[int, float], x: int, what: str) -> float:
    """`points` interpolated at `x` on log-log axes (exact at a measured point)."""
    if x in points:
        return points[x]
    xs = sorted(points)
    if not xs or x < xs[0] or x > xs[-1]:
        measured = ", ".join(map(str, xs)) or "none"
        raise ProfileError(f"{what} {x} is outside the measured range ({measured})")
    hi = next(i for i, v in enumerate(xs) if v > x)
    x0, x1 = xs[hi - 1], xs[hi]
    w = (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0))
    return math.exp((1 - w) * math.log(points[x0]) + w * math.log(points[x1]))


@dataclass(frozen=True)
class ThroughputProfile:
    """Seconds per env step of all envs (`env_s[num_envs]`) and per gradient update
    (`update_s[critic][batch_size]`) of one task on one device."""

    device: str
    env: str
    env_s: dict[int, float]
    update_s: dict[Critic, dict[int, float]]

    def env_time(self, num_envs: int) -> float:
        return _loglog(self.env_s, num_envs, "--num-envs")

    def update_time(self, batch_size: int, critic: Critic) -> float:
        if critic not in self.update_s:
            known = "; ".join(str(c) for c in sorted(self.update_s)) or "none"
            raise ProfileError(f"no update of a critic with {critic} was measured ({known})")
        return _loglog(self.update_s[critic], batch_size, "--batch-size")

    @property
    def critics(self) -> list[Critic]:
        return sorted(self.update_s)

    # ------------------------------------------------------------------------------ JSON
    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = "profile") -> ThroughputProfile:
        """From a recipe sweep's JSON (its ``env_rows`` and ``update_rows``)."""
        try:
            env_s = {int(r["num_envs"]): float(r["seconds_per_step"]) for r in data["env_rows"]}
            update_s: dict[Critic, dict[int, float]] = {}
            for row in data["update_rows"]:
                critic = Critic(int(row["critic_width"]), int(row["critic_depth"]),
                                bool(row["critic_bf16"]))  # fmt: skip
                update_s.setdefault(critic, {})[int(row["batch_size"])] = float(
                    row["seconds_per_update"]
                )
            device = str(data["machine"]["device_kind"])
            env = str(data["env"])
        except (KeyError, TypeError, ValueError) as error:
            raise ProfileError(f"{source} is not a throughput profile (missing {error})") from None
        if not env_s or not update_s:
            raise ProfileError(f"{source} has no env or no update timings")
        return cls(device=device, env=env, env_s=env_s, update_s=update_s)

    @classmethod
    def load(cls, path: str | Path) -> ThroughputProfile:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ProfileError(f"cannot read {path}: {error}") from None
        return cls.from_json(data, str(path))

    def to_rows(self) -> dict[str, list[dict[str, Any]]]:
        """The profile as the sweep's row lists (for a test's synthetic profile)."""
        return {
            "env_rows": [{"num_envs": n, "seconds_per_step": s} for n, s in self.env_s.items()],
            "update_rows": [
                {
                    "critic_width": c.width,
                    "critic_depth": c.depth,
                    "critic_bf16": c.bf16,
                    "batch_size": b,
                    "seconds_per_update": s,
                }
                for c, by_batch in self.update_s.items()
                for b, s in by_batch.items()
            ],
        }


__all__ = ["Critic", "ProfileError", "ThroughputProfile"]
