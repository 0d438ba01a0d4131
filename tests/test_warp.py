"""impl="warp" (MuJoCo Warp, Playground 0.2's GPU default) inside the fused chunk's lax.scan.

warp-lang runs its kernels on the CPU too (slowly: about 40 s of kernel builds the first time
on 2 cores, cached under ~/.cache/warp after that), so two CartpoleBalance envs show that the
chunk compiles and steps with the Warp backend. The run is a subprocess that leaves with
os._exit: after an exception, a process holding Warp's CPU kernels can hang in XLA's thread
pool teardown, which must not hang the suite. Skipped where warp-lang is not installed (the
GPU-machine rehearsal environment leaves it out: too big to carry).
"""

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import dataclasses, json, os, sys, traceback
sys.path.insert(0, "tests")
try:
    import jax, numpy as np
    from configs import TINY
    from fastbrc.learner import build

    config = dataclasses.replace(
        TINY, env="CartpoleBalance", impl="warp", num_envs=2, batch_size=16, num_eval_envs=2,
        iterations_per_chunk=3, learning_starts_iterations=0,
    )
    fns = build(config)
    (playground_env,) = fns.env.envs
    state = fns.init(jax.random.PRNGKey(0))
    obs_before = np.asarray(state.env_state.obs["state"])
    for _ in range(2):  # the second chunk reuses the compiled scan
        state, metrics = fns.train_chunk(state)
    result = {
        "impl": playground_env.mjx_model.impl.name,
        "iterations": int(state.iteration),
        "critic_loss": float(metrics["train/critic_loss"]),
        "obs_moved": bool(np.any(np.asarray(state.env_state.obs["state"]) != obs_before)),
        "obs_finite": bool(np.all(np.isfinite(np.asarray(state.env_state.obs["state"])))),
    }
except BaseException:
    result = {"error": traceback.format_exc()}
print("RESULT " + json.dumps(result), flush=True)
os._exit(0)
"""


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("warp") is None, reason="warp-lang not installed")
def test_fused_chunk_compiles_and_steps_with_warp_physics():
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=600, cwd=ROOT
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, proc.stdout[-2000:] + proc.stderr[-4000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert "error" not in result, result.get("error")
    assert result["impl"] == "WARP"
    assert result["iterations"] == 2 * 3
    assert result["obs_moved"] and result["obs_finite"]
    assert math.isfinite(result["critic_loss"])
