"""benchmarks/peers.py: its definitions on hand-made curves, and a tiny run of all trainers."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import peers  # noqa: E402  (benchmarks/peers.py; imports nothing heavy at module level)


def point(wall, steps, ret):
    return {"wall_s": wall, "env_steps": steps, "eval_return": ret, "eval_return_std": 0.0}


def entry(curve, budget_s=45.0):
    return {"status": "ok", "curve": curve, **peers.summarize_curve(curve, budget_s)}


def test_curve_summary_uses_the_trained_eval_points():
    # a Brax-style curve: an untrained eval at step 0, then three trained evals
    curve = [point(20, 0, 1.0), point(30, 1000, 5.0), point(40, 3000, 7.0), point(50, 5000, 6.0)]
    s = peers.summarize_curve(curve, budget_s=45.0)
    assert s["env_steps_per_s_after_compile"] == pytest.approx((5000 - 1000) / (50 - 30))
    assert s["compile_s"] == pytest.approx(30 - 1000 / 200)
    assert s["first_eval_wall_s"] == 30
    assert (s["final_return"], s["return_at_budget"], s["best_return"]) == (6.0, 7.0, 7.0)
    assert (s["end_wall_s"], s["end_env_steps"], s["num_eval_points"]) == (50, 5000, 4)
    one = peers.summarize_curve([point(20, 0, 1.0), point(30, 1000, 5.0)], budget_s=10.0)
    assert one["env_steps_per_s_after_compile"] is None and one["compile_s"] is None
    assert one["return_at_budget"] is None and one["final_return"] == 5.0


def test_threshold_is_the_best_peer_final_return_and_times_are_wall_clock():
    report = {
        "budget_s": 45.0,
        "trainers": {
            "fastbrc": entry([point(30, 100, 2.0), point(40, 200, 9.0), point(50, 300, 8.0)]),
            "brax_sac": entry([point(10, 0, 0.0), point(45, 500, 6.0), point(60, 900, 7.0)]),
            "brax_ppo": entry([point(10, 0, 0.0), point(35, 9000, 7.5), point(55, 20000, 5.0)]),
        },
    }
    s = peers.summarize(report, threshold=None)
    assert s["threshold"] == 7.0 and "brax_sac" in s["threshold_source"]
    rows = s["rows"]
    assert rows["fastbrc"]["time_to_threshold_s"] == 40
    assert rows["brax_sac"]["time_to_threshold_s"] == 60
    assert rows["brax_ppo"]["time_to_threshold_s"] == 35  # reached it, then fell below
    assert rows["brax_ppo"]["env_steps_to_threshold"] == 9000
    assert s["best_peer"] == "brax_ppo"
    assert s["fastbrc_over_best_peer_time"] == pytest.approx(40 / 35)
    # the target: the threshold within half the budget (40 s > 22.5 s: missed)
    assert s["target"]["fastbrc_time_over_budget"] == pytest.approx(40 / 45)
    assert s["target"]["met"] is False
    assert peers.summarize({**report, "budget_s": 80.0}, threshold=None)["target"]["met"]
    fixed = peers.summarize(report, threshold=8.5)
    assert fixed["threshold_source"] == "--threshold"
    assert fixed["rows"]["fastbrc"]["time_to_threshold_s"] == 40
    assert fixed["best_peer"] is None and fixed["fastbrc_over_best_peer_time"] is None
    table = peers.table({"env": "E", **report, "summary": s})
    assert table.count("\n| ") == 3 and "target <= 0.5: missed" in table


# Playground 0.2.0's published CartpoleBalance configs (dm_control_suite_params).
PPO = dict(
    num_timesteps=60_000_000, num_evals=10, reward_scaling=10.0, episode_length=1000,
    normalize_observations=True, action_repeat=1, unroll_length=30, num_minibatches=32,
    num_updates_per_batch=16, discounting=0.995, learning_rate=1e-3, entropy_cost=1e-2,
    num_envs=2048, batch_size=1024, num_resets_per_eval=10,
)  # fmt: skip
SAC = dict(
    num_timesteps=5_000_000, num_evals=10, reward_scaling=1.0, episode_length=1000,
    normalize_observations=True, action_repeat=1, discounting=0.99, learning_rate=1e-3,
    num_envs=128, batch_size=512, grad_updates_per_step=8, max_replay_size=4_194_304,
    min_replay_size=8192, network_factory={"q_network_layer_norm": True},
    num_resets_per_eval=10,
)  # fmt: skip
PROTOCOL = {"episode_length": 1000, "action_repeat": 1}


@pytest.mark.parametrize("trainer, published", [("brax_ppo", PPO), ("brax_sac", SAC)])
def test_brax_configs_scale_envs_and_batch_and_space_the_evals(trainer, published):
    interval = 200_000.0 if trainer == "brax_ppo" else 20_000.0
    kwargs = dict(protocol=PROTOCOL, num_eval_envs=16, seed=3, interval=interval)
    config = peers.brax_config(trainer, published, scale=16, tiny=False, **kwargs)
    assert config["num_envs"] == published["num_envs"] // 16
    assert config["batch_size"] == published["batch_size"] // 16
    changed = set(peers._changes(published, config)) - {"num_resets_per_eval"}
    assert changed == {"num_envs", "batch_size", "num_evals", "num_eval_envs",
                       "deterministic_eval", "seed"}  # fmt: skip
    assert config["deterministic_eval"] is True and config["num_eval_envs"] == 16
    spacing = peers.eval_interval_in_brax_steps(trainer, config)
    if trainer == "brax_ppo":  # whole update rounds of 64 x 30 x 32 env steps
        # evaluate every 3 epochs (published: 10), each still one round between env resets
        assert config["num_resets_per_eval"] == 3 and spacing == 3 * 64 * 30 * 32
        assert peers.ppo_rounds_per_epoch(config) == peers.ppo_rounds_per_epoch(published) == 1
    else:
        assert 0.9 * interval <= spacing <= 1.1 * interval
    with pytest.raises(peers.UsageError, match="--scale 3"):
        peers.brax_config(trainer, published, scale=3, tiny=False, **kwargs)


def test_bad_arguments_exit_with_status_2(capsys):
    assert peers.main(["--trainers", "fastbrc,dqn"]) == 2
    assert peers.main(["--sps", "brax_ppo=fast"]) == 2
    assert peers.main(["--budget-s", "0"]) == 2
    assert "peers:" in capsys.readouterr().err


@pytest.mark.slow
def test_peer_harness_runs_every_trainer_and_writes_json(tmp_path):
    out = tmp_path / "peers.json"
    # Low XLA optimisation: compiles about a third faster on 2 cores (the smoke test times
    # nothing); every trainer is --tiny and stops at its first trained eval after 5 s.
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true",
    }
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "peers.py"),
        "--env", "CartpoleBalance", "--budget-s", "5", "--tiny", "--num-eval-envs", "4",
        "--out", str(out), "--run-root", str(tmp_path / "runs"),
    ]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=800, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]

    report = json.loads(out.read_text())
    assert report["benchmark"] == "peers" and report["env"] == "CartpoleBalance"
    assert report["budget_s"] == 5.0 and report["machine"]["backend"] == "cpu"
    assert "--tiny" in report["command"]
    protocol = report["protocol"]
    assert (protocol["num_eval_envs"], protocol["episode_length"], protocol["action_repeat"]) == (
        4,
        1000,
        1,
    )
    assert list(report["trainers"]) == list(peers.TRAINERS)
    for name, entry in report["trainers"].items():
        assert entry["status"] == "ok", (name, entry)
        curve = entry["curve"]
        assert curve, name
        for p in curve:
            for key in ("wall_s", "env_steps", "eval_return"):
                assert isinstance(p[key], int | float) and math.isfinite(p[key]), (name, p)
        walls = [p["wall_s"] for p in curve]
        steps = [p["env_steps"] for p in curve]
        assert walls == sorted(walls) and steps == sorted(steps), name
        assert steps[-1] > 0 and walls[-1] >= 5.0, name  # stopped by the budget, trained
        assert entry["final_return"] == curve[-1]["eval_return"]
        assert entry["best_return"] == max(p["eval_return"] for p in curve)
        assert entry["budget_s"] == 5.0 and entry["config"], name
        assert entry["sizes"]["num_envs"] == peers.TINY[name]["num_envs"]
        assert entry["protocol"]["episode_length"] == 1000
    fastbrc = report["trainers"]["fastbrc"]["config"]
    assert fastbrc["max_wall_s"] == 5.0 and fastbrc["num_eval_envs"] == 4
    assert fastbrc["episode_length"] == 1000 and fastbrc["action_repeat"] == 1
    for name in peers.PEERS:
        entry = report["trainers"][name]
        assert entry["stopped_by"] == "budget"
        assert entry["config"]["deterministic_eval"] is True
        assert entry["config"]["num_eval_envs"] == 4 and entry["config"]["episode_length"] == 1000
        assert entry["curve"][0]["env_steps"] == 0  # Brax's untrained eval
    assert report["trainers"]["brax_sac"]["dropped"] == ["num_resets_per_eval"]
    # Brax's agents ran in the peers' own environment (jax 0.9.2), fastbrc in this one
    for name in peers.PEERS:
        environment = report["trainers"][name]["environment"]
        assert environment["python"] == str(peers.PEERS_PYTHON) and environment["jax"] == "0.9.2"
    import jax

    assert report["trainers"]["fastbrc"]["environment"]["jax"] == jax.__version__
    summary = report["summary"]
    assert summary["threshold"] == max(report["trainers"][n]["final_return"] for n in peers.PEERS)
    assert summary["best_peer"] in peers.PEERS
    assert (tmp_path / "runs").is_dir() and list((tmp_path / "runs").glob("*/metrics.jsonl"))

    png = out.with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    for name in peers.TRAINERS:
        assert f"| {name} | ok |" in proc.stdout
