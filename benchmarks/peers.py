"""fastbrc against the trainers that ship with the same stack, for the same wall-clock budget.

Run from the repository root on any JAX backend (CPU here, a GPU elsewhere)::

    python benchmarks/peers.py --env CartpoleBalance --budget-s 180
    python benchmarks/peers.py --env CartpoleBalance --budget-s 20 --tiny --out /tmp/p.json
    python benchmarks/peers.py --env CheetahRun --trainers fastbrc --fastbrc-seeds 0,1,2

The harness is the package ``benchmarks/harness/``: ``protocol.py`` is the protocol (same
evaluation, clock, stop and eval spacing for every trainer) and the definitions of every
number in the report; ``orchestrate.py`` the outputs, exit status and cost; one module per
trainer says how it is run (``fastbrc_trainer.py``, ``brax_trainers.py`` with the scaling of
the published configs, ``fasttd3_trainer.py``).
"""

import sys

import common  # noqa: F401  (benchmarks/common.py: puts the repository on sys.path)
from harness.orchestrate import main

if __name__ == "__main__":
    sys.exit(main())
