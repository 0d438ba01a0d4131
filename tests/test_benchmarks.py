"""Benchmark scripts that tests can afford: gpu.sh's refusal on a CPU, the learning summary,
the benchmarks' curves (a median over seeds evaluated at other points, the multi-task figure),
the profile's trace summary, the start-up comparison on a probe env."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import curves  # noqa: E402  (benchmarks/curves.py)
import learning  # noqa: E402  (benchmarks/learning.py)
import profile_iteration  # noqa: E402  (benchmarks/profile_iteration.py)


def test_gpu_script_refuses_a_machine_without_a_gpu():
    results = ROOT / "benchmarks" / "results"
    before = sorted(results.iterdir())
    proc = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu.sh")],
        env={**os.environ, "PYTHON": sys.executable, "JAX_PLATFORMS": "cpu"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "gpu.sh: JAX sees no GPU (backend: cpu); install the CUDA extra (uv sync --extra cuda12, "
        "or cuda13 for driver R580+) or use the Docker image"
    ]
    assert sorted(results.iterdir()) == before  # nothing ran, nothing written


def test_learning_summary_times_each_return_threshold():
    def record(steps, wall, ret=None):
        out = {
            "env_steps": steps,
            "wall_s": wall,
            "perf/train_s": wall - 10,
            "perf/compile_s": 10.0,
            "perf/env_steps_per_s": steps / (wall - 10),
        }
        return out if ret is None else {**out, "eval/episode_return": ret}

    records = [record(100, 20, 5.0), record(200, 30), record(300, 40, 50.0), record(400, 50, 80)]
    summary = learning.summarize(records, [40.0, 90.0])
    assert summary["compile_s"] == 10.0
    assert [p["env_steps"] for p in summary["curve"]] == [100, 300, 400]
    assert summary["final_eval_return"] == 80 and summary["best_eval_return"] == 80
    assert summary["time_to_return"] == {"40.0": {"env_steps": 300, "wall_s": 40}, "90.0": None}
    # the median rate skips the first chunk (it follows compilation)
    assert summary["env_steps_per_s_median"] == 10.0
    default = learning.summarize(records, [])["time_to_return"]
    assert list(default) == ["20.0", "40.0", "60.0", "72.0"]
    assert default["20.0"] == {"env_steps": 300, "wall_s": 40}


def test_the_median_of_seeds_is_taken_where_every_seed_was_evaluated(tmp_path):
    def curve(*points):
        return [{"env_steps": s, "wall_s": s / 10, "eval_return": r} for s, r in points]

    # three seeds of separate programs, evaluated at other env steps
    seeds = [
        curve((0, 0.0), (100, 10.0), (200, 20.0)),
        curve((50, 5.0), (150, 5.0), (300, 5.0)),
        curve((50, 10.0), (200, 30.0)),
    ]
    x, y = curves.median_curve(seeds, "env_steps")  # from 50 (the latest start) to 200
    assert x.tolist() == [50, 100, 150, 200]
    assert y.tolist() == pytest.approx([5.0, 10.0, 15.0, 20.0])
    assert curves.median_curve([seeds[0], curve((300, 1.0), (400, 2.0))], "wall_s")[0].size == 0
    fig, grid = curves.figure()
    axes = list(zip(grid[0], ("wall_s", "env_steps"), strict=True))
    curves.draw(axes, curves.Group("fastbrc", tuple(seeds), "tab:red"))
    curves.draw(axes, curves.Group("brax_sac", (curve((0, 1.0), (100, None)),), "tab:blue"))
    labels = [line.get_label() for line in grid[0][0].get_lines()]
    assert labels[3:] == ["fastbrc: median of 3 (thin: each)", "brax_sac"]
    curves.finish(fig, axes, "title", tmp_path / "c.png", threshold=12.0)
    assert (tmp_path / "c.png").stat().st_size > 10_000 and list(tmp_path.iterdir()) == [
        tmp_path / "c.png"
    ]


def test_multitask_figure_of_a_hand_made_report(tmp_path):
    import multitask  # benchmarks/multitask.py (imports the trainer)

    def summary(returns):
        steps = [1000 * (i + 1) for i in range(len(returns))]
        return {"final_return": returns[-1], "best_return": max(returns),
                "curve": {"task_env_steps": steps, "episode_return": returns}}  # fmt: skip

    runs = [
        {"name": "single/A", "kind": "single", "tasks": ["A"], "evals": {"A": summary([1, 5])}},
        {"name": "multi", "kind": "multi", "tasks": ["A", "B"],
         "evals": {"A": summary([2, 4, 6]), "B": None}},
    ]  # fmt: skip
    report = {"tasks": ["A", "B"], "runs": runs, "family": "custom", "backend": "cpu",
              "profile": "cpu", "steps_per_task": 3000, "envs_per_task": 4, "seed": 0}  # fmt: skip
    report["per_task"] = multitask.per_task_table(report["tasks"], runs)
    assert report["per_task"]["A"]["multi_minus_single_final"] == 1
    multitask.plot(report, tmp_path / "m.png")
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"


def test_startup_benchmark_compares_both_variants_in_one_invocation(tmp_path):
    out = tmp_path / "startup.json"
    tiny = ["--num-envs", "4", "--batch-size", "16", "--iterations-per-chunk", "5"]
    tiny += ["--critic-width", "16", "--actor-hidden", "16", "--num-eval-envs", "2"]
    tiny += ["--learning-starts-iterations", "5"]
    argv = [sys.executable, str(ROOT / "benchmarks" / "startup.py"), "--env", "ProbeBandit"]
    argv += ["--repeats", "2", "--chunks", "1", "--out", str(out), *tiny]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    # A B, then B A: drift on a shared machine falls on both variants
    assert [run["variant"] for run in result["runs"]] == [
        "xla_default",
        "fastbrc",
        "fastbrc",
        "xla_default",
    ]
    default, fastbrc = result["runs"][0], result["runs"][1]
    assert default["options"] == {"init": {}, "chunk": {}, "evaluate": {}}
    assert fastbrc["options"]["init"] == {"xla_backend_optimization_level": 0}  # CPU here
    for run in result["runs"]:
        assert run["compile_total_s"] > 0 and run["chunk_run_s"] > 0
        # the options change speed and float rounding, not what is learned
        assert run["last_chunk_critic_loss"] == pytest.approx(
            default["last_chunk_critic_loss"], rel=1e-4
        )
    ratios = result["ratio_fastbrc_over_default"]
    medians = result["median"]
    assert ratios["chunk_compile_s"] == pytest.approx(
        medians["fastbrc"]["chunk_compile_s"] / medians["xla_default"]["chunk_compile_s"]
    )
    assert "| start_up_s |" in proc.stdout


def test_startup_benchmark_rejects_a_bad_override_in_one_line():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "startup.py"), "--num-envs", "many"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("startup.py: ") and "many" in line and "Traceback" not in line


def test_preset_cost_runs_both_configs_and_reports_their_ratio(tmp_path):
    out = tmp_path / "cost.json"
    tiny = "--num-envs 4 --batch-size 16 --iterations-per-chunk 5 --critic-width 16 "
    tiny += "--actor-hidden 16 --num-eval-envs 2 --learning-starts-iterations 5"
    argv = [sys.executable, str(ROOT / "benchmarks" / "preset_cost.py"), "--env", "ProbeBandit"]
    argv += ["--chunks", "1", "--out", str(out), "--before", tiny]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    preset, before = result["runs"]["preset"][0], result["runs"]["before"][0]
    assert before["config"]["num_envs"] == 4 and preset["config"]["num_envs"] != 4
    for run in (preset, before):
        assert run["env_steps_per_s"] == pytest.approx(
            run["env_steps_per_chunk"] / run["chunk_run_s"]
        )
    ratio = result["ratio_preset_over_before"]["compile_total_s"]
    assert ratio == pytest.approx(preset["compile_total_s"] / before["compile_total_s"])
    assert "| env_steps_per_s |" in proc.stdout


def test_preset_cost_rejects_a_bad_override_in_one_line():
    argv = [sys.executable, str(ROOT / "benchmarks" / "preset_cost.py"), "--before", "--num-envs x"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("preset_cost.py: before: ") and "Traceback" not in line


def test_trace_summary_ranks_each_process_events_by_total_time_without_python_frames():
    trace = {
        "traceEvents": [
            {"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "/device:GPU:0"}},
            {"ph": "M", "name": "process_name", "pid": 2, "args": {"name": "/host:CPU"}},
            {"ph": "X", "pid": 1, "name": "loop_gather_fusion", "dur": 500.0},
            {"ph": "X", "pid": 1, "name": "copy_fusion", "dur": 3000.0},
            {"ph": "X", "pid": 1, "name": "loop_gather_fusion", "dur": 700.0},
            {"ph": "X", "pid": 2, "name": "$profiler.py:471 trace", "dur": 9e6},
            {"ph": "X", "pid": 2, "name": "ThunkExecutor::Execute", "dur": 250.0},
            {"ph": "i", "pid": 1, "name": "an instant, not timed", "dur": 1e9},
            {"ph": "X", "pid": 3, "name": "unnamed process", "dur": 1000.0},
        ]
    }
    summary = profile_iteration.summarize_trace(trace, top=5)
    gpu = summary["/device:GPU:0"]
    assert [(e["name"], e["ms"], e["count"]) for e in gpu["top"]] == [
        ("copy_fusion", 3.0, 1),
        ("loop_gather_fusion", 1.2, 2),
    ]
    assert gpu["total_ms"] == pytest.approx(4.2) and gpu["events"] == 3
    assert [e["name"] for e in summary["/host:CPU"]["top"]] == ["ThunkExecutor::Execute"]
    assert summary["3"]["total_ms"] == 1.0  # a process without a name event: its pid
    assert profile_iteration.summarize_trace(trace["traceEvents"], top=1)["/device:GPU:0"][
        "top"
    ] == [{"name": "copy_fusion", "ms": 3.0, "count": 1}]


@pytest.mark.parametrize(
    "override, message",
    [
        ("batch_size=abc", "profile_iteration: error: batch_size='abc' is not of type int"),
        ("critic_bf16=maybe", "profile_iteration: error: critic_bf16 takes true or false"),
        ("no_such_field=1", "profile_iteration: error: no config field 'no_such_field'"),
        ("batch_size=3", "profile_iteration: error: --batch-size"),
        ("actor_hidden=256,x", "profile_iteration: error: actor_hidden='256,x' is not of type"),
        # parsed as (256, 0), as on the CLI, so the config's own check speaks
        ("actor_hidden=256,0", "profile_iteration: error: --actor-hidden sizes must be > 0"),
    ],
)
def test_profile_rejects_a_bad_override_in_one_line(override, message, capsys):
    argv = ["--env", "CartpoleBalance", "--profile", "cpu", "--num-envs", "2"]
    assert profile_iteration.main(argv + ["--override", override]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(message), err


def test_plan_check_verdict_counts_a_median_seed_that_never_got_there_as_later():
    import plan_check

    def runs(*walls):
        return [{"reached": w is not None, "wall_s": w} for w in walls]

    assert plan_check.verdict(runs(130, 110, 190), runs(100, 120, 140)) == {
        "median_wall_s_to_threshold": {"recommended": 130, "preset": 120},
        "no_later_than_preset": False,
    }
    assert plan_check.verdict(runs(130, 110, 190), runs(100, None, None))[
        "no_later_than_preset"
    ]  # the preset's median seed never got there
    assert not plan_check.verdict(runs(None, None, 90), runs(None, None, None))[
        "no_later_than_preset"
    ]  # neither did ours
