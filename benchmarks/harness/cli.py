"""``benchmarks/peers.py``'s arguments: parsed and checked before any trainer starts; a bad one
is a `UsageError` (one line, exit status 2)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from common import UsageError, config_overrides  # benchmarks/common.py

from fastbrc.presets import PROFILES  # no jax: the parent never initialises an accelerator
from harness.protocol import (
    ALL_TRAINERS,
    DEFAULT_EVALS,
    DEFAULT_NUM_EVAL_ENVS,
    FASTBRC_PROTOCOL_FIELDS,
    PEERS,
    TRAINERS,
)

DESCRIPTION = "fastbrc against the trainers that ship with the same stack, for the same "
DESCRIPTION += "wall-clock budget (benchmarks/harness/protocol.py says how they are measured)."


def parse_sps(text: str) -> dict[str, float]:
    """--sps: trainer=rate pairs."""
    out: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or name.strip() not in ALL_TRAINERS:
            raise UsageError(
                f"--sps wants trainer=rate pairs ({', '.join(ALL_TRAINERS)}), got {item!r}"
            )
        try:
            rate = float(value)
        except ValueError:
            raise UsageError(f"--sps {item!r}: {value!r} is not a number") from None
        if not rate > 0:
            raise UsageError(f"--sps {item!r}: the rate must be > 0")
        out[name.strip()] = rate
    return out


def parse_scale(text: str | None) -> dict[str, int] | None:
    """--scale: one factor for both Brax trainers, or brax_sac=A,brax_ppo=B."""
    if text is None:
        return None
    pairs = [p.strip() for p in text.split(",") if p.strip()]
    if len(pairs) == 1 and "=" not in pairs[0]:
        pairs = [f"{name}={pairs[0]}" for name in PEERS]
    out: dict[str, int] = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name.strip() not in PEERS or not value.strip().isdigit() or int(value) < 1:
            raise UsageError(
                f"--scale wants an integer >= 1 or brax_sac=A,brax_ppo=B; got {text!r}"
            )
        out[name.strip()] = int(value)
    if set(out) != set(PEERS):
        raise UsageError(f"--scale {text!r}: give a factor for each of {', '.join(PEERS)}")
    return out


def parse_seeds(text: str | None) -> list[int] | None:
    """--fastbrc-seeds: distinct integers >= 0, comma-separated."""
    if text is None:
        return None
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items or not all(item.isdigit() for item in items):
        raise UsageError(f"--fastbrc-seeds wants seeds like 0,1,2; got {text!r}")
    seeds = [int(item) for item in items]
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"--fastbrc-seeds {text!r} names a seed twice")
    return seeds


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--env", default="CartpoleBalance", help="a Playground task")
    parser.add_argument("--budget-s", type=float, default=180.0, help="wall-clock per trainer")
    parser.add_argument("--trainers", default=",".join(TRAINERS))
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="every trainer's seed (fastbrc's unless --fastbrc-seeds)",
    )
    parser.add_argument(
        "--fastbrc-seeds",
        default=None,
        metavar="S,S,...",
        help="train these fastbrc seeds in one program (one compile, one budget) and record "
        "each as a run of its own; the other trainers keep --seed",
    )
    parser.add_argument("--num-eval-envs", type=int, default=DEFAULT_NUM_EVAL_ENVS)
    parser.add_argument(
        "--scale",
        default=None,
        help="divide both Brax configs' num_envs and batch_size by this (default: 16 on the "
        "CPU, 1 on an accelerator); 'brax_sac=A,brax_ppo=B' scales them differently",
    )
    parser.add_argument("--profile", choices=PROFILES, default="auto")
    parser.add_argument("--evals", type=int, default=DEFAULT_EVALS, help="evals per budget")
    parser.add_argument("--sps", default="", help="env steps/s estimates: trainer=rate,...")
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--tiny", action="store_true", help="shrink every trainer (smoke test)")
    parser.add_argument("--out", type=Path, default=None, help="JSON path (PNG next to it)")
    parser.add_argument("--run-root", type=Path, default=None, help="keep fastbrc's run here")
    parser.add_argument(
        "--fasttd3-src",
        default=None,
        help="FastTD3 checkout at commit 229ed59 (default: $FASTTD3_SRC, else "
        "../shared/peers/FastTD3-229ed59 beside the repository)",
    )
    parser.add_argument(
        "--fastbrc-override",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="a config field of fastbrc's preset (e.g. a recipe the GPU sweep chose); repeatable",
    )
    parser.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--plot", type=Path, default=None, help="only (re)draw the PNG of this result JSON"
    )
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    args = _parser().parse_args(argv)
    if args.worker is not None:
        return args
    trainers = [t.strip() for t in args.trainers.split(",") if t.strip()]
    unknown = [t for t in trainers if t not in ALL_TRAINERS]
    if unknown or not trainers or len(set(trainers)) != len(trainers):
        raise UsageError(
            f"--trainers {args.trainers!r}: name each of {', '.join(ALL_TRAINERS)} at most once"
        )
    args.trainers = trainers
    if not args.budget_s > 0:
        raise UsageError("--budget-s must be > 0")
    if args.num_eval_envs < 1 or args.evals < 1:
        raise UsageError("--num-eval-envs and --evals must be >= 1")
    args.scale = parse_scale(args.scale)
    args.sps_overrides = parse_sps(args.sps)
    args.fastbrc_seeds = parse_seeds(args.fastbrc_seeds)
    if args.fastbrc_seeds and "fastbrc" not in trainers:
        raise UsageError("--fastbrc-seeds is for the fastbrc trainer, which --trainers leaves out")
    from fastbrc.config import Config

    reserved = dict.fromkeys(FASTBRC_PROTOCOL_FIELDS, "(the harness's protocol)")
    reserved["seeds"] = "(--fastbrc-seeds)"
    config_overrides(Config, args.fastbrc_override, "--fastbrc-override", reserved)  # checked
    return args  # now, applied in the worker
