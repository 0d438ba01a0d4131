"""Command-line helpers shared by the `fastbrc` subcommands: one-line usage errors.

Bad input is reported as ``fastbrc: error: <one line>`` with exit status 2, never argparse's
usage dump or tyro's boxed panel.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import sys

import tyro


class UsageError(Exception):
    """Bad command-line input, reported as one line."""


class Parser(argparse.ArgumentParser):
    """An `argparse.ArgumentParser` whose errors raise `UsageError` instead of exiting."""

    def error(self, message: str):  # argparse would print usage and exit
        raise UsageError(message)


def fail(message: str, code: int = 2) -> int:
    print(f"fastbrc: error: {message}", file=sys.stderr)
    return code


_BORDER = re.compile(r"^[\s│┃|]+|[\s│┃|]+$")
_RULE = set("─━-+╰╯╭╮ ")


def _panel_message(text: str) -> str:
    """The first line of text inside one of tyro's error panels (row 0 is its title)."""
    for row in text.splitlines()[1:]:
        line = _BORDER.sub("", row)
        if line and not set(line) <= _RULE:
            return line
    return "invalid arguments"


def seed_flags(argv: list[str]) -> list[str]:
    """`argv` with ``--seeds 0,1,2`` (commas, as users write it) and ``--num-seeds N`` (N seeds
    from ``--seed``, default 0) turned into tyro's ``--seeds 0 1 2``. ``--seeds`` with
    ``--seed``, ``--seeds`` with ``--num-seeds``, or ``--num-seeds`` below 1 is a `UsageError`."""
    out: list[str] = []
    given: dict[str, str] = {}
    items = iter(argv)
    for item in items:
        flag, eq, value = item.partition("=")
        if flag not in ("--seed", "--seeds", "--num-seeds"):
            out.append(item)
            continue
        given[flag] = value if eq else next(items, "")
    if "--seeds" in given and len(given) > 1:
        other = "--seed" if "--seed" in given else "--num-seeds"
        raise UsageError(f"give --seeds or {other}, not both (--seeds 0,1,2 trains those seeds)")
    if "--seeds" in given:
        return out + ["--seeds", *given["--seeds"].replace(",", " ").split()]
    if "--num-seeds" in given:
        count, first = given["--num-seeds"], given.get("--seed", "0")
        if not count.isdigit() or int(count) < 1:
            raise UsageError(f"--num-seeds must be an integer >= 1, got {count!r}")
        if not first.lstrip("-").isdigit():
            raise UsageError(f"--seed must be an integer, got {first!r}")
        return out + ["--seeds", *map(str, range(int(first), int(first) + int(count)))]
    return out + (["--seed", given["--seed"]] if "--seed" in given else [])


def tyro_cli(config_cls, default, args: list[str], description: str):
    """tyro.cli, with its boxed error panels turned into a one-line UsageError."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            return tyro.cli(
                config_cls,
                default=default,
                args=args,
                prog="fastbrc train",
                description=description,
            )
    except SystemExit as exit_:
        if exit_.code in (0, None):
            sys.stderr.write(captured.getvalue())
            raise
        raise UsageError(
            f"{_panel_message(captured.getvalue())} (see fastbrc train --help)"
        ) from None
