"""Data-parallel checks on fake CPU devices; run by tests/test_parallel.py in a subprocess.

    XLA_FLAGS=--xla_force_host_platform_device_count=4 python tests/sharded_run.py OUT.json WORK

The device count is fixed when JAX starts, so everything that needs several devices runs
here, in one process, and writes what the tests assert on to OUT.json.
"""

import dataclasses
import json
import math
import re
import sys
from pathlib import Path

import jax
import numpy as np
from configs import TINY

from fastbrc.core import parallel
from fastbrc.learner import build, seeds
from fastbrc.run.policy import evaluate_run
from fastbrc.run.runner import train

CHUNKS = 3
# two tasks of 4 envs each: per-task env groups, task embeddings and per-task statistics are
# split over the devices too
MULTI = dataclasses.replace(
    TINY, env="ProbeChain,ProbeTruncation", n_step=3, reward_normalization="max_return"
)
# one task, n-step windows crossing 5-step episodes: for the checkpoint round trips
CHAIN = dataclasses.replace(
    TINY,
    env="ProbeChain",
    n_step=3,
    total_env_steps=CHUNKS * TINY.env_steps_per_chunk,
    eval_every_env_steps=TINY.env_steps_per_chunk,
    checkpoint_every=TINY.env_steps_per_chunk,
    keep_checkpoints=5,
)
METRICS = ("train/critic_loss", "train/q_mean", "train/target_q_mean", "train/actor_loss")


def chunks(config, num_devices):
    """Metrics of CHUNKS chunks and facts about the state and compiled chunk."""
    fns = build(dataclasses.replace(config, num_devices=num_devices))
    state = fns.init(jax.random.PRNGKey(0))
    compiled = fns.train_chunk.lower(state).compile()
    hlo = compiled.as_text()
    out = []
    for _ in range(CHUNKS):
        state, metrics = compiled(state)
        out.append({k: np.asarray(v).tolist() for k, v in jax.device_get(metrics).items()})
    for _ in range(2):  # uncompiled calls: any retrace would show in the count
        state, _ = fns.train_chunk(state)
    return {
        "metrics": out,
        "traces": fns.trace_counts["train_chunk"],
        "replicas_identical": parallel.replicas_identical(state),
        "replay_spec": str(state.replay.data.reward.sharding.spec),
        "replay_devices": len(state.replay.data.reward.sharding.device_set),
        "params_replicated": all(
            leaf.sharding.is_fully_replicated for leaf in jax.tree.leaves(state.critic_params)
        ),
        "gathered_sizes": gathered_sizes(hlo),
        "all_reduces": hlo.count("all-reduce("),
    }


def seeded(num_devices):
    """Two seeds in one program on `num_devices`: metrics per seed and the state's layout."""
    config = dataclasses.replace(MULTI, seeds=(0, 1), num_devices=num_devices)
    fns = build(config)
    state = fns.init(seeds.run_keys(config.seed, config.seeds)[0])
    out = []
    for _ in range(CHUNKS):
        state, metrics = fns.train_chunk(state)
        out.append({k: np.asarray(v).tolist() for k, v in jax.device_get(metrics).items()})
    return {
        "metrics": out,
        "traces": fns.trace_counts["train_chunk"],
        "replay_spec": str(state.replay.data.reward.sharding.spec),
        "replay_shape": list(state.replay.data.reward.shape),
        "replicas_identical": parallel.replicas_identical(state),
    }


def gathered_sizes(hlo: str) -> list[int]:
    """Elements of every array an all-gather / all-to-all of the compiled chunk produces."""
    sizes = []
    for shape in re.findall(r"= \w+\[([\d,]*)\]\S* (?:all-gather|all-to-all)\(", hlo):
        sizes.append(math.prod(int(d) for d in shape.split(",") if d))
    return sizes


def records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def restore_elsewhere(work: Path, first: int, second: int) -> dict:
    """Train CHAIN on `first` devices for two chunks, resume on `second` for the third."""
    run = work / f"run-{first}to{second}"
    two_chunks = 2 * CHAIN.env_steps_per_chunk
    cfg = dataclasses.replace(CHAIN, run_dir=str(run), num_devices=first)
    train(dataclasses.replace(cfg, total_env_steps=two_chunks), verbose=False)
    train(dataclasses.replace(cfg, num_devices=second), resume=True, verbose=False)
    return {"records": records(run), "eval": evaluate_run(run)}


def main(out: str, work: str) -> None:
    work_dir = Path(work)
    assert len(jax.devices()) == 4, jax.devices()
    result = {
        "devices": len(jax.devices()),
        "one": chunks(MULTI, 1),
        "four": chunks(MULTI, 4),
        "two_to_one": restore_elsewhere(work_dir, 2, 1),
        "one_to_two": restore_elsewhere(work_dir, 1, 2),
        "seeds_one": seeded(1),
        "seeds_four": seeded(4),
    }
    Path(out).write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
