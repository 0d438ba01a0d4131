"""The learner: the train state, the TD3/SAC actors, the critic and actor updates, collect,
evaluate, the chunk scan, and the factory that wires them from a config.

Imports `fastbrc.core`, `fastbrc.envs` and `fastbrc.config`, never the run shell above it.
"""

from fastbrc.learner.factory import (
    NONFINITE_CHECKS,
    TrainFns,
    TrainState,
    build,
    expand_task_metrics,
    make_envs,
    make_train_fns,
)

__all__ = [
    "NONFINITE_CHECKS",
    "TrainFns",
    "TrainState",
    "build",
    "expand_task_metrics",
    "make_envs",
    "make_train_fns",
]
