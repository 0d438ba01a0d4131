"""What every generated table shares: reading a results JSON, naming its machine and commit,
linking it from a page, formatting numbers and Markdown tables."""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
READ: set[str] = set()  # every result file a table read (the index's "cited by")


def load(name: str) -> dict[str, Any]:
    READ.add(name)
    return _load(name)


@cache
def _load(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / name).read_text())


def records(name: str) -> list[dict[str, Any]]:
    """The lines of a results .jsonl file."""
    return [json.loads(line) for line in (RESULTS / name).read_text().splitlines() if line]


def link(name: str, page: str, text: str | None = None) -> str:
    """A link to a results file from a page in the repository root or docs/."""
    prefix = "../" if page.startswith("docs/") else ""
    label = text or name.rsplit(".", 1)[0]
    return f"[{label}]({prefix}benchmarks/results/{name})"


def image(name: str, page: str, alt: str) -> str:
    prefix = "../" if page.startswith("docs/") else ""
    return f"![{alt}]({prefix}benchmarks/results/{name})"


def machine_of(data: dict[str, Any]) -> dict[str, Any]:
    """A result's machine facts, wherever its script put them."""
    if isinstance(data.get("machine"), dict):
        return data["machine"]
    for entry in (data.get("trainers") or {}).values():
        if isinstance(entry, dict) and isinstance(entry.get("machine"), dict):
            return entry["machine"]
    return {}


def machine(data: dict[str, Any]) -> str:
    """A machine as the record names it: the CPU model and cores, or the device."""
    info = machine_of(data)
    if info.get("backend", "cpu") != "cpu":
        return str(info.get("device_kind"))
    model = str(info.get("cpu_model") or "")
    short = "AMD EPYC" if "EPYC" in model else "Intel Xeon" if "Xeon" in model else "CPU"
    cores = info.get("usable_cpus") or info.get("cpu_count") or 2
    return f"{cores}-vCPU {short}"


def commit(data: dict[str, Any]) -> str:
    found = machine_of(data).get("git_commit") or data.get("git_commit")
    return str(found)[:7] if found else "-"


NAMED = {
    "epyc-2core": "2-vCPU AMD EPYC",
    "xeon-2core": "2-vCPU Intel Xeon",
    "h100": "NVIDIA H100",
    "h200": "NVIDIA H200",
}


def machine_of_name(name: str) -> str | None:
    """The machine a result's name says (`<what>-<task>-<machine>-<detail>`)."""
    return next((label for tag, label in NAMED.items() if f"-{tag}" in name), None)


def source(name: str, page: str) -> str:
    """'[file](link) (machine, commit abc1234)'; the machine from the name where the JSON
    predates recording it."""
    data = load(name)
    where = machine(data)
    if where.endswith(" CPU"):
        where = machine_of_name(name) or where
    done = commit(data)
    return f"{link(name, page)} ({where}" + (f", commit {done})" if done != "-" else ")")


def fmt(value: Any, spec: str = ".1f") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, spec)


def seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.0f} s"


def kilo(value: float | None) -> str:
    return "-" if value is None else f"{value / 1e3:.0f}k"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(map(str, row)) + " |" for row in rows)]) + "\n"


def first_at_least(curve: list[dict[str, Any]], key: str, threshold: float) -> dict | None:
    return next((p for p in curve if p.get(key) is not None and p[key] >= threshold), None)
