"""Supported versions: the import-time check, and pyproject.toml's ranges kept in step with it.

Also part of `make compat` (the oldest JAX, and the GPU machine's jax 0.11.2 / Python 3.12).
"""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from fastbrc import versions

ROOT = Path(__file__).resolve().parent.parent
OK = {"jax": "0.11.2", "jaxlib": "0.11.2", "jax-cuda12-plugin": None, "jax-cuda13-plugin": None}


def test_this_interpreter_and_jax_are_supported():
    assert versions.problem() is None


@pytest.mark.parametrize(
    "python, installed",
    [
        ((3, 10, 14), OK),  # Python too old
        ((3, 14, 0), OK),  # Python too new
        ((3, 12, 3), {**OK, "jax": "0.9.1", "jaxlib": "0.9.1"}),  # JAX too old
        ((3, 12, 3), {**OK, "jax": "0.13.0", "jaxlib": "0.13.0"}),  # JAX too new
        ((3, 12, 3), {**OK, "jaxlib": "0.10.2"}),  # jax and jaxlib differ
        ((3, 12, 3), {**OK, "jax-cuda13-plugin": "0.12.0"}),  # CUDA plugin of another jaxlib
        ((3, 12, 3), {**OK, "jaxlib": None}),  # no jaxlib
    ],
)
def test_unsupported_combinations_are_named_in_one_line(python, installed):
    message = versions.problem(python, installed)
    assert message is not None and "\n" not in message
    assert message.startswith("unsupported stack: found Python " + ".".join(map(str, python)))
    assert "jax and jaxlib >= 0.9.2, < 0.13" in message


def test_supported_combinations_pass():
    for jax_version in ("0.9.2", "0.10.2", "0.11.2", "0.12.0.1"):
        installed = {**OK, "jax": jax_version, "jaxlib": jax_version}
        assert versions.problem((3, 12, 3), installed) is None
    cuda = {**OK, "jax-cuda13-plugin": "0.11.2"}
    assert versions.problem((3, 11, 7), cuda) is None


def test_check_stops_with_one_line_or_warns_when_allowed(monkeypatch, capsys):
    monkeypatch.setattr(versions, "problem", lambda: "unsupported stack: found X")
    monkeypatch.delenv(versions.ALLOW_ENV, raising=False)
    with pytest.raises(SystemExit) as stopped:
        versions.check()
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fastbrc: error: unsupported stack")
    monkeypatch.setenv(versions.ALLOW_ENV, "1")
    versions.check()
    assert capsys.readouterr().err.startswith("fastbrc: warning: unsupported stack")


def test_import_of_an_unsupported_stack_prints_one_line_and_no_traceback(tmp_path):
    # A stand-in `importlib.metadata.version` that reports jax 0.13 for this one import.
    code = (
        "import importlib.metadata as m; real = m.version; "
        "m.version = lambda n: '0.13.0' if n in ('jax', 'jaxlib') else real(n); "
        "import fastbrc"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "found Python" in proc.stderr and "jax 0.13.0" in proc.stderr


def _bounds(spec: str) -> tuple[str, str]:
    low = spec.split(">=")[1].split(",")[0]
    high = spec.split("<")[1].split(",")[0].strip('"')
    return low, high


def test_pyproject_ranges_match_the_check():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = {d.split(">")[0].split("=")[0].split("[")[0]: d for d in project["dependencies"]}
    for name in ("jax", "jaxlib"):
        low, high = _bounds(deps[name])
        assert low == ".".join(map(str, versions.JAX_MIN)), name
        assert high == ".".join(map(str, versions.JAX_BELOW)), name
    low, high = _bounds(project["requires-python"])
    assert (low, high) == ("3.11", "3.14")
    extras = project["optional-dependencies"]
    for toolkit in ("cuda12", "cuda13"):
        (spec,) = extras[toolkit]
        assert spec.startswith(f"jax[{toolkit}]") and _bounds(spec) == _bounds(deps["jax"])
    assert not any(d.startswith("brax==") for d in deps.values())  # peers pin theirs
