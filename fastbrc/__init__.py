"""fastbrc: FastTD3's massively parallel off-policy loop with BRC's distributional critic."""

from fastbrc import versions as _versions

_versions.check()  # one line and exit 2 on an unsupported Python/JAX/CUDA-plugin combination
