"""The config's two parts: the agent (locked on resume, what the learner sees) and the run."""

import dataclasses

from fastbrc.config import RESUMABLE_FIELDS, AgentConfig, Config, RunConfig


def test_config_is_the_agent_and_the_run_flat():
    agent = {f.name for f in dataclasses.fields(AgentConfig)}
    run = {f.name for f in dataclasses.fields(RunConfig)}
    assert not agent & run
    assert {f.name for f in dataclasses.fields(Config)} == agent | run
    assert RESUMABLE_FIELDS == run  # the run part is what a resume may change


def test_the_parts_carry_the_config_values():
    config = Config(env="ProbeBandit,ProbeChain", batch_size=64, num_envs=8, run_dir="r")
    assert config.agent == AgentConfig(env="ProbeBandit,ProbeChain", batch_size=64, num_envs=8)
    assert config.run == RunConfig(run_dir="r")
    assert config.agent.conditioning == config.conditioning == "embedding"
    assert config.agent.env_steps_per_chunk == config.env_steps_per_chunk


def test_a_run_field_change_leaves_the_agent_unchanged():
    config = Config(num_envs=8, batch_size=64)
    resumed = dataclasses.replace(config, total_env_steps=1, num_eval_envs=32, wandb=True)
    assert resumed.agent == config.agent
    assert dataclasses.replace(config, gamma=0.9).agent.changed_fields(config.agent) == ["gamma"]
