"""The value-based scaling laws (Fu, Rybkin et al. 2025, "Value-Based Deep RL Scales
Predictably"; their code: prestonfu/qscaled), as fits to a sweep's runs.

* Data to reach a return J against the updates-to-data ratio sigma (UTD):
  ``D_J(sigma) = D_min + (beta / sigma) ** alpha`` (`DataLaw`, fitted in log space);
* the best batch size and learning rate are straight lines in log-log against sigma:
  ``B*(sigma) = B_0 * sigma ** b``, ``eta*(sigma) = eta_0 * sigma ** e`` (`LogLogLaw`);
* compute to J: ``C_J = sigma * batch * D_J * flops_per_sample``.

Intervals come from a bootstrap over seeds: each σ's seeds are resampled with replacement,
the per-σ medians (and best batch and learning rate) recomputed, the laws refitted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from fastbrc.errors import ConfigError


class FitError(ConfigError):
    """Too few points to fit, or data the law cannot describe (one line)."""


@dataclass(frozen=True)
class DataLaw:
    """``D_J(sigma) = d_min + (beta / sigma) ** alpha``."""

    alpha: float
    beta: float
    d_min: float

    def __call__(self, sigma: float | np.ndarray) -> float | np.ndarray:
        return self.d_min + (self.beta / np.asarray(sigma, float)) ** self.alpha

    def as_dict(self) -> dict[str, float]:
        return {"alpha": self.alpha, "beta": self.beta, "d_min": self.d_min}


@dataclass(frozen=True)
class LogLogLaw:
    """``y(sigma) = scale * sigma ** slope`` (a straight line in log-log)."""

    scale: float
    slope: float

    def __call__(self, sigma: float | np.ndarray) -> float | np.ndarray:
        return self.scale * np.asarray(sigma, float) ** self.slope

    def as_dict(self) -> dict[str, float]:
        return {"scale": self.scale, "slope": self.slope}


def fit_data_law(sigma: Sequence[float], data: Sequence[float]) -> DataLaw:
    """Least squares of log D against log(d_min + (beta / sigma) ** alpha) over alpha, beta > 0
    and 0 <= d_min <= min D, from several starting points (the loss has flat valleys)."""
    s, d = np.asarray(sigma, float), np.asarray(data, float)
    if len(set(s.tolist())) < 3:
        raise FitError(f"the data law needs points at 3 or more sigmas, got {sorted(set(s))}")
    if (d <= 0).any() or (s <= 0).any():
        raise FitError("data and sigma must be > 0")
    scale = float(np.median(d))
    logd = np.log(d / scale)

    def unpack(p: np.ndarray) -> tuple[float, float, float]:
        p = np.clip(p, -30.0, 30.0)  # the simplex wanders far along the flat valleys
        return math.exp(p[0]), math.exp(p[1]), 1 / (1 + math.exp(-p[2]))

    def loss(p: np.ndarray) -> float:
        alpha, beta, frac = unpack(p)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            model = frac * d.min() / scale + (beta / s) ** alpha
            value = float(np.mean((logd - np.log(model)) ** 2))
        return value if math.isfinite(value) else math.inf

    best = None
    for alpha0 in (0.25, 0.5, 1.0, 2.0):
        for frac0 in (0.01, 0.3, 0.7):
            rest = d / scale - frac0 * d.min() / scale
            beta0 = float(np.median(s * np.maximum(rest, 1e-9) ** (1 / alpha0)))
            start = np.array(
                [math.log(alpha0), math.log(max(beta0, 1e-12)), math.log(frac0 / (1 - frac0))]
            )
            options = {"xatol": 1e-9, "fatol": 1e-12, "maxiter": 4000}
            result = optimize.minimize(loss, start, method="Nelder-Mead", options=options)
            if best is None or result.fun < best.fun:
                best = result
    alpha, beta_n, frac = unpack(best.x)
    # (beta_n / sigma) ** alpha is in units of `scale`: beta = beta_n * scale ** (1 / alpha)
    log_beta = math.log(beta_n) + math.log(scale) / alpha
    if alpha < 1e-3 or log_beta > 700:
        raise FitError(
            "the data to the threshold does not fall with sigma ("
            + ", ".join(f"{x:g}: {y:,.0f}" for x, y in zip(s, d, strict=True))
            + "): no power law to fit"
        )
    return DataLaw(alpha=alpha, beta=math.exp(log_beta), d_min=frac * float(d.min()))


def fit_loglog(sigma: Sequence[float], values: Sequence[float]) -> LogLogLaw:
    s, v = np.asarray(sigma, float), np.asarray(values, float)
    if len(set(s.tolist())) < 2:
        raise FitError(f"a log-log line needs 2 or more sigmas, got {sorted(set(s))}")
    slope, intercept = np.polyfit(np.log(s), np.log(v), 1)
    return LogLogLaw(scale=float(math.exp(intercept)), slope=float(slope))


def interval(values: Sequence[float], level: float = 0.9) -> tuple[float, float]:
    """The central `level` interval of bootstrap values."""
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(np.asarray(values, float), [tail, 100 - tail])
    return float(low), float(high)


__all__ = ["DataLaw", "FitError", "LogLogLaw", "fit_data_law", "fit_loglog", "interval"]
