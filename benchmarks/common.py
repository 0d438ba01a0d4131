"""What the benchmark scripts share: one-line usage errors, progress lines, config overrides
given as KEY=VALUE, a worker run in a fresh process, table cells, and the JSON result file.

Scripts run as ``python benchmarks/<name>.py`` import it by name (the script's folder is on
``sys.path``); importing it also puts the repository root there, so ``fastbrc`` imports from
the checkout without an install.
"""

from __future__ import annotations

import difflib
import json
import subprocess
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


class UsageError(Exception):
    """A bad argument or config: the message is printed and the script exits with 2."""


def say(tag: str, message: str) -> None:
    """A progress line on stderr: ``[tag] message``."""
    print(f"[{tag}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------- config overrides
def _coerce(kind: Any, text: str) -> Any:
    """`text` as a value of the annotated type `kind` (Config's field types)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and text.strip().lower() in ("none", "null"):
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], text)
    if origin is Literal:
        if text not in args:
            raise ValueError(f"expected one of {', '.join(map(str, args))}")
        return text
    if origin is tuple:
        items = [item.strip() for item in text.strip("()[] ").split(",") if item.strip()]
        return tuple(_coerce(args[0], item) for item in items)
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError("expected true or false")
    if kind in (int, float, str):
        return kind(text.strip()) if kind is not str else text
    raise ValueError(f"unsupported field type {kind}")


def _type_name(kind: Any) -> str:
    return kind.__name__ if isinstance(kind, type) else str(kind).replace("typing.", "")


def config_overrides(
    config_cls: type, pairs: Sequence[str], flag: str, reserved: dict[str, str] | None = None
) -> dict[str, Any]:
    """KEY=VALUE strings as overrides of `config_cls`'s fields, each value parsed with its
    field's type. `reserved`: fields the script sets itself -> what to use instead."""
    field_types = typing.get_type_hints(config_cls)
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise UsageError(f"{flag} {pair!r}: expected KEY=VALUE")
        if key not in field_types:
            close = difflib.get_close_matches(key, list(field_types), n=3)
            hint = f"; did you mean: {', '.join(close)}?" if close else ""
            raise UsageError(f"{flag} {pair!r}: Config has no field {key!r}{hint}")
        if reserved and key in reserved:
            raise UsageError(f"{flag} {pair!r}: {key} is set by the script {reserved[key]}")
        try:
            out[key] = _coerce(field_types[key], text)
        except ValueError as error:
            raise UsageError(
                f"{flag} {pair!r}: bad value for {key} ({_type_name(field_types[key])}): {error}"
            ) from None
    return out


# ---------------------------------------------------------------------------- processes
def run_worker(argv: list[str], name: str) -> dict[str, Any]:
    """Run `argv` (a worker in a fresh process) and return the JSON of its last stdout line;
    a failed worker ends the script with its stderr's tail."""
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------ results
def fmt(x: Any, spec: str = ".1f") -> str:
    """A table cell: a number in `spec`, "-" for None, anything else as text."""
    if x is None:
        return "-"
    if isinstance(x, float | int):
        return format(x, spec)
    return str(x)


def write_result(path: Path, result: dict[str, Any]) -> Path:
    """`result` as indented JSON at `path` (folders made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path
