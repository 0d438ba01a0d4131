"""Reading an exported policy file: `load_exported(path)` -> `ExportedPolicy`.

The format is told by the content (a zip is a jax export, anything else must be an ONNX
model), the metadata is read from the file and checked, and the policy runs through ONNX
Runtime or the deserialised `jax.export` function; fastbrc's own networks are never built.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fastbrc.deploy.errors import DeployError
from fastbrc.deploy.metadata import loads
from fastbrc.errors import first_line


@dataclass(frozen=True)
class ExportedPolicy:
    """An exported policy: ``policy(feeds) -> actions`` or ``policy.act(obs, task)``."""

    path: Path
    format: str  # "onnx" or "jax"
    metadata: dict[str, Any]
    runner: Any

    @property
    def input_names(self) -> list[str]:
        return [item["name"] for item in self.metadata["inputs"]]

    @property
    def obs_size(self) -> int:
        return int(self.metadata["inputs"][0]["shape"][1])

    @property
    def tasks(self) -> list[str]:
        """The tasks this file serves: its fixed task, or every task of the run."""
        return list(self.metadata["task_info"])

    def __call__(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.runner(feeds))

    def act(self, obs: np.ndarray, task: str) -> np.ndarray:
        """Actions for a batch of raw observations `obs` [n, task's obs size] of `task`."""
        obs = np.asarray(obs, np.float32)
        obs = np.pad(obs, ((0, 0), (0, self.obs_size - obs.shape[-1])))
        feeds = {self.input_names[0]: obs}
        if len(self.input_names) > 1:  # the task id is an input
            feeds[self.input_names[1]] = np.full(
                len(obs), self.metadata["tasks"].index(task), np.int32
            )
        return self(feeds)


def runner_for(data: bytes, fmt: str, source: str) -> Any:
    """The runtime of `data` in format `fmt` ("onnx" or "jax")."""
    if fmt == "jax":
        from fastbrc.deploy.jax_file import JaxRunner

        return JaxRunner(data, source)
    from fastbrc.deploy.onnx_file import OnnxRunner

    try:
        return OnnxRunner(data)
    except ImportError as error:
        raise DeployError(
            f"reading ONNX needs onnxruntime ({error}); install the export extra"
        ) from None
    except Exception as error:  # noqa: BLE001 - ONNX Runtime's load errors have no common type
        raise DeployError(
            f"{source} is neither a jax export nor a loadable ONNX model ({first_line(error)})"
        ) from None


def load_exported(path: str | Path) -> ExportedPolicy:
    """The policy file at `path`, as `fastbrc export` wrote it."""
    path = Path(path)
    if not path.is_file():
        raise DeployError(f"no policy file at {path}")
    fmt = "jax" if zipfile.is_zipfile(path) else "onnx"
    runner = runner_for(path.read_bytes(), fmt, str(path))
    text = runner.metadata_text()
    if text is None:
        raise DeployError(f"{path} has no fastbrc metadata (not written by fastbrc export)")
    metadata = loads(text, str(path))
    if fmt == "jax":
        runner.set_input_names([item["name"] for item in metadata["inputs"]])
    return ExportedPolicy(path=path, format=fmt, metadata=metadata, runner=runner)
