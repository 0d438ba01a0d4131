"""One multi-task run against single-task runs at the same env steps per task: eval returns.

Run from the repository root on any JAX backend (CPU here, a GPU elsewhere)::

    python benchmarks/multitask.py          # CartpoleBalance,CartpoleSwingup,PendulumSwingup
                                            # on CPU; HumanoidStand,HumanoidWalk,HumanoidRun
                                            # on a GPU
    python benchmarks/multitask.py --only single --tasks CartpoleBalance \\
        --steps-per-task 12800 --envs-per-task 16 --extra critic_width=64   # smoke test

For tasks ``T_1..T_n`` with ``S = --steps-per-task``, ``E = --envs-per-task``,
``V = --eval-envs-per-task`` and ``b = --batch-per-env``, the runs are:

single-task run of ``T_i`` (one per task)
    ``preset(T_i, profile)`` with ``num_envs = E``, ``total_env_steps = S``,
    ``num_eval_envs = V``, ``batch_size = b x E``, ``eval_every_env_steps = S // 6``.
multi-task run (one)
    ``preset("T_1,...,T_n", profile)`` with ``num_envs = n x E``, ``total_env_steps = n x S``,
    ``num_eval_envs = n x V``, ``batch_size = b x n x E``,
    ``eval_every_env_steps = n x S // 6``. The envs split evenly over the tasks, so every task
    gets ``S`` env steps, ``E`` envs, ``V`` eval episodes and ``b x E`` transitions of each
    update's batch, as in its single-task run.

Every run uses ``reward_normalization = max_return`` and ``reward_scale = 1`` (per-task
normalisation replaces the per-task scale) and the SAME shared knobs: ``gamma``, ``v_min``,
``v_max``, ``critic_width``, ``updates_per_iteration``, ``learning_starts_iterations``,
``iterations_per_chunk``, ``tau``, ``replay_capacity_per_env`` and ``b`` are taken from
``T_1``'s preset (the multi-task preset is ``T_1``'s entry) and applied to every run; the
JSON records them under ``shared``, and under ``config_differences`` any other field in which
a run's config differs from the multi-task run's (empty for a fair comparison). Checkpoints
are written only at the end and without the replay buffer. ``--extra KEY=VALUE`` overrides a
Config field in every run (``--multi-extra`` in the multi-task run only).

Note what is and is not matched: per task, env steps and sampled transitions per env step
are equal, but the multi-task run does ``updates_per_iteration`` updates per iteration over
``n x E`` envs, i.e. as many gradient updates as ONE single-task run (each on an n times
larger batch), and 1/n of the updates of all single-task runs together. To match gradient
updates instead, pass ``--multi-extra updates_per_iteration=<n x the shared value>``.

Measured, per task: the final eval return (the last evaluation, after the last chunk), the
best eval return and the curve of eval return against env steps ON THAT TASK (for the
multi-task run: total env steps / n). A single-task run reports ``eval/episode_return``, the
multi-task run ``eval/<Task>/episode_return`` (the trainer's per-task eval mean, which
tests/test_multitask.py checks it logs). Per run: ``wall_s``,
``perf/compile_s`` and ``perf/train_s`` of the last logged record.

Output: a Markdown table on stdout (training progress on stderr); JSON
``benchmarks/results/multitask-<family>-<backend>.json`` and a plot
``multitask-<family>-<backend>.png`` next to it (``--out-dir``), both rewritten after every
run so that a sweep cut short keeps what it measured. ``<family>`` is ``dmc-humanoid``
(all tasks Humanoid*), ``cartpole-pendulum`` (the default CPU set) or ``custom``. Run
directories go to ``--run-root`` (kept) or to a temporary directory (deleted at the end;
the JSON holds every curve). Exit status: 0, 1 if a run failed (recorded with its traceback;
the others still run), 2 for a bad argument or config, 130 if stopped by Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import platform
import shlex
import shutil
import sys
import tempfile
import traceback
import typing
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import jax
from common import UsageError, config_overrides, fmt, say, write_result  # benchmarks/common.py
from curves import Group, draw, figure, save  # benchmarks/curves.py
from machine import machine_info  # benchmarks/machine.py (the script's folder)

from fastbrc.config import Config, ConfigError, validate
from fastbrc.envs import EnvLoadError, env_info
from fastbrc.presets import Profile, preset, resolve_profile
from fastbrc.run.members import records_by_seed
from fastbrc.run.rundir import check_run_dir
from fastbrc.run.runner import train

RESULTS_DIR = Path(__file__).resolve().parent / "results"
CPU_TASKS = ("CartpoleBalance", "CartpoleSwingup", "PendulumSwingup")
GPU_TASKS = ("HumanoidStand", "HumanoidWalk", "HumanoidRun")
DEFAULTS: dict[str, dict[str, Any]] = {  # by backend: "cpu" or "accelerator"
    "cpu": dict(tasks=CPU_TASKS, steps_per_task=150_000, envs_per_task=32, eval_envs_per_task=8),
    "accelerator": dict(
        tasks=GPU_TASKS, steps_per_task=20_000_000, envs_per_task=1024, eval_envs_per_task=16
    ),
}
EVALS_PER_RUN = 6
# Taken from the first task's preset and applied to every run (with the batch per env).
SHARED_FIELDS = (
    "gamma",
    "reward_scale",
    "v_min",
    "v_max",
    "critic_width",
    "updates_per_iteration",
    "learning_starts_iterations",
    "iterations_per_chunk",
    "tau",
    "replay_capacity_per_env",
)
# Set by the script for each run; --extra / --multi-extra may not set them.
SCRIPT_FIELDS = (
    "env",
    "run_dir",
    "seed",
    "num_envs",
    "total_env_steps",
    "batch_size",
    "num_eval_envs",
    "eval_every_env_steps",
    "envs_per_task",  # an uneven split; the per-task x axis (total / n) needs the even one
)
# Differ between runs by design (not reported as config differences).
PER_RUN_FIELDS = ("env", "run_dir", "num_envs", "total_env_steps", "batch_size", "num_eval_envs")
PER_RUN_FIELDS += ("eval_every_env_steps", "checkpoint_every")

# CPU may decline to reuse a donated buffer; that changes nothing that is measured here.
warnings.filterwarnings("ignore", message="Some donated buffers were not usable")


def _say(message: str) -> None:
    say("multitask", message)


_SCRIPT_FIELDS_HINT = (
    "for each run (use --tasks, --steps-per-task, --envs-per-task, --eval-envs-per-task, "
    "--batch-per-env, --seed or --run-root)"
)


def parse_overrides(pairs: Sequence[str], flag: str) -> dict[str, Any]:
    """KEY=VALUE strings as Config overrides, each value parsed with its field's type."""
    reserved = dict.fromkeys(SCRIPT_FIELDS, _SCRIPT_FIELDS_HINT)
    return config_overrides(Config, pairs, flag, reserved)


