"""Environment layer of fastbrc, imported as `fastbrc.envs`.

`load_env` / `list_envs` load single Playground tasks or probe envs by name; `BatchedEnv`
steps many copies of one or several tasks as one jit-able batch with padded dict
observations, action repeat, time limits and auto-reset that keeps final observations;
`reset_one` / `step_one` step a single env the same way (videos).
"""

from .batched import BatchedEnv, EnvState, StepResult, reset_one, step_one
from .probes import (
    PROBE_ENVS,
    ProbeBandit,
    ProbeBlowup,
    ProbeChain,
    ProbeConstant,
    ProbeEnv,
    ProbePrivileged,
    ProbeState,
    ProbeTruncation,
)
from .registry import EnvInfo, EnvLoadError, env_info, list_envs, load_env
from .spec import EnvSpec

__all__ = [
    "PROBE_ENVS",
    "BatchedEnv",
    "EnvInfo",
    "EnvLoadError",
    "EnvSpec",
    "EnvState",
    "ProbeBandit",
    "ProbeBlowup",
    "ProbeChain",
    "ProbeConstant",
    "ProbeEnv",
    "ProbePrivileged",
    "ProbeState",
    "ProbeTruncation",
    "StepResult",
    "env_info",
    "list_envs",
    "load_env",
    "reset_one",
    "step_one",
]
