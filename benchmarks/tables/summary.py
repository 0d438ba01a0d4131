"""The one summary table of the current results (README and docs/results.md): each row's
number computed from its JSON, with the machine and the link."""

from __future__ import annotations

from collections.abc import Callable

from tables import deploy, gpu, humanoid, infrastructure, plan, small_tasks
from tables.common import RESULTS, link, load, machine

Row = tuple[str, str, str, str]  # result, number, machine, JSON link


def _small_tasks(page: str) -> list[Row]:
    cells, met = [], 0
    for task, name in small_tasks.XEON_COMBINED.items():
        data = load(name)
        run = next(r for r in data["runs"] if r["trainer"] == "fastbrc")
        t = run["time_to_threshold_s"]
        met += data["summary"]["target"]["met"]
        cells.append(f"{task} {t:.0f} s ({t / data['budget_s']:.2f})")
    data = load(small_tasks.XEON_COMBINED["CartpoleBalance"])
    return [
        (
            f"fastbrc vs Brax SAC and PPO, {data['budget_s']:.0f} s each: time to the best peer's "
            f"final return (target: half the budget; met on {met} of 3)",
            "; ".join(cells),
            machine(data),
            link(small_tasks.XEON_COMBINED["CartpoleBalance"], page, "Cartpole")
            + ", "
            + link(small_tasks.XEON_COMBINED["CheetahRun"], page, "Cheetah")
            + ", "
            + link(small_tasks.XEON_COMBINED["PendulumSwingup"], page, "Pendulum"),
        )
    ]


def _pendulum(page: str) -> list[Row]:
    data = load(small_tasks.PENDULUM_SEEDS)
    met = "met" if data["summary"]["target"]["met"] else "missed"
    times = [r["time_to_threshold_s"] for r in data["runs"] if r["trainer"] == "fastbrc"]
    budget = data["budget_s"]
    return [
        (
            f"PendulumSwingup, 100-step training episodes, three seeds: time to the best peer's "
            f"{data['summary']['threshold']:.1f} (target {met})",
            ", ".join(f"{t:.0f} s ({t / budget:.2f})" for t in times),
            machine(data),
            link(small_tasks.PENDULUM_SEEDS, page, "JSON"),
        )
    ]


def _walker(page: str) -> list[Row]:
    runs = [load(f"learning-WalkerWalk-epyc-2core-preset-seed{s}.json") for s in range(3)]
    hits = [next(p for p in d["curve"] if p["eval_return"] >= 750)["wall_s"] for d in runs]
    finals = [d["final_eval_return"] for d in runs]
    return [
        (
            "WalkerWalk, the CPU preset (`make train` on a CPU), 600 s, seeds 0-2: first "
            "eval >= 750; final",
            f"{', '.join(f'{h:.0f} s' for h in hits)}; {min(finals):.0f}-{max(finals):.0f}",
            machine(runs[0]),
            link("learning-WalkerWalk-epyc-2core-preset-seed0.json", page, "seed 0"),
        )
    ]


def _humanoid_cpu(page: str) -> list[Row]:
    data = load(humanoid.HARNESS)
    ours = [r for r in data["runs"] if r["trainer"] == "fastbrc"]
    took = sum(r["best_return"] >= humanoid.TAKEOFF_RETURN for r in ours)
    best = max(r["best_return"] for r in ours)
    return [
        (
            f"HumanoidWalk, 2 CPU cores, {data['budget_s']:.0f} s: fastbrc seeds that take off; "
            f"threshold {data['summary']['threshold']:.1f} (Brax SAC /16's best run): target "
            f"{'met' if data['summary']['target']['met'] else 'missed'}",
            f"{took} of {len(ours)} (best {best:.1f})",
            machine(data),
            link(humanoid.HARNESS, page, "JSON"),
        )
    ]


def _gpu(page: str) -> list[Row]:
    learning, after = load(gpu.LEARNING), load(gpu.AFTER)
    ms = after["ms_per_iteration"]
    best = max(p["eval_return"] for p in learning["curve"])
    return [
        (
            "HumanoidWalk, GPU preset (FastTD3's recipe): env steps/s; fused iteration against "
            "its parts; best eval return",
            f"{learning['env_steps_per_s_median']:,.0f}; "
            f"{ms['fused']:.1f} ms against {ms['env_only']:.1f} + {ms['learn_only']:.1f}; "
            f"{best:.1f} by {learning['curve'][-1]['env_steps'] / 1e6:.1f}M env steps "
            "(no take-off)",
            machine(after),
            link(gpu.LEARNING, page, "learning") + ", " + link(gpu.AFTER, page, "profile"),
        )
    ]


def _seeds(page: str) -> list[Row]:
    rows = []
    for name in infrastructure._seeds_files():
        data = load(name)
        top = max(data["cost"], key=lambda r: r["num_seeds"])
        if "total_vs_one_seed" not in top:
            continue
        rows.append(
            (
                f"{data['env']}: {top['num_seeds']} seeds in one program against 1 seed "
                "(env steps/s of all seeds; compile)",
                f"{top['total_vs_one_seed']:.2f}x; {top['compile_vs_one_seed']:.2f}x",
                machine(data),
                link(name, page, "JSON"),
            )
        )
    return rows


