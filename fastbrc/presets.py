"""Named presets: tuned `Config` instances per task and hardware profile.

The ``gpu`` profile starts from FastTD3's MuJoCo Playground defaults (1024 envs, total batch
32,768, 10,240 transitions per env, 2 updates per iteration, gamma 0.97, tau 0.1, C51 with
101 atoms on [-10, 10]) but keeps the critic in float32 (``critic_bf16=False``): FastTD3 runs
its critic under bf16 autocast, and ``--critic-bf16`` does the same for the hidden matmuls
(head, logits and loss stay float32; a test bounds the loss's change), but whether that is
faster at these widths, and learns as well, needs a GPU measurement that has not been made;
until then the profile does not switch it on. The ``cpu`` profile keeps the algorithm and shrinks
what a 2-core machine cannot afford (envs, batch, width); for the smaller DM Control tasks it
trades parallel envs for gradient steps. Per-task entries adjust the discount and reward
scale so returns stay inside the value support. Any field given on the command line
overrides the preset.
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

# The smaller DM Control tasks on a 2-core CPU. Parallel envs buy nothing there (the cores
# are busy either way), so this trades envs for updates: 8 envs and 8 small updates per
# iteration (one gradient step per env step, like Brax SAC's published ratio), 3-step returns
# and a faster learning rate. At this batch the critic's matmuls bound a CPU iteration, so
# width 64 runs twice the env steps/s of 128 (CheetahRun in 180 s: 551 against 324).
# Measured on CartpoleBalance, PendulumSwingup and CheetahRun against 32-64 envs with 2-4
# updates of 256-1024 (benchmarks/peers.py, docs/results.md).
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

# The DM Control humanoids on a 2-core CPU (issue 20; benchmarks/results/learning-HumanoidWalk-
# cpu-2core-screen-*.json and peers-HumanoidWalk-cpu-2core.json). The critic's updates took
# ~80% of an iteration at width 256, depth 2 and batch 1024: width 128 with one residual block
# costs about a third per sample, so four updates of 512 fit where two of 1024 did
# (benchmarks/results/preset-cost-HumanoidWalk-cpu-2core.json: this preset against that one).
# Early in a humanoid run every reward is ~0.001, so with a fixed reward scale the values sit
# far below one atom's spacing; BRC's per-task normalisation (max value-to-go -> 5) scales
# them up, on gamma 0.99 as Brax SAC and BRC use. SAC's exploration scored higher early than
# TD3's noise: eval return 13.6 against 1.7-2.0 at 154k env steps (TD3 with and without the
# normaliser), one seed each.
# A humanoid lying on the floor earns ~1e-11 per step, so with 1000-step episodes only the
# first few dozen steps of each (the fall) carry reward: training episodes of 250 steps
# (truncated, bootstrapped; evaluation keeps 1000) give four times as many starts. And the
# critic backs up the rewards alone: with the entropy bonus in its target, the soft values
# of a 21-dim tanh-Gaussian sat at v_max for the first ~100k env steps. Together, one seed:
# eval 28.5 and 37.5 at 243k and 320k env steps (344 s, 427 s) against 8.3-15.6 for three
# seeds of the preset before, then 11-28 to the end of 900 s: still a humanoid that falls
# (benchmarks/results/learning-HumanoidWalk-cpu-2core-screen-sac-nobackup-{train250,stopped}
# .json; without the shorter episodes: 19.3 at 243k, 15.2 at 320k).
_DMC_HUMANOID_CPU: dict[str, Any] = dict(
    gamma=0.99,
    reward_scale=1.0,
    reward_normalization="max_value_to_go",
    actor="sac",
    sac_backup_entropy=False,
    train_episode_length=250,
    # Brax SAC /16's ratio, one gradient step per env step: 8 envs and 8 updates of 64 per
    # iteration, one CPU device (the batch is too small to split). Three seeds, 900 s each:
    # two take off (best 152.1 and 139.6; finals 78.5 and 77.4), one does not (27.0), where
    # 128 envs with 4 updates of 512 over two CPU devices (1,027-1,093 env steps/s against
    # 308-378) ended at 31.6 / 16.7 / 9.4, best 35.2
    # (benchmarks/results/learning-HumanoidWalk-cpu-2core-screen-8envs-8x64*.json); a fourth
    # seed (700 s) does not either: two of four. Six one-knob screens on seed 0 did not lift it
    # (docs/results.md, "Seed 0, the seed that never takes off").
    # Through the peers harness (its evaluations share the cores) one seed in three takes
    # off: finals 23.6 / 94.9 / 7.9, short of Brax SAC /16's best run, 114.6
    # (benchmarks/results/peers-HumanoidWalk-cpu-2core-seeds-8envs.json).
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
    # BRC's sqrt(2) init on seed 0 (the seed that takes off with neither): final 14.7 against
    # 27.0, so no reason to switch (...-screen-8envs-8x64-sqrt2-seed0.json)
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
    # Cheetah's deterministic policy swings with the batch-64 critic: evaluations jump 570 ->
    # 170 -> 550 and about one seed in four never passes 400. Batch 128 over 16 envs costs
    # 1.6x the time per iteration for twice the env steps, and reached 484 at 5000, 5000,
    # 5000, 10000 and 6250 iterations with seeds 0-4 (44-93 s of training on 2 cores); the
    # preset above reached it with one seed of four in 15000 (benchmarks/results/learning-
    # CheetahRun-*.json). Batch 256 learned as well at half the speed; 32 envs were faster
    # when they learned but one seed in three lagged.
    "CheetahRun": {
        "gpu": _DMC_LONG_HORIZON,
        "cpu": dict(_DMC_CPU_SMALL, num_envs=16, batch_size=128),
    },
    # Pendulum's reward is sparse (upright within 30 degrees) and its starts are uniform in
    # [0, pi): 100-step training episodes (truncated, bootstrapped; evaluation keeps 1000)
    # give ten times the starts, and so the upright ones, that 1000-step episodes give. In
    # 180 s (benchmarks/learning.py, seeds 0-2, 2-vCPU AMD EPYC) they reached 185.9 at 77 s,
    # never and 126 s (finals 841.5, 60.4, 815.2) against never, never and 135 s for
    # 1000-step episodes (finals 8.6, 9.2, 56.5); 50-step episodes reached it with neither of
    # seeds 0-1 (benchmarks/results/learning-PendulumSwingup-cpu-2core-epyc-*.json)
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
