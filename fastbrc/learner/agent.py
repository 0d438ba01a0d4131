"""The agent: what stays fixed while a run learns (networks, actor rule, optimisers, value
support, the config's numbers), built once from a config and closed over by the jitted
functions. The train state (`fastbrc.learner.state`) is what changes."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import optax

from fastbrc.config import AgentConfig
from fastbrc.core import distributional as dist
from fastbrc.core import reward_norm as rn
from fastbrc.envs import EnvSpec
from fastbrc.learner.actors import Actor, make_actor_rule
from fastbrc.learner.models import Networks, make_networks
from fastbrc.learner.seeds import axis_of
from fastbrc.learner.state import TrainState, optimizer


@dataclass(frozen=True)
class Agent:
    config: AgentConfig
    spec: EnvSpec  # of the training envs
    nets: Networks
    actor: Actor  # TD3 or SAC
    support: jax.Array  # [num_atoms] the critic's fixed value support
    actor_opt: optax.GradientTransformation
    critic_opt: optax.GradientTransformation
    alpha_opt: optax.GradientTransformation  # SAC's temperature (its state exists for TD3 too)
    mesh: jax.sharding.Mesh  # the devices the envs and the batch are split over
    seed_axis: str | None = None  # the vmapped seed axis of a --seeds run (`seeds`)

    @property
    def num_tasks(self) -> int:
        return self.spec.num_tasks

    def policy(self, state: TrainState, obs, task_id) -> jax.Array:
        """Deterministic action for raw `obs`; `state` needs actor/critic params, obs stats."""
        obs = self.nets.normalize(state.obs_stats, obs)
        return self.actor.act(state.actor_params, state.critic_params, obs, task_id)

    def reward_scales(self, state: TrainState) -> jax.Array:
        """[num_tasks] multipliers of the raw rewards (reward_scale x per-task normaliser)."""
        c = self.config
        scales = rn.task_scales(
            state.reward_stats,
            c.reward_normalization,
            c.reward_norm_target,
            self.actor.entropy_return(state),
        )
        return c.reward_scale * scales


def make_agent(config: AgentConfig, spec: EnvSpec, mesh: jax.sharding.Mesh) -> Agent:
    c = config
    nets = make_networks(c, spec.num_tasks, spec.action_size)
    support = dist.make_support(c.v_min, c.v_max, c.num_atoms)
    alpha_opt = optax.adam(c.actor_lr)
    return Agent(
        config=c,
        spec=spec,
        nets=nets,
        actor=make_actor_rule(c, nets, spec, support, alpha_opt),
        support=support,
        actor_opt=optimizer(c.actor_lr, c.actor_weight_decay, c.max_grad_norm),
        critic_opt=optimizer(c.critic_lr, c.critic_weight_decay, c.max_grad_norm),
        alpha_opt=alpha_opt,
        mesh=mesh,
        seed_axis=axis_of(c.seeds),
    )


__all__ = ["Agent", "make_agent"]
