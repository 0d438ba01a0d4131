"""The results record: every table in README.md and docs/ that reports a measurement is
generated from the JSON in benchmarks/results/, so no hand-copied number can drift; and
benchmarks/results/README.md, the index of every result file.

    python benchmarks/record.py            # rewrite the tables and the index
    python benchmarks/record.py --check    # exit 1 and show the difference if anything is stale

A table lives between ``<!-- record:NAME -->`` and ``<!-- /record:NAME -->`` in a Markdown
file; NAME is a function in `TABLES` (benchmarks/tables/), which reads the JSON it names and
returns Markdown that names its files, machine and commit. ``tests/test_record.py`` runs
``--check``.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Callable
from pathlib import Path

from tables import common, deploy, gpu, humanoid, index, infrastructure, plan, small_tasks, summary
from tables.common import ROOT

PAGES = ("README.md", "docs/*.md")
MARKER = re.compile(r"(<!-- record:([\w-]+) -->\n)(.*?)(<!-- /record:\2 -->)", re.S)
TABLES: dict[str, Callable[[str], str]] = {
    **small_tasks.TABLES,
    **humanoid.TABLES,
    **gpu.TABLES,
    **deploy.TABLES,
    **plan.TABLES,
    **infrastructure.TABLES,
    **summary.TABLES,
}


def render(text: str, page: str) -> str:
    def one(match: re.Match) -> str:
        name = match.group(2)
        if name not in TABLES:
            raise SystemExit(f"record: {page}: no table named {name!r} (see TABLES)")
        return match.group(1) + TABLES[name](page) + match.group(4)

    return MARKER.sub(one, text)


def outputs() -> dict[Path, str]:
    """Every page this script writes, with what it should hold."""
    out, read = {}, {}
    for path in sorted({p for pattern in PAGES for p in ROOT.glob(pattern)}):
        common.READ.clear()
        out[path] = render(path.read_text(), str(path.relative_to(ROOT)))
        read[path] = set(common.READ)
    out[index.PATH] = index.render(out, read)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if anything is stale")
    args = parser.parse_args(argv)
    stale = []
    for path, new in outputs().items():
        old = path.read_text() if path.exists() else ""
        if new == old:
            continue
        page = str(path.relative_to(ROOT))
        stale.append(page)
        if args.check:
            sys.stdout.writelines(difflib.unified_diff(
                old.splitlines(True), new.splitlines(True), f"{page} (committed)",
                f"{page} (from the JSON)"))  # fmt: skip
        else:
            path.write_text(new)
    if args.check and stale:
        print(f"record: stale: {', '.join(stale)}; run python benchmarks/record.py")
        return 1
    print(f"record: {'rewrote ' + ', '.join(stale) if stale and not args.check else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
