"""Named presets: tuned `Config` instances per task and hardware profile.

The ``gpu`` profile starts from FastTD3's MuJoCo Playground defaults (1024 envs, total batch
32,768, 10,240 transitions per env, 2 updates per iteration, gamma 0.97, tau 0.1, C51 with
101 atoms on [-10, 10]) but keeps the critic in float32 (``critic_bf16=False``): FastTD3 runs
its critic under bf16 autocast, and ``--critic-bf16`` does the same for the hidden matmuls
(head, logits and loss stay float32; a test bounds the loss's change), but whether that is
faster at these widths, and learns as well, needs a GPU measurement that has not been made;
until then the profile does not switch it on (docs/recipe.md). The ``cpu`` profile keeps the
algorithm and shrinks what a 2-core machine cannot afford (envs, batch, width); for the
smaller DM Control tasks it trades parallel envs for gradient steps. Per-task entries adjust
the discount and reward scale so returns stay inside the value support. Any field given on
the command line overrides the preset.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from fastbrc.config import Config, ConfigError

Profile = Literal["auto", "gpu", "gpu-fasttd3", "cpu"]
PROFILES: tuple[str, ...] = ("auto", "gpu", "gpu-fasttd3", "cpu")  # --profile's choices

# FastTD3's Playground recipe (Seo et al. 2025, fast_td3/hyperparams.py): the GPU profile's
# sizes today. `--profile gpu-fasttd3` keeps it by name for comparison once the GPU profile
# takes the recipe a measured sweep chooses (docs/recipe.md; issue 32).
FASTTD3_RECIPE: dict[str, Any] = dict(
    num_envs=1024,
    batch_size=32_768,
    updates_per_iteration=2,
    critic_width=1024,
    critic_depth=2,
    critic_bf16=False,
)

# Applied on top of Config's defaults (which are FastTD3's Playground/GPU settings).
_CPU_PROFILE: dict[str, Any] = dict(
    num_envs=64,
    batch_size=1024,
    replay_capacity_per_env=4096,
    critic_width=256,
    actor_hidden=(256, 256),
    critic_bf16=False,
    iterations_per_chunk=100,
    eval_every_env_steps=100_000,
    checkpoint_every=500_000,
    total_env_steps=2_000_000,
)

# Playground's DM Control suite (mujoco_playground.registry.dm_control_suite.ALL_ENVS; a test
# keeps the two equal without importing Playground here).
DMC_SUITE = (
    "AcrobotSwingup", "AcrobotSwingupSparse", "BallInCup", "CartpoleBalance",
    "CartpoleBalanceSparse", "CartpoleSwingup", "CartpoleSwingupSparse", "CheetahRun",
    "FingerSpin", "FingerTurnEasy", "FingerTurnHard", "FishSwim", "HopperHop", "HopperStand",
    "HumanoidStand", "HumanoidWalk", "HumanoidRun", "PendulumSwingup", "PointMass",
    "ReacherEasy", "ReacherHard", "SwimmerSwimmer6", "WalkerRun", "WalkerStand", "WalkerWalk",
)  # fmt: skip

# DM Control rewards lie in [0, 1] per step: scale them so discounted returns stay inside the
# support with headroom (a value sitting on v_max starves the actor of gradient).
_DMC_HUMANOID: dict[str, Any] = dict(gamma=0.97, reward_scale=0.25)  # returns <= 8.3
_DMC_LONG_HORIZON: dict[str, Any] = dict(gamma=0.99, reward_scale=0.1, v_min=-5.0, v_max=15.0)

# The smaller DM Control tasks on a 2-core CPU: envs traded for updates, 8 envs and 8 updates
# of 64 per iteration (one gradient step per env step, Brax SAC's ratio), width 64 (twice the
# env steps/s of 128), 3-step returns, lr 1e-3 (docs/results.md#against-brax-sac-and-ppo).
_DMC_CPU_SMALL: dict[str, Any] = dict(
    **_DMC_LONG_HORIZON,
    num_envs=8,
    batch_size=64,
    replay_capacity_per_env=32_768,
    critic_width=64,
    updates_per_iteration=8,
    n_step=3,
    critic_lr=1e-3,
    actor_lr=1e-3,
    tau=0.05,
    learning_starts_iterations=250,
    iterations_per_chunk=250,
    eval_every_env_steps=20_000,
    num_eval_envs=8,
    total_env_steps=500_000,
)

# The DM Control humanoids on a 2-core CPU
# (docs/results.md#humanoidwalk-on-2-cpu-cores-target-missed):
# - gamma 0.99 and BRC's max value-to-go reward normaliser: the humanoid's ~0.001 rewards are
#   far below one atom's spacing with a fixed scale;
# - SAC: its exploration scored higher early than TD3's noise (one seed each);
# - the critic backs up the rewards alone: with the entropy bonus its soft values sat at v_max;
# - 250-step training episodes: only an episode's fall carries reward, so 4x the starts.
_DMC_HUMANOID_CPU: dict[str, Any] = dict(
    gamma=0.99,
    reward_scale=1.0,
    reward_normalization="max_value_to_go",
    actor="sac",
    sac_backup_entropy=False,
    train_episode_length=250,
    # 8 envs, 8 updates of 64 (one gradient step per env step): runs at that ratio are the
    # only ones that took off on a CPU (docs/recipe.md, "What a humanoid needed on the CPU")
    num_envs=8,
    batch_size=64,
    updates_per_iteration=8,
    replay_capacity_per_env=65_536,
    critic_width=128,
    critic_depth=1,
    n_step=3,
    critic_lr=1e-3,
    actor_lr=1e-3,
    eval_every_env_steps=20_000,
    # BRC's sqrt(2) init made no difference on seed 0 (the seed that takes off with neither)
    bronet_init="default",
)

_HUMANOIDS = ("HumanoidWalk", "HumanoidStand", "HumanoidRun")
_TASKS: dict[str, dict[Profile, dict[str, Any]]] = {
    **{
        name: {"gpu": _DMC_LONG_HORIZON, "cpu": _DMC_CPU_SMALL}
        for name in DMC_SUITE
        if name not in _HUMANOIDS
    },
    **{name: {"gpu": _DMC_HUMANOID, "cpu": _DMC_HUMANOID_CPU} for name in _HUMANOIDS},
    # Cheetah: 16 envs and batch 128 reach 484 on every seed, 8 and 64 swing
    # (docs/results.md#cheetahruns-preset)
    "CheetahRun": {
        "gpu": _DMC_LONG_HORIZON,
        "cpu": dict(_DMC_CPU_SMALL, num_envs=16, batch_size=128),
    },
    # Pendulum: sparse reward, random starts; 100-step training episodes give 10x the starts
    # (docs/results.md#pendulumswingup-with-100-step-training-episodes)
    "PendulumSwingup": {
        "gpu": _DMC_LONG_HORIZON,
        "cpu": dict(_DMC_CPU_SMALL, train_episode_length=100),
    },
    "CartpoleBalance": {
        "gpu": _DMC_LONG_HORIZON,
        # the faster learning rate solves it sooner, then oscillates (997 -> 473, seed 0)
        "cpu": dict(
            _DMC_CPU_SMALL,
            critic_lr=3e-4,
            actor_lr=3e-4,
            total_env_steps=100_000,
            eval_every_env_steps=12_000,
        ),
    },
}


# Multi-task presets (BRC): one agent on a family of tasks, per-task reward normalisation
# instead of a hand-tuned reward scale. `--env humanoid-dmc` expands to the family's tasks.
FAMILIES: dict[str, tuple[str, ...]] = {
    "humanoid-dmc": ("HumanoidStand", "HumanoidWalk", "HumanoidRun"),
    "humanoid-locomotion": (
        "G1JoystickFlatTerrain",
        "T1JoystickFlatTerrain",
        "H1JoystickGaitTracking",
    ),
}
_MULTITASK: dict[str, Any] = dict(reward_normalization="max_return", reward_scale=1.0)
_FAMILY_PROFILES: dict[Profile, dict[str, Any]] = {
    # 1024 envs per task as FastTD3 runs one task; 16 transitions per env per batch
    "gpu": dict(num_envs=3072, batch_size=49_152, replay_capacity_per_env=5120, num_eval_envs=48),
    "cpu": dict(num_envs=96, batch_size=1536, num_eval_envs=12),
}


def _family_tasks(family: str) -> tuple[str, ...]:
    tasks = FAMILIES[family]
    if family == "humanoid-locomotion":
        from mujoco_playground._src import mjx_env

        if not mjx_env.MENAGERIE_PATH.exists():
            raise ConfigError(
                f"--env {family} needs MuJoCo Menagerie at {mjx_env.MENAGERIE_PATH} (the "
                f"G1/T1/H1 meshes); fetch it with git (see `fastbrc train --env {tasks[0]}`) "
                "or use the Docker image, or train --env humanoid-dmc, which works offline"
            )
    return tasks


def resolve_profile(profile: Profile, backend: str) -> Literal["gpu", "gpu-fasttd3", "cpu"]:
    """'auto' picks 'cpu' when JAX's default backend is the CPU, else 'gpu'."""
    if profile == "auto":
        return "cpu" if backend == "cpu" else "gpu"
    return profile


