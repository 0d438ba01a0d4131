"""The fused trainer: traced once, deterministic, equal to a Python loop, learns probe values."""

import collections
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from configs import TINY  # tests/configs.py

from fastbrc.config import Config
from fastbrc.core import reward_norm
from fastbrc.envs import ProbeBandit, ProbeChain, ProbeTruncation
from fastbrc.learner import build

BANDIT = dataclasses.replace(TINY, v_min=-2.0, v_max=2.0)  # support sized to rewards in [-1.25, 1]


def run_chunks(config: Config, chunks: int):
    fns = build(config)
    state = fns.init(jax.random.PRNGKey(config.seed))
    history = []
    for _ in range(chunks):
        state, metrics = fns.train_chunk(state)
        history.append(jax.device_get(metrics))
    return fns, state, history


def test_chunk_is_traced_once_and_same_seed_gives_identical_numbers():
    fns_a, state_a, hist_a = run_chunks(TINY, 3)
    _, state_b, hist_b = run_chunks(TINY, 3)
    assert fns_a.trace_counts["train_chunk"] == 1
    for a, b in zip(hist_a, hist_b, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    leaves_a, leaves_b = (
        jax.tree.leaves(state_a.critic_params),
        jax.tree.leaves(state_b.critic_params),
    )
    for x, y in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert hist_a[-1]["train/critic_updates"] == TINY.iterations_per_chunk * 2
    _, _, hist_c = run_chunks(dataclasses.replace(TINY, seed=1), 3)
    assert hist_c[-1]["train/critic_loss"] != hist_a[-1]["train/critic_loss"]


def test_a_run_traces_the_env_reset_and_step_once(monkeypatch):
    """init, the chunk (step and auto-reset) and evaluation (another batch size) share one
    trace of the env's reset and one of its step: an MJX trace costs seconds of Python."""
    traced: collections.Counter[str] = collections.Counter()
    for name in ("reset", "step"):
        original = getattr(ProbeBandit, name)

        def counting(self, *args, _original=original, _name=name):
            traced[_name] += 1
            return _original(self, *args)

        monkeypatch.setattr(ProbeBandit, name, counting)
    fns = build(TINY)  # ProbeBandit: every episode ends after one step (auto-reset)
    assert fns.eval_env.num_envs != fns.env.num_envs
    traced.clear()  # building read the observation shape (a trace off the device mesh)
    state = fns.init(jax.random.PRNGKey(0))
    state, _ = fns.train_chunk(state)
    jax.block_until_ready(fns.evaluate(state, jax.random.PRNGKey(1)))
    assert traced == {"reset": 1, "step": 1}


def test_scan_chunk_equals_python_loop_of_collect_and_learn():
    config = dataclasses.replace(TINY, iterations_per_chunk=12)
    fns = build(config)
    state = fns.init(jax.random.PRNGKey(0))
    scanned, _ = fns.train_chunk(jax.tree.map(jnp.copy, state))
    collect, learn = jax.jit(fns.collect), jax.jit(fns.learn)
    looped = state
    for _ in range(config.iterations_per_chunk):
        looped, _ = collect(looped)
        if int(looped.iteration) >= config.learning_starts_iterations:
            looped, _ = learn(looped)
    assert int(looped.gradient_steps) == int(scanned.gradient_steps) == 2 * (12 - 5 + 1)
    for x, y in zip(jax.tree.leaves(scanned), jax.tree.leaves(looped), strict=True):
        np.testing.assert_allclose(x, y, rtol=2e-4, atol=2e-5)


def learned_q(config: Config, chunks: int, probe, obs: np.ndarray):
    fns, state, history = run_chunks(config, chunks)
    obs = jnp.asarray(obs, jnp.float32)
    task = jnp.zeros(obs.shape[0], jnp.int32)
    action = jax.jit(fns.policy)(state, {"state": obs}, task)
    q = fns.q_values(state, {"state": obs}, action, task).mean(axis=0)
    return np.asarray(q), np.asarray(probe.optimal_value(obs, config.gamma)), action, history


def test_bandit_probe_learns_optimal_action_and_value():
    obs = np.array([[-1.0], [1.0]])
    q, q_star, action, _ = learned_q(BANDIT, 8, ProbeBandit(), obs)
    np.testing.assert_allclose(action, ProbeBandit().optimal_action(jnp.asarray(obs)), atol=0.1)
    np.testing.assert_allclose(q, q_star, atol=0.1)


@pytest.mark.parametrize("target", ["categorical", "hl_gauss"])
def test_truncation_bootstraps_probe_value(target):
    """Q* = 1/(1-gamma) = 10 only if the time-limit step bootstraps; as terminal it'd be ~6."""
    config = dataclasses.replace(TINY, env="ProbeTruncation", value_target=target, n_step=3)
    q, q_star, _, _ = learned_q(config, 12, ProbeTruncation(), np.array([[1.0]]))
    np.testing.assert_allclose(q, q_star, rtol=0.1)


def test_chain_probe_discounts_per_remaining_step():
    config = dataclasses.replace(TINY, env="ProbeChain", n_step=2, critic_target="mean")
    obs = np.array([[1.0], [0.8], [0.6], [0.4], [0.2]])
    q, q_star, _, _ = learned_q(config, 12, ProbeChain(), obs)
    np.testing.assert_allclose(q, q_star, atol=0.25)
    assert np.all(np.diff(q) < 0)  # fewer remaining steps, less value


def test_evaluation_reports_deterministic_episode_returns():
    fns, state, _ = run_chunks(BANDIT, 8)
    first = jax.device_get(fns.evaluate(state, jax.random.PRNGKey(3)))
    again = jax.device_get(fns.evaluate(state, jax.random.PRNGKey(3)))
    assert first == again
    assert first["eval/episode_length"] == 1.0
    assert first["eval/episode_return"] > 0.95
    assert fns.trace_counts["evaluate"] == 1


def test_nan_physics_is_reset_counted_and_kept_out_of_the_buffer():
    """ProbeBlowup turns NaN whenever action > 0.5: a quarter of the random warm-up steps."""
    config = dataclasses.replace(TINY, env="ProbeBlowup", learning_starts_iterations=10)
    fns, state, history = run_chunks(config, 2)
    assert history[0]["train/nan_env_resets"] > 10
    assert all(h["train/nonfinite"] == 0 for h in history)
    assert all(np.isfinite(h["train/critic_loss"]) for h in history)
    for leaf in jax.tree.leaves(state.replay.data):
        assert np.isfinite(np.asarray(leaf, np.float32)).all()
    assert np.asarray(state.replay.data.truncated).sum() >= history[0]["train/nan_env_resets"]


@pytest.mark.parametrize("mode", ["max_return", "return_std"])
def test_reward_statistics_are_kept_per_task_in_the_state(mode):
    """ProbeChain (5 steps of reward 1) and ProbeTruncation (20 steps of reward 1) in one
    batch: the best discounted episode returns are known exactly whatever the actions."""
    config = dataclasses.replace(
        TINY, env="ProbeChain,ProbeTruncation", reward_normalization=mode, reward_norm_target=4.0
    )
    fns, state, history = run_chunks(config, 1)
    gamma = config.gamma
    best = [(1 - gamma**5) / (1 - gamma), (1 - gamma**20) / (1 - gamma)]
    np.testing.assert_allclose(state.reward_stats.max_abs_return, best, rtol=1e-5)
    assert state.reward_stats.count.tolist() == [4 * 25, 4 * 25]  # 4 envs per task, 25 steps
    scales = np.asarray(reward_norm.task_scales(state.reward_stats, mode, 4.0))
    if mode == "max_return":
        np.testing.assert_allclose(scales, [4.0 / best[0], 4.0 / best[1]], rtol=1e-5)
    else:
        np.testing.assert_allclose(scales, 1.0 / np.sqrt(state.reward_stats.var), rtol=1e-5)
    np.testing.assert_allclose(history[0]["train/reward_scale"], scales.mean(), rtol=1e-5)
    assert np.isfinite(history[0]["train/critic_loss"])


def test_max_return_normalisation_rescales_the_learned_value():
    """ProbeTruncation's best return (1 - g^20)/(1 - g) maps to 4, so Q* = 4/(1 - g^20), not
    1/(1 - g) = 10: the critic learns the normalised rewards."""
    config = dataclasses.replace(
        TINY, env="ProbeTruncation", reward_normalization="max_return", reward_norm_target=4.0
    )
    q, _, _, _ = learned_q(config, 12, ProbeTruncation(), np.array([[1.0]]))
    np.testing.assert_allclose(q, 4.0 / (1 - config.gamma**20), rtol=0.1)


@pytest.mark.parametrize("conditioning", ["embedding", "separate_heads", "none"])
def test_two_tasks_with_the_same_observation_need_task_conditioning(conditioning):
    """ProbeChain and ProbeTruncation both start at obs [1.0], where Q* is 4.1 (5 steps left)
    and 10 (bootstrapped time limit). Only a task-conditioned critic can learn both."""
    config = dataclasses.replace(
        TINY,
        env="ProbeChain,ProbeTruncation",
        task_conditioning=conditioning,
        task_embedding_dim=8,
        critic_target="mean",
    )
    fns, state, _ = run_chunks(config, 12)
    obs = {"state": jnp.ones((2, 1))}
    task = jnp.array([0, 1], jnp.int32)
    action = fns.policy(state, obs, task)
    q = np.asarray(fns.q_values(state, obs, action, task).mean(axis=0))
    q_star = np.array([(1 - 0.9**5) / (1 - 0.9), 1 / (1 - 0.9)])
    if conditioning == "none":
        assert np.abs(q - q_star).max() > 2.0  # one value for both: halfway in between
        assert abs(q[0] - q[1]) < 1e-4
    else:
        np.testing.assert_allclose(q, q_star, rtol=0.15)


def test_background_compile_returns_the_program_and_reraises_its_error():
    from fastbrc.run.background import BackgroundCompile

    double = jax.jit(lambda x: 2 * x)
    ok = BackgroundCompile(lambda: double.lower(jnp.float32(1)), {}, "test")
    assert float(ok.result()(jnp.float32(3))) == 6.0
    assert ok.waited is not None and ok.seconds is not None

    def broken():
        raise ValueError("no such program")

    failed = BackgroundCompile(broken, {}, "test")
    with pytest.raises(ValueError, match="no such program"):
        failed.result()
