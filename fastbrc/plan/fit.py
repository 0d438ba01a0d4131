"""`fastbrc plan fit`: the scaling laws fitted to a sweep JSON, with bootstrap intervals over
seeds, and the paper's figures as PNGs.

For each sigma: the data to the threshold of every (batch, learning rate) point is the median
over its seeds (a seed that never got there counts as infinitely slow); the best batch B* is
the one whose best learning rate needs the least data, the best learning rate eta* likewise.
`DataLaw` is fitted to the best point's median data per sigma, `LogLogLaw`s to B* and eta*.
The bootstrap resamples each point's seeds with replacement and repeats all of it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fastbrc.errors import ConfigError
from fastbrc.plan.laws import FitError, fit_data_law, fit_loglog, interval

# The fits of the paper's code release (prestonfu/qscaled at a9a99d0; its notebooks' printed
# fits and experiments/outputs/grid_proposed_hparams/*/shared_fitted.csv, slopes back-computed
# there): the paper's own tables could not be read here. DMC: SAC/BRO at J = 800.
PAPER = {
    "source": "prestonfu/qscaled code release (a9a99d0), not the paper's tables",
    "alpha": {"dmc": 1.09, "gym": 0.70},
    "batch_slope": {"dmc": -0.49, "gym": -0.31},
    "lr_slope": {"dmc": -0.32, "gym": -0.285},
    "cheetah_run_at_sigma_1": {"batch_size": 584, "lr": 6.88e-4},
}


def load_sweep(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None
    if data.get("benchmark") != "plan_sweep" or "points" not in data:
        raise ConfigError(f"{path} is not a sweep JSON (made by fastbrc plan sweep)")
    return data


def _steps(point: dict[str, Any], pick: Sequence[int] | None = None) -> list[float]:
    runs = point.get("runs", [])
    if pick is not None:
        runs = [runs[i] for i in pick]
    return [r["env_steps"] if r["reached"] else math.inf for r in runs]


def best_per_sigma(points: list[dict[str, Any]], picks: dict[str, list[int]] | None = None):
    """{sigma: (median data of the best point, its batch, its learning rate)} over points
    whose median seed reached the threshold."""
    by_sigma: dict[float, list[tuple[float, int, float]]] = {}
    for point in points:
        if point.get("status") != "done":
            continue
        key = f"{point['sigma']}-{point['batch_size']}-{point['lr']}"
        median = float(np.median(_steps(point, picks.get(key) if picks else None)))
        by_sigma.setdefault(point["sigma"], []).append((median, point["batch_size"], point["lr"]))
    return {s: min(rows) for s, rows in by_sigma.items() if math.isfinite(min(rows)[0])}


def _fit(best: dict[float, tuple[float, int, float]]) -> dict[str, Any]:
    sigmas = sorted(best)
    return {
        "data": fit_data_law(sigmas, [best[s][0] for s in sigmas]),
        "batch": fit_loglog(sigmas, [best[s][1] for s in sigmas]),
        "lr": fit_loglog(sigmas, [best[s][2] for s in sigmas]),
    }


def fit_sweep(
    sweep: dict[str, Any],
    hold_out: float | None = None,
    bootstraps: int = 200,
    rng_seed: int = 0,
) -> dict[str, Any]:
    """The laws fitted to `sweep` (leaving out sigma `hold_out`), their bootstrap intervals,
    and the per-sigma best points they were fitted to."""
    points = [p for p in sweep["points"] if hold_out is None or p["sigma"] != hold_out]
    best = best_per_sigma(points)
    if len(best) < 3:
        reached = ", ".join(f"{s:g}" for s in sorted(best)) or "none"
        raise FitError(
            f"too few points to fit: the threshold was reached at sigmas {reached}; the data "
            "law needs 3 (run more of the grid, or lower --threshold)"
        )
    laws = _fit(best)
    # a hyperparameter the grid holds at one value has no law to find: its line is flat by
    # construction, said as "fixed" (its interval and the paper's slope are not compared)
    fixed = [
        name
        for name, key in (("batch", "batch_size"), ("lr", "lr"))
        if len({p[key] for p in points}) == 1
    ]
    rng = np.random.default_rng(rng_seed)
    names = ("alpha", "beta", "d_min", "batch_slope", "lr_slope")
    samples: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(bootstraps):
        picks = {
            f"{p['sigma']}-{p['batch_size']}-{p['lr']}": list(
                rng.integers(0, len(p.get("runs", [])) or 1, len(p.get("runs", [])))
            )
            for p in points
        }
        resampled = best_per_sigma(points, picks)
        if len(resampled) < 3:
            continue
        try:
            fitted = _fit(resampled)
        except FitError:
            continue
        for name, value in (("alpha", fitted["data"].alpha), ("beta", fitted["data"].beta),
                            ("d_min", fitted["data"].d_min),
                            ("batch_slope", fitted["batch"].slope),
                            ("lr_slope", fitted["lr"].slope)):  # fmt: skip
            samples[name].append(value)
    return {
        "task": sweep["spec"]["task"],
        "threshold": sweep["spec"]["threshold"],
        "num_envs": sweep["spec"]["num_envs"],
        "held_out_sigma": hold_out,
        "sigma_range": [min(best), max(best)],
        "best": {
            f"{s:g}": {"env_steps": d, "batch_size": b, "lr": lr}
            for s, (d, b, lr) in sorted(best.items())
        },  # fmt: skip
        "data_law": laws["data"].as_dict(),
        "batch_law": laws["batch"].as_dict(),
        "lr_law": laws["lr"].as_dict(),
        "fixed": fixed,
        "intervals": {
            k: interval(v)
            for k, v in samples.items()
            if len(v) >= 10 and k.removesuffix("_slope") not in fixed
        },
        "bootstraps": len(samples["alpha"]),
        "paper": PAPER,
    }


def plot_fit(sweep: dict[str, Any], fitted: dict[str, Any], out_dir: Path) -> list[Path]:
    """The paper's three figures: data to J, best batch and best learning rate against UTD."""
    from matplotlib.figure import Figure

    from fastbrc.plan.laws import DataLaw, LogLogLaw

    out_dir.mkdir(parents=True, exist_ok=True)
    sigmas = np.geomspace(*fitted["sigma_range"], 50)
    held = fitted["held_out_sigma"]
    paths = []
    specs = (
        ("data", "env steps to the threshold", DataLaw(**fitted["data_law"]), "env_steps"),
        ("batch", "best batch size B*", LogLogLaw(**fitted["batch_law"]), "batch_size"),
        ("lr", "best learning rate", LogLogLaw(**fitted["lr_law"]), "lr"),
    )
    for name, ylabel, law, key in specs:
        figure = Figure(figsize=(5, 4), dpi=100, layout="constrained")
        ax = figure.subplots()
        if name == "data":  # every point's seeds, faint
            for p in sweep["points"]:
                for r in p.get("runs", []):
                    if r["reached"]:
                        ax.scatter(p["sigma"], r["env_steps"], color="grey", alpha=0.3, s=10)
        best = fitted["best"]
        ax.scatter([float(s) for s in best], [v[key] for v in best.values()], color="C0",
                   label="best point (median of seeds)", zorder=3)  # fmt: skip
        ax.plot(sigmas, law(sigmas), color="C0", label="fit")
        if held is not None:
            ax.axvline(held, color="C3", linestyle="--", label=f"held out: sigma {held:g}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("updates per env step (sigma)")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{fitted['task']}, return {fitted['threshold']:g}", fontsize=10)
        ax.legend(fontsize=8)
        path = out_dir / f"plan-{fitted['task']}-{name}.png"
        figure.savefig(path)
        paths.append(path)
    return paths


__all__ = ["PAPER", "best_per_sigma", "fit_sweep", "load_sweep", "plot_fit"]
