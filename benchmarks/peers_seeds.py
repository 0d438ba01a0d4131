"""Several seeds of `benchmarks/peers.py`, judged together.

    python benchmarks/peers_seeds.py /tmp/p0.json /tmp/p1.json /tmp/p2.json \\
        --out benchmarks/results/peers-HumanoidWalk-cpu-2core-seeds.json

``benchmarks/harness/combine.py`` says which reports combine, and how the threshold and the
target are judged over every seed.
"""

import sys

import common  # noqa: F401  (benchmarks/common.py: puts the repository on sys.path)
from harness.combine import main

if __name__ == "__main__":
    sys.exit(main())
