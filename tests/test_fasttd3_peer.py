"""benchmarks/peers.py's fasttd3 trainer (benchmarks/harness/fasttd3_trainer.py): its settings,
the source pin, bad input, a tiny run."""

import dataclasses
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import fasttd3_adapter  # noqa: E402  (benchmarks/; imports no torch at module level)
from harness import cli, protocol  # noqa: E402  (benchmarks/harness/)
from harness.report import write_report  # noqa: E402

SRC = fasttd3_adapter.DEFAULT_SRC
needs_src = pytest.mark.skipif(
    not (SRC / "fast_td3").is_dir(), reason=f"no FastTD3 checkout at {SRC}"
)


def test_fasttd3_is_named_only_on_request():
    assert "fasttd3" not in protocol.TRAINERS and "fasttd3" in protocol.ALL_TRAINERS
    assert cli.parse_args(["--trainers", "fastbrc,fasttd3"]).trainers == ["fastbrc", "fasttd3"]
    assert "fasttd3" in protocol.COMPARED and "fasttd3" in protocol.DEFAULT_SPS["cpu"]


def published():
    @dataclasses.dataclass
    class Args:  # the fields settings() reads, at FastTD3's Playground defaults
        env_name: str = "HumanoidWalk"
        seed: int = 1
        num_envs: int = 1024
        num_eval_envs: int = 1024
        batch_size: int = 32768
        buffer_size: int = 10240
        critic_hidden_dim: int = 1024
        actor_hidden_dim: int = 512
        num_updates: int = 2
        cuda: bool = True
        amp: bool = True
        compile: bool = True
        use_wandb: bool = True
        eval_interval: int = 5000
        render_interval: int = 5000
        save_interval: int = 5000

    return Args()


def test_cpu_settings_record_every_change_with_a_reason():
    used, changes = fasttd3_adapter.settings(
        published(), cuda=False, tiny=False, seed=3, num_eval_envs=16
    )
    assert (used["num_envs"], used["batch_size"]) == (64, 1024)
    assert used["compile"] is used["amp"] is used["cuda"] is False
    assert used["critic_hidden_dim"] == 1024 and used["num_updates"] == 2  # kept
    for key in ("num_envs", "batch_size", "compile", "amp", "cuda", "seed", "num_eval_envs"):
        assert changes[key]["used"] == used[key] and changes[key]["reason"], key
    assert changes["num_envs"]["published"] == 1024
    assert "critic_hidden_dim" not in changes


def test_gpu_settings_keep_the_published_configuration():
    used, changes = fasttd3_adapter.settings(
        published(), cuda=True, tiny=False, seed=1, num_eval_envs=16
    )
    assert (used["num_envs"], used["batch_size"]) == (1024, 32768)
    assert used["compile"] and used["amp"] and used["cuda"]
    assert set(changes) == {"num_eval_envs", "use_wandb", "eval_interval", "render_interval",
                            "save_interval"}  # fmt: skip


@needs_src
def test_the_pinned_checkout_verifies_and_a_changed_file_does_not(tmp_path):
    facts = fasttd3_adapter.verify_source(SRC)
    assert facts["commit"] == fasttd3_adapter.PINNED_COMMIT
    copy = tmp_path / "FastTD3"
    shutil.copytree(SRC / "fast_td3", copy / "fast_td3")
    path = copy / "fast_td3" / "fast_td3.py"
    path.write_text(path.read_text() + "\n# patched\n")
    with pytest.raises(fasttd3_adapter.SourceError, match="not commit 229ed59: fast_td3/fast_td3"):
        fasttd3_adapter.verify_source(copy)
    with pytest.raises(fasttd3_adapter.SourceError, match="no FastTD3 checkout"):
        fasttd3_adapter.find_source(tmp_path / "nowhere")


def test_a_missing_checkout_is_one_line_and_recorded_as_skipped(tmp_path):
    out = tmp_path / "p.json"
    command = [
        sys.executable, str(ROOT / "benchmarks" / "peers.py"), "--env", "CartpoleBalance",
        "--budget-s", "5", "--trainers", "fasttd3", "--fasttd3-src", str(tmp_path / "nowhere"),
        "--out", str(out),
    ]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if "fasttd3: skipped:" in line]
    assert len(lines) == 1 and "no FastTD3 checkout" in lines[0]
    assert "Traceback" not in proc.stderr
    entry = json.loads(out.read_text())["trainers"]["fasttd3"]
    assert entry["status"] == "skipped" and "no FastTD3 checkout" in entry["reason"]


