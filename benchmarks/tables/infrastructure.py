"""Tables of the trainer's machinery: throughput of the fused loop, checkpoints, multi-task,
data parallelism, start-up, the Docker image, several seeds in one program."""

from __future__ import annotations

from tables.common import RESULTS, fmt, link, load, source, table

THROUGHPUT = "throughput-HumanoidWalk+CartpoleBalance-epyc-2core.json"


def throughput(page: str) -> str:
    rows = []
    for r in load(THROUGHPUT)["rows"]:
        rows.append(
            [
                r["env"],
                str(r["num_envs"]),
                str(r["batch_size"]),
                str(r["critic_width"]),
                fmt(r["env_only_steps_per_s"], ",.0f"),
                fmt(r["update_only_updates_per_s"], ".1f"),
                fmt(r["fused_env_steps_per_s"], ",.0f"),
                fmt(r["python_loop_env_steps_per_s"], ",.0f"),
                f"**{r['fused_over_python_loop']:.2f}**",
                f"**{r['fused_over_additive_bound']:.2f}**",
            ]
        )
    header = [
        "env",
        "envs",
        "batch",
        "critic width",
        "env-only steps/s",
        "update-only upd/s",
        "fused steps/s",
        "Python loop steps/s",
        "fused / loop",
        "fused / bound",
    ]
    return table(header, rows) + f"\n{source(THROUGHPUT, page)}.\n"


CHECKPOINTS = (
    ("cpu profile", "checkpoint-HumanoidWalk-epyc-2core-profile.json"),
    ("gpu profile (FastTD3)", "checkpoint-HumanoidWalk-epyc-2core-gpu-profile.json"),
)


def checkpoints(page: str) -> str:
    rows = []
    for label, name in CHECKPOINTS:
        data = load(name)
        for r in sorted(data["rows"], key=lambda r: not r["save_buffer"]):
            rows.append(
                [
                    label,
                    f"{data['num_envs']:,} x {data['replay_capacity_per_env']:,}",
                    f"{data['replay_bytes'] / 2**20:,.0f} MiB",
                    "with" if r["save_buffer"] else "without",
                    f"{r['save_s']:.2f} s",
                    f"{r['restore_s']:.2f} s",
                    f"{r['disk_bytes'] / 2**20:,.1f} MiB",
                ]
            )
    header = [
        "preset",
        "envs x transitions/env",
        "replay in memory",
        "buffer",
        "save",
        "restore",
        "on disk",
    ]
    names = ", ".join(link(n, page) for _, n in CHECKPOINTS)
    return table(header, rows) + (
        f"\nMedians of the repeats (one for the FastTD3 scale, whose single repeat includes the "
        f"fingerprint function's compile); {load(CHECKPOINTS[0][1])['host']}, {names}.\n"
    )


MULTITASK = "multitask-cartpole-pendulum-epyc-2core.json"


def multitask(page: str) -> str:
    data = load(MULTITASK)
    single = {
        r["tasks"][0]: r["evals"][r["tasks"][0]] for r in data["runs"] if r["kind"] == "single"
    }
    multi = next(r for r in data["runs"] if r["kind"] != "single")["evals"]
    rows = [
        [
            task,
            fmt(single[task]["final_return"]),
            fmt(multi[task]["final_return"]),
            fmt(single[task]["best_return"]),
            fmt(multi[task]["best_return"]),
        ]
        for task in single
    ]
    header = [
        "task",
        "single-task final",
        "three-task final",
        "single-task best",
        "three-task best",
    ]
    return table(header, rows) + f"\n{source(MULTITASK, page)}.\n"


SCALING = "scaling-CartpoleBalance-epyc-2core-fake-devices.json"


def data_parallel(page: str) -> str:
    rows = [
        [
            str(r["devices"]),
            fmt(r["compile_s"]),
            fmt(r["env_steps_per_s"], ",.0f"),
            fmt(r["max_rel_diff_vs_first"], ".1e"),
            "yes" if r["replicas_identical"] else "no",
        ]
        for r in load(SCALING)["rows"]
    ]
    header = [
        "fake devices",
        "compile s",
        "env steps/s",
        "max relative difference of the learning metrics vs 1 device",
        "replicated params identical on every device",
    ]
    return table(header, rows) + f"\n{source(SCALING, page)}.\n"


