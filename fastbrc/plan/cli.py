"""`fastbrc plan sweep|fit|recommend`: size a run before paying for it.

    fastbrc plan sweep --env CheetahRun --threshold 400 --out sweep.json
    fastbrc plan fit sweep.json [--hold-out SIGMA] [--out fit.json] [--plots DIR]
    fastbrc plan recommend fit.json --budget-seconds 600 --profile recipe-sweep.json

Bad input is one line (``fastbrc: error: ...``, exit 2), nothing written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from fastbrc.errors import ConfigError
from fastbrc.run.args import Parser, UsageError, fail

USAGE = """usage: fastbrc plan sweep --env TASK --threshold J [--sigmas S,..] [--batches B,..]
                          [--lrs LR,..] [--seeds 0,1] [--num-envs N] [--profile P]
                          [--cap-env-steps N] [--eval-every-env-steps N] [--max-wall-s S]
                          [--out sweep.json] [--run-root DIR]
       fastbrc plan fit SWEEP.json [--hold-out SIGMA] [--out fit.json] [--plots DIR]
       fastbrc plan recommend FIT.json --budget-env-steps N | --budget-flops F |
                                       --budget-seconds S --profile PROFILE.json"""


def _floats(text: str, flag: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UsageError(f"{flag} takes comma-separated numbers, got {text!r}") from None
    if not values:
        raise UsageError(f"{flag} is empty")
    return values


def sweep_main(argv: list[str]) -> int:
    p = Parser(prog="fastbrc plan sweep", description="Train a UTD x batch x lr grid to J.")
    p.add_argument("--env", required=True, help="the task")
    p.add_argument("--threshold", type=float, required=True, help="eval return J to reach")
    p.add_argument("--sigmas", default="0.25,0.5,1,2", help="updates per env step")
    p.add_argument("--batches", default="64,128,256", help="total batch sizes")
    p.add_argument("--lrs", default="0.0003,0.001", help="learning rates (critic and actor)")
    p.add_argument("--seeds", default="0,1", help="seeds of each point, in one program")
    p.add_argument("--num-envs", type=int, default=16)
    p.add_argument("--profile", default="cpu", help="the preset profile (cpu, gpu)")
    p.add_argument("--cap-env-steps", type=int, default=300_000, help="a point's env step cap")
    p.add_argument("--eval-every-env-steps", type=int, default=5_000)
    p.add_argument("--max-wall-s", type=float, default=1200.0, help="a point's wall-clock cap")
    p.add_argument("--out", default="plan-sweep.json", help="the sweep JSON (goes on with it)")
    p.add_argument("--run-root", default="runs/plan-sweep", help="the points' run directories")
    args = p.parse_args(argv)
    from fastbrc.plan.sweep import SweepSpec, run_sweep

    spec = SweepSpec(
        task=args.env,
        threshold=args.threshold,
        sigmas=_floats(args.sigmas, "--sigmas"),
        batch_sizes=tuple(int(b) for b in _floats(args.batches, "--batches")),
        learning_rates=_floats(args.lrs, "--lrs"),
        seeds=tuple(int(s) for s in _floats(args.seeds, "--seeds")),
        num_envs=args.num_envs,
        profile=args.profile,
        cap_env_steps=args.cap_env_steps,
        eval_every_env_steps=args.eval_every_env_steps,
        max_wall_s=args.max_wall_s,
    ).check()
    out = Path(args.out)
    extra = {} if out.exists() else _sweep_facts(spec)
    run_sweep(spec, out, Path(args.run_root), extra)
    print(f"fastbrc plan sweep: wrote {out}")
    return 0


def _sweep_facts(spec) -> dict:
    """The machine and the networks' FLOPs per sample (once, when a sweep starts)."""
    import dataclasses

    from fastbrc.plan.flops import flops_per_sample
    from fastbrc.presets import preset
    from fastbrc.run.machine import machine_info

    config = dataclasses.replace(preset(spec.task, spec.profile), num_envs=spec.num_envs)
    critic = {"width": config.critic_width, "depth": config.critic_depth}
    return {
        "machine": machine_info(),
        "flops_per_sample": flops_per_sample(config),
        "critic": {**critic, "bf16": config.critic_bf16},
    }


