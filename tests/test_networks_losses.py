"""Networks and TD-loss pieces: shapes, ensemble independence, target selection."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from fastbrc.config import Config
from fastbrc.core import distributional as dist
from fastbrc.core import losses
from fastbrc.core.networks import BroNet
from fastbrc.learner.models import make_actor, make_critic

SMALL = Config(critic_width=32, critic_depth=2, num_atoms=11, actor_hidden=(16,), num_critics=2)


def test_bronet_has_residual_blocks_and_layernorm():
    params = BroNet(width=8, depth=3, out_dim=5).init(jax.random.PRNGKey(0), jnp.ones((1, 4)))
    names = sorted(params["params"])
    assert sum(n.startswith("Dense") for n in names) == 1 + 2 * 3 + 1
    assert sum(n.startswith("LayerNorm") for n in names) == 1 + 2 * 3


def test_critic_ensemble_members_are_independent():
    critic = make_critic(SMALL)
    obs, act = jnp.ones((4, 3)), jnp.zeros((4, 2))
    params = critic.init(jax.random.PRNGKey(0), obs, act)
    logits = critic.apply(params, obs, act)
    assert logits.shape == (2, 4, 11)
    assert not np.allclose(logits[0], logits[1])
    leaf = jax.tree.leaves(params)[0]
    assert leaf.shape[0] == 2  # stacked params, one set


def test_bf16_critic_returns_float32_logits_close_to_float32():
    critic32 = make_critic(SMALL)
    critic16 = make_critic(dataclasses.replace(SMALL, critic_bf16=True))
    obs, act = jax.random.normal(jax.random.PRNGKey(1), (8, 3)), jnp.zeros((8, 2))
    params = critic32.init(jax.random.PRNGKey(0), obs, act)
    out16 = critic16.apply(params, obs, act)
    assert out16.dtype == jnp.float32
    np.testing.assert_allclose(out16, critic32.apply(params, obs, act), atol=0.1)


def test_actor_output_in_unit_box():
    for kind in ("mlp", "bronet"):
        actor = make_actor(dataclasses.replace(SMALL, actor_type=kind), 3)
        obs = 100 * jax.random.normal(jax.random.PRNGKey(0), (16, 5))
        params = actor.init(jax.random.PRNGKey(1), obs)
        out = actor.apply(params, obs)
        assert out.shape == (16, 3) and float(jnp.abs(out).max()) <= 1.0


def test_min_target_takes_member_with_lower_mean_per_sample():
    support = dist.make_support(0.0, 2.0, 3)
    low = jnp.array([[10.0, 0.0, 0.0]])  # mass near 0
    high = jnp.array([[0.0, 0.0, 10.0]])  # mass near 2
    # sample 0: member 0 is low; sample 1: member 1 is low
    logits = jnp.stack([jnp.concatenate([low, high]), jnp.concatenate([high, low])])
    chosen = losses.select_target_distribution(logits, support, "min")
    probs = jax.nn.softmax(low)[0]
    np.testing.assert_allclose(chosen, jnp.stack([probs, probs]), rtol=1e-6)
    mean = losses.select_target_distribution(logits, support, "mean")
    np.testing.assert_allclose(mean.sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(mean[0], mean[1], rtol=1e-6)


def test_terminal_target_is_the_reward():
    support = dist.make_support(-5.0, 5.0, 11)
    next_logits = jax.random.normal(jax.random.PRNGKey(0), (2, 4, 11))
    reward = jnp.array([-2.0, 0.0, 1.0, 3.0])
    # HL-Gauss loses a little tail mass past the support edge, hence its looser tolerance.
    for value_target, atol in (("categorical", 1e-4), ("hl_gauss", 5e-3)):
        target = losses.target_distribution(
            next_logits,
            reward,
            jnp.zeros(4),
            support,
            ensemble_mode="min",
            value_target=value_target,
            hl_gauss_sigma=0.75,
        )
        np.testing.assert_allclose(dist.expected_value(target, support), reward, atol=atol)


def test_critic_loss_sums_members_and_is_minimised_by_the_target():
    target = jax.nn.softmax(jax.random.normal(jax.random.PRNGKey(0), (4, 7)))
    perfect = jnp.stack([jnp.log(target)] * 2)
    other = jax.random.normal(jax.random.PRNGKey(1), (2, 4, 7))
    entropy = -(target * jnp.log(target)).sum(-1).mean()
    np.testing.assert_allclose(losses.critic_loss(perfect, target), 2 * entropy, rtol=1e-5)
    assert losses.critic_loss(other, target) > losses.critic_loss(perfect, target)


def _task_critic(conditioning: str, num_tasks: int = 3):
    from fastbrc.core.networks import TaskCritic

    critic = TaskCritic(2, 32, 1, 11, num_tasks, conditioning, embedding_dim=8)
    obs, action = jnp.ones((6, 4)), jnp.zeros((6, 2))
    task = jnp.array([0, 1, 2, 0, 1, 2], jnp.int32)
    params = critic.init(jax.random.PRNGKey(0), obs, action, task)
    return critic, params, obs, action, task


def test_task_embeddings_are_unit_norm_distinct_and_trained_by_the_td_loss():
    critic, params, obs, action, task = _task_critic("embedding")
    rows = critic.apply(params, jnp.arange(3), method=critic.embed)
    np.testing.assert_allclose(jnp.linalg.norm(rows, axis=-1), 1.0, rtol=1e-6)
    assert float(jnp.linalg.norm(rows[0] - rows[1])) > 0.1
    assert float(jnp.linalg.norm(rows[1] - rows[2])) > 0.1
    target = jax.nn.softmax(jax.random.normal(jax.random.PRNGKey(1), (6, 11)))

    def loss(p, task_id):
        return losses.critic_loss(critic.apply(p, obs, action, task_id), target)

    grads = jax.grad(loss)(params, task)
    table_grad = grads["params"]["task_embedding"]["table"]
    assert np.all(np.linalg.norm(table_grad, axis=-1) > 0)  # every used row gets gradient
    only_task_0 = jax.grad(loss)(params, jnp.zeros(6, jnp.int32))
    rows_grad = np.linalg.norm(only_task_0["params"]["task_embedding"]["table"], axis=-1)
    assert rows_grad[0] > 0 and rows_grad[1] == 0 and rows_grad[2] == 0
    # the table is shared by the ensemble: one [num_tasks, dim] array, not one per member
    assert params["params"]["task_embedding"]["table"].shape == (3, 8)


def test_separate_heads_select_the_task_head():
    critic, params, obs, action, task = _task_critic("separate_heads")
    logits = critic.apply(params, obs, action, task)
    assert logits.shape == (2, 6, 11)
    # perturb the head of task 1 only: rows of tasks 0 and 2 are unchanged
    head = params["params"]["ensemble"]["VmapCritic_0"]["BroNet_0"]["Dense_3"]
    bias = head["bias"].reshape(2, 3, 11).at[:, 1].add(1.0).reshape(2, 33)
    changed = jax.tree.map(lambda x: x, params)
    changed["params"]["ensemble"]["VmapCritic_0"]["BroNet_0"]["Dense_3"]["bias"] = bias
    other = critic.apply(changed, obs, action, task)
    same = np.asarray(task) != 1
    np.testing.assert_array_equal(other[:, same], logits[:, same])
    assert not np.allclose(other[:, ~same], logits[:, ~same])
