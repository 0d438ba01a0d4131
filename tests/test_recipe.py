"""The faithful-recipe pieces of issue #20: clipped double-Q after projection, BRC's
orthogonal sqrt(2) initialisation, the bf16 critic's float32 head, and BRC's max |value-to-go|
reward normaliser against a slow reference."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from fastbrc.config import Config
from fastbrc.core import distributional as dist
from fastbrc.core import losses

SMALL = Config(critic_width=32, critic_depth=2, num_atoms=11, actor_hidden=(16,), num_critics=2)


def _logits(probs):
    return jnp.log(jnp.maximum(jnp.asarray(probs, jnp.float32), 1e-30))


def test_clipped_double_q_picks_the_member_with_the_lower_projected_mean():
    """Support 0..4, r = 2, discount 1. Member A: all mass on 2 (E[Z] = 2, target mean 4).
    Member B: 0.4 on 0 and 0.6 on 4 (E[Z] = 2.4, but 6 is clipped to 4: target mean 3.2).
    Before projection A has the lower mean; after it B does, and B's target is used."""
    support = dist.make_support(0.0, 4.0, 5)
    a = [0.0, 0.0, 1.0, 0.0, 0.0]
    b = [0.4, 0.0, 0.0, 0.0, 0.6]
    # sample 0 has (A, B), sample 1 the members swapped, so the pick is by value, not index
    next_logits = _logits([[a, b], [b, a]])  # [E=2, B=2, A=5]
    reward, discount = jnp.array([2.0, 2.0]), jnp.array([1.0, 1.0])
    kwargs = dict(ensemble_mode="min", value_target="categorical", hl_gauss_sigma=0.75)
    target = losses.target_distribution(next_logits, reward, discount, support, **kwargs)
    expected_b = np.array([0.0, 0.0, 0.4, 0.0, 0.6])
    np.testing.assert_allclose(target, [expected_b, expected_b], atol=1e-6)
    np.testing.assert_allclose(dist.expected_value(target, support), [3.2, 3.2], rtol=1e-6)
    # picking before the projection would take A: its target is a point mass on 4
    before = losses.select_target_distribution(next_logits, support, "min")
    np.testing.assert_allclose(before, [a, a], atol=1e-6)
    assert float(dist.expected_value(before, support)[0]) < 2.4


def test_clipped_double_q_agrees_with_the_pre_projection_pick_inside_the_support():
    support = dist.make_support(-10.0, 10.0, 21)
    next_logits = jax.random.normal(jax.random.PRNGKey(0), (2, 64, 21))
    reward, discount = jnp.zeros(64), jnp.full(64, 0.5)  # r + 0.5 z stays inside [-10, 10]
    kwargs = dict(ensemble_mode="min", value_target="categorical", hl_gauss_sigma=0.75)
    target = losses.target_distribution(next_logits, reward, discount, support, **kwargs)
    picked = losses.select_target_distribution(next_logits, support, "min")
    expected = dist.project_categorical(picked, reward, discount, support)
    np.testing.assert_allclose(target, expected, atol=1e-6)


def _dense_layers(params):
    """(path, kernel, bias) of every Dense layer in a params tree."""
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    kernels = {}
    for path, leaf in flat:
        keys = tuple(getattr(k, "key", str(k)) for k in path)
        if keys[-1] in ("kernel", "bias"):
            kernels.setdefault(keys[:-1], {})[keys[-1]] = np.asarray(leaf)
    return [(path, d["kernel"], d["bias"]) for path, d in kernels.items() if "kernel" in d]


def test_orthogonal_sqrt2_init_draws_every_bronet_kernel_head_included_like_brc():
    from fastbrc.learner.models import make_actor, make_critic

    config = dataclasses.replace(SMALL, bronet_init="orthogonal_sqrt2", actor_type="bronet")
    obs, act = jnp.ones((1, 5)), jnp.zeros((1, 3))
    critic_params = make_critic(config).init(jax.random.PRNGKey(0), obs, act)
    actor_params = make_actor(config, 3).init(jax.random.PRNGKey(1), obs)
    sac_params = make_actor(dataclasses.replace(config, actor="sac"), 3).init(
        jax.random.PRNGKey(2), obs
    )
    layers = _dense_layers(critic_params) + _dense_layers(actor_params) + _dense_layers(sac_params)
    # critic: 2 members x (1 + 2 x depth + head); BroNet actors: 1 + 2 x 1 + head each
    assert len(layers) == 6 + 4 + 4
    heads = 0
    for path, kernel, bias in layers:
        members = kernel if kernel.ndim == 3 else kernel[None]  # the ensemble stacks members
        for k in members:
            singular = np.linalg.svd(k, compute_uv=False)
            np.testing.assert_allclose(singular, np.sqrt(2.0), rtol=1e-5, err_msg=str(path))
        assert not bias.any(), path
        heads += kernel.shape[-1] in (SMALL.num_atoms, 3, 6)  # critic, TD3 and SAC heads
    assert heads == 3
    # the old default ("default") keeps scale 1 in the hidden layers and a LeCun head
    old = dataclasses.replace(SMALL, bronet_init="default")
    default = _dense_layers(make_critic(old).init(jax.random.PRNGKey(0), obs, act))
    hidden = [k for _, k, _ in default if k.shape[-1] == SMALL.critic_width]
    np.testing.assert_allclose(np.linalg.svd(hidden[-1][0], compute_uv=False), 1.0, rtol=1e-5)
    head = [k for _, k, _ in default if k.shape[-1] == SMALL.num_atoms][0][0]
    assert np.ptp(np.linalg.svd(head, compute_uv=False)) > 0.1


