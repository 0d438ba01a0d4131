"""`fastbrc plan recommend`: the recipe (sigma, batch, learning rate, envs) for a budget, from
fitted scaling laws and, for wall-clock, a throughput profile of the device.

For every sigma = U / N the sweep's env count N allows inside the fitted range (U whole), the
laws give the data to the threshold D = D_J(sigma), the batch B*(sigma) (a multiple of N,
within the swept batches) and the learning rate eta*(sigma); then

    updates = sigma x D        compute C = updates x B x flops per sample
    wall-clock T = D x (t_env(N) / N + sigma x t_update(B))      (with a profile)

A budget is a limit on one of D (env steps), C (FLOPs) or T (seconds). The recommendation is
the recipe that meets it and is fastest (with a profile; else the one with the least compute
for a data budget and the least data for a compute budget); none meeting it is a one-line
error that says what the least is and at which sigma.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from fastbrc.errors import ConfigError
from fastbrc.plan.laws import DataLaw, LogLogLaw
from fastbrc.plan.profile import Critic, ThroughputProfile

Budget = Literal["env_steps", "flops", "seconds"]
UNITS = {"env_steps": "env steps", "flops": "FLOPs", "seconds": "s of training"}


@dataclass(frozen=True)
class Plan:
    sigma: float
    num_envs: int
    updates_per_iteration: int
    batch_size: int
    lr: float
    env_steps: float
    updates: float
    flops: float
    seconds: float | None

    def cost(self, kind: Budget) -> float | None:
        return {"env_steps": self.env_steps, "flops": self.flops, "seconds": self.seconds}[kind]

    def flags(self) -> list[str]:
        return [
            "--num-envs", str(self.num_envs),
            "--updates-per-iteration", str(self.updates_per_iteration),
            "--batch-size", str(self.batch_size),
            "--critic-lr", f"{self.lr:.3g}", "--actor-lr", f"{self.lr:.3g}",
        ]  # fmt: skip


def plans(
    fitted: dict[str, Any],
    batches: tuple[int, int],
    flops_per_sample: float,
    profile: ThroughputProfile | None = None,
    critic: Critic | None = None,
) -> list[Plan]:
    """A plan for every sigma the fitted range and the env count allow."""
    n = int(fitted["num_envs"])
    low, high = fitted["sigma_range"]
    data, batch_law, lr_law = (DataLaw(**fitted["data_law"]), LogLogLaw(**fitted["batch_law"]),
                               LogLogLaw(**fitted["lr_law"]))  # fmt: skip
    out = []
    for upi in range(max(1, math.ceil(low * n - 1e-9)), math.floor(high * n + 1e-9) + 1):
        sigma = upi / n
        batch = min(max(batch_law(sigma), batches[0]), batches[1])
        batch = max(n, round(batch / n) * n)
        d = float(data(sigma))
        seconds = None
        if profile is not None and critic is not None:
            per_step = profile.env_time(n) / n + sigma * profile.update_time(batch, critic)
            seconds = d * per_step
        out.append(Plan(sigma, n, upi, batch, float(lr_law(sigma)), d, sigma * d,
                        sigma * d * batch * flops_per_sample, seconds))  # fmt: skip
    return out


def recommend(candidates: list[Plan], kind: Budget, budget: float) -> Plan:
    if not candidates:
        raise ConfigError("no sigma of the fitted range fits the sweep's env count")
    if kind == "seconds" and candidates[0].seconds is None:
        raise ConfigError("a wall-clock budget needs a throughput profile (--profile)")
    meeting = [p for p in candidates if p.cost(kind) <= budget]
    if not meeting:
        least = min(candidates, key=lambda p: p.cost(kind))
        sigmas = f"{candidates[0].sigma:g}-{candidates[-1].sigma:g}"
        raise ConfigError(
            f"no recipe in the fitted range (sigma {sigmas}) meets {budget:,.4g} {UNITS[kind]}; "
            f"the least is {least.cost(kind):,.4g} at sigma {least.sigma:g} (a larger budget, or "
            "a sweep over other sigmas)"
        )
    if meeting[0].seconds is not None:
        return min(meeting, key=lambda p: p.seconds)
    return min(meeting, key=lambda p: p.flops if kind == "env_steps" else p.env_steps)


__all__ = ["UNITS", "Plan", "plans", "recommend"]
