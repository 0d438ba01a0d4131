"""The commands in README.md and docs/*.md exist.

(a) every relative Markdown link and image points at a file (or folder) of the repository,
    and a `#anchor` into a Markdown page at one of its headings;
(b) every `make TARGET` in code (fenced blocks and inline spans) is a target of the Makefile,
    and the flags in `make train ARGS="..."` are `fastbrc train` flags;
(c) every `fastbrc SUBCOMMAND ... --flag` in code names a subcommand of the CLI and flags that
    subcommand accepts: its `--help` (run once per subcommand in a subprocess) plus the lines
    of `fastbrc --help` about it (the flags `fastbrc train` parses before tyro, such as
    --overwrite and --coordinator-address, appear only there);
(d) every `benchmarks/SCRIPT.py ... --flag` in code names a script whose `--help` lists the
    flag (or, for the scripts in `TRAIN_OVERRIDES`, a `fastbrc train` flag); shell scripts
    and the scripts in `NO_HELP` are only checked to exist;
(e) every repository path in code (`benchmarks/...`, `fastbrc/...`, `tests/...`) exists;
    `<placeholder>` matches anything and `{a,b}` stands for both.

Help texts are cached per subcommand and per script, so the module runs each `--help` once.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_LANGUAGES = {"", "bash", "sh", "shell", "console"}

# Scripts under benchmarks/ that have no cheap `--help`; their flags are not checked.
NO_HELP = {
    # not command lines: modules the other scripts import
    "benchmarks/machine.py": "a module, no command line",
    "benchmarks/fasttd3_adapter.py": "runs inside FastTD3's own environment (torch)",
}
# Scripts that pass the flags they do not know on to the trainer's config (parse_known_args):
# they also accept every `fastbrc train` flag.
TRAIN_OVERRIDES = {"benchmarks/learning.py", "benchmarks/startup.py"}

FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)
INLINE = re.compile(r"(?<!`)`([^`]+)`(?!`)")
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
FLAG = re.compile(r"--[A-Za-z0-9][\w-]*")
REPO_PATH = re.compile(r"(?<![\w/.$~-])((?:benchmarks|fastbrc|tests)/[^\s`'\");:|]*)")


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def split_code(text: str) -> tuple[list[str], str]:
    """(commands, prose): one command per logical line of the shell code blocks (continuation
    lines joined, comments dropped) and one per inline code span; the prose is the text with
    all code removed (for links)."""
    commands = []
    for match in FENCE.finditer(text):
        if match.group(1).strip().lower() in SHELL_LANGUAGES:
            body = re.sub(r"\\\n", " ", match.group(2))
            for line in body.splitlines():
                line = re.sub(r"(^|\s)#.*$", "", line).strip()
                if line:
                    commands.append(line)
    prose = FENCE.sub("", text)
    for match in INLINE.finditer(prose):
        if "\n\n" not in match.group(1):
            commands.append(" ".join(match.group(1).split()))
    return commands, INLINE.sub("", prose)


def tokens(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:  # an unbalanced quote in a span of prose
        return command.split()


def flags_in(words: list[str]) -> list[str]:
    """The --flags among the words of a command, up to the end of its first shell command."""
    out = []
    for word in words:
        if word in ("|", "||", "&&", ";", ">", "2>", "&"):
            break
        match = FLAG.match(word.lstrip("[("))
        if match and not any(c.isspace() for c in word):  # "--a 1 --b 2": a quoted value
            out.append(match.group(0))
    return out


@functools.cache
def page_commands() -> list[tuple[str, str]]:
    """(page, command) for every command of every page."""
    out = []
    for page in PAGES:
        commands, _ = split_code(page.read_text())
        out += [(rel(page), command) for command in commands]
    return out


def run_help(args: list[str]) -> str:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, COLUMNS="200", JAX_PLATFORMS="cpu", PYTHONPATH=path)
    done = subprocess.run(
        [sys.executable, *args, "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{' '.join(args)} --help failed:\n{done.stderr[-2000:]}"
    return done.stdout


# ------------------------------------------------------------------ (a) links


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


@functools.cache
def anchors(page: Path) -> set[str]:
    out, seen = set(), {}
    for heading in HEADING.findall(FENCE.sub("", page.read_text())):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


def test_relative_links_point_at_files_and_headings():
    bad = []
    for page in PAGES:
        _, prose = split_code(page.read_text())
        for target in LINK.findall(prose):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...
                continue
            path_part, _, anchor = target.partition("#")
            path = (page.parent / path_part).resolve() if path_part else page
            if not path.exists():
                bad.append(f"{rel(page)}: link to {target}: no such file")
            elif ROOT not in path.parents and path != ROOT:
                bad.append(f"{rel(page)}: link to {target}: outside the repository")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                bad.append(f"{rel(page)}: link to {target}: no heading #{anchor} in {rel(path)}")
    assert not bad, "\n".join(bad)


# ------------------------------------------------------------------ (b) make targets


@functools.cache
def make_targets() -> set[str]:
    targets = set()
    for line in (ROOT / "Makefile").read_text().splitlines():
        match = re.match(r"^([^\t#:=][^:=]*?)\s*::?(?![=])", line)
        if match:
            targets |= {t for t in match.group(1).split() if "$" not in t and "%" not in t}
    return targets - {".PHONY"}


def make_invocations() -> list[tuple[str, str, list[str]]]:
    """(page, command, the words after `make`) for each `make` in code."""
    out = []
    for page, command in page_commands():
        words = tokens(command)
        for i, word in enumerate(words):
            if word == "make" and (i == 0 or "=" in words[i - 1] or words[i - 1] in ("&&", ";")):
                out.append((page, command, words[i + 1 :]))
    return out


def test_make_targets_exist():
    targets = make_targets()
    assert {"train", "test"} <= targets
    bad, seen = [], 0
    for page, command, words in make_invocations():
        for word in words:
            if word in ("|", "||", "&&", ";"):
                break
            if word.startswith(("-", "<")) or "=" in word or word in ("…", "..."):
                continue
            seen += 1
            if word not in targets:
                bad.append(f"{page}: `{command}`: no target '{word}' in the Makefile")
    assert seen, "no `make TARGET` found in the docs: is the parser broken?"
    assert not bad, "\n".join(bad)


# ------------------------------------------------------------------ (c) fastbrc subcommands


@functools.cache
def cli_usage() -> str:
    return run_help(["-m", "fastbrc.cli"])


@functools.cache
def subcommands() -> frozenset[str]:
    return frozenset(re.findall(r"^\s*(?:usage:\s*)?fastbrc (\w+)", cli_usage(), re.M))


@functools.cache
def cli_flags(sub: str) -> frozenset[str]:
    """Flags of `fastbrc SUB`: its --help, and the lines of `fastbrc --help` about it."""
    flags = set(FLAG.findall(run_help(["-m", "fastbrc.cli", sub])))
    current = None
    for line in cli_usage().splitlines():
        named = re.search(r"fastbrc (\w+)", line)
        heading = re.match(r"^ {2}(\w+) {2,}", line)
        if named and named.group(1) in subcommands():
            current = named.group(1)
        elif heading:
            current = heading.group(1)
        elif not line.startswith("   "):
            current = None
        if current == sub:
            flags |= set(FLAG.findall(line))
    return frozenset(flags)


def fastbrc_invocations() -> list[tuple[str, str, str, list[str]]]:
    """(page, command, subcommand, flags) for each `fastbrc SUB ...` in code, including
    `.venv/bin/fastbrc`, `docker run ... fastbrc SUB` and `make train ARGS="..."`."""
    out = []
    for page, command in page_commands():
        words = tokens(command)
        for i, word in enumerate(words[:-1]):
            if (word == "fastbrc" or word.endswith("/fastbrc")) and re.fullmatch(
                r"[a-z][a-z-]*", words[i + 1]
            ):
                out.append((page, command, words[i + 1], flags_in(words[i + 2 :])))
    for page, command, words in make_invocations():
        if words[:1] == ["train"]:
            for word in words:
                if word.startswith("ARGS="):
                    out.append((page, command, "train", flags_in(tokens(word[5:]))))
    return out


def test_fastbrc_commands_use_existing_subcommands_and_flags():
    invocations = fastbrc_invocations()
    assert len({sub for _, _, sub, _ in invocations}) >= 3, "parser found too few commands"
    bad = []
    for page, command, sub, flags in invocations:
        if sub not in subcommands():
            bad.append(f"{page}: `{command}`: no subcommand '{sub}' in `fastbrc --help`")
            continue
        for flag in flags:
            if flag not in cli_flags(sub):
                bad.append(f"{page}: `{command}`: `fastbrc {sub}` has no flag {flag}")
    assert not bad, "\n".join(bad)


# ------------------------------------------------------------------ (d) benchmark scripts


@functools.cache
def script_flags(script: str) -> frozenset[str]:
    flags = frozenset(FLAG.findall(run_help([script])))
    return flags | cli_flags("train") if script in TRAIN_OVERRIDES else flags


def script_invocations() -> list[tuple[str, str, str, list[str]]]:
    out = []
    for page, command in page_commands():
        words = tokens(command)
        for i, word in enumerate(words):
            if re.fullmatch(r"benchmarks/[\w/]+\.(py|sh)", word):
                out.append((page, command, word, flags_in(words[i + 1 :])))
    return out


def test_benchmark_commands_use_existing_scripts_and_flags():
    invocations = script_invocations()
    assert any(flags for *_, flags in invocations), "parser found no benchmark flags"
    bad = []
    for page, command, script, flags in invocations:
        if not (ROOT / script).is_file():
            bad.append(f"{page}: `{command}`: no script {script}")
        elif script.endswith(".py") and script not in NO_HELP:
            for flag in flags:
                if flag not in script_flags(script):
                    bad.append(f"{page}: `{command}`: {script} has no flag {flag}")
    assert not bad, "\n".join(bad)


# ------------------------------------------------------------------ (e) paths in code


def expand(pattern: str) -> list[str]:
    """`a{b,c}d` -> [`abd`, `acd`] (one level is enough here)."""
    match = re.search(r"\{([^{}]*)\}", pattern)
    if not match:
        return [pattern]
    head, tail = pattern[: match.start()], pattern[match.end() :]
    return [p for part in match.group(1).split(",") for p in expand(head + part + tail)]


def test_paths_in_code_exist():
    bad, seen = [], 0
    for page, command in page_commands():
        for path in REPO_PATH.findall(command):
            path = path.rstrip(".,")
            for candidate in expand(re.sub(r"<[^<>]*>", "*", path)):
                seen += 1
                if not glob.glob(str(ROOT / candidate)):
                    bad.append(f"{page}: `{command}`: no {candidate} in the repository")
    assert seen, "no repository paths found in the docs: is the parser broken?"
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_every_docs_page_is_reachable_from_the_index(page):
    """docs/README.md links every page, so a moved section can be found by name."""
    index = (ROOT / "docs" / "README.md").read_text()
    if page.parent == ROOT / "docs" and page.name != "README.md":
        assert f"]({page.name})" in index, f"docs/README.md does not link {page.name}"
