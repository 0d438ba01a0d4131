"""The package's layering contract, read from the source with `ast` (nothing is imported).

Layers, bottom to top; each imports only from its own layer and those below it:

    base     fastbrc (the package), fastbrc.errors, fastbrc.versions
    core     fastbrc.core.*      pure JAX pieces: no config, no I/O
    envs     fastbrc.envs.*      the environment layer: nothing else of fastbrc
    config   fastbrc.config, fastbrc.presets
    learner  fastbrc.learner.*   train state, actors, updates, chunk, factory
    run      fastbrc.run.*       the run shell
    deploy   fastbrc.deploy.*    export and sim2sim; reads checkpoints through run
    plan     fastbrc.plan.*      throughput profiles, recipes, scaling laws (above the trainer)
    cli      fastbrc.cli         the subcommands: may import every layer

Every import counts, function-level ones included, and no two modules may import each other
(directly or through others).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "fastbrc"

# layer -> the layers it may import from
ALLOWED = {
    "base": {"base"},
    "core": {"base", "core"},
    "envs": {"envs"},
    "config": {"base", "config"},
    "learner": {"base", "core", "envs", "config", "learner"},
    "run": {"base", "core", "envs", "config", "learner", "run"},
    "deploy": {"base", "core", "envs", "config", "learner", "run", "deploy"},
    "plan": {"base", "core", "envs", "config", "learner", "run", "plan"},
    "cli": {"base", "core", "envs", "config", "learner", "run", "deploy", "plan", "cli"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("errors", "versions"):
        return "base"
    if parts[1] in ("core", "envs", "learner", "run", "plan", "deploy", "cli"):
        return parts[1]
    if parts[1] in ("config", "presets"):
        return "config"
    raise AssertionError(f"{module}: no layer; add it to tests/test_layers.py")


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The fastbrc modules `module` imports (a `from X import name` of a submodule counts
    as importing the submodule)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            submodules = {f"{source}.{alias.name}" for alias in node.names} & known
            found.update(submodules)
            if len(submodules) < len(node.names):  # names defined in `source` itself
                found.add(source)
    return {name for name in found if name in known and name != module}


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {module: imports_of(module, path, known) for module, path in found.items()}


def test_every_module_has_a_layer():
    for module in modules():
        layer_of(module)


def test_no_import_goes_up_a_layer():
    upward = []
    for module, imported in graph().items():
        for target in sorted(imported):
            if target == "fastbrc":  # the package itself: every import runs its __init__
                continue
            below, above = layer_of(module), layer_of(target)
            if above not in ALLOWED[below]:
                upward.append(f"{module} ({below}) imports {target} ({above})")
    assert not upward, "imports against the layering:\n" + "\n".join(upward)


def test_no_import_cycle():
    edges = graph()
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                cycles.append(" -> ".join(path[path.index(target) :] + [target]))
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_contract_sees_imports():
    """The parser finds the imports it must judge (a test of the test)."""
    edges = graph()
    assert "fastbrc.core.distributional" in edges["fastbrc.core.losses"]
    assert "fastbrc.learner.factory" in edges["fastbrc.learner"]
    assert "fastbrc.run.runner" in edges["fastbrc.cli"]  # a function-level import