def _dot_dtypes(jaxpr):
    """(input dtypes, output dtype, output shape) of every dot_general, nested jaxprs included."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            out = eqn.outvars[0].aval
            found.append((tuple(v.aval.dtype for v in eqn.invars), out.dtype, out.shape))
        for param in eqn.params.values():
            inner = getattr(param, "jaxpr", param)
            if hasattr(inner, "eqns"):
                found += _dot_dtypes(inner)
    return found


def test_bf16_critic_runs_hidden_matmuls_in_bf16_and_its_head_logits_and_loss_in_float32():
    from fastbrc.learner.models import make_critic

    critic32 = make_critic(SMALL)
    critic16 = make_critic(dataclasses.replace(SMALL, critic_bf16=True))
    obs = jax.random.normal(jax.random.PRNGKey(1), (256, 5))
    act = jax.random.uniform(jax.random.PRNGKey(2), (256, 3), minval=-1.0, maxval=1.0)
    params = critic32.init(jax.random.PRNGKey(0), obs, act)
    target = jax.nn.softmax(jax.random.normal(jax.random.PRNGKey(3), (256, SMALL.num_atoms)))

    def loss(critic, p):
        return losses.critic_loss(critic.apply(p, obs, act), target)

    dots = _dot_dtypes(jax.make_jaxpr(lambda p: loss(critic16, p))(params).jaxpr)
    hidden = [d for d in dots if d[2][-1] == SMALL.critic_width]
    head = [d for d in dots if d[2][-1] == SMALL.num_atoms]
    assert len(hidden) == 1 + 2 * SMALL.critic_depth and len(head) == 1
    bf16 = jnp.bfloat16
    assert all(ins == (bf16, bf16) and out == bf16 for ins, out, _ in hidden)
    assert head[0][:2] == ((jnp.float32, jnp.float32), jnp.float32)
    logits16 = critic16.apply(params, obs, act)
    assert logits16.dtype == jnp.float32
    assert jax.nn.log_softmax(logits16).dtype == jnp.float32
    loss16, loss32 = float(loss(critic16, params)), float(loss(critic32, params))
    assert jax.eval_shape(lambda p: loss(critic16, p), params).dtype == jnp.float32
    # measured on CPU: |loss16 - loss32| / loss32 = 3e-5 to 7e-5 (widths 32 and 256, 11 and
    # 101 atoms), logits within 0.035 (bf16 keeps 8 bits of mantissa)
    assert abs(loss16 - loss32) <= 1e-3 * abs(loss32), (loss16, loss32)
    np.testing.assert_allclose(logits16, critic32.apply(params, obs, act), atol=0.05)


def brc_reference(rewards, terminated, truncated, task_ids, num_tasks, gamma):
    """Slow loops in BRC's way (jaxrl/normalizer.py, variable-length episodes): per finished
    episode, values backwards from the bootstrap (truncated: mean reward / (1 - gamma)), and
    per task the largest max(V) and |min(V)|; also the first-step |return| (max_return)."""
    steps, num_envs = rewards.shape
    largest_max, smallest_min = [-np.inf] * num_tasks, [np.inf] * num_tasks
    first_step = [0.0] * num_tasks
    episodes = [[] for _ in range(num_envs)]
    for t in range(steps):
        for e in range(num_envs):
            episodes[e].append(float(rewards[t, e]))
            if not (terminated[t, e] or truncated[t, e]):
                continue
            traj, task = np.array(episodes[e], np.float64), int(task_ids[e])
            bootstrap = traj.mean() / (1 - gamma) if truncated[t, e] else 0.0
            values = np.zeros_like(traj)
            for i in reversed(range(len(traj))):
                values[i] = traj[i] + gamma * bootstrap
                bootstrap = values[i]
            largest_max[task] = max(largest_max[task], values.max())
            smallest_min[task] = min(smallest_min[task], values.min())
            ret = abs(sum(gamma**k * r for k, r in enumerate(traj)))
            first_step[task] = max(first_step[task], ret)
            episodes[e] = []
    pairs = zip(largest_max, smallest_min, strict=True)
    value = [max(hi, abs(lo)) if np.isfinite(lo) else 0.0 for hi, lo in pairs]
    return np.array(value), np.array(first_step)


def run_normaliser(rewards, terminated, truncated, task_ids, num_tasks, gamma, horizon):
    from fastbrc.core import reward_norm as rn

    stats = rn.init_stats(num_tasks, rewards.shape[1], horizon)
    step = np.zeros(rewards.shape[1], np.int32)
    update = jax.jit(rn.update_stats, static_argnums=(5, 6))
    for t in range(rewards.shape[0]):
        done = terminated[t] | truncated[t]
        stats = update(stats, rewards[t], done, step, task_ids, num_tasks, gamma, truncated[t])
        step = np.where(done, 0, step + 1)
    return stats


def test_max_value_to_go_matches_brcs_rule_on_the_issue_example():
    """-1 for 20 steps then +1 for 20 steps: the first-step return is -3.3 (gamma 0.99), the
    value-to-go from step 20 is 18.2; truncated, the bootstrap (mean 0) adds nothing."""
    from fastbrc.core import reward_norm as rn

    gamma = 0.99
    rewards = np.concatenate([-np.ones(20), np.ones(20)]).astype(np.float32)[:, None]
    terminated = np.zeros((40, 1), bool)
    truncated = terminated.copy()
    truncated[-1] = True
    stats = run_normaliser(rewards, terminated, truncated, np.zeros(1, np.int32), 1, gamma, 40)
    value, first_step = brc_reference(rewards, terminated, truncated, [0], 1, gamma)
    np.testing.assert_allclose(value, (1 - gamma**20) / (1 - gamma), rtol=1e-6)
    np.testing.assert_allclose(stats.max_abs_value, value, rtol=1e-5)
    np.testing.assert_allclose(stats.max_abs_return, first_step, rtol=1e-5)
    assert float(stats.max_abs_value[0]) > 5 * float(stats.max_abs_return[0])
    scales = rn.task_scales(stats, "max_value_to_go", 5.0)
    np.testing.assert_allclose(scales, 5.0 / value, rtol=1e-5)


def test_max_value_to_go_matches_a_slow_reference_on_random_streams():
    """Random rewards of mixed signs and scales per task, random terminations and truncations
    (and time limits at the kept history's length), 3 tasks over 6 envs."""
    rng = np.random.default_rng(0)
    steps, num_envs, num_tasks, gamma, horizon = 120, 6, 3, 0.95, 25
    task_ids = np.array([0, 0, 1, 1, 2, 2], np.int32)
    scale = np.array([1.0, 1.0, 30.0, 30.0, 0.01, 0.01], np.float32)
    rewards = (rng.normal(0.3, 1.0, (steps, num_envs)) * scale).astype(np.float32)
    terminated = rng.random((steps, num_envs)) < 0.04
    truncated = (rng.random((steps, num_envs)) < 0.04) & ~terminated
    step = np.zeros(num_envs, int)
    for t in range(steps):  # time limit at `horizon` steps, as the env's episode_length
        truncated[t] |= (step + 1 >= horizon) & ~terminated[t]
        step = np.where(terminated[t] | truncated[t], 0, step + 1)
    assert truncated.sum() > 10 and terminated.sum() > 10
    stats = run_normaliser(rewards, terminated, truncated, task_ids, num_tasks, gamma, horizon)
    value, first_step = brc_reference(rewards, terminated, truncated, task_ids, num_tasks, gamma)
    np.testing.assert_allclose(stats.max_abs_value, value, rtol=1e-5)
    np.testing.assert_allclose(stats.max_abs_return, first_step, rtol=1e-5)
    # without a kept history the BRC statistic stays 0 (the other modes pay nothing)
    plain = run_normaliser(rewards, terminated, truncated, task_ids, num_tasks, gamma, 0)
    np.testing.assert_array_equal(plain.max_abs_value, 0.0)
    np.testing.assert_allclose(plain.max_abs_return, first_step, rtol=1e-5)


def test_trainer_keeps_the_max_value_to_go_per_task_in_its_state():
    """ProbeChain (5 steps of reward 1, terminated) and ProbeTruncation (20 steps of reward 1,
    truncated) in one jitted chunk: the largest value-to-go is the chain's first-step return
    and, for the truncated task, 1/(1 - g) at every step (the bootstrap is mean reward 1 over
    the effective horizon)."""
    from configs import TINY  # tests/configs.py

    from fastbrc.core import reward_norm as rn
    from fastbrc.learner import build

    config = dataclasses.replace(
        TINY,
        env="ProbeChain,ProbeTruncation",
        reward_normalization="max_value_to_go",
        reward_norm_target=4.0,
    )
    fns = build(config)
    state, metrics = fns.train_chunk(fns.init(jax.random.PRNGKey(0)))
    gamma = config.gamma
    best = np.array([(1 - gamma**5) / (1 - gamma), 1 / (1 - gamma)])
    np.testing.assert_allclose(state.reward_stats.max_abs_value, best, rtol=1e-5)
    kept = (config.num_envs, max(fns.env.spec.episode_lengths))  # the envs' time limit
    assert state.reward_stats.episode_rewards.shape == kept
    scales = np.asarray(rn.task_scales(state.reward_stats, "max_value_to_go", 4.0))
    np.testing.assert_allclose(scales, 4.0 / best, rtol=1e-5)
    np.testing.assert_allclose(metrics["train/tasks/reward_scale"], scales, rtol=1e-5)
    assert np.isfinite(float(metrics["train/critic_loss"]))
