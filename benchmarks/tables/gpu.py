"""Tables of the lent GPU (NVIDIA H200): the GPU preset's iteration before and after the
scatter fix, and its learning run."""

from __future__ import annotations

from tables.common import fmt, kilo, link, load, machine, source, table

BEFORE = "profile-HumanoidWalk-h200-1024envs-scatter.json"
AFTER = "profile-HumanoidWalk-h200-1024envs.json"
LEARNING = "learning-HumanoidWalk-h200.json"


def gpu_iteration(page: str) -> str:
    """The GPU preset's parts and fused iteration, before and after the fix (ms)."""
    before, after = load(BEFORE), load(AFTER)
    c = after["config"]
    parts = (
        ("env step only", "env_only"),
        ("`collect` only (policy, env step, replay write, statistics)", "collect_only"),
        (
            f"`learn` only ({c['updates_per_iteration']} updates at batch {c['batch_size']:,}, "
            f"width {c['critic_width']})",
            "learn_only",
        ),
        ("**fused iteration (the trainer)**", "fused"),
    )
    rows = [
        [label, fmt(before["ms_per_iteration"][k], ".2f"), fmt(after["ms_per_iteration"][k], ".2f")]
        for label, k in parts
    ]
    rows.append(
        [
            "fused - collect - learn",
            fmt(before["fused_minus_parts_ms"], ".2f"),
            fmt(after["fused_minus_parts_ms"], ".2f"),
        ]
    )
    rows.append(
        ["fused chunk compile (s)", fmt(before["fused_compile_s"]), fmt(after["fused_compile_s"])]
    )
    speedup = before["ms_per_iteration"]["fused"] / after["ms_per_iteration"]["fused"]
    n = after["num_envs"]
    return table(["part (ms per iteration)", "before", "after"], rows) + (
        f"\nThe fix made the fused iteration {speedup:.1f}x faster: "
        f"{n / after['ms_per_iteration']['fused'] * 1e3:,.0f} env steps/s at {n:,} envs "
        f"({machine(after)}; {link(BEFORE, page, 'before')}, {link(AFTER, page, 'after')}, "
        "`benchmarks/profile_iteration.py`).\n"
    )


def gpu_learning(page: str) -> str:
    data = load(LEARNING)
    rows = [
        [kilo(p["env_steps"]), f"{p['wall_s']:.0f} s", fmt(p["eval_return"])] for p in data["curve"]
    ]
    return table(
        ["env steps", "wall-clock (compile included)", "eval return (16 episodes)"], rows
    ) + (
        f"\nThe GPU preset (FastTD3's recipe), {data['env_steps_per_s_median']:,.0f} env steps/s "
        f"after a {data['compile_s']:.0f} s compile; {source(LEARNING, page)}, "
        f"{link('learning-HumanoidWalk-h200-metrics.jsonl', page, 'metrics')}, "
        f"{link('learning-HumanoidWalk-h200.log', page, 'log')}.\n"
    )


TABLES = {"gpu-iteration": gpu_iteration, "gpu-learning": gpu_learning}


def gpu_preset_iteration(page: str) -> str:
    """Where the GPU preset's (FastTD3's recipe) iteration goes on the H200, after the fix."""
    data = load(AFTER)
    ms, c, n = data["ms_per_iteration"], data["config"], data["num_envs"]
    upi = c["updates_per_iteration"]
    rows = [
        [
            f"env step ({n:,} envs)",
            fmt(ms["env_only"]),
            f"{n / ms['env_only'] * 1e3:,.0f} env steps/s",
        ],
        [
            f"learn ({upi} updates of {c['batch_size']:,})",
            fmt(ms["learn_only"]),
            f"{upi / ms['learn_only'] * 1e3:.0f} updates/s",
        ],
        ["fused iteration", fmt(ms["fused"]), f"{n / ms['fused'] * 1e3:,.0f} env steps/s"],
    ]
    return table(["part", "ms per iteration", "rate"], rows) + (
        f"\nFrom {source(AFTER, page)} (`benchmarks/profile_iteration.py`).\n"
    )


TABLES["gpu-preset-iteration"] = gpu_preset_iteration
