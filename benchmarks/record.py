"""The results record: every table in README.md and docs/ that reports a measurement is
generated here from the JSON in benchmarks/results/, so no hand-copied number can drift.

    python benchmarks/record.py            # rewrite the tables in place
    python benchmarks/record.py --check    # exit 1 and show the difference if any is stale

A table lives between ``<!-- record:NAME -->`` and ``<!-- /record:NAME -->`` in a Markdown
file; NAME is a function of `TABLES`, which reads the JSON it names and returns the Markdown
(each table names its files, machine and commit). ``tests/test_record.py`` runs ``--check``.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import re
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PAGES = ("README.md", "docs/*.md")
MARKER = re.compile(r"(<!-- record:([\w-]+) -->\n)(.*?)(<!-- /record:\2 -->)", re.S)


@cache
def load(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / name).read_text())


def link(name: str, page: str) -> str:
    """A link to a results file from a page in the repository root or docs/."""
    prefix = "../" if page.startswith("docs/") else ""
    return f"[{name.removesuffix('.json')}]({prefix}benchmarks/results/{name})"


def machine(info: dict[str, Any]) -> str:
    """A machine as the record names it: the CPU model and cores, or the device."""
    if info.get("backend", "cpu") != "cpu":
        return str(info.get("device_kind"))
    model = str(info.get("cpu_model") or "CPU")
    short = "AMD EPYC" if "EPYC" in model else "Intel Xeon" if "Xeon" in model else model
    return f"{info.get('usable_cpus') or info.get('cpu_count')}-vCPU {short}"


def commit(info: dict[str, Any]) -> str:
    return str(info.get("git_commit") or "?")[:7]


def fmt(value: Any, spec: str = ".1f") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, spec)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in rows)]) + "\n"


# ------------------------------------------------------------------------- several seeds
SEEDS_FILES = ("seeds-CartpoleBalance-epyc-2core.json", "seeds-HumanoidWalk-epyc-2core.json")


def seeds_cost(page: str) -> str:
    rows, sources = [], []
    for name in SEEDS_FILES:
        data = load(name)
        where = f"{machine(data['machine'])}, commit {commit(data['machine'])}"
        sources.append(f"{link(name, page)} ({where})")
        for row in data["cost"]:
            rows.append([
                data["env"],
                str(row["num_seeds"]),
                fmt(row["chunk_compile_s"]),
                fmt(row.get("compile_vs_one_seed"), ".2f"),
                fmt(row["env_steps_per_s_total"], ",.0f"),
                fmt(row["env_steps_per_s_per_seed"], ",.0f"),
                fmt(row.get("total_vs_one_seed"), ".2f"),
            ])  # fmt: skip
    header = ["task", "seeds", "chunk compile s", "compile vs 1 seed", "env steps/s, all seeds",
              "env steps/s per seed", "all seeds vs 1 seed"]  # fmt: skip
    return table(header, rows) + "\nFrom " + "; ".join(sources) + ".\n"


def seeds_equality(page: str) -> str:
    rows = []
    for name in SEEDS_FILES:
        data = load(name)
        eq = data["equality"]
        steps = [s["after"] for s in eq["members"][0]["steps"]]
        for index, after in enumerate(steps):
            worst_state = max(m["steps"][index].get("state", {}).get("max_abs", 0.0)
                              for m in eq["members"])  # fmt: skip
            worst_rel = max(m["steps"][index].get("metrics", {}).get("max_rel", 0.0)
                            for m in eq["members"])  # fmt: skip
            same = [m["steps"][index].get("state") for m in eq["members"]]
            identical = "-"
            if same[0] is not None:
                equal, total = (sum(s[k] for s in same) for k in ("identical_leaves", "leaves"))
                identical = f"{equal} / {total}"
            has_metrics = "metrics" in eq["members"][0]["steps"][index]
            rows.append([data["env"], after, identical, fmt(worst_state, ".2g") if same[0] else "-",
                         fmt(worst_rel, ".2g") if has_metrics else "-"])  # fmt: skip
    header = ["task", "after", "identical state leaves (3 seeds)", "state max abs diff",
              "metrics max rel diff"]  # fmt: skip
    names = ", ".join(link(n, page) for n in SEEDS_FILES)
    length = load(SEEDS_FILES[0])["equality"]["iterations_per_chunk"]
    return table(header, rows) + f"\nChunks of {length} iterations; from {names}.\n"


# ------------------------------------------------------------- the humanoid's take-off (CPU)
TAKEOFF_RETURN = 50.0  # a humanoid above this in HumanoidWalk stands and walks a little
TAKEOFF_LEARNING = tuple(
    f"learning-HumanoidWalk-xeon-2core-screen-8envs-8x64{s}.json"
    for s in ("", "-seed1", "-seed2", "-seed3")
) + (  # fmt: skip
    "learning-HumanoidWalk-xeon-2core-screen-sac-nobackup-train250.json",
    "learning-HumanoidWalk-xeon-2core-screen-sac-b512x16-vtg.json",
    "learning-HumanoidWalk-xeon-2core-screen-td3-b1024x2.json",
)
TAKEOFF_PEERS = "peers-HumanoidWalk-xeon-2core-seeds-8envs.json"
# gradient updates per env step of the Brax SAC sizes in the peers harness (Playground's
# dm_control config: grad_updates_per_step 8 after each step of num_envs envs)
BRAX_SAC_UPDATES_PER_STEP = {"brax_sac (published size)": 8 / 128, "brax_sac (1/16 size)": 8 / 8}


def _takeoff_runs() -> list[dict[str, Any]]:
    runs = []
    for name in TAKEOFF_LEARNING:
        data = load(name)
        c = data["config"]
        runs.append({"trainer": "fastbrc", "file": name, "num_envs": c["num_envs"],
                     "batch": c["batch_size"], "sigma": c["updates_per_iteration"] / c["num_envs"],
                     "curve": data["curve"], "machine": data["machine"]})  # fmt: skip
    peers = load(TAKEOFF_PEERS)
    for run in peers["runs"]:
        sizes, variant = run["sizes"] or {}, run["variant"]
        if variant == "fastbrc":
            sigma = sizes["updates_per_iteration"] / sizes["num_envs"]
        elif variant in BRAX_SAC_UPDATES_PER_STEP:
            sigma = BRAX_SAC_UPDATES_PER_STEP[variant]
        else:
            continue  # PPO is on-policy; FastTD3's CPU runs ended early (crashed or slow)
        runs.append({"trainer": variant, "file": TAKEOFF_PEERS, "num_envs": sizes["num_envs"],
                     "batch": sizes["batch_size"], "sigma": sigma, "curve": run["curve"],
                     "machine": peers["machine"]})  # fmt: skip
    return runs


def humanoid_takeoff(page: str) -> str:
    """Every committed HumanoidWalk CPU run of an off-policy trainer: where it took off."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for run in _takeoff_runs():
        key = (run["trainer"], run["num_envs"], run["batch"], run["sigma"])
        groups.setdefault(key, []).append(run)
    rows = []
    for (trainer, envs, batch, sigma), runs in groups.items():
        took, never = [], []
        for run in runs:
            curve = run["curve"]
            hit = next((p for p in curve if (p["eval_return"] or 0) >= TAKEOFF_RETURN), None)
            if hit:
                took.append(hit["env_steps"])
            else:
                never.append(curve[-1]["env_steps"] if curve else 0)
        at = ", ".join(f"{s / 1e3:.0f}k / {s * sigma / 1e3:.0f}k" for s in sorted(took)) or "-"
        rows.append([trainer, str(envs), str(batch), fmt(sigma, ".3g"),
                     f"{len(took)} of {len(runs)}", at,
                     fmt(max(never) / 1e3 if never else None, ".0f") + ("k" if never else ""),
                     fmt(max(never) * sigma / 1e3 if never else None, ".0f")
                     + ("k" if never else "")])  # fmt: skip
    header = ["trainer", "envs", "batch", "updates per env step", "took off",
              "at env steps / updates", "longest run without (env steps)", "(updates)"]  # fmt: skip
    files = sorted({run["file"] for run in _takeoff_runs()})
    machines = sorted({machine(run["machine"]) for run in _takeoff_runs()})
    note = (
        f"Take-off: the first evaluation at or above {TAKEOFF_RETURN:g}. Machines: "
        f"{', '.join(machines)}; from {', '.join(link(f, page) for f in files)}."
    )
    return table(header, rows) + "\n" + note + "\n"


