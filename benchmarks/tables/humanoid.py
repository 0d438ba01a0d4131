"""Tables of HumanoidWalk on 2 CPU cores: the peers harness, where runs took off, the one-knob
screens of the CPU preset, where an iteration's time goes, XLA's flags, what the preset costs."""

from __future__ import annotations

from typing import Any

from tables.common import fmt, kilo, link, load, machine, seconds, source, table
from tables.small_tasks import variant

HARNESS = "peers-HumanoidWalk-xeon-2core-seeds-8envs.json"


def humanoid_harness(page: str) -> str:
    data = load(HARNESS)
    rows = []
    order = lambda r: (r["trainer"] != "fastbrc", variant(r), r["seed"])  # noqa: E731
    for run in sorted(data["runs"], key=order):
        sizes = run.get("sizes") or {}
        rows.append(
            [
                variant(run),
                str(run["seed"]),
                str(sizes.get("num_envs", "-")),
                str(sizes.get("batch_size", "-")),
                fmt(run["compile_s"], ".0f"),
                fmt(run["env_steps_per_s_after_compile"], ",.0f"),
                kilo(run["end_env_steps"]),
                fmt(run["return_at_budget"]),
                fmt(run["final_return"]),
                fmt(run["best_return"]),
                seconds(run["time_to_threshold_s"]),
            ]
        )
    threshold = data["summary"]["threshold"]
    header = [
        "trainer",
        "seed",
        "envs",
        "batch",
        "compile s",
        "env steps/s",
        "env steps",
        f"return at {data['budget_s']:.0f} s",
        "final",
        "best",
        f"time to {threshold:.1f}",
    ]
    met = "met" if data["summary"]["target"]["met"] else "missed"
    return table(header, rows) + (
        f"\nThreshold {threshold:.1f}: {data['summary']['threshold_source']}; target (every "
        f"fastbrc seed within half the budget): **{met}**. {source(HARNESS, page)}.\n"
    )


TAKEOFF_RETURN = 50.0  # a humanoid above this in HumanoidWalk stands and walks a little
TAKEOFF_LEARNING = tuple(
    f"learning-HumanoidWalk-xeon-2core-screen-8envs-8x64{s}.json"
    for s in ("", "-seed1", "-seed2", "-seed3")
) + (
    "learning-HumanoidWalk-xeon-2core-screen-sac-nobackup-train250.json",
    "learning-HumanoidWalk-xeon-2core-screen-sac-b512x16-vtg.json",
    "learning-HumanoidWalk-xeon-2core-screen-td3-b1024x2.json",
)
# gradient updates per env step of the Brax SAC sizes in the peers harness (Playground's
# dm_control config: grad_updates_per_step 8 after each step of num_envs envs)
BRAX_SAC_UPDATES_PER_STEP = {"brax_sac (published size)": 8 / 128, "brax_sac (1/16 size)": 8 / 8}


def _takeoff_runs() -> list[dict[str, Any]]:
    runs = []
    for name in TAKEOFF_LEARNING:
        data = load(name)
        c = data["config"]
        runs.append(
            {
                "trainer": "fastbrc",
                "file": name,
                "num_envs": c["num_envs"],
                "batch": c["batch_size"],
                "sigma": c["updates_per_iteration"] / c["num_envs"],
                "curve": data["curve"],
                "data": data,
            }
        )
    for run in load(HARNESS)["runs"]:
        sizes, name = run["sizes"] or {}, variant(run)
        if name == "fastbrc":
            sigma = sizes["updates_per_iteration"] / sizes["num_envs"]
        elif name in BRAX_SAC_UPDATES_PER_STEP:
            sigma = BRAX_SAC_UPDATES_PER_STEP[name]
        else:
            continue  # PPO is on-policy; FastTD3's CPU runs ended early (crashed or slow)
        runs.append(
            {
                "trainer": name,
                "file": HARNESS,
                "num_envs": sizes["num_envs"],
                "batch": sizes["batch_size"],
                "sigma": sigma,
                "curve": run["curve"],
                "data": load(HARNESS),
            }
        )
    return runs


