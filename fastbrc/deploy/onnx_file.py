"""ONNX: a policy converted by jax2onnx, run by ONNX Runtime.

jax2onnx (the ``export`` extra) converts the traced JAX function op by op (Flax's Dense,
LayerNorm, ReLU and tanh included) into one self-contained ``.onnx`` file, opset 23, with a
symbolic ``batch`` dimension; the metadata is the model's ``metadata_props["fastbrc"]``.
Tracing runs under ``jax.disable_jit()``: jax2onnx 0.17 inlines nested ``jit`` calls through
an API JAX 0.11 removed, and without jit the converter sees the ops themselves. An op the
converter lacks is reported by name (`DeployError`); ``--format jax`` serialises every op.
Reading needs only ``onnxruntime``.
"""

from __future__ import annotations

import importlib.metadata
import re
from typing import Any

import jax
import numpy as np

from fastbrc.deploy.errors import DeployError
from fastbrc.deploy.metadata import KEY, dumps
from fastbrc.deploy.signature import Signature
from fastbrc.errors import named_first_line

OPSET = 23


def converter_name() -> str:
    try:
        return f"jax2onnx {importlib.metadata.version('jax2onnx')} (opset {OPSET})"
    except importlib.metadata.PackageNotFoundError:
        return "jax2onnx (not installed)"


def _converter():
    try:
        from jax2onnx import to_onnx
    except ImportError as error:
        raise DeployError(
            f"--format onnx needs jax2onnx ({error}); install the export extra: "
            "pip install 'fastbrc[export]' (or uv sync)"
        ) from None
    return to_onnx


def onnx_bytes(signature: Signature, metadata: dict[str, Any]) -> bytes:
    """The policy as a serialised ONNX model carrying `metadata`."""
    import onnx

    to_onnx = _converter()
    (batch,) = jax.export.symbolic_shape("batch")
    try:
        with jax.disable_jit():
            model = to_onnx(
                signature.fn,
                [tensor.spec(batch) for tensor in signature.inputs],
                model_name="fastbrc_policy",
                opset=OPSET,
                input_names=[tensor.name for tensor in signature.inputs],
                output_names=[signature.output.name],
            )
    except NotImplementedError as error:
        op = re.search(r"primitive '([^']+)'", str(error))
        name = op.group(1) if op else named_first_line(error)
        raise DeployError(
            f"the ONNX converter ({converter_name()}) does not support the JAX op '{name}' "
            "in this policy; --format jax exports every op"
        ) from None
    except Exception as error:  # noqa: BLE001 - any converter failure is one line
        raise DeployError(
            f"the ONNX converter ({converter_name()}) failed: {named_first_line(error)}"
        ) from None
    model.doc_string = "fastbrc policy: observations -> actions in [-1, 1] (metadata: 'fastbrc')"
    onnx.helper.set_model_props(model, {KEY: dumps(metadata)})
    onnx.checker.check_model(model)
    return model.SerializeToString()


class OnnxRunner:
    """An ONNX policy in ONNX Runtime on the CPU: ``runner(feeds) -> action``."""

    def __init__(self, data: bytes, threads: int = 0):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: ONNX Runtime's default (one per core)
        options.log_severity_level = 3
        self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])

    def metadata_text(self) -> str | None:
        return self.session.get_modelmeta().custom_metadata_map.get(KEY)

    def __call__(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(None, feeds)[0]