def _deploy(page: str) -> list[Row]:
    exports = [load(name) for name in deploy.EXPORTS]
    worst = max(item["max_abs_diff"] for d in exports for item in d["formats"].values())
    rows = [(
        "`fastbrc export` (ONNX and jax.export) against the JAX policy on 10,000 rollout "
        f"observations each ({', '.join(d['env'] for d in exports)}): largest action difference",
        f"{worst:.1e}", machine(exports[0]),
        ", ".join(link(name, page, load(name)["env"]) for name in deploy.EXPORTS),
    )]  # fmt: skip
    for name in deploy.SIM2SIM:
        data = load(name)
        rows.append((
            f"{data['env']}: `fastbrc sim2sim`, {data['episodes']} episodes in MuJoCo's mj_step "
            "against MJX from the same initial states (mean return)",
            f"{data['mujoco']['mean']:.1f} vs {data['mjx']['mean']:.1f} "
            f"({data['relative_difference']:+.1%})",
            machine(data), link(name, page, "JSON"),
        ))  # fmt: skip
    return rows


def _plan(page: str) -> list[Row]:
    held, rec = load(plan.HOLDOUT), load(plan.RECOMMEND)
    h = held["held_out"]
    error = ", ".join(f"{100 * h['rel_error'][k]:+.0f}%" for k in ("env_steps", "train_s"))
    wall = rec["median_wall_s_to_threshold"]
    r = rec["recommended"]
    task, threshold = held["fit"]["task"], held["fit"]["threshold"]
    return [
        (
            f"`fastbrc plan` on {task} (return {threshold:g}): sigma {h['sigma']:g} held out, "
            f"predicted against the median of {len(h['measured']['runs'])} seeds (data; "
            "training time)",
            error,
            machine(held),
            link(plan.HOLDOUT, page, "JSON"),
        ),
        (
            f"`fastbrc plan recommend --budget-seconds {rec['budget_seconds']:g}` on "
            f"{rec['fit']['task']}: sigma {r['sigma']:g}, batch {r['batch_size']} against the "
            f"CPU preset, median wall-clock to {rec['fit']['threshold']:g} of "
            f"{len(r['runs'])} seeds",
            " vs ".join(plan.median_wall(wall[k]) for k in ("recommended", "preset")),
            machine(rec),
            link(plan.RECOMMEND, page, "JSON"),
        ),
    ]


def _docker(page: str) -> list[Row]:
    d = load(infrastructure.DOCKER)
    return [
        (
            "Docker image built with podman on a Debian base, trained CartpoleBalance as uid 1000",
            f"{d['build_seconds']:.0f} s build, {d['image_bytes'] / 1e9:.2f} GB; eval "
            f"{d['train']['eval_returns'][-1]:.0f}",
            "2-vCPU AMD EPYC",
            link(infrastructure.DOCKER, page, "JSON"),
        )
    ]


ROWS: tuple[Callable[[str], list[Row]], ...] = (
    _small_tasks,
    _pendulum,
    _walker,
    _humanoid_cpu,
    _gpu,
    _seeds,
    _deploy,
    _plan,
    _docker,
)


def results_summary(page: str) -> str:
    rows = [list(row) for make in ROWS for row in make(page)]
    return "| result | measured | machine | JSON |\n|---|---|---|---|\n" + "".join(
        "| " + " | ".join(row) + " |\n" for row in rows
    )


TABLES = {"results-summary": results_summary}
__all__ = ["RESULTS", "TABLES"]


def make_train(page: str) -> str:
    """What `make train` trains on a CPU and on a GPU, and what it ends with (README)."""
    walker = [load(f"learning-WalkerWalk-epyc-2core-preset-seed{s}.json") for s in range(3)]
    passes = [next(p for p in d["curve"] if p["eval_return"] >= 750)["wall_s"] for d in walker]
    finals = ", ".join(f"{d['final_eval_return']:.0f}" for d in walker)
    learning = load(gpu.LEARNING)
    rate, compile_s = learning["env_steps_per_s_median"], learning["compile_s"]
    minutes = (20e6 / rate + compile_s) / 60
    best = max(p["eval_return"] for p in learning["curve"])
    rows = [
        [
            "a CPU only (a laptop)",
            "**WalkerWalk** (DM Control's walker), the CPU preset, 600 s of training (compile "
            "included), then the plot and a video",
            "about 13 minutes in all on a 2-vCPU AMD EPYC VM",
            f"a walker that walks: seeds 0-2 passed 750 (of 1000) at "
            f"{', '.join(f'{s:.0f}' for s in passes)} s and ended at {finals} "
            "([runs](docs/results.md#walkerwalk-what-make-train-trains-on-a-cpu))",
        ],
        [
            "an NVIDIA GPU",
            "**HumanoidWalk**, the GPU preset (1,024 envs, batch 32,768), 20M env steps",
            f"about {minutes:.0f} min on one H200 (its measured {rate:,.0f} env steps/s and "
            f"{compile_s:.0f} s compile; no full run yet)",
            f"not known yet: the one GPU run, {learning['curve'][-1]['wall_s']:.0f} s and "
            f"{learning['curve'][-1]['env_steps'] / 1e6:.1f}M env steps, had not taken off "
            f"(best eval return {best:.1f})",
        ],
    ]
    header = ["your machine", "what `make train` trains", "how long", "what it ends with"]
    return (
        "\n".join(
            ["| " + " | ".join(header) + " |", "|---|---|---|---|"]
            + ["| " + " | ".join(row) + " |" for row in rows]
        )
        + "\n"
    )


TABLES["make-train"] = make_train
