"""benchmarks/peers.py (the package benchmarks/harness/): its definitions on hand-made curves,
fastbrc's seeds in one program as runs of their own, and a tiny run of all trainers."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import common  # noqa: E402  (benchmarks/common.py)
from harness import (  # noqa: E402  (imports nothing heavy at module level)
    brax_trainers,
    combine,
    fastbrc_trainer,
    orchestrate,
    protocol,
    worker,
)
from harness import report as reporting  # noqa: E402


def point(wall, steps, ret):
    return {"wall_s": wall, "env_steps": steps, "eval_return": ret, "eval_return_std": 0.0}


def entry(curve, budget_s=45.0):
    return {"status": "ok", "curve": curve, **protocol.summarize_curve(curve, budget_s)}


def test_curve_summary_uses_the_trained_eval_points():
    # a Brax-style curve: an untrained eval at step 0, then three trained evals
    curve = [point(20, 0, 1.0), point(30, 1000, 5.0), point(40, 3000, 7.0), point(50, 5000, 6.0)]
    s = protocol.summarize_curve(curve, budget_s=45.0)
    assert s["env_steps_per_s_after_compile"] == pytest.approx((5000 - 1000) / (50 - 30))
    assert s["compile_s"] == pytest.approx(30 - 1000 / 200)
    assert s["first_eval_wall_s"] == 30
    assert (s["final_return"], s["return_at_budget"], s["best_return"]) == (6.0, 7.0, 7.0)
    assert (s["end_wall_s"], s["end_env_steps"], s["num_eval_points"]) == (50, 5000, 4)
    one = protocol.summarize_curve([point(20, 0, 1.0), point(30, 1000, 5.0)], budget_s=10.0)
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
    s = protocol.summarize(report, threshold=None)
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
    assert protocol.summarize({**report, "budget_s": 80.0}, threshold=None)["target"]["met"]
    fixed = protocol.summarize(report, threshold=8.5)
    assert fixed["threshold_source"] == "--threshold"
    assert fixed["rows"]["fastbrc"]["time_to_threshold_s"] == 40
    assert fixed["best_peer"] is None and fixed["fastbrc_over_best_peer_time"] is None
    table = reporting.table({"env": "E", **report, "summary": s})
    assert table.count("\n| ") == 3 and "target <= 0.5: missed" in table


def test_fastbrc_seeds_in_one_program_are_runs_of_their_own():
    # metrics.jsonl records as a --seeds run writes them (one per seed and chunk), and as a
    # single-seed run does (no "seed"): the worker's curves, through records_by_seed's groups
    def record(steps, wall, ret=None, seed=None):
        r = {"env_steps": steps, "wall_s": wall, "perf/env_steps_per_s": 100.0}
        r |= {} if seed is None else {"seed": seed}
        return r | ({} if ret is None else {"eval/episode_return": ret})

    single = fastbrc_trainer.curves({None: [record(100, 10), record(200, 20, 3.0)]}, ())
    assert single == {"curve": [{"wall_s": 20, "env_steps": 200, "eval_return": 3.0,
                                 "eval_return_std": None}]}  # fmt: skip
    by_seed = {s: [record(100, 30, 1.0 + s, s), record(200, 40, 9.0 - 2 * s, s)] for s in (0, 1)}
    entry = {"status": "ok", **fastbrc_trainer.curves(by_seed, (0, 1)), "sizes": {"num_envs": 8}}
    assert entry["seeds"] == [0, 1] and [m["seed"] for m in entry["members"]] == [0, 1]
    assert [p["eval_return"] for p in entry["members"][1]["curve"]] == [2.0, 7.0]

    sac = {"status": "ok", "curve": [point(10, 0, 0.0), point(60, 900, 6.0)]}
    report = {
        "env": "E",
        "budget_s": 100.0,
        "seed": 5,
        "trainers": {"fastbrc": entry, "brax_sac": sac},
    }
    for trainer in report["trainers"].values():
        protocol.add_curve_summaries(trainer, 100.0)
    assert entry["members"][0]["final_return"] == 9.0 and "final_return" not in entry
    runs = protocol.runs(report)
    assert [(r["label"], r["seed"]) for r in runs] == [
        ("fastbrc seed 0", 0), ("fastbrc seed 1", 1), ("brax_sac", 5)]  # fmt: skip
    assert runs[1]["sizes"] == {"num_envs": 8}  # the entry's fields, shared by its seeds
    s = protocol.summarize(report, threshold=None)
    assert s["threshold"] == 6.0 and s["fastbrc_seeds"] == [0, 1]
    assert s["rows"]["fastbrc seed 0"]["time_to_threshold_s"] == 40
    assert s["rows"]["fastbrc seed 1"]["time_to_threshold_s"] == 40  # 7.0 at 40 s
    assert s["fastbrc_time_to_threshold_s"] == 40 and s["target"]["met"] is True
    # the target needs every seed: one that never reaches the threshold misses it
    t = protocol.summarize(report, threshold=8.5)
    assert t["rows"]["fastbrc seed 1"]["time_to_threshold_s"] is None
    assert t["fastbrc_time_to_threshold_s"] is None and t["target"]["met"] is False
    table = reporting.table({**report, "summary": s})
    assert "| fastbrc seed 0 | ok | 8 |" in table and "| fastbrc seed 1 | ok |" in table
    # peers_seeds.py: each seed a run of its own, judged with the others
    combined = combine.runs_of([(Path("p.json"), report)])
    assert [(r["variant"], r["seed"]) for r in combined] == [
        ("fastbrc", 0), ("fastbrc", 1), ("brax_sac", 5)]  # fmt: skip
    judged = combine.judge(combined, 100.0, min_fastbrc_seeds=2, min_peer_seeds=1)
    assert judged["seeds"] == {"fastbrc": [0, 1], "brax_sac": [5]} and judged["target"]["met"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--fastbrc-seeds", "0,x"], "--fastbrc-seeds wants seeds like 0,1,2"),
        (["--fastbrc-seeds", "1,1"], "names a seed twice"),
        (["--fastbrc-seeds", "0,1", "--trainers", "brax_sac"], "--trainers leaves out"),
        (["--fastbrc-override", "seeds=0,1"], "(--fastbrc-seeds)"),
    ],
)
def test_bad_fastbrc_seeds_are_one_line_and_exit_2(args, message, capsys):
    assert orchestrate.main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


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
    config = brax_trainers.brax_config(trainer, published, scale=16, tiny=False, **kwargs)
    assert config["num_envs"] == published["num_envs"] // 16
    assert config["batch_size"] == published["batch_size"] // 16
    changed = set(worker.changes(published, config)) - {"num_resets_per_eval"}
    assert changed == {"num_envs", "batch_size", "num_evals", "num_eval_envs",
                       "deterministic_eval", "seed"}  # fmt: skip
    assert config["deterministic_eval"] is True and config["num_eval_envs"] == 16
    spacing = brax_trainers.eval_interval_in_brax_steps(trainer, config)
    if trainer == "brax_ppo":  # whole update rounds of 64 x 30 x 32 env steps
        # evaluate every 3 epochs (published: 10), each still one round between env resets
        assert config["num_resets_per_eval"] == 3 and spacing == 3 * 64 * 30 * 32
        assert (
            brax_trainers.ppo_rounds_per_epoch(config)
            == brax_trainers.ppo_rounds_per_epoch(published)
            == 1
        )
    else:
        assert 0.9 * interval <= spacing <= 1.1 * interval
    with pytest.raises(common.UsageError, match="--scale 3"):
        brax_trainers.brax_config(trainer, published, scale=3, tiny=False, **kwargs)


def test_bad_arguments_exit_with_status_2(capsys):
    assert orchestrate.main(["--trainers", "fastbrc,dqn"]) == 2
    assert orchestrate.main(["--sps", "brax_ppo=fast"]) == 2
    assert orchestrate.main(["--budget-s", "0"]) == 2
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
        "--fastbrc-seeds", "0,1", "--out", str(out), "--run-root", str(tmp_path / "runs"),
    ]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=800, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]

    report = json.loads(out.read_text())
    assert report["benchmark"] == "peers" and report["env"] == "CartpoleBalance"
    assert report["budget_s"] == 5.0 and report["machine"]["backend"] == "cpu"
    assert "--tiny" in report["command"] and report["fastbrc_seeds"] == [0, 1]
    measured = report["protocol"]
    assert (measured["num_eval_envs"], measured["episode_length"], measured["action_repeat"]) == (
        4,
        1000,
        1,
    )
    assert list(report["trainers"]) == list(protocol.TRAINERS)
    runs = protocol.runs(report)  # fastbrc's two seeds, each a run of its own, then the peers
    assert [r["label"] for r in runs] == ["fastbrc seed 0", "fastbrc seed 1", *protocol.PEERS]
    for run in runs:
        name = run["label"]
        assert run["status"] == "ok", (name, run)
        curve = run["curve"]
        assert curve, name
        for p in curve:
            for key in ("wall_s", "env_steps", "eval_return"):
                assert isinstance(p[key], int | float) and math.isfinite(p[key]), (name, p)
        walls = [p["wall_s"] for p in curve]
        steps = [p["env_steps"] for p in curve]
        assert walls == sorted(walls) and steps == sorted(steps), name
        assert steps[-1] > 0 and walls[-1] >= 5.0, name  # stopped by the budget, trained
        assert run["final_return"] == curve[-1]["eval_return"]
        assert run["best_return"] == max(p["eval_return"] for p in curve)
        assert run["budget_s"] == 5.0 and run["config"], name
        assert run["sizes"]["num_envs"] == protocol.TINY[run["trainer"]]["num_envs"]
        assert run["protocol"]["episode_length"] == 1000
    fastbrc = report["trainers"]["fastbrc"]
    assert fastbrc["seeds"] == [0, 1] and fastbrc["config"]["seeds"] == [0, 1]
    assert fastbrc["sizes"]["seeds_in_one_program"] == 2 and "curve" not in fastbrc
    # one program: both seeds evaluated at the same env steps and seconds, each its own policy
    first, second = (m["curve"] for m in fastbrc["members"])
    assert [p["env_steps"] for p in first] == [p["env_steps"] for p in second]
    assert [p["wall_s"] for p in first] == [p["wall_s"] for p in second]
    assert [p["eval_return"] for p in first] != [p["eval_return"] for p in second]
    config = fastbrc["config"]
    assert config["max_wall_s"] == 5.0 and config["num_eval_envs"] == 4
    assert config["episode_length"] == 1000 and config["action_repeat"] == 1
    for name in protocol.PEERS:
        entry = report["trainers"][name]
        assert entry["stopped_by"] == "budget"
        assert entry["config"]["deterministic_eval"] is True
        assert entry["config"]["num_eval_envs"] == 4 and entry["config"]["episode_length"] == 1000
        assert entry["curve"][0]["env_steps"] == 0  # Brax's untrained eval
    assert report["trainers"]["brax_sac"]["dropped"] == ["num_resets_per_eval"]
    # Brax's agents ran in the peers' own environment (jax 0.9.2), fastbrc in this one
    for name in protocol.PEERS:
        environment = report["trainers"][name]["environment"]
        assert environment["python"] == str(orchestrate.PEERS_PYTHON)
        assert environment["jax"] == "0.9.2"
    import jax

    assert fastbrc["environment"]["jax"] == jax.__version__
    summary = report["summary"]
    peers = protocol.PEERS
    assert summary["threshold"] == max(report["trainers"][n]["final_return"] for n in peers)
    assert summary["best_peer"] in peers and summary["fastbrc_seeds"] == [0, 1]
    times = [summary["rows"][f"fastbrc seed {s}"]["time_to_threshold_s"] for s in (0, 1)]
    slowest = None if None in times else max(times)
    assert summary["fastbrc_time_to_threshold_s"] == slowest
    assert (tmp_path / "runs").is_dir() and list((tmp_path / "runs").glob("*/metrics.jsonl"))
    # peers_seeds.py reads the two seeds as two fastbrc runs
    combined = combine.runs_of([(out, report)])
    assert [(r["variant"], r["seed"]) for r in combined][:2] == [("fastbrc", 0), ("fastbrc", 1)]

    png = out.with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    for label in ("fastbrc seed 0", "fastbrc seed 1", *peers):
        assert f"| {label} | ok |" in proc.stdout