STARTUP = "startup-CheetahRun-epyc-2core.json"


def startup(page: str) -> str:
    data = load(STARTUP)
    rows = [
        [k.replace("_", " "), fmt(v, ".2f")] for k, v in data["ratio_fastbrc_over_default"].items()
    ]
    return (
        table(["phase", "fastbrc's options / XLA's defaults"], rows)
        + f"\n{source(STARTUP, page)}.\n"
    )


DOCKER = "docker-check-CartpoleBalance-epyc-2core.json"


def docker(page: str) -> str:
    d = load(DOCKER)
    rows = [
        ["base (mmdebstrap bookworm, imported)", f"{d['base_seconds']:.0f} s"],
        [f"image build (no cache, extra {d['extra']})", f"{d['build_seconds']:.0f} s"],
        ["image size", f"{d['image_bytes'] / 1e9:.2f} GB"],
        ["Python, jax in the image", d["python_jax"]],
        [
            f"train CartpoleBalance, {d['train']['env_steps']:,} env steps, as uid 1000",
            f"{d['train']['seconds']:.0f} s; eval returns "
            f"{', '.join(map(str, d['train']['eval_returns']))}; "
            f"files owned by {d['train']['files_owned_by']}",
        ],
    ]
    return table(["step", "result"], rows) + (
        f"\n{d['podman']}, {d['cpu_count']} CPU cores, commit {d['git_commit']}; "
        f"{link(DOCKER, page)} (`make docker-check`).\n"
    )


SEEDS_FILES = ("seeds-CartpoleBalance-epyc-2core.json", "seeds-HumanoidWalk-epyc-2core.json")


def _seeds_files() -> list[str]:
    return [n for n in SEEDS_FILES if (RESULTS / n).exists() and "cost" in load(n)]


def seeds_cost(page: str) -> str:
    rows, sources = [], []
    for name in _seeds_files():
        data = load(name)
        sources.append(source(name, page))
        for r in data["cost"]:
            rows.append(
                [
                    data["env"],
                    str(r["num_seeds"]),
                    fmt(r["chunk_compile_s"]),
                    fmt(r.get("compile_vs_one_seed"), ".2f"),
                    fmt(r["env_steps_per_s_total"], ",.0f"),
                    fmt(r["env_steps_per_s_per_seed"], ",.0f"),
                    fmt(r.get("total_vs_one_seed"), ".2f"),
                ]
            )
    header = [
        "task",
        "seeds",
        "chunk compile s",
        "compile vs 1 seed",
        "env steps/s, all seeds",
        "env steps/s per seed",
        "all seeds vs 1 seed",
    ]
    return table(header, rows) + "\nFrom " + "; ".join(sources) + ".\n"


def seeds_equality(page: str) -> str:
    rows = []
    for name in _seeds_files():
        data = load(name)
        members = data["equality"]["members"]
        for index, step in enumerate(members[0]["steps"]):
            states = [m["steps"][index].get("state") for m in members]
            metrics = [m["steps"][index].get("metrics") for m in members]
            same = "-"
            if states[0] is not None:
                equal, total = (sum(s[k] for s in states) for k in ("identical_leaves", "leaves"))
                same = f"{equal} / {total}"
            rows.append(
                [
                    f"{data['env']} ({len(members)} seeds)",
                    step["after"],
                    same,
                    "-" if states[0] is None else fmt(max(s["max_abs"] for s in states), ".2g"),
                    "-" if metrics[0] is None else fmt(max(m["max_rel"] for m in metrics), ".2g"),
                ]
            )
    header = [
        "task",
        "after",
        "identical state leaves (all seeds)",
        "state max abs diff",
        "metrics max rel diff",
    ]
    files = _seeds_files()
    length = load(files[0])["equality"]["iterations_per_chunk"] if files else "-"
    names = ", ".join(link(n, page) for n in files)
    return table(header, rows) + f"\nChunks of {length} iterations; from {names}.\n"


TABLES = {
    "throughput": throughput,
    "checkpoints": checkpoints,
    "multitask": multitask,
    "data-parallel": data_parallel,
    "startup": startup,
    "docker": docker,
    "seeds-cost": seeds_cost,
    "seeds-equality": seeds_equality,
}