def humanoid_takeoff(page: str) -> str:
    """Every committed HumanoidWalk CPU run of an off-policy trainer: where it took off."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for run in _takeoff_runs():
        groups.setdefault((run["trainer"], run["num_envs"], run["batch"], run["sigma"]), []).append(
            run
        )
    rows = []
    for (trainer, envs, batch, sigma), runs in groups.items():
        took, never = [], []
        for run in runs:
            curve = run["curve"]
            hit = next((p for p in curve if (p["eval_return"] or 0) >= TAKEOFF_RETURN), None)
            (took if hit else never).append(hit["env_steps"] if hit else curve[-1]["env_steps"])
        at = ", ".join(f"{kilo(s)} / {kilo(s * sigma)}" for s in sorted(took)) or "-"
        longest = max(never) if never else None
        rows.append(
            [
                trainer,
                str(envs),
                str(batch),
                fmt(sigma, ".3g"),
                f"{len(took)} of {len(runs)}",
                at,
                kilo(longest),
                kilo(longest * sigma if longest else None),
            ]
        )
    header = [
        "trainer",
        "envs",
        "batch",
        "updates per env step",
        "took off",
        "at env steps / updates",
        "longest run without (env steps)",
        "(updates)",
    ]
    files = sorted({run["file"] for run in _takeoff_runs()})
    machines = sorted({machine(run["data"]) for run in _takeoff_runs()})
    return table(header, rows) + (
        f"\nTake-off: the first evaluation at or above {TAKEOFF_RETURN:g}. Machines: "
        f"{', '.join(machines)}; from {', '.join(link(f, page) for f in files)}.\n"
    )


SCREENS = (
    ("seed 0 (900 s)", "the preset", "learning-HumanoidWalk-xeon-2core-screen-8envs-8x64.json"),
    (
        "seed 0",
        "`--sac-alpha-min 0.001`",
        "learning-HumanoidWalk-xeon-2core-screen-8envs-8x64-alphamin1e-3-seed0.json",
    ),
    (
        "seed 0",
        "`--policy-frequency 1`",
        "learning-HumanoidWalk-xeon-2core-screen-8envs-8x64-pf1-seed0.json",
    ),
    (
        "seed 0",
        "`--learning-starts-iterations 1250`",
        "learning-HumanoidWalk-xeon-2core-screen-8envs-8x64-start10k-seed0.json",
    ),
    (
        "seed 0",
        "`--train-episode-length 100`",
        "learning-HumanoidWalk-xeon-2core-screen-8envs-8x64-train100-seed0.json",
    ),
    (
        "seed 0",
        "`--critic-target mean`",
        "learning-HumanoidWalk-xeon-2core-screen-8envs-8x64-qmean-seed0.json",
    ),
    (
        "seed 0",
        "`--sac-target-entropy-per-dim 1.0`",
        "learning-HumanoidWalk-xeon-2core-screen-8envs-8x64-entropy1-seed0.json",
    ),
    (
        "seed 0",
        "`--bronet-init orthogonal_sqrt2`",
        "learning-HumanoidWalk-xeon-2core-screen-8envs-8x64-sqrt2-seed0.json",
    ),
    (
        "seed 1 (EPYC)",
        "the preset",
        "learning-HumanoidWalk-epyc-2core-screen-8envs-8x64-seed1.json",
    ),
    (
        "seed 1 (EPYC)",
        "`--actor-hidden 128 128`",
        "learning-HumanoidWalk-epyc-2core-screen-8envs-8x64-actor128-seed1.json",
    ),
    (
        "seed 1 (EPYC)",
        "`--actor-type bronet --actor-width 128`",
        "learning-HumanoidWalk-epyc-2core-screen-8envs-8x64-bronet128-seed1.json",
    ),
)


def humanoid_screens(page: str) -> str:
    rows = []
    for seed, knob, name in SCREENS:
        data = load(name)
        evals = [p["eval_return"] for p in data["curve"] if p["env_steps"] <= 120_000]
        rows.append(
            [
                seed,
                knob,
                fmt(data["env_steps_per_s_median"], ".0f"),
                ", ".join(f"{v:.1f}" for v in evals),
                fmt(data["best_eval_return"]),
                link(name, page, "JSON"),
            ]
        )
    header = ["seed", "knob", "env steps/s", "evaluations to 120k env steps", "best", "JSON"]
    return table(header, rows) + (
        f"\n600 s each unless marked; seed 0 on the {machine(load(SCREENS[0][2]))}, seed 1 on the "
        f"{machine(load(SCREENS[-1][2]))}.\n"
    )


ITERATION = (
    ("Intel Xeon, batch 64 (the preset)", "profile-HumanoidWalk-xeon-2core-8envs.json"),
    ("Intel Xeon, the same again", "profile-HumanoidWalk-xeon-2core-8envs-rerun.json"),
    ("AMD EPYC, batch 64", "profile-HumanoidWalk-epyc-2core-8envs-batch64.json"),
    ("AMD EPYC, batch 64 again", "profile-HumanoidWalk-epyc-2core-8envs-batch64-rerun.json"),
    ("AMD EPYC, batch 256", "profile-HumanoidWalk-epyc-2core-8envs-batch256.json"),
    ("AMD EPYC, batch 64, actor 128x128", "profile-HumanoidWalk-epyc-2core-8envs-actor128.json"),
)


def humanoid_iteration(page: str) -> str:
    rows = []
    for label, name in ITERATION:
        ms = load(name)["ms_per_iteration"]
        rows.append(
            [
                label,
                fmt(ms["env_only"]),
                fmt(ms["collect_only"]),
                fmt(ms["learn_only"]),
                fmt(ms["fused"]),
                link(name, page, "JSON"),
            ]
        )
    return table(
        ["machine, sizes", "env step", "collect", "learn (8 updates)", "fused", "JSON"], rows
    ) + (
        "\nMilliseconds per iteration of the humanoid CPU preset (8 envs, 8 updates per "
        "iteration), `benchmarks/profile_iteration.py`.\n"
    )


XLA = (
    ("XLA's defaults", "throughput-HumanoidWalk-epyc-2core-8envs-xla-default{}.json"),
    (
        "`--xla_cpu_multi_thread_eigen=false`",
        "throughput-HumanoidWalk-epyc-2core-8envs-xla-eigen1{}.json",
    ),
    ("`--xla_cpu_use_xnnpack=true`", "throughput-HumanoidWalk-epyc-2core-8envs-xla-xnnpack{}.json"),
    (
        "`--xla_cpu_enable_concurrency_optimized_scheduler=true`",
        "throughput-HumanoidWalk-epyc-2core-8envs-xla-concsched{}.json",
    ),
)


def xla_flags(page: str) -> str:
    from tables.common import RESULTS

    rows = []
    for label, pattern in XLA:
        fused, updates = [], []
        for suffix in ("", "-rerun", "-rerun2"):
            name = pattern.format(suffix)
            if not (RESULTS / name).exists():
                continue
            row = load(name)["rows"][0]
            fused.append(f"{row['fused_env_steps_per_s']:.0f}")
            updates.append(f"{row['update_only_updates_per_s']:.0f}")
        rows.append([label, ", ".join(fused), ", ".join(updates)])
    name = XLA[0][1].format("")
    return table(["XLA_FLAGS", "fused env steps/s (each run)", "update-only updates/s"], rows) + (
        f"\nOne fresh process each, back to back, {machine(load(name))}: "
        "`benchmarks/results/throughput-HumanoidWalk-epyc-2core-8envs-xla-*.json`.\n"
    )


PRESET_COST = (
    (
        "the 8-env preset against the issue's first (TD3, 64 envs, 2 x 1,024, width 256)",
        "preset-cost-HumanoidWalk-xeon-2core-8envs.json",
    ),
    (
        "`--cpu-devices 2` against `--cpu-devices 1` (the 128-env preset of the time)",
        "preset-cost-HumanoidWalk-xeon-2core-devices.json",
    ),
)


def preset_cost(page: str) -> str:
    rows = []
    for label, name in PRESET_COST:
        runs = load(name)["runs"]
        after, before = runs["preset"][0], runs["before"][0]
        rows.append(
            [
                label,
                f"{after['env_steps_per_s'] / before['env_steps_per_s']:.2f}x "
                f"({after['env_steps_per_s']:,.0f} / {before['env_steps_per_s']:,.0f})",
                f"{after['compile_total_s'] / before['compile_total_s']:.2f}x "
                f"({after['compile_total_s']:.0f} s / {before['compile_total_s']:.0f} s)",
                link(name, page, "JSON"),
            ]
        )
    return table(["comparison", "env steps/s", "compile", "JSON"], rows) + (
        f"\nOne fresh process each, {machine(load(PRESET_COST[0][1]))}; "
        "`benchmarks/preset_cost.py`.\n"
    )


TABLES = {
    "humanoid-harness": humanoid_harness,
    "humanoid-takeoff": humanoid_takeoff,
    "humanoid-screens": humanoid_screens,
    "humanoid-iteration": humanoid_iteration,
    "xla-flags": xla_flags,
    "preset-cost": preset_cost,
}