def fit_main(argv: list[str]) -> int:
    p = Parser(prog="fastbrc plan fit", description="Fit the scaling laws to a sweep JSON.")
    p.add_argument("sweep", help="the sweep JSON")
    p.add_argument("--hold-out", type=float, help="leave this sigma out of the fit")
    p.add_argument("--bootstraps", type=int, default=200)
    p.add_argument("--out", help="the fit JSON (default: <sweep>-fit.json)")
    p.add_argument("--plots", help="folder for the PNGs (default: beside the fit JSON)")
    args = p.parse_args(argv)
    from fastbrc.plan.fit import fit_sweep, load_sweep, plot_fit

    sweep = load_sweep(args.sweep)
    fitted = fit_sweep(sweep, hold_out=args.hold_out, bootstraps=args.bootstraps)
    out = Path(args.out or Path(args.sweep).with_name(Path(args.sweep).stem + "-fit.json"))
    fitted["flops_per_sample"] = sweep.get("flops_per_sample")
    fitted["critic"] = sweep.get("critic")
    fitted["batch_range"] = [min(sweep["spec"]["batch_sizes"]), max(sweep["spec"]["batch_sizes"])]
    out.write_text(json.dumps(fitted, indent=2) + "\n")
    paths = plot_fit(sweep, fitted, Path(args.plots) if args.plots else out.parent)
    law = fitted["data_law"]

    def line(name: str, symbol: str) -> str:
        fit = fitted[f"{name}_law"]
        if name in fitted["fixed"]:
            return f"{symbol} = {fit['scale']:.4g} (fixed: one value in the grid)"
        return f"{symbol}(sigma) = {fit['scale']:.4g} sigma^{fit['slope']:.3f}"

    print(
        f"fastbrc plan fit: D_J(sigma) = {law['d_min']:,.0f} + ({law['beta']:.4g} / sigma)^"
        f"{law['alpha']:.3f}; {line('batch', 'B*')}; {line('lr', 'eta*')}"
    )
    print(f"fastbrc plan fit: wrote {out} and {', '.join(str(p) for p in paths)}")
    return 0


def recommend_main(argv: list[str]) -> int:
    p = Parser(prog="fastbrc plan recommend", description="The recipe for a budget.")
    p.add_argument("fit", help="the fit JSON (fastbrc plan fit)")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--budget-env-steps", type=float)
    group.add_argument("--budget-flops", type=float)
    group.add_argument("--budget-seconds", type=float, help="training wall-clock (needs --profile)")
    p.add_argument("--profile", help="a throughput profile (benchmarks/recipe_sweep.py JSON)")
    args = p.parse_args(argv)
    from fastbrc.plan.profile import Critic, ThroughputProfile
    from fastbrc.plan.recommend import UNITS, plans, recommend

    try:
        fitted = json.loads(Path(args.fit).read_text())
        flops = float(fitted["flops_per_sample"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"{args.fit} is not a fit JSON (fastbrc plan fit): {error}") from None
    profile = critic = None
    if args.profile:
        profile = ThroughputProfile.load(args.profile)
        if profile.env != fitted["task"]:
            raise ConfigError(
                f"{args.profile} profiles {profile.env}, but the fit is of {fitted['task']}"
            )
        critic = Critic(fitted["critic"]["width"], fitted["critic"]["depth"],
                        fitted["critic"]["bf16"])  # fmt: skip
    kind, budget = next((k, getattr(args, f"budget_{k}")) for k in UNITS
                        if getattr(args, f"budget_{k}") is not None)  # fmt: skip
    plan = recommend(plans(fitted, tuple(fitted["batch_range"]), flops, profile, critic), kind,
                     budget)  # fmt: skip
    seconds = f", {plan.seconds:,.0f} s of training" if plan.seconds is not None else ""
    print(
        f"fastbrc plan recommend: sigma {plan.sigma:g} ({plan.updates_per_iteration} updates per "
        f"iteration over {plan.num_envs} envs), batch {plan.batch_size}, lr {plan.lr:.3g}: "
        f"{plan.env_steps:,.0f} env steps, {plan.updates:,.0f} updates, {plan.flops:.3g} FLOPs"
        f"{seconds} to return {fitted['threshold']:g} on {fitted['task']}"
    )
    print("  fastbrc train --env " + fitted["task"] + " " + " ".join(plan.flags()))
    return 0


def plan_main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    commands = {"sweep": sweep_main, "fit": fit_main, "recommend": recommend_main}
    if argv[0] not in commands:
        return fail(f"unknown plan command '{argv[0]}' (expected: {', '.join(commands)})")
    try:
        return commands[argv[0]](argv[1:])
    except (UsageError, ConfigError) as error:
        return fail(str(error))
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)


__all__ = ["plan_main"]


if __name__ == "__main__":
    sys.exit(plan_main(sys.argv[1:]))