def preset(env: str, profile: Literal["gpu", "gpu-fasttd3", "cpu"]) -> Config:
    """The tuned Config for `env`: a task, "A,B" (several tasks: the first task's entry plus
    per-task reward normalisation), or a family name from FAMILIES. 'gpu-fasttd3' is the GPU
    profile with FastTD3's recipe sizes (a family: per task)."""
    if profile == "gpu-fasttd3":
        config = preset(env, "gpu")
        tasks = len(config.env_names)
        recipe = {k: v * tasks if k in ("num_envs", "batch_size") else v
                  for k, v in FASTTD3_RECIPE.items()}  # fmt: skip
        return dataclasses.replace(config, **recipe)
    family = env if env in FAMILIES else None
    if family:
        env = ",".join(_family_tasks(family))
    first = env.split(",")[0].strip()
    overrides: dict[str, Any] = {}
    if profile == "cpu":
        overrides.update(_CPU_PROFILE)
    overrides.update(_TASKS.get(first, {}).get(profile, {}))
    if "," in env:
        overrides.update(_MULTITASK)
    if family:
        overrides.update(_FAMILY_PROFILES[profile])
    return dataclasses.replace(Config(env=env), **overrides)


def describe(config: Config) -> str:
    """One line naming the sizes that differ between profiles."""
    return (
        f"num_envs={config.num_envs} batch_size={config.batch_size} "
        f"critic_width={config.critic_width} replay_capacity_per_env="
        f"{config.replay_capacity_per_env} updates_per_iteration={config.updates_per_iteration}"
        + (f" cpu_devices={config.cpu_devices}" if config.cpu_devices != 1 else "")
    )
