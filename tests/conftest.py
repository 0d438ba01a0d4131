"""Test order for `make test`'s two xdist workers (`--dist loadfile`: a file stays on one
worker, so module fixtures are built once)."""

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
