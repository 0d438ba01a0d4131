"""Tables of the smaller DM Control tasks on 2 CPU cores: against Brax SAC and PPO, the
presets' screens (CheetahRun, PendulumSwingup, WalkerWalk), BRC's init, FastTD3 on CheetahRun."""

from __future__ import annotations

from typing import Any

from tables.common import fmt, kilo, link, load, machine, seconds, source, table

XEON_COMBINED = {
    "CartpoleBalance": "peers-CartpoleBalance-xeon-2core-combined.json",
    "PendulumSwingup": "peers-PendulumSwingup-xeon-2core-combined.json",
    "CheetahRun": "peers-CheetahRun-xeon-2core-combined.json",
}
PENDULUM_RERUN = "peers-PendulumSwingup-xeon-2core-combined-sps630.json"
PENDULUM_SEEDS = "peers-PendulumSwingup-epyc-2core-seeds.json"


def variant(run: dict[str, Any]) -> str:
    if run.get("variant"):
        return run["variant"]
    scale = (run.get("sizes") or {}).get("scale")
    if scale is None:
        return run["trainer"]
    return f"{run['trainer']} ({'published size' if scale == 1 else f'1/{scale:g} size'})"


def _cell(run: dict[str, Any] | None, budget: float) -> str:
    if run is None:
        return "-"
    if run["time_to_threshold_s"] is None:
        return f"never ({run['final_return']:.1f})"
    return f"{run['time_to_threshold_s']:.0f} s ({run['time_to_threshold_s'] / budget:.2f})"


def small_tasks_vs_brax(page: str) -> str:
    """Time to the best peer's final return, fastbrc and every peer, on the Xeon VM."""
    columns = (
        "fastbrc",
        "brax_sac (1/16 size)",
        "brax_ppo (1/16 size)",
        "brax_sac (published size)",
    )
    rows = []
    for task, name in XEON_COMBINED.items():
        data = load(name)
        runs = {variant(r): r for r in data["runs"]}
        budget, threshold = data["budget_s"], data["summary"]["threshold"]
        cells = [_cell(runs.get(c), budget) for c in columns]
        if task == "PendulumSwingup":
            rerun = next(r for r in load(PENDULUM_RERUN)["runs"] if r["trainer"] == "fastbrc")
            cells[0] += f"; evaluations ~15 s apart: {_cell(rerun, budget)}"
        rows.append([task, f"{threshold:.1f}", *cells, link(name, page, "JSON")])
    header = [
        "task",
        "threshold (best peer's final return)",
        "fastbrc",
        "Brax SAC /16",
        "Brax PPO /16",
        "Brax SAC, published size",
        "JSON",
    ]
    data = load(XEON_COMBINED["CartpoleBalance"])
    return table(header, rows) + (
        f"\nSeconds from each trainer's process start (compile included) to the threshold, and in "
        f"brackets the fraction of the {data['budget_s']:.0f} s budget (or, never: the final "
        f"return); {machine(data)}, one seed each; the Pendulum rerun: "
        f"{link(PENDULUM_RERUN, page, 'JSON')}.\n"
    )


def pendulum_seeds(page: str) -> str:
    data = load(PENDULUM_SEEDS)
    threshold = data["summary"]["threshold"]
    rows = []
    for run in sorted(
        data["runs"], key=lambda r: (r["trainer"] != "fastbrc", variant(r), r["seed"])
    ):
        high = next((p for p in run["curve"] if p["eval_return"] >= 185.9), None)
        rows.append(
            [
                variant(run),
                str(run["seed"]),
                fmt(run["compile_s"]),
                fmt(run["env_steps_per_s_after_compile"], ",.0f"),
                kilo(run["end_env_steps"]),
                fmt(run["final_return"]),
                fmt(run["best_return"]),
                seconds(run["time_to_threshold_s"]),
                seconds(high["wall_s"] if high else None),
            ]
        )
    header = [
        "trainer",
        "seed",
        "compile s",
        "env steps/s",
        "env steps",
        "final",
        "best",
        f"time to {threshold:.1f}",
        "time to 185.9 (the Xeon VM's threshold)",
    ]
    met = "met" if data["summary"]["target"]["met"] else "missed"
    return table(header, rows) + (
        f"\nThreshold {threshold:.1f} (best peer run's final return); target (every fastbrc seed "
        f"within half the {data['budget_s']:.0f} s): **{met}**. {source(PENDULUM_SEEDS, page)}.\n"
    )


PENDULUM_SCREEN = {
    "1000 steps (the preset before)": "learning-PendulumSwingup-epyc-2core-preset-seed{}.json",
    "100 steps (the preset)": "learning-PendulumSwingup-epyc-2core-train100-seed{}.json",
    "50 steps": "learning-PendulumSwingup-epyc-2core-train50-seed{}.json",
    "100 steps, SAC actor": "learning-PendulumSwingup-epyc-2core-sac-train100-seed{}.json",
}


def _screen_cell(name: str, threshold: str) -> str:
    try:
        data = load(name)
    except FileNotFoundError:
        return "-"
    hit = data["time_to_return"].get(threshold)
    when = f"{hit['wall_s']:.0f} s" if hit else "never"
    return f"{when} ({data['final_eval_return']:.1f})"


