"""jax: a policy serialised with `jax.export` (StableHLO), in a zip with its metadata.

The file is a zip of three members: ``policy.jaxexport`` (``jax.export.Exported.serialize()``,
lowered for the CPU and CUDA, batch dimension symbolic), ``metadata.json`` and a short
``README.txt``. Loading needs JAX alone, never fastbrc::

    import json, zipfile, jax
    with zipfile.ZipFile("policy.zip") as z:
        policy = jax.export.deserialize(bytearray(z.read("policy.jaxexport")))
        metadata = json.loads(z.read("metadata.json"))
    action = policy.call(obs)          # obs: float32 [batch, obs size]

JAX keeps a serialised function loadable for at least 6 months of JAX releases (its
``jax.export`` compatibility guarantee).
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

import jax
import numpy as np

from fastbrc.deploy.errors import DeployError
from fastbrc.deploy.metadata import dumps
from fastbrc.deploy.signature import Signature

MEMBER = "policy.jaxexport"
METADATA = "metadata.json"
PLATFORMS = ("cpu", "cuda")

README = """fastbrc policy, serialised with jax.export (StableHLO); lowered for {platforms}.
Inputs {inputs}; output action float32 [batch, {actions}] in [-1, 1].

    import json, zipfile, jax
    with zipfile.ZipFile(PATH) as z:
        policy = jax.export.deserialize(bytearray(z.read("{member}")))
        metadata = json.loads(z.read("{metadata}"))
    action = policy.call({call})
"""


def converter_name() -> str:
    return f"jax.export (jax {jax.__version__})"


def jax_bytes(signature: Signature, metadata: dict[str, Any]) -> bytes:
    """The policy as a zip of its serialised `jax.export.Exported` and `metadata`."""
    (batch,) = jax.export.symbolic_shape("batch")
    specs = [tensor.spec(batch) for tensor in signature.inputs]
    exported = jax.export.export(jax.jit(signature.fn), platforms=PLATFORMS)(*specs)
    names = [tensor.name for tensor in signature.inputs]
    readme = README.format(
        platforms=", ".join(PLATFORMS),
        inputs=", ".join(f"{t.name} {t.dtype} {t.describe()['shape']}" for t in signature.inputs),
        actions=signature.output.size,
        member=MEMBER,
        metadata=METADATA,
        call=", ".join(names),
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", readme)
        archive.writestr(METADATA, dumps(metadata))
        archive.writestr(MEMBER, bytes(exported.serialize()))
    return buffer.getvalue()


class JaxRunner:
    """A jax-exported policy: ``runner(feeds) -> action`` (inputs in the metadata's order)."""

    def __init__(self, data: bytes, source: str = "the policy"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                blob = archive.read(MEMBER)
                self._metadata = archive.read(METADATA).decode()
        except (zipfile.BadZipFile, KeyError, OSError) as error:
            raise DeployError(f"{source} is not a fastbrc jax export ({error})") from None
        try:
            self.exported = jax.export.deserialize(bytearray(blob))
        except Exception as error:  # noqa: BLE001 - a damaged or foreign blob
            raise DeployError(
                f"{source}: its jax.export function does not load ({error})"
            ) from None
        self._call = jax.jit(self.exported.call)
        self._names: list[str] = []

    def metadata_text(self) -> str:
        return self._metadata

    def set_input_names(self, names: list[str]) -> None:
        self._names = names

    def __call__(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self._call(*(feeds[name] for name in self._names)))