@needs_src  # the checkout is looked for first; without it the message is about the checkout
@pytest.mark.skipif(
    importlib.util.find_spec("torch") is not None, reason="this interpreter has torch"
)
def test_no_torch_is_one_line_and_recorded_as_skipped(tmp_path):
    """FASTTD3_PYTHON names an interpreter without torch (this one): one line, no traceback,
    the trainer recorded as skipped, and the harness goes on to the next trainer."""
    out = tmp_path / "p.json"
    command = [
        sys.executable, str(ROOT / "benchmarks" / "peers.py"), "--env", "CartpoleBalance",
        "--budget-s", "5", "--trainers", "fasttd3", "--out", str(out),
    ]  # fmt: skip
    env = dict(os.environ, FASTTD3_PYTHON=sys.executable)
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if "fasttd3: skipped:" in line]
    assert len(lines) == 1 and "no torch/tensordict" in lines[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    entry = json.loads(out.read_text())["trainers"]["fasttd3"]
    assert entry["status"] == "skipped" and "no torch/tensordict" in entry["reason"]


def _fasttd3_env_unavailable() -> str | None:
    if os.environ.get("FASTTD3_PYTHON"):
        return None
    try:
        fasttd3_adapter.find_source()  # $FASTTD3_SRC, else SRC
    except fasttd3_adapter.SourceError as error:
        return f"{error}: put that checkout there (or name it with FASTTD3_SRC=DIR) to run it"
    if not (os.environ.get("PY311") or shutil.which("python3.11")):
        return "no Python 3.11 for FastTD3's environment (torch's CPU wheel is cp311)"
    return None


@pytest.mark.slow
@pytest.mark.skipif(_fasttd3_env_unavailable() is not None, reason=str(_fasttd3_env_unavailable()))
def test_tiny_fasttd3_run_through_the_harness(tmp_path):
    # First use makes benchmarks/peers/.venv-fasttd3 (pip, about 2-3 min); then about 80 s.
    out = tmp_path / "peers.json"
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true",
    }
    command = [
        sys.executable, str(ROOT / "benchmarks" / "peers.py"), "--env", "CartpoleBalance",
        "--budget-s", "5", "--tiny", "--num-eval-envs", "4", "--trainers", "fasttd3",
        "--out", str(out),
    ]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    report = json.loads(out.read_text())
    entry = report["trainers"]["fasttd3"]
    assert entry["status"] == "ok", entry
    assert entry["stopped_by"] == "budget"
    curve = entry["curve"]
    assert curve
    for p in curve:
        for key in ("wall_s", "env_steps", "eval_return"):
            assert isinstance(p[key], int | float) and math.isfinite(p[key]), p
    assert curve[-1]["wall_s"] >= 5.0 and curve[-1]["env_steps"] > 0
    assert entry["final_return"] == curve[-1]["eval_return"]
    assert entry["protocol"]["episode_length"] == 1000 and entry["protocol"]["action_repeat"] == 1
    # what ran: the pinned commit, torch, the device, and every change with its reason
    assert entry["fasttd3"]["commit"] == fasttd3_adapter.PINNED_COMMIT
    assert entry["torch"]["torch"].startswith("2.") and entry["torch"]["device"] == "cpu"
    assert entry["torch"]["compile"] is False and entry["torch"]["amp"] is False
    assert entry["environment"]["torch"] == entry["torch"]["torch"]
    assert entry["published_config_class"] == "MuJoCoPlaygroundArgs"
    assert entry["sizes"]["num_envs"] == protocol.TINY["fasttd3"]["num_envs"]
    for key in ("num_envs", "batch_size", "compile", "amp", "num_eval_envs"):
        assert entry["changes"][key]["reason"], key
    assert entry["changes"]["num_envs"]["published"] == 1024
    assert "environments/mujoco_playground_env.make_env" in entry["replaced"]
    assert out.with_suffix(".png").exists()


def test_a_crash_is_a_result_in_the_summary_and_the_plot(tmp_path):
    curve = [
        {"wall_s": 60.0, "env_steps": 6400, "eval_return": 3.0, "eval_return_std": 0.0},
        {"wall_s": 120.0, "env_steps": 12800, "eval_return": 5.0, "eval_return_std": 0.0},
    ]
    crash = {"error": "IndexError: index out of range in self", "wall_s": 150.0, "env_steps": 16000}
    entry = {"status": "crashed", "curve": curve, "crash": crash, "error": crash["error"]}
    entry.update(protocol.summarize_curve(curve, 600.0))
    report = {"env": "HumanoidWalk", "budget_s": 600.0, "machine": {"backend": "cpu"},
              "trainers": {"fasttd3": entry}}  # fmt: skip
    out = tmp_path / "p.json"
    write_report(report, out, None)
    written = json.loads(out.read_text())
    assert written["trainers"]["fasttd3"]["status"] == "crashed"
    assert written["summary"]["threshold"] == 5.0  # its curve up to the crash counts
    assert written["summary"]["rows"]["fasttd3"]["time_to_threshold_s"] == 120.0
    assert out.with_suffix(".png").stat().st_size > 0