def pendulum_episode_length(page: str) -> str:
    rows = [
        [label, *(_screen_cell(pattern.format(s), "185.9") for s in range(3))]
        for label, pattern in PENDULUM_SCREEN.items()
    ]
    first = PENDULUM_SCREEN["100 steps (the preset)"].format(0)
    return table(["training episodes", "seed 0", "seed 1", "seed 2"], rows) + (
        f"\nTime to 185.9 in 180 s (compile included), final return in brackets; "
        f"{machine(load(first))}, e.g. {link(first, page)}.\n"
    )


def walker_seeds(page: str) -> str:
    rows = []
    for seed, suffix in ((0, ""), (1, ""), (1, "-busy"), (2, "")):
        name = f"learning-WalkerWalk-epyc-2core-preset-seed{seed}{suffix}.json"
        data = load(name)
        curve = data["curve"]
        hit = next((p for p in curve if p["eval_return"] >= 750), None)
        last = curve[-1]
        rows.append(
            [
                f"{seed}" + (" (beside a Docker build)" if suffix else ""),
                fmt(data["compile_s"], ".0f") + " s",
                fmt(data["env_steps_per_s_median"], ",.0f"),
                f"{hit['eval_return']:.0f} at {hit['wall_s']:.0f} s, {kilo(hit['env_steps'])}"
                if hit
                else "never",
                fmt(data["best_eval_return"]),
                f"{last['eval_return']:.1f} at {kilo(last['env_steps'])}",
                link(name, page, "JSON"),
            ]
        )
    header = ["seed", "compile", "env steps/s", "first eval >= 750", "best", "last (600 s)", "JSON"]
    data = load("learning-WalkerWalk-epyc-2core-preset-seed0.json")
    return table(header, rows) + f"\n{machine(data)}, commit {data['machine']['git_commit'][:7]}.\n"


CHEETAH = {
    "16 envs, batch 128 (the preset)": ("learning-CheetahRun-epyc-2core-preset-seed{}.json", 5),
    "8 envs, batch 64 (before)": ("learning-CheetahRun-epyc-2core-8envs-batch64-seed{}.json", 4),
}


def cheetah_preset(page: str) -> str:
    rows = []
    for label, (pattern, seeds) in CHEETAH.items():
        cells = []
        for seed in range(seeds):
            data = load(pattern.format(seed))
            hit = data["time_to_return"].get("484.0")
            cells.append(
                kilo(hit["env_steps"]) if hit else f"never ({data['best_eval_return']:.0f})"
            )
        rows.append([label, ", ".join(cells)])
    first = CHEETAH["16 envs, batch 128 (the preset)"][0].format(0)
    return table(["CheetahRun CPU preset", "env steps to 484, seeds 0-4 (best if never)"], rows) + (
        f"\n{machine(load(first))}; `benchmarks/results/learning-CheetahRun-epyc-2core-"
        "{preset,8envs-batch64}-seed<S>.json`.\n"
    )


def init_sqrt2(page: str) -> str:
    rows = []
    for init in ("default", "orthogonal_sqrt2"):
        for seed in (0, 1):
            name = f"learning-CheetahRun-xeon-2core-init-{init}-seed{seed}.json"
            data = load(name)
            at = {p["env_steps"]: p["eval_return"] for p in data["curve"]}
            rows.append(
                [
                    f"`{init}`",
                    str(seed),
                    fmt(data["env_steps_per_s_median"], ".0f"),
                    kilo(data["curve"][-1]["env_steps"]),
                    fmt(at.get(60000)),
                    fmt(at.get(92000)),
                    fmt(data["final_eval_return"]),
                    fmt(data["best_eval_return"]),
                ]
            )
    header = [
        "--bronet-init",
        "seed",
        "env steps/s",
        "env steps",
        "eval at 60k",
        "eval at 92k",
        "final",
        "best",
    ]
    name = "learning-CheetahRun-xeon-2core-init-default-seed0.json"
    return table(header, rows) + f"\n{machine(load(name))}, 180 s each.\n"


FASTTD3_CHEETAH = "peers-CheetahRun-xeon-2core-fasttd3.json"


def fasttd3_cheetah(page: str) -> str:
    data = load(FASTTD3_CHEETAH)
    rows = []
    for name, entry in data["trainers"].items():
        row = data["summary"]["rows"][name]
        rows.append(
            [
                name,
                fmt(row["compile_s"], ".0f") + " s",
                fmt(row["env_steps_per_s_after_compile"], ",.0f"),
                kilo(entry["end_env_steps"]),
                fmt(row["final_return"]),
                fmt(row["best_return"]),
                seconds(row["time_to_threshold_s"]),
            ]
        )
    header = [
        "trainer",
        "compile",
        "env steps/s",
        "env steps",
        "final",
        "best",
        f"time to {data['summary']['threshold']:.1f} (FastTD3's final)",
    ]
    return (
        table(header, rows) + f"\n{data['budget_s']:.0f} s each; {source(FASTTD3_CHEETAH, page)}.\n"
    )


TABLES = {
    "small-tasks-vs-brax": small_tasks_vs_brax,
    "pendulum-seeds": pendulum_seeds,
    "pendulum-episode-length": pendulum_episode_length,
    "walker-seeds": walker_seeds,
    "cheetah-preset": cheetah_preset,
    "init-sqrt2": init_sqrt2,
    "fasttd3-cheetah": fasttd3_cheetah,
}