# ------------------------------------------------------------ the GPU preset on an H200
GPU_PROFILE = "profile-HumanoidWalk-h200-1024envs.json"


def gpu_preset_iteration(page: str) -> str:
    """Where the GPU preset's (FastTD3's recipe) iteration goes on the H200."""
    data = load(GPU_PROFILE)
    ms = data["ms_per_iteration"]
    upi = data["config"]["updates_per_iteration"]
    n = data["num_envs"]
    rows = [
        ["env step (1,024 envs)", fmt(ms["env_only"], ".1f"), fmt(n / ms["env_only"] * 1e3, ",.0f")
         + " env steps/s"],
        [f"learn ({upi} updates of {data['config']['batch_size']:,})", fmt(ms["learn_only"], ".1f"),
         fmt(upi / ms["learn_only"] * 1e3, ".0f") + " updates/s"],
        ["fused iteration", fmt(ms["fused"], ".1f"), fmt(n / ms["fused"] * 1e3, ",.0f")
         + " env steps/s"],
    ]  # fmt: skip
    where = f"{machine(data['machine'])}, commit {commit(data['machine'])}"
    return table(["part", "ms per iteration", "rate"], rows) + (
        f"\nFrom {link(GPU_PROFILE, page)} ({where}; `benchmarks/profile_iteration.py`).\n"
    )


TABLES: dict[str, Callable[[str], str]] = {
    "gpu-preset-iteration": gpu_preset_iteration,
    "humanoid-takeoff": humanoid_takeoff,
    "seeds-cost": seeds_cost,
    "seeds-equality": seeds_equality,
}


# -------------------------------------------------------------------------------- pages
def render(text: str, page: str) -> str:
    def one(match: re.Match) -> str:
        name = match.group(2)
        if name not in TABLES:
            raise SystemExit(f"record: {page}: no table named {name!r} (see TABLES)")
        return match.group(1) + TABLES[name](page) + match.group(4)

    return MARKER.sub(one, text)


def pages() -> list[Path]:
    return sorted({p for pattern in PAGES for p in ROOT.glob(pattern)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a table is stale")
    args = parser.parse_args(argv)
    stale = []
    for path in pages():
        page = str(path.relative_to(ROOT))
        old = path.read_text()
        new = render(old, page)
        if new == old:
            continue
        stale.append(page)
        if args.check:
            sys.stdout.writelines(difflib.unified_diff(
                old.splitlines(True), new.splitlines(True), f"{page} (committed)",
                f"{page} (from the JSON)"))  # fmt: skip
        else:
            path.write_text(new)
    if args.check and stale:
        print(f"record: stale tables in {', '.join(stale)}; run python benchmarks/record.py")
        return 1
    print(f"record: {'rewrote ' + ', '.join(stale) if stale and not args.check else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
