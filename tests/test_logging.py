"""Metric sinks (metrics.jsonl, TensorBoard, W&B offline) carry the same keys and values;
--max-wall-s stops a run cleanly."""

import dataclasses
import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from configs import TINY
from tensorboardX.proto import event_pb2

from fastbrc import cli
from fastbrc.run.runner import train

ARGS = (
    "--env ProbeChain --profile cpu --num-envs 4 --num-eval-envs 4 --batch-size 32 "
    "--critic-width 32 --actor-hidden 32 --iterations-per-chunk 10 --total-env-steps 200 "
    "--eval-every-env-steps 80 --learning-starts-iterations 5"
).split()


def tensorboard_scalars(directory: Path) -> dict[int, dict[str, float]]:
    """{step: {tag: value}} from the TFRecord event files (length, crc, event, crc)."""
    out: dict[int, dict[str, float]] = {}
    for path in sorted(directory.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos : pos + 8])
            event = event_pb2.Event()
            event.ParseFromString(data[pos + 12 : pos + 12 + length])
            pos += 12 + length + 4
            for value in event.summary.value:
                out.setdefault(event.step, {})[value.tag] = value.simple_value
    return out


def wandb_history(run_dir: Path) -> list[dict]:
    """History rows of the offline W&B run: its .wandb file is a LevelDB-style log (7-byte
    file header, 32 KiB blocks, 7-byte record headers) of protobuf `Record`s."""
    from wandb.proto import wandb_internal_pb2

    (path,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, pieces, rows, block = 7, b"", [], 32768
    while pos + 7 <= len(data):
        left = block - pos % block
        length, kind = int.from_bytes(data[pos + 4 : pos + 6], "little"), data[pos + 6]
        if left < 7 or kind == 0:  # block trailer or padding
            pos += left
            continue
        pieces += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pieces)
            pieces = b""
            if record.WhichOneof("record_type") == "history":
                items = record.history.item
                row = {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in items}
                rows.append({k: v for k, v in row.items() if not k.startswith("_")})
    return rows


@pytest.mark.slow
def test_jsonl_tensorboard_and_wandb_log_the_same_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb-cache"))
    run = tmp_path / "run"
    code = cli.main(["train", *ARGS, "--run-dir", str(run), "--wandb", "--wandb-mode", "offline"])
    assert code == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    board = tensorboard_scalars(run / "tensorboard")
    history = wandb_history(run)
    assert [r["env_steps"] for r in records] == sorted(board) == [h["env_steps"] for h in history]
    assert len(records) == 5 and "eval/episode_return" in records[1]
    for record, row in zip(records, history, strict=True):
        logged = {k: v for k, v in record.items() if k != "env_steps" and v is not None}
        tb = board[record["env_steps"]]
        wb = {k: v for k, v in row.items() if k != "env_steps"}
        assert set(logged) == set(tb) == set(wb), (set(logged) ^ set(tb), set(logged) ^ set(wb))
        for key, value in logged.items():
            assert wb[key] == pytest.approx(value, rel=1e-6), key
            assert tb[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    (offline,) = run.glob("wandb/offline-run-*")
    assert offline.name.endswith((run / "wandb_id").read_text().strip())  # resume reuses it


def test_wandb_missing_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError
    run = tmp_path / "run"
    code = cli.main(["train", *ARGS, "--run-dir", str(run), "--wandb"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "uv sync --extra wandb" in err
    assert not run.exists()


def test_max_wall_s_stops_after_a_chunk_with_eval_and_checkpoint(tmp_path):
    config = dataclasses.replace(
        TINY,
        run_dir=str(tmp_path / "run"),
        total_env_steps=10**7,
        eval_every_env_steps=10**7,
        checkpoint_every=10**7,
        max_wall_s=1e-3,  # reached by the time the first chunk returns (compile comes first)
    )
    record = train(config, verbose=False)
    assert record["stopped_by"] == "max_wall_s"
    assert record["env_steps"] == TINY.env_steps_per_chunk
    assert np.isfinite(record["eval/episode_return"])
    assert [p.name for p in (tmp_path / "run" / "checkpoints").iterdir()] == [
        str(TINY.env_steps_per_chunk)
    ]


def test_stop_at_return_stops_when_every_seed_reached_it_and_saves_there(tmp_path):
    """ProbeBandit's optimal return is 1.0: two seeds in one program pass 0.5 within a few
    chunks (and 2.0, never); the run stops at the first evaluation where both have."""
    base = dataclasses.replace(
        TINY,
        seeds=(0, 1),
        total_env_steps=20 * TINY.env_steps_per_chunk,
        eval_every_env_steps=TINY.env_steps_per_chunk,
        checkpoint_every=10**7,
    )
    record = train(dataclasses.replace(base, run_dir=str(tmp_path / "a"), stop_at_return=0.5),
                   verbose=False)  # fmt: skip
    assert record["stopped_by"] == "stop_at_return"
    step = record["env_steps"]
    assert step < base.total_env_steps
    assert all(r["eval/episode_return"] >= 0.5 for r in record["seeds"])
    assert [p.name for p in (tmp_path / "a" / "checkpoints").iterdir()] == [str(step)]
    short = dataclasses.replace(base, total_env_steps=step + 2 * TINY.env_steps_per_chunk)
    never = train(dataclasses.replace(short, run_dir=str(tmp_path / "b"), stop_at_return=2.0),
                  verbose=False)  # fmt: skip
    assert "stopped_by" not in never and never["env_steps"] == short.total_env_steps


def test_video_every_renders_a_saved_checkpoint_after_every_nth_evaluation(tmp_path, monkeypatch):
    """The runner's hook (rendering itself is tests/test_render.py's): the clip comes from
    a checkpoint at the evaluation's step, and a failing render only warns."""
    from fastbrc.run import render

    calls = []

    def fake_render(run_dir, step, *, max_steps, seed):
        assert (Path(run_dir) / "checkpoints" / str(step)).is_dir()
        assert seed is None  # a one-seed run names no member
        calls.append((step, max_steps))
        if len(calls) == 2:
            raise RuntimeError("GL went away")
        return [Path(run_dir) / "videos" / f"{step}.mp4"]

    monkeypatch.setattr(render, "check_gl", lambda: "egl")
    monkeypatch.setattr(render, "render_checkpoint", fake_render)
    per_chunk = TINY.env_steps_per_chunk
    config = dataclasses.replace(
        TINY,
        run_dir=str(tmp_path / "run"),
        total_env_steps=6 * per_chunk,
        eval_every_env_steps=per_chunk,
        checkpoint_every=10**7,
        video_every=2,
    )
    record = train(config, verbose=False)
    assert record["env_steps"] == 6 * per_chunk
    assert calls == [(2 * per_chunk, 250), (4 * per_chunk, 250), (6 * per_chunk, 250)]
