"""Tables of `fastbrc plan` on CheetahRun (2 CPU cores): the sweep. (The fitted laws, the
held-out prediction and the recommended recipe get their tables with their JSONs.)"""

from __future__ import annotations

import statistics

from tables.common import kilo, load, source, table

SWEEP = "plan-sweep-CheetahRun-epyc-2core.json"


def _median_steps(point: dict) -> float | None:
    steps = [r["env_steps"] if r["reached"] else float("inf") for r in point.get("runs", [])]
    value = statistics.median(steps) if steps else None
    return value if value is not None and value != float("inf") else None


def plan_sweep(page: str) -> str:
    data = load(SWEEP)
    spec = data["spec"]
    columns = [(b, lr) for b in spec["batch_sizes"] for lr in spec["learning_rates"]]
    by_point = {(p["sigma"], p["batch_size"], p["lr"]): p for p in data["points"]}
    rows = []
    for sigma in sorted(spec["sigmas"]):
        cells = []
        medians = {c: _median_steps(by_point.get((sigma, *c), {})) for c in columns}
        finite = [v for v in medians.values() if v is not None]
        for c in columns:
            point = by_point.get((sigma, *c))
            value = medians[c]
            if point is None:
                cells.append("not run")
            else:
                text = ", ".join(
                    kilo(r["env_steps"]) if r["reached"] else f"never ({r['best_return']:.0f})"
                    for r in point["runs"]
                )
                best = value is not None and finite and value == min(finite)
                cells.append(f"**{text}**" if best else text)
        rows.append([f"{sigma:g}", *cells])
    header = ["sigma", *(f"batch {b}, lr {lr:g}" for b, lr in columns)]
    outside = "; ".join(
        f"sigma {p['sigma']:g}, batch {p['batch_size']}, lr {p['lr']:g}: "
        + ", ".join(kilo(r["env_steps"]) if r["reached"] else "never" for r in p["runs"])
        for p in data.get("outside_grid", [])
    )
    outside = f" Measured before the grid was narrowed (not fitted): {outside}." if outside else ""
    return table(header, rows) + (
        f"\nEnv steps to {spec['threshold']:g} of each seed ({', '.join(map(str, spec['seeds']))}; "
        f"in bold the sigma's best point, by the median); {spec['num_envs']} envs, cap "
        f"{kilo(spec['cap_env_steps'])} env steps (never: the seeds' best returns); "
        f"{source(SWEEP, page)}.{outside}\n"
    )


TABLES = {"plan-sweep": plan_sweep}
