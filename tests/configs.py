"""Small trainer configs shared by the tests: tiny nets on probe envs, seconds per run."""

from fastbrc.config import Config

TINY = Config(
    env="ProbeBandit",
    num_envs=8,
    num_eval_envs=4,
    batch_size=64,
    replay_capacity_per_env=64,
    critic_width=32,
    critic_depth=1,
    actor_hidden=(32,),
    iterations_per_chunk=25,
    learning_starts_iterations=5,
    tau=0.05,
    gamma=0.9,
    std_min=0.05,
    std_max=0.3,
    num_atoms=51,
    v_min=-2.0,
    v_max=12.0,
    critic_lr=1e-3,
    actor_lr=1e-3,
    total_env_steps=10_000,
)
