"""Presets and hardware profiles: what `fastbrc train` starts from before CLI overrides."""

import dataclasses

import pytest

from fastbrc.config import Config, ConfigError, validate
from fastbrc.presets import _TASKS, DMC_SUITE, preset, resolve_profile


def test_auto_profile_follows_the_backend_and_explicit_profiles_win():
    assert resolve_profile("auto", "cpu") == "cpu"
    assert resolve_profile("auto", "gpu") == "gpu"
    assert resolve_profile("gpu", "cpu") == "gpu"
    assert resolve_profile("cpu", "gpu") == "cpu"


def test_gpu_humanoid_preset_is_fasttd3_playground_scale():
    c = preset("HumanoidWalk", "gpu")
    assert (c.num_envs, c.batch_size, c.replay_capacity_per_env) == (1024, 32_768, 10_240)
    assert (c.updates_per_iteration, c.policy_frequency, c.n_step) == (2, 2, 1)
    assert (c.gamma, c.tau, c.num_atoms, c.v_min, c.v_max) == (0.97, 0.1, 101, -10.0, 10.0)
    # the best discounted return, reward_scale / (1 - gamma), fits inside the support
    assert c.reward_scale / (1 - c.gamma) < c.v_max


def test_cpu_profile_is_smaller_and_every_preset_validates():
    gpu, cpu = preset("HumanoidWalk", "gpu"), preset("HumanoidWalk", "cpu")
    assert cpu.num_envs < gpu.num_envs and cpu.batch_size < gpu.batch_size
    assert cpu.critic_width < gpu.critic_width
    for env in [*_TASKS, "CheetahRun", "ProbeBandit,ProbeChain"]:
        for profile in ("gpu", "cpu"):
            c = validate(preset(env, profile))
            assert c.env == env
            if env in _TASKS:  # tuned DM Control tasks: rewards in [0, 1] per step
                if c.reward_normalization == "none":
                    assert c.reward_scale / (1 - c.gamma) < c.v_max, (env, profile)
                else:  # the normaliser maps the largest value seen to reward_norm_target
                    assert c.reward_norm_target < c.v_max and -c.reward_norm_target > c.v_min


def test_dm_control_suite_list_is_playgrounds_and_small_tasks_get_the_cpu_preset():
    from mujoco_playground import registry

    assert DMC_SUITE == tuple(registry.dm_control_suite.ALL_ENVS)
    for env in ("PendulumSwingup", "CheetahRun", "WalkerWalk"):
        gpu, cpu = preset(env, "gpu"), preset(env, "cpu")
        # long horizon on both profiles: the best return, 0.1 / (1 - 0.99) = 10, fits the
        # support (gamma 0.97 with raw rewards would put 33 on a support ending at 10)
        for c in (gpu, cpu):
            assert (c.gamma, c.reward_scale, c.v_max) == (0.99, 0.1, 15.0)
        assert (cpu.updates_per_iteration, cpu.n_step) == (8, 3)
        cheetah = env == "CheetahRun"  # its own sizes: 16 envs, batch 128
        assert (cpu.num_envs, cpu.batch_size) == ((16, 128) if cheetah else (8, 64))
        assert gpu.num_envs == 1024
        # Pendulum's sparse reward: 100-step training episodes on the CPU (measured there)
        pendulum = env == "PendulumSwingup"
        assert (cpu.train_episode_length, gpu.train_episode_length) == (
            (100 if pendulum else None),
            None,
        )
        assert validate(cpu).train_episode_length == cpu.train_episode_length
    assert preset("HumanoidWalk", "gpu").gamma == 0.97


def test_cpu_humanoid_preset_is_the_measured_one():
    """The 2-core humanoid preset (issue 20): SAC actor, BRC's value-to-go normalisation on
    gamma 0.99, a critic a third the cost per sample, 8 updates of 64 over 8 envs (one
    gradient step per env step), 250-step training episodes and a critic that backs up the
    rewards alone."""
    for env in ("HumanoidWalk", "HumanoidStand", "HumanoidRun"):
        c = validate(preset(env, "cpu"))
        assert (c.actor, c.reward_normalization, c.gamma, c.reward_scale) == (
            "sac",
            "max_value_to_go",
            0.99,
            1.0,
        )
        assert (c.num_envs, c.batch_size, c.updates_per_iteration) == (8, 64, 8)
        assert (c.cpu_devices, c.bronet_init) == (1, "default")  # as measured
        assert (c.train_episode_length, c.sac_backup_entropy, c.episode_length) == (
            250,
            False,
            None,
        )
        assert (c.critic_width, c.critic_depth, c.n_step) == (128, 1, 3)
        # one gradient step per env step, as Brax SAC /16 (8 envs, 8 updates per step)
        assert c.updates_per_iteration / c.num_envs == 1


def test_validation_rejects_uneven_eval_split():
    config = dataclasses.replace(Config(env="A,B"), num_envs=64, batch_size=1024, num_eval_envs=3)
    with pytest.raises(ConfigError, match="--num-eval-envs 3"):
        validate(config)


def test_family_presets_expand_to_their_tasks_with_reward_normalisation():
    from fastbrc.presets import FAMILIES

    for profile in ("gpu", "cpu"):
        c = validate(preset("humanoid-dmc", profile))
        assert c.env_names == FAMILIES["humanoid-dmc"]
        assert c.reward_normalization == "max_return" and c.reward_scale == 1.0
        assert c.conditioning == "embedding"
        assert c.num_envs % 3 == 0 and c.num_eval_envs % 3 == 0
    assert preset("ProbeBandit,ProbeChain", "cpu").reward_normalization == "max_return"
    assert preset("ProbeBandit", "cpu").reward_normalization == "none"


def test_locomotion_family_without_menagerie_is_a_one_line_error(monkeypatch, tmp_path):
    from mujoco_playground._src import mjx_env

    monkeypatch.setattr(mjx_env, "MENAGERIE_PATH", tmp_path / "missing")
    with pytest.raises(ConfigError, match="needs MuJoCo Menagerie") as error:
        preset("humanoid-locomotion", "cpu")
    assert "\n" not in str(error.value)
