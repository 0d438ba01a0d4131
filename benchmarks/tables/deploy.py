"""Tables of `fastbrc export` and `fastbrc sim2sim` (docs/deploy.md): the exported files
against the JAX policy, and a checkpoint's return in plain MuJoCo against MJX."""

from __future__ import annotations

from tables.common import link, load, source, table

EXPORTS = (
    "export-CheetahRun-epyc-2core-ckpt72000.json",
    "export-CartpoleBalance+PendulumSwingup-epyc-2core-ckpt100000.json",
    "export-HumanoidWalk-epyc-2core-ckpt68800.json",
    "export-G1JoystickFlatTerrain-epyc-2core-placeholder-meshes-ckpt1600.json",
)
SIM2SIM = (
    "sim2sim-CheetahRun-epyc-2core-ckpt72000.json",
    "sim2sim-WalkerWalk-epyc-2core-ckpt42000.json",
    "sim2sim-HumanoidWalk-epyc-2core-ckpt68800.json",
)


def _latency(fmt: str, lat: dict) -> tuple[str, str]:
    if fmt == "onnx":
        two, one = lat["ort_default_threads"], lat["ort_1_thread"]
        single = f"{two['batch_1']['median']:.3f} / {one['batch_1']['median']:.3f}"
        batch = f"{two['batch_4096']['median']:.2f} / {one['batch_4096']['median']:.2f}"
        return single, batch
    jit = lat["jax_export_jit"]
    return f"jax: {jit['batch_1']['median']:.3f}", f"jax: {jit['batch_4096']['median']:.2f}"


def export_files(page: str) -> str:
    """One row per run and format: equality on rollout observations, time, size, latency."""
    rows = []
    for name in EXPORTS:
        result = load(name)
        for fmt, item in result["formats"].items():
            single, batch = _latency(fmt, item["latency_ms"])
            rows.append([
                result["env"], f"{result['checkpoint']:,}", fmt,
                f"{result['observations']['count']:,}", f"{item['max_abs_diff']:.1e}",
                f"{item['export_s']:.1f}", f"{item['file_bytes'] / 1024:.1f}", single, batch,
                link(name, page, "JSON"),
            ])  # fmt: skip
    header = [
        "run", "checkpoint", "format", "observations", "max abs diff", "export s", "file KiB",
        "ORT 1 obs ms (2 threads / 1)", "ORT 4,096 obs ms (2 threads / 1)", "JSON",
    ]  # fmt: skip
    sources = ", ".join(source(name, page) for name in EXPORTS)
    return table(header, rows) + f"\nMeasured by {sources}.\n"


def sim2sim_returns(page: str) -> str:
    """One row per task: MuJoCo's mean return against MJX's from the same initial draws."""
    rows = []
    for name in SIM2SIM:
        r = load(name)
        apart = ", ".join(str(t["first_step_qpos_apart_1e-3"]) for t in r["trace"] or [])
        gaps = [t["one_step_max"]["one_step_qpos"] for t in r["trace"] or [] if "one_step_max" in t]
        rows.append([
            r["env"], f"{r['checkpoint']:,}", f"{r['episodes']}",
            f"{r['mujoco']['mean']:.1f} ± {r['mujoco']['std']:.1f}",
            f"{r['mjx']['mean']:.1f} ± {r['mjx']['std']:.1f}",
            f"{r['difference']:+.1f} ({r['relative_difference']:+.1%})", apart or "-",
            f"{max(gaps):.1e}" if gaps else "not traced", link(name, page, "JSON"),
        ])  # fmt: skip
    header = [
        "task", "checkpoint", "episodes", "MuJoCo (mj_step)", "MJX (fastbrc eval)",
        "MuJoCo - MJX", "qpos apart by 1e-3 at step", "one step from the same state: max qpos gap",
        "JSON",
    ]  # fmt: skip
    sources = ", ".join(source(name, page) for name in SIM2SIM)
    return table(header, rows) + f"\nMeasured by {sources}.\n"


TABLES = {"export-files": export_files, "sim2sim-returns": sim2sim_returns}