@dataclasses.dataclass(frozen=True)
class Args:
    tasks: tuple[str, ...]
    steps_per_task: int
    envs_per_task: int
    eval_envs_per_task: int
    batch_per_env: int | None  # None: the first task's preset share
    seed: int
    profile: Literal["cpu", "gpu"]
    out_dir: Path
    run_root: Path | None  # None: a temporary directory, deleted at the end
    extra: dict[str, Any]
    multi_extra: dict[str, Any]
    only: Literal["single", "multi", "both"]


def parse_args(argv: Sequence[str] | None = None) -> Args:
    backend = jax.default_backend()
    d = DEFAULTS["cpu" if backend == "cpu" else "accelerator"]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tasks",
        default=",".join(d["tasks"]),
        help="comma-separated tasks; the first one's preset gives the shared knobs. "
        f"Default on this backend ({backend}): %(default)s",
    )
    parser.add_argument(
        "--steps-per-task",
        type=int,
        default=d["steps_per_task"],
        help="env steps of each single-task run; the multi-task run gets this x the number of "
        "tasks. Default: %(default)s",
    )
    parser.add_argument(
        "--envs-per-task", type=int, default=d["envs_per_task"], help="Default: %(default)s"
    )
    parser.add_argument(
        "--eval-envs-per-task",
        type=int,
        default=d["eval_envs_per_task"],
        help="eval episodes per task and evaluation. Default: %(default)s",
    )
    parser.add_argument(
        "--batch-per-env",
        type=int,
        default=None,
        help="transitions per env in each update's batch. Default: the first task's preset "
        "batch_size / num_envs",
    )
    parser.add_argument("--seed", type=int, default=0, help="Default: %(default)s")
    parser.add_argument(
        "--profile",
        choices=("auto", "cpu", "gpu"),
        default="auto",
        help="preset profile; auto = cpu on the CPU backend, else gpu. Default: %(default)s",
    )
    parser.add_argument(
        "--out-dir", type=Path, default=RESULTS_DIR, help="JSON and PNG go here (created)"
    )
    parser.add_argument(
        "--run-root",
        type=Path,
        default=None,
        help="parent of the run directories (kept). Default: a temporary directory, deleted "
        "at the end",
    )
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Config override for every run, repeatable (e.g. critic_width=64, "
        "actor_hidden=128,128, critic_bf16=true)",
    )
    parser.add_argument(
        "--multi-extra",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Config override for the multi-task run only, applied after --extra",
    )
    parser.add_argument("--only", choices=("single", "multi", "both"), default="both")
    ns = parser.parse_args(argv)
    tasks = tuple(t.strip() for t in ns.tasks.split(",") if t.strip())
    if not tasks:
        parser.error("--tasks names no task")
    if len(set(tasks)) != len(tasks):
        parser.error(f"--tasks names a task twice: {ns.tasks}")
    if ns.only != "single" and len(tasks) < 2:
        parser.error("a multi-task run needs at least 2 --tasks (or pass --only single)")
    for name in ("steps_per_task", "envs_per_task", "eval_envs_per_task", "batch_per_env"):
        value = getattr(ns, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    try:
        extra = parse_overrides(ns.extra, "--extra")
        multi_extra = parse_overrides(ns.multi_extra, "--multi-extra")
    except UsageError as error:
        parser.error(str(error))
    return Args(
        tasks=tasks,
        steps_per_task=ns.steps_per_task,
        envs_per_task=ns.envs_per_task,
        eval_envs_per_task=ns.eval_envs_per_task,
        batch_per_env=ns.batch_per_env,
        seed=ns.seed,
        profile=resolve_profile(typing.cast(Profile, ns.profile), backend),
        out_dir=ns.out_dir,
        run_root=ns.run_root,
        extra=extra,
        multi_extra=multi_extra,
        only=ns.only,
    )


# --------------------------------------------------------------------------------- configs
def family_of(tasks: Sequence[str]) -> str:
    if all(task.startswith("Humanoid") for task in tasks):
        return "dmc-humanoid"
    if set(tasks) == set(CPU_TASKS):
        return "cartpole-pendulum"
    return "custom"


def shared_knobs(args: Args) -> dict[str, Any]:
    """The knobs every run shares, from the first task's preset (reward_scale = 1)."""
    first = preset(args.tasks[0], args.profile)
    knobs = {name: getattr(first, name) for name in SHARED_FIELDS}
    knobs["reward_scale"] = 1.0
    knobs["batch_per_env"] = args.batch_per_env or max(1, first.batch_size // first.num_envs)
    return knobs


@dataclasses.dataclass(frozen=True)
class Run:
    name: str  # "single/<Task>" or "multi"
    kind: Literal["single", "multi"]
    tasks: tuple[str, ...]
    config: Config


def plan_runs(args: Args, run_root: Path) -> list[Run]:
    """The runs to do, in order: the single-task runs, then the multi-task run."""
    knobs = shared_knobs(args)
    shared = {name: knobs[name] for name in SHARED_FIELDS}
    per_env = knobs["batch_per_env"]

    def make(env: str, n: int, extra: dict[str, Any], run_dir: Path) -> Config:
        total = args.steps_per_task * n
        fields = dict(
            shared,
            env=env,
            seed=args.seed,
            run_dir=str(run_dir),
            num_envs=args.envs_per_task * n,
            total_env_steps=total,
            num_eval_envs=args.eval_envs_per_task * n,
            eval_every_env_steps=max(total // EVALS_PER_RUN, 1),
            batch_size=per_env * args.envs_per_task * n,
            reward_normalization="max_return",
            checkpoint_every=total,  # one checkpoint, at the end
            save_buffer=False,
        )
        fields.update(extra)
        return dataclasses.replace(preset(env, args.profile), **fields)

    runs = []
    if args.only in ("single", "both"):
        for task in args.tasks:
            config = make(task, 1, args.extra, run_root / f"single-{task}")
            runs.append(Run(f"single/{task}", "single", (task,), config))
    if args.only in ("multi", "both"):
        env = ",".join(args.tasks)
        extra = {**args.extra, **args.multi_extra}
        config = make(env, len(args.tasks), extra, run_root / f"multi-{'+'.join(args.tasks)}")
        runs.append(Run("multi", "multi", args.tasks, config))
    return runs


def config_differences(runs: Sequence[Run]) -> dict[str, dict[str, list[Any]]]:
    """Per run, the fields (beyond the per-run ones) that differ from the reference run (the
    multi-task run, else the first): {run: {field: [value, reference value]}}."""
    reference = next((run for run in runs if run.kind == "multi"), runs[0])
    out = {}
    for run in runs:
        if run is reference:
            continue
        fields = [f for f in run.config.changed_fields(reference.config) if f not in PER_RUN_FIELDS]
        if fields:
            out[run.name] = {
                f: [getattr(run.config, f), getattr(reference.config, f)] for f in fields
            }
    return out


def preflight(args: Args, runs: Sequence[Run]) -> None:
    """Everything that can fail on the user's input, checked before the first run."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise UsageError(f"the plot needs matplotlib ({error})") from None
    for task in args.tasks:
        try:
            env_info(task)
        except EnvLoadError as error:
            raise UsageError(str(error)) from None
    for run in runs:
        try:
            validate(run.config)
            check_run_dir(Path(run.config.run_dir), resume=False, overwrite=False)
        except ConfigError as error:
            raise UsageError(f"{run.name}: {error}") from None


def per_task_key(task: str) -> str:
    return f"eval/{task}/episode_return"


# ------------------------------------------------------------------------------ the runs
def eval_summary(
    records: Sequence[dict[str, Any]], key: str, std_key: str, num_tasks: int
) -> dict[str, Any] | None:
    """Final and best of `key` over the records that hold it, and the curve (x = env steps
    on one task = total env steps / num_tasks). None if no record holds it."""
    points = [r for r in records if r.get(key) is not None]
    if not points:
        return None
    total = [int(r["env_steps"]) for r in points]
    task_steps = [steps // num_tasks for steps in total]
    returns = [float(r[key]) for r in points]
    best = max(range(len(points)), key=lambda i: returns[i])
    return {
        "final_return": returns[-1],
        "final_at_task_env_steps": task_steps[-1],
        "best_return": returns[best],
        "best_at_task_env_steps": task_steps[best],
        "num_evals": len(points),
        "curve": {
            "task_env_steps": task_steps,
            "total_env_steps": total,
            "episode_return": returns,
            "episode_return_std": [r.get(std_key) for r in points],
        },
    }


def run_one(run: Run) -> dict[str, Any]:
    """Train `run`, then read its metrics.jsonl; a failure is recorded, not raised."""
    config = run.config
    n = len(run.tasks)
    result: dict[str, Any] = {
        "name": run.name,
        "kind": run.kind,
        "tasks": list(run.tasks),
        "run_dir": config.run_dir,
        "task_conditioning": getattr(config, "conditioning", None),  # 'auto' resolved
        "status": "ok",
    }
    _say(
        f"{run.name}: {config.env} | {config.num_envs} envs, {config.total_env_steps:,} env "
        f"steps, batch {config.batch_size}, {config.num_eval_envs} eval envs"
    )
    record: dict[str, Any] = {}
    try:
        with contextlib.redirect_stdout(sys.stderr):  # the trainer's progress -> stderr
            record = train(config, verbose=True)
    except KeyboardInterrupt:
        result.update(status="stopped", stopped_by="SIGINT")
    except Exception as error:  # noqa: BLE001 - keep the other runs going
        result.update(status="error", error=traceback.format_exc())
        _say(f"{run.name} failed: {type(error).__name__}: {error}")
    if "stopped_by" in record:
        result.update(status="stopped", stopped_by=record["stopped_by"])
    records = records_by_seed(Path(config.run_dir) / "metrics.jsonl").get(None, [])
    last = records[-1] if records else {}
    train_s = last.get("perf/train_s")
    result.update(
        env_steps=last.get("env_steps"),
        env_steps_per_task=None if not last else last["env_steps"] // n,
        wall_s=last.get("wall_s"),
        compile_s=last.get("perf/compile_s"),
        train_s=train_s,
        env_steps_per_s=last["env_steps"] / train_s if train_s else None,
    )
    evals: dict[str, Any] = {}
    if run.kind == "single":
        evals[run.tasks[0]] = eval_summary(
            records, "eval/episode_return", "eval/episode_return_std", 1
        )
    else:
        result["mean_eval"] = eval_summary(
            records, "eval/episode_return", "eval/episode_return_std", n
        )
        for task in run.tasks:
            evals[task] = eval_summary(
                records, per_task_key(task), f"eval/{task}/episode_return_std", n
            )
    result["evals"] = evals
    result["config"] = dataclasses.asdict(config)
    if result["status"] == "ok":
        finals = ", ".join(
            f"{task} {summary['final_return']:.1f}"
            for task, summary in evals.items()
            if summary is not None
        )
        _say(f"{run.name}: done in {result['wall_s']:.0f} s; final eval return {finals}")
    return result


# ---------------------------------------------------------------------------------- output
def per_task_table(tasks: Sequence[str], results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """{task: {single_final, multi_final, single_best, multi_best, multi_minus_single_final}}"""
    table: dict[str, Any] = {}
    for task in tasks:
        row: dict[str, Any] = {}
        for kind in ("single", "multi"):
            summary = next(
                (
                    r["evals"].get(task)
                    for r in results
                    if r["kind"] == kind and task in r["tasks"] and "evals" in r
                ),
                None,
            )
            row[f"{kind}_final"] = summary["final_return"] if summary else None
            row[f"{kind}_best"] = summary["best_return"] if summary else None
        both = row["single_final"] is not None and row["multi_final"] is not None
        row["multi_minus_single_final"] = row["multi_final"] - row["single_final"] if both else None
        table[task] = row
    return table


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "| task | single-task final | multi-task final | single best | multi best |",
        "|---|---|---|---|---|",
    ]
    for task, row in report["per_task"].items():
        cells = [row["single_final"], row["multi_final"], row["single_best"], row["multi_best"]]
        lines.append(f"| {task} | " + " | ".join(fmt(c) for c in cells) + " |")
    lines += [
        "",
        "| run | status | env steps | wall s | compile s | train s |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        cells = [
            r["status"],
            fmt(r.get("env_steps"), ","),
            fmt(r.get("wall_s"), ".0f"),
            fmt(r.get("compile_s"), ".0f"),
            fmt(r.get("train_s"), ".0f"),
        ]
        lines.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> None:
    """One panel per task (single- vs multi-task eval curve), then a bar panel of finals."""
    tasks = report["tasks"]
    panels = len(tasks) + 1
    cols = min(panels, 4)
    fig, axes = figure(cols, math.ceil(panels / cols), size=(4.2, 3.4))
    flat = list(axes.ravel())
    styles = {
        "single": ("single-task", "tab:blue", "o"),
        "multi": ("multi-task", "tab:orange", "s"),
    }
    for ax, task in zip(flat, tasks, strict=False):
        for r in report["runs"]:
            summary = r.get("evals", {}).get(task)
            if summary is None:
                continue
            label, color, marker = styles[r["kind"]]
            steps, returns = summary["curve"]["task_env_steps"], summary["curve"]["episode_return"]
            points = [
                {"env_steps": x, "eval_return": y} for x, y in zip(steps, returns, strict=True)
            ]
            draw([(ax, "env_steps")], Group(label, (points,), color, marker=marker))
        if not ax.get_lines():
            ax.text(0.5, 0.5, "no eval yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(task)
        ax.set_xlabel("env steps on this task")
        ax.set_ylabel("eval episode return")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    bars = flat[len(tasks)]
    width = 0.38
    for offset, kind in ((-width / 2, "single"), (width / 2, "multi")):
        label, color, _ = styles[kind]
        values = [(i, report["per_task"][t][f"{kind}_final"]) for i, t in enumerate(tasks)]
        values = [(i, v) for i, v in values if v is not None]
        if values:
            drawn = bars.bar(
                [i + offset for i, _ in values],
                [v for _, v in values],
                width,
                color=color,
                label=label,
            )
            bars.bar_label(drawn, fmt="%.0f", fontsize=7)
    bars.set_xlim(-0.6, len(tasks) - 0.4)
    bars.set_xticks(range(len(tasks)), tasks, rotation=20, ha="right", fontsize=8)
    bars.set_title("final eval return")
    bars.grid(alpha=0.3, axis="y")
    if bars.get_legend_handles_labels()[0]:
        bars.legend(fontsize=8)
    for ax in flat[panels:]:
        ax.set_visible(False)
    fig.suptitle(
        f"{report['family']} ({report['backend']}, {report['profile']} profile): "
        f"{report['steps_per_task']:,} env steps per task, {report['envs_per_task']} envs per "
        f"task, seed {report['seed']}",
        fontsize=10,
    )
    save(fig, path, dpi=120)


def write_outputs(report: dict[str, Any], json_path: Path, png_path: Path) -> None:
    report["per_task"] = per_task_table(report["tasks"], report["runs"])
    write_result(json_path, report)
    plot(report, png_path)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    backend = jax.default_backend()
    family = family_of(args.tasks)
    json_path = args.out_dir / f"multitask-{family}-{backend}.json"
    png_path = json_path.with_suffix(".png")
    temp_root = None
    if args.run_root is None:
        temp_root = Path(tempfile.mkdtemp(prefix="fastbrc-multitask-"))
    run_root = args.run_root or temp_root
    assert run_root is not None
    try:
        runs = plan_runs(args, run_root)
        try:
            preflight(args, runs)
        except UsageError as error:
            print(f"multitask.py: error: {error}", file=sys.stderr)
            return 2
        differences = config_differences(runs)
        if differences:
            _say(f"warning: the runs' configs differ beyond the per-run fields: {differences}")
        machine = machine_info()
        device = jax.devices()[0]
        knobs = shared_knobs(args)
        # What every run uses, --extra included (--multi-extra is recorded on its own).
        fields = {name: knobs[name] for name in SHARED_FIELDS}
        fields.update(reward_normalization="max_return", **args.extra)
        common = dataclasses.replace(preset(args.tasks[0], args.profile), **fields)
        shared = {name: getattr(common, name) for name in SHARED_FIELDS}
        shared.update(
            batch_per_env=knobs["batch_per_env"],
            reward_normalization=common.reward_normalization,
            reward_norm_target=common.reward_norm_target,
        )
        report: dict[str, Any] = {
            "benchmark": "multitask",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": shlex.join(sys.orig_argv),
            "device": f"{device.platform}: {device.device_kind}",
            "host": f"{platform.node()}, {platform.machine()}, {os.cpu_count()} CPU cores, "
            f"{jax.device_count()} device(s)",
            "jax": jax.__version__,
            "backend": backend,
            "machine": machine,
            "profile": args.profile,
            "family": family,
            "tasks": list(args.tasks),
            "only": args.only,
            "steps_per_task": args.steps_per_task,
            "envs_per_task": args.envs_per_task,
            "eval_envs_per_task": args.eval_envs_per_task,
            "batch_per_env": knobs["batch_per_env"],
            "evals_per_run": EVALS_PER_RUN,
            "seed": args.seed,
            "extra": args.extra,
            "multi_extra": args.multi_extra,
            "shared": shared,
            "shared_from_preset": args.tasks[0],
            "config_differences": differences,
            "run_root": None if temp_root else str(run_root),
            "runs": [],
            "per_task": {},
        }
        _say(
            f"backend {backend} ({device.device_kind}), profile {args.profile}, tasks "
            f"{','.join(args.tasks)}, {args.steps_per_task:,} env steps per task, runs: "
            f"{', '.join(run.name for run in runs)}"
        )
        status = 0
        for run in runs:
            result = run_one(run)
            report["runs"].append(result)
            write_outputs(report, json_path, png_path)
            if result["status"] == "stopped":
                status = 130
                break
            if result["status"] == "error":
                status = 1
        print(markdown(report))
        print(f"\nwrote {json_path} and {png_path}")
        return status
    finally:
        if temp_root is not None:
            shutil.rmtree(temp_root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
