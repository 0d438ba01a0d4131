"""benchmarks/peers/make_fasttd3_env.py's decisions, without downloading torch: where torch
comes from (a local CPU wheel, else PyTorch's CPU-only index, never PyPI's CUDA build), and
that `make test` builds FastTD3's environment only where the FastTD3 checkout is."""

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "peers" / "make_fasttd3_env.py"
_spec = importlib.util.spec_from_file_location("make_fasttd3_env", SCRIPT)
make_env = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_env)


def pip_command() -> list[str] | None:
    """A pip to ask (this interpreter's, else python3.11's or python3's)."""
    for python in (sys.executable, shutil.which("python3.11"), shutil.which("python3")):
        if (
            python
            and subprocess.run([python, "-m", "pip", "--version"], capture_output=True).returncode
            == 0
        ):
            return [python, "-m", "pip"]
    return None


def fake_wheel(folder: Path, version: str) -> None:
    """A wheel that only says it is torch `version` (enough for pip's resolver)."""
    folder.mkdir(parents=True, exist_ok=True)
    info = f"torch-{version}.dist-info"
    with zipfile.ZipFile(folder / f"torch-{version}-py3-none-any.whl", "w") as wheel:
        wheel.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: torch\nVersion: {version}\n"
        )
        wheel.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        wheel.writestr(f"{info}/RECORD", "")


def test_a_local_cpu_build_is_used_and_anything_else_means_the_cpu_index():
    assert make_env.torch_source("2.13.0+cpu") == []
    for found in (None, "2.13.0", "2.13.0+cu128"):
        assert make_env.torch_source(found) == [
            "--extra-index-url",
            "https://download.pytorch.org/whl/cpu",
        ]
    assert make_env.pinned_torch(make_env.REQUIREMENTS.read_text()) == "torch==2.13.0"


def test_pip_is_asked_what_it_has_without_an_index(tmp_path, monkeypatch):
    pip = pip_command()
    if pip is None:
        pytest.skip("no interpreter with pip to ask")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # this machine's find-links and caps: off
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "wheels"))
    (tmp_path / "wheels").mkdir()
    assert make_env.local_torch(pip, "torch==2.13.0") is None
    fake_wheel(tmp_path / "wheels", "2.13.0+cpu")
    assert make_env.local_torch(pip, "torch==2.13.0") == "2.13.0+cpu"
    assert make_env.local_torch(pip, "torch==2.14.1") is None


def test_make_test_skips_the_environment_without_a_checkout(tmp_path):
    env = {**os.environ, "FASTTD3_SRC": str(tmp_path / "no-checkout")}
    env.pop("FASTTD3_PYTHON", None)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--if-checkout"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    assert line.startswith("make_fasttd3_env: skipped") and "FASTTD3_SRC" in line
    assert "younggyoseo/FastTD3" in line
