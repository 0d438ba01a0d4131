"""`fastbrc plot`: learning-curve figures of real (tiny) runs, and one-line errors."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
from configs import TINY  # tests/configs.py
from matplotlib.image import imread

from fastbrc.config import ConfigError
from fastbrc.run.plot import _cumulative_wall, eval_summary, load_run, plot_main, plot_runs
from fastbrc.run.runner import train

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ROW = 350  # pixels per row of panels: the fixed 3.5 in at 100 dpi; the width is 1200


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A real two-task run (2 evaluations) and a single-task run made from it: its config with
    one task (the logged mean return is the single-task curve). One compile, a while on CPU."""
    root = tmp_path_factory.mktemp("runs")
    multi = dataclasses.replace(
        TINY,
        env="ProbeBandit,ProbeChain",
        task_embedding_dim=8,
        run_dir=str(root / "multi"),
        total_env_steps=400,
        eval_every_env_steps=200,
        save_buffer=False,
    )
    train(multi, verbose=False)
    solo = root / "solo"
    solo.mkdir()
    shutil.copy(root / "multi" / "metrics.jsonl", solo)
    config = dataclasses.replace(multi, env="ProbeBandit", run_dir=str(solo))
    (solo / "config.json").write_text(config.to_json())
    return solo, root / "multi"


def pixels(path) -> tuple[int, int]:
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    height, width, _ = imread(path).shape
    return height, width


def test_a_single_task_run_makes_one_row_of_a_fixed_size(runs, tmp_path):
    solo, _ = runs
    out = plot_runs([solo], tmp_path / "solo.png")
    assert out == tmp_path / "solo.png" and out.stat().st_size > 10_000
    assert pixels(out) == (ROW, 1200)
    assert pixels(plot_runs([solo], tmp_path / "again.png", title="other")) == (ROW, 1200)


def test_a_multi_task_run_adds_a_row_per_task(runs, tmp_path):
    _, multi = runs
    assert pixels(plot_runs([multi], tmp_path / "multi.png")) == (3 * ROW, 1200)


def test_several_runs_in_one_figure_in_the_format_of_the_suffix(runs, tmp_path):
    out = plot_runs(runs, tmp_path / "new" / "dir" / "both.png")  # the directory is created
    assert pixels(out) == (3 * ROW, 1200)  # the mean row, then ProbeBandit and ProbeChain
    assert plot_runs(runs, tmp_path / "both.svg").read_text().startswith("<?xml")
    assert plot_runs(runs, tmp_path / "both.pdf").read_bytes().startswith(b"%PDF")


def test_cli_writes_next_to_one_run_or_in_cwd_for_several(runs, tmp_path, monkeypatch, capsys):
    solo, multi = runs
    assert plot_main([str(solo)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"fastbrc: wrote {solo / 'learning_curves.png'} (1 run)"
    assert lines[1:] == [f"  {eval_summary(load_run(solo))}"]
    assert pixels(solo / "learning_curves.png") == (ROW, 1200)

    monkeypatch.chdir(tmp_path)
    assert plot_main([str(solo), str(multi), "--title", "solo vs multi"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "fastbrc: wrote learning_curves.png (2 runs)" and len(lines) == 3
    assert lines[1].startswith("  solo: eval return ") and lines[2].startswith("  multi: ")
    assert pixels(tmp_path / "learning_curves.png") == (3 * ROW, 1200)


def test_eval_summary_names_first_best_and_last_evaluation(runs, tmp_path):
    solo, _ = runs
    run = load_run(solo)
    records = [
        {"env_steps": 100, "eval/episode_return": 2.0},
        {"env_steps": 150, "train/episode_return": 99.0},
        {"env_steps": 200, "eval/episode_return": None},  # NaN in the run: never the best
        {"env_steps": 300, "eval/episode_return": 31.25},
        {"env_steps": 400, "eval/episode_return": 1234.5},
        {"env_steps": 1_500_000, "eval/episode_return": 20.0},
    ]
    run = dataclasses.replace(
        run, records=records, steps=np.array([r["env_steps"] for r in records], dtype=float)
    )
    assert eval_summary(run) == (
        "solo: eval return 2.0 at 100 env steps (first), best 1234.5 at 400 env steps, "
        "20.0 at 1,500,000 env steps (last); 5 evaluations"
    )
    nan_only = dataclasses.replace(run, records=records[2:3], steps=np.array([200.0]))
    assert eval_summary(nan_only) == (
        "solo: eval return nan at 200 env steps (first), nan at 200 env steps (last); 1 evaluation"
    )


def test_resumed_runs_continue_the_wall_clock_and_a_cut_last_line_is_skipped(runs, tmp_path):
    assert _cumulative_wall([1.0, 2.0, 0.5, 1.5]).tolist() == [1.0, 2.0, 2.5, 3.5]
    solo, _ = runs
    run = tmp_path / "killed"
    run.mkdir()
    shutil.copy(solo / "config.json", run)
    record = {"env_steps": 200, "wall_s": 1.0, "eval/episode_return": None}
    (run / "metrics.jsonl").write_text(json.dumps(record) + '\n{"env_steps": 4')
    assert pixels(plot_runs([run], tmp_path / "killed.png")) == (ROW, 1200)
    (run / "metrics.jsonl").write_text('{"env_steps": 4\n' + json.dumps(record) + "\n")
    with pytest.raises(ConfigError, match="metrics.jsonl:1 is not a JSON line"):
        plot_runs([run], tmp_path / "killed.png")


@pytest.mark.parametrize(
    "case, message",
    [
        ("empty dir", "is not a run directory (no config.json)"),
        ("no metrics", "is not a run directory (no metrics.jsonl)"),
        ("no eval yet", "has no evaluation yet (it evaluates every 200 env steps)"),
        ("txt out", "unknown format '.txt' (use .png, .pdf, .svg)"),
        ("no args", "the following arguments are required: RUN_DIR"),
        ("bad flag", "unrecognized arguments: --dpi"),
    ],
)
def test_bad_input_exits_2_with_one_line(runs, tmp_path, capsys, case, message):
    solo, _ = runs
    bad = tmp_path / "bad"
    bad.mkdir()
    if case in ("no metrics", "no eval yet"):
        shutil.copy(solo / "config.json", bad)
    if case == "no eval yet":
        (bad / "metrics.jsonl").write_text('{"env_steps": 200, "train/episode_return": 1.0}\n')
    argv = {
        "txt out": [str(solo), "--out", str(tmp_path / "curves.txt")],
        "no args": [],
        "bad flag": [str(solo), "--dpi", "300"],
    }.get(case, [str(bad)])
    assert plot_main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("fastbrc: error: ")
    assert message in err
    assert not (tmp_path / "curves.txt").exists()
