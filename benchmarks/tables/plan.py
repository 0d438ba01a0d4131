"""Tables of `fastbrc plan` on CheetahRun (2 CPU cores): the sweep, the fitted laws next to the
paper's code release's, the held-out prediction and the recommended recipe against the preset."""

from __future__ import annotations

import statistics

from tables.common import fmt, kilo, link, load, source, table

SWEEP = "plan-sweep-CheetahRun-epyc-2core.json"
HOLDOUT = "plan-holdout-CheetahRun-epyc-2core.json"
RECOMMEND = "plan-recommend-CheetahRun-epyc-2core.json"


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


def _fit_row(
    name: str, law: dict, key: str, interval: list | None, paper: dict | str, fixed: bool = False
) -> list:
    paper_text = (
        ", ".join(f"{k} {v:g}" for k, v in paper.items()) if isinstance(paper, dict) else str(paper)
    )
    if fixed:  # one value in the grid: no law was looked for
        return [name, f"not fitted (one value in the grid: {law['scale']:.3g})", "-", paper_text]
    span = f"[{interval[0]:.3g}, {interval[1]:.3g}]" if interval else "-"
    return [name, fmt(law[key], ".3g"), span, paper_text]


def plan_fit(page: str) -> str:
    data = load(HOLDOUT)
    fit, paper = data["fit"], data["paper"]
    intervals = fit["intervals"]
    rows = [
        _fit_row(
            "alpha (data exponent)",
            fit["data_law"],
            "alpha",
            intervals.get("alpha"),
            paper["alpha"],
        ),
        _fit_row(
            "B* slope (batch vs sigma, log-log)",
            fit["batch_law"],
            "slope",
            intervals.get("batch_slope"),
            paper["batch_slope"],
            "batch" in fit.get("fixed", []),
        ),
        _fit_row(
            "eta* slope (learning rate vs sigma)",
            fit["lr_law"],
            "slope",
            intervals.get("lr_slope"),
            paper["lr_slope"],
            "lr" in fit.get("fixed", []),
        ),
        _fit_row("D_min (env steps)", fit["data_law"], "d_min", intervals.get("d_min"), "-"),
    ]
    return table(
        [
            "parameter",
            "fitted (sigma 1 held out)",
            "90% bootstrap interval",
            "the paper's code release",
        ],
        rows,
    ) + (
        f"\n{fit['bootstraps']} bootstrap resamples of the seeds; the paper's values: "
        f"{paper['source']}; {link(HOLDOUT, page)}.\n"
    )


def plan_holdout(page: str) -> str:
    data = load(HOLDOUT)
    held = data["held_out"]
    recipe = held["recipe"]
    rows = []
    for key, label in (
        ("env_steps", "env steps to the threshold"),
        ("train_s", "training seconds"),
    ):
        measured = held["measured"][key]
        seeds = ", ".join(
            fmt(r[key], ",.0f") if r["reached"] else "never" for r in held["measured"]["runs"]
        )
        rows.append(
            [
                label,
                fmt(held["predicted"][key], ",.0f"),
                fmt(measured, ",.0f"),
                seeds,
                fmt(100 * held["rel_error"][key], "+.0f") + "%",
            ]
        )
    verdict = "within" if held["within_25_percent"] else "**not** within"
    return table(
        [
            "sigma " + f"{held['sigma']:g} held out",
            "predicted",
            "measured (median)",
            "each seed",
            "error",
        ],
        rows,
    ) + (
        f"\nThe recipe the fit proposes there: {recipe['updates_per_iteration']} updates of "
        f"{recipe['batch_size']} per iteration over {recipe['num_envs']} envs, learning rate "
        f"{recipe['lr']:.3g}; each seed trained alone. The prediction is {verdict} 25% of the "
        f"median. {source(HOLDOUT, page)}.\n"
    )


def plan_recommend(page: str) -> str:
    data = load(RECOMMEND)
    rec = data["recommended"]
    rows = []
    for label, runs in (("recommended", rec["runs"]), ("the CPU preset", data["preset"]["runs"])):
        rows.append(
            [
                label,
                ", ".join(f"{r['wall_s']:.0f} s" if r["reached"] else "never" for r in runs),
                fmt(
                    data["median_wall_s_to_threshold"][
                        "recommended" if label == "recommended" else "preset"
                    ],
                    ".0f",
                )
                + " s",
            ]
        )
    verdict = "no later than" if data["no_later_than_preset"] else "**later than**"
    return table(["recipe", "wall-clock to the threshold, each seed", "median"], rows) + (
        f"\nFor a budget of {data['budget_seconds']:g} s of training: sigma {rec['sigma']:g} "
        f"({rec['updates_per_iteration']} updates of {rec['batch_size']} per iteration over "
        f"{rec['num_envs']} envs), learning rate {rec['lr']:.3g}, predicted "
        f"{kilo(rec['env_steps'])} env steps and {rec['seconds']:.0f} s of training. It reached "
        f"the threshold {verdict} the preset. {source(RECOMMEND, page)}.\n"
    )


TABLES = {
    "plan-sweep": plan_sweep,
    "plan-fit": plan_fit,
    "plan-holdout": plan_holdout,
    "plan-recommend": plan_recommend,
}
