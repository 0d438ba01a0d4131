"""Tables of `fastbrc plan` on CheetahRun (2 CPU cores): the sweep, the fitted laws next to the
paper's code release's, the held-out prediction and the recommended recipe against the preset."""

from __future__ import annotations

import statistics

from tables.common import fmt, image, kilo, link, load, source, table

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
    outside = f" Measured with an earlier grid (kept, not fitted): {outside}." if outside else ""
    return table(header, rows) + (
        f"\nEnv steps to {spec['threshold']:g} of each seed ({', '.join(map(str, spec['seeds']))}; "
        f"in bold the sigma's best point, by the median); {spec['num_envs']} envs, cap "
        f"{kilo(spec['cap_env_steps'])} env steps (never: the seeds' best returns); "
        f"{source(SWEEP, page)}.{outside}\n"
    )


def median_wall(seconds: float | None) -> str:
    """A recipe's median wall-clock to the threshold (None: its median seed never got there)."""
    return "never (the median seed)" if seconds is None else f"{seconds:.0f} s"


def _updates(count: int) -> str:
    return f"{count} update{'' if count == 1 else 's'}"


def _paper_text(paper: dict | str) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in paper.items()) if isinstance(paper, dict) else paper


def _fit_cell(fit: dict, law: str, key: str, interval: str | None, fixed: str | None) -> str:
    if fixed and fixed in fit.get("fixed", []):  # one value in the grid: no law looked for
        return f"fixed at {fit[law]['scale']:.3g} (one value in the grid)"
    if key == "beta^alpha":  # beta alone trades off against alpha: their product is the data
        data = fit["data_law"]
        return kilo(data["beta"] ** data["alpha"])

    def number(value: float) -> str:
        if key == "d_min":
            return kilo(value)
        return "0" if abs(value) < 1e-9 else fmt(value, ".3g")  # a flat line, to rounding

    span = fit["intervals"].get(interval) if interval else None
    around = f" [{number(span[0])}, {number(span[1])}]" if span else ""
    return number(fit[law][key]) + around


def _edge(fit: dict, sweep: dict) -> str:
    """A sentence when every sigma's best batch is the grid's largest or smallest."""
    batches = {v["batch_size"] for v in fit["best"].values()}
    grid = sweep["spec"]["batch_sizes"]
    if len(batches) == 1 and batches & {min(grid), max(grid)}:
        (batch,) = batches
        return (
            f" Every sigma's best batch is {batch}, the grid's "
            f"{'largest' if batch == max(grid) else 'smallest'}: B* lies at the grid's edge, "
            "so its slope is not measured (a wider grid is the next sweep)."
        )
    return ""


def plan_fit(page: str) -> str:
    held, every, sweep = load(HOLDOUT), load(RECOMMEND), load(SWEEP)
    sigma = held["held_out"]["sigma"]
    paper = held["paper"]
    rows = []
    for name, law, key, interval, fixed, theirs in (
        ("alpha (the data law's exponent)", "data_law", "alpha", "alpha", None, paper["alpha"]),
        ("D_min (env steps)", "data_law", "d_min", "d_min", None, "-"),
        ("beta^alpha (env steps above D_min at sigma 1)", "data_law", "beta^alpha", None, None,
         "-"),
        ("B* slope (batch against sigma, log-log)", "batch_law", "slope", "batch_slope", "batch",
         paper["batch_slope"]),
        ("eta* slope (learning rate against sigma)", "lr_law", "slope", "lr_slope", "lr",
         paper["lr_slope"]),
    ):  # fmt: skip
        rows.append([
            name,
            _fit_cell(every["fit"], law, key, interval, fixed),
            _fit_cell(held["fit"], law, key, interval, fixed),
            _paper_text(theirs),
        ])  # fmt: skip
    return table(
        [
            "parameter",
            "fitted on every sigma",
            f"fitted without sigma {sigma:g}",
            "the paper's code release",
        ],
        rows,
    ) + (  # fmt: skip
        f"\nIn brackets the 90% interval of {every['fit']['bootstraps']} bootstrap resamples of "
        f"each point's seeds.{_edge(every['fit'], sweep)} The paper's values: {paper['source']}; "
        f"{link(RECOMMEND, page)}, {link(HOLDOUT, page)}.\n"
    )


def plan_holdout(page: str) -> str:
    data = load(HOLDOUT)
    held = data["held_out"]
    recipe = held["recipe"]
    rows = []
    for key, label in (("env_steps", "env steps to the threshold"),
                       ("train_s", "seconds of training to it")):  # fmt: skip
        measured, error = held["measured"][key], held["rel_error"][key]
        each = ", ".join(
            fmt(r[key], ",.0f") if r["reached"] else "never" for r in held["measured"]["runs"]
        )
        rows.append([label, fmt(held["predicted"][key], ",.0f"), fmt(measured, ",.0f"), each,
                     "-" if error is None else f"{100 * error:+.0f}%"])  # fmt: skip
    verdict = "within" if held["within_25_percent"] else "**not** within"
    figure = HOLDOUT.removesuffix(".json") + ".png"
    return table(
        [
            f"sigma {held['sigma']:g}, held out",
            "predicted",
            "measured (median)",
            "each seed",
            "error",
        ],
        rows,
    ) + (  # fmt: skip
        f"\nThe recipe the fit without it proposes there: "
        f"{_updates(recipe['updates_per_iteration'])} of {recipe['batch_size']} per iteration "
        f"over {recipe['num_envs']} envs, "
        f"learning rate {recipe['lr']:.3g}, each seed trained alone. The prediction is {verdict} "
        f"25% of the measured median; error = predicted / measured - 1. "
        f"{source(HOLDOUT, page)}.\n\n{image(figure, page, 'the held-out prediction')}\n"
    )


def _verdict_note(data: dict) -> str:
    return (
        f"({data['verdict_note'][0].upper()}{data['verdict_note'][1:]}.) "
        if data.get("verdict_note")
        else ""
    )


def plan_recommend(page: str) -> str:
    data = load(RECOMMEND)
    rec, wall = data["recommended"], data["median_wall_s_to_threshold"]
    rows = []
    for label, key, runs in (("recommended", "recommended", rec["runs"]),
                             ("the CPU preset", "preset", data["preset"]["runs"])):  # fmt: skip
        each = ", ".join(
            f"{r['wall_s']:.0f} s ({kilo(r['env_steps'])})" if r["reached"] else "never"
            for r in runs
        )
        rows.append([label, each, median_wall(wall[key])])
    verdict = "no later than" if data["no_later_than_preset"] else "**later than**"
    return table(
        ["recipe", "wall-clock to the threshold, each seed (env steps)", "median"], rows
    ) + (  # fmt: skip
        f"\nFor a budget of {data['budget_seconds']:g} s of training: sigma {rec['sigma']:g} "
        f"({_updates(rec['updates_per_iteration'])} of {rec['batch_size']} per iteration over "
        f"{rec['num_envs']} envs), learning rate {rec['lr']:.3g}, predicted "
        f"{kilo(rec['env_steps'])} env steps and {rec['seconds']:.0f} s of training. Wall-clock "
        f"counts from the process's start (compile included), each seed alone. It reached the "
        f"threshold {verdict} the preset. {_verdict_note(data)}{source(RECOMMEND, page)}.\n"
    )


TABLES = {
    "plan-sweep": plan_sweep,
    "plan-fit": plan_fit,
    "plan-holdout": plan_holdout,
    "plan-recommend": plan_recommend,
}
