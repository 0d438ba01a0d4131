"""Test order for `make test`'s two xdist workers (`--dist loadfile`: a file stays on one
worker, so module fixtures are built once), and one JAX compilation cache for the session.

Most of the suite's time is XLA compiling, and many tests compile the same small programs
again: the fault and checkpoint tests start a trainer of the same config in one subprocess
after another. JAX's persistent cache, in a fresh directory for each session that the
workers and their subprocesses share, compiles each program once (tests/test_faults.py
alone: 150 s without, 100 s with, on 2 cores). Set JAX_COMPILATION_CACHE_DIR to use your
own; the cache is keyed by the program, its compile options and the JAX version, so a hit
runs the same executable as a compile would.
"""

import os
import shutil
import tempfile

_OWN_CACHE = "FASTBRC_TEST_OWNS_JAX_CACHE"


def pytest_configure(config):
    # the controller (or a run without xdist) makes the directory before any worker starts,
    # and before JAX reads its configuration; workers and subprocesses inherit it
    if hasattr(config, "workerinput") or "JAX_COMPILATION_CACHE_DIR" in os.environ:
        return
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="fastbrc-jax-cache-")
    os.environ[_OWN_CACHE] = os.environ["JAX_COMPILATION_CACHE_DIR"]
    # every program, however small or fast to compile (JAX's defaults skip those under 1 s)
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")


def pytest_unconfigure(config):
    if not hasattr(config, "workerinput") and os.environ.get(_OWN_CACHE):
        shutil.rmtree(os.environ.pop(_OWN_CACHE), ignore_errors=True)


# Modules by how long they take on 2 cores (measured), longest first: they then overlap the
# many short tests instead of running alone at the end. Modules not listed follow in their
# usual order.
LONGEST_FIRST = (
    "test_peers",  # three trainers in subprocesses
    "test_cli",  # the CartpoleBalance preset learning run
    "test_multitask",  # SAC learning CartpoleBalance
    "test_parallel",  # 4 fake devices and two processes, in subprocesses
    "test_render",  # MJX compile and video encoding
    "test_humanoid",  # HumanoidWalk compile
    "test_checkpoint",  # SIGKILL/SIGTERM subprocesses
    "test_faults",  # trainers SIGKILLed in subprocesses, failed saves and resumes
    "test_docs",  # one --help subprocess per CLI subcommand and benchmark script (~30 s)
)


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    order = {id(item): index for index, item in enumerate(items)}

    def key(item):
        module = item.module.__name__.rsplit(".", 1)[-1]
        return rank.get(module, len(rank)), order[id(item)]

    items.sort(key=key)
