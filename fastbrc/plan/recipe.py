"""The wall-clock model of a recipe, and choosing one on a measured device.

One iteration steps all N envs once, then makes U = ``updates_per_iteration`` gradient
updates of ``batch_size`` transitions::

    t_iteration = t_env(N) + U * t_update(batch, critic)
    env steps/s = N / t_iteration            updates/s = U / t_iteration

and the updates-to-data ratio is sigma = U / N. A run that must see D env steps and make G
gradient updates (a *requirement*) runs ``max(D / N, G / U)`` iterations, so

    seconds(recipe, D, G) = max(D / N, G / U) * t_iteration.

`rank` orders candidate recipes by that time on a `ThroughputProfile`; a requirement is a
guess about the task until a learning run measures it (see docs/recipe.md), so `choose`
reports the ranking under every requirement it is given and picks the recipe that is best on
the first.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from fastbrc.plan.profile import Critic, ProfileError, ThroughputProfile


@dataclass(frozen=True)
class Recipe:
    """The sizes that set a run's wall-clock: envs, batch, updates per iteration, critic."""

    num_envs: int
    batch_size: int
    updates_per_iteration: int
    critic: Critic

    @property
    def sigma(self) -> float:
        """Updates per env step (UTD)."""
        return self.updates_per_iteration / self.num_envs

    def iteration_s(self, profile: ThroughputProfile) -> float:
        update = profile.update_time(self.batch_size, self.critic)
        return profile.env_time(self.num_envs) + self.updates_per_iteration * update

    def seconds(self, profile: ThroughputProfile, requirement: Requirement) -> float:
        """Wall-clock (after compile) to see `requirement.env_steps` env steps and make
        `requirement.updates` updates."""
        iterations = max(
            math.ceil(requirement.env_steps / self.num_envs),
            math.ceil(requirement.updates / self.updates_per_iteration),
        )
        return iterations * self.iteration_s(profile)

    def overrides(self) -> dict[str, Any]:
        """The recipe as Config fields."""
        return {
            "num_envs": self.num_envs,
            "batch_size": self.batch_size,
            "updates_per_iteration": self.updates_per_iteration,
            "critic_width": self.critic.width,
            "critic_depth": self.critic.depth,
            "critic_bf16": self.critic.bf16,
        }

    def flags(self) -> list[str]:
        """The recipe as `fastbrc train` flags."""
        out = []
        for name, value in self.overrides().items():
            flag = "--" + name.replace("_", "-")
            if isinstance(value, bool):
                out.append(flag if value else "--no-" + flag[2:])
            else:
                out += [flag, str(value)]
        return out

    def describe(self) -> str:
        return (
            f"{self.num_envs} envs, {self.updates_per_iteration} updates of "
            f"{self.batch_size} per iteration (sigma {self.sigma:.4g}), critic {self.critic}"
        )


@dataclass(frozen=True)
class Requirement:
    """What a run needs before it reaches its target: env steps seen and gradient updates
    made (e.g. a humanoid's take-off); `name` says where the numbers come from."""

    name: str
    env_steps: float
    updates: float


def candidates(
    profile: ThroughputProfile,
    num_envs: Iterable[int],
    batch_sizes: Iterable[int],
    updates_per_iteration: Iterable[int],
    critics: Iterable[Critic] | None = None,
) -> list[Recipe]:
    """Every combination the profile can time (batch divisible by the env count)."""
    out = []
    combos = itertools.product(
        num_envs, batch_sizes, updates_per_iteration, critics or profile.critics
    )
    for n, batch, upi, critic in combos:
        if batch % n:
            continue
        recipe = Recipe(n, batch, upi, critic)
        try:
            recipe.iteration_s(profile)
        except ProfileError:
            continue
        out.append(recipe)
    return out


def rank(
    recipes: Sequence[Recipe], profile: ThroughputProfile, requirement: Requirement
) -> list[tuple[Recipe, float]]:
    """(recipe, predicted seconds) from fastest to slowest."""
    timed = [(r, r.seconds(profile, requirement)) for r in recipes]
    return sorted(timed, key=lambda pair: pair[1])


def choose(
    recipes: Sequence[Recipe], profile: ThroughputProfile, requirements: Sequence[Requirement]
) -> dict[str, Any]:
    """The recipe fastest to the first requirement, and every recipe's predicted time and
    rank under each requirement (how much the choice depends on the guess)."""
    if not recipes:
        raise ProfileError("no candidate recipe can be timed on this profile")
    if not requirements:
        raise ProfileError("no requirement to rank the recipes by")
    rows = []
    ranks = {q.name: {r: i + 1 for i, (r, _) in enumerate(rank(recipes, profile, q))}
             for q in requirements}  # fmt: skip
    for recipe in recipes:
        iteration = recipe.iteration_s(profile)
        rows.append(
            {
                **recipe.overrides(),
                "sigma": recipe.sigma,
                "iteration_s": iteration,
                "env_steps_per_s": recipe.num_envs / iteration,
                "updates_per_s": recipe.updates_per_iteration / iteration,
                "seconds": {q.name: recipe.seconds(profile, q) for q in requirements},
                "rank": {q.name: ranks[q.name][recipe] for q in requirements},
            }
        )
    best, seconds = rank(recipes, profile, requirements[0])[0]
    return {
        "requirements": [asdict(q) for q in requirements],
        "chosen": {**best.overrides(), "by": requirements[0].name, "seconds": seconds},
        "chosen_flags": best.flags(),
        "candidates": sorted(rows, key=lambda row: row["rank"][requirements[0].name]),
    }


__all__ = ["Critic", "Recipe", "Requirement", "candidates", "choose", "rank"]
