"""The learner: the train state, the TD3/SAC actors, the critic and actor updates, collect,
evaluate, the chunk scan, and the factory that wires them from a config.

Imports `fastbrc.core`, `fastbrc.envs` and `fastbrc.config`, never the run shell above it.
"""

from fastbrc.learner.agent import Agent, make_agent
from fastbrc.learner.factory import (
    NONFINITE_CHECKS,
    TrainFns,
    TrainState,
    build,
    expand_task_metrics,
    init_state,
    make_envs,
    make_train_fns,
)

__all__ = [
    "NONFINITE_CHECKS",
    "Agent",
    "TrainFns",
    "TrainState",
    "build",
    "expand_task_metrics",
    "init_state",
    "make_agent",
    "make_envs",
    "make_train_fns",
]
