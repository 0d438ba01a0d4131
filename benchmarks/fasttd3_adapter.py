"""FastTD3 (PyTorch; younggyoseo/FastTD3, arXiv 2505.22642) driven by benchmarks/peers.py.

FastTD3's code is not part of fastbrc: the user names a checkout (``--fasttd3-src DIR`` of
peers.py, or ``FASTTD3_SRC``; default ``../shared/peers/FastTD3-229ed59`` beside the repository)
at the pinned commit ``PINNED_COMMIT``, which is checked by the SHA-256 of every file of it that
is imported or followed (``SOURCE_SHA256``; an unmodified copy has no ``.git``). This module
imports from that checkout, unchanged:

* ``fast_td3.fast_td3``: ``Actor`` (its ``explore`` with per-env noise scales re-drawn at
  episode ends), ``Critic`` (two C51 heads, ``projection``, ``get_value``);
* ``fast_td3.fast_td3_utils``: ``SimpleReplayBuffer`` (per-env ring, n-step returns),
  ``EmpiricalNormalization``, ``mark_step``;
* ``fast_td3.hyperparams``: the published configs (``MuJoCoPlaygroundArgs`` and the per-task
  classes ``get_args`` maps a Playground task name to, e.g. ``CheetahRunArgs``).

What replaces pieces of its ``train.py`` (``REPLACED`` is copied into the JSON):

* the environment: its ``environments/mujoco_playground_env.make_env`` needs its own fork of
  MuJoCo Playground (the torch wrapper there returns plain observation tensors and the
  observation before each auto-reset; stock ``playground`` 0.2.0 returns a TensorDict and
  drops it) and picks devices with ``jax.devices("gpu")``. ``PlaygroundTorchEnv`` is ours:
  Brax's ``VmapWrapper`` + ``EpisodeWrapper`` (time limit, action repeat) + Playground's
  ``BraxAutoResetWrapper`` as in the stock torch wrapper, with a thin wrapper underneath the
  auto-reset that keeps the pre-reset observation in ``info``; actions clipped to [-1, 1] as
  the stock wrapper does; DLPack between JAX and torch on the same device;
* ``main()``: it imports ``wandb`` (which the GPU machine lacks, and nothing here logs to) and
  builds the env, the loop, the evaluation and checkpointing in one 700-line function, so it
  cannot be driven with another env, evaluation or stop. ``run()`` below is the same
  iteration, in our code: act with ``Actor.explore`` on normalised obs, step, store the true
  next obs, then ``num_updates`` critic updates on ``batch_size // num_envs`` samples per env
  (obs normalised again at sampling, as train.py does), the actor every ``policy_frequency``
  updates (i % policy_frequency == 1), a Polyak update after each critic update; the critic
  loss is the cross-entropy to the projected target of the target critic, clipped double-Q
  taking the projected distribution whose mean is lower, the next action from the current
  actor with clipped Gaussian smoothing noise; torch.compile, bf16 autocast and CUDA graphs
  as train.py switches them. Not carried over: the learning-rate schedulers (cosine from
  ``*_learning_rate`` to ``*_learning_rate_end``, equal in every Playground config, so a
  constant), fp16's GradScaler (bf16 is the published dtype), W&B, rendering, checkpoints;
* evaluation and stop: the harness's protocol (deterministic ``actor(obs)``, ``num_eval_envs``
  envs, one full episode each with the protocol's episode length and action repeat, mean
  undiscounted return), every ``eval_interval`` env steps and once the budget is spent; the run
  stops at the first evaluation at or after the budget.

Non-finite states are not caught: FastTD3 has no guard, and a crash it causes is a result (the
JSON records the error, where it happened, and the curve up to the last evaluation).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

PINNED_COMMIT = "229ed59bbf43ea2f7a2d5d90d1076314839944d7"
UPSTREAM = "https://github.com/younggyoseo/FastTD3"
# Every file of the checkout that is imported (the package __init__ imports deploy and
# simbav2) or whose loop run() follows (train.py), at PINNED_COMMIT.
SOURCE_SHA256 = {
    "fast_td3/__init__.py": "b0e56c18cfd14f919d47a714cd82e775e594c9e476de7c3bc6b153bf1c485962",
    "fast_td3/fast_td3.py": "795262977bd7dfe20a1950874cbe6ae45e59ef8cad7419eaaaf666905bc018c4",
    "fast_td3/fast_td3_deploy.py": (
        "890054905b3a0cf1c5d294397ddee28c4a9f65662006334e3fac20949f5f05bf"
    ),
    "fast_td3/fast_td3_simbav2.py": (
        "d26bfe9dfe32282f97e40d2330e25ff0c988c528d66e3e61324170207035b025"
    ),
    "fast_td3/fast_td3_utils.py": (
        "f57fd9597215d912127adeafd141568b2f0ec0cce23dda42c5cd47401130b56e"
    ),
    "fast_td3/hyperparams.py": "c884ac7d0e47374ef4de13736f61f6a5c8a3a47f415fcaa12894579df4e81356",
    "fast_td3/train.py": "10f82d4c30fc9f0d0eda37c0e55ec8a25232339c1362d0fd649c28e12b9a8240",
}
DEFAULT_SRC = Path(__file__).resolve().parents[2] / "shared" / "peers" / "FastTD3-229ed59"
REPLACED = {
    "environments/mujoco_playground_env.make_env": "written for FastTD3's fork of MuJoCo "
    "Playground (plain obs tensors, the obs before each auto-reset) and jax.devices('gpu'); "
    "stock playground 0.2.0 has neither: our PlaygroundTorchEnv (Brax VmapWrapper + "
    "EpisodeWrapper + Playground BraxAutoResetWrapper, pre-reset obs kept, actions clipped)",
    "train.py main()": "imports wandb (absent on the GPU machine, unused here) and has no "
    "hook for another env, evaluation or stop; its iteration is re-written in "
    "benchmarks/fasttd3_adapter.py (same order and math, FastTD3's Actor, Critic, "
    "SimpleReplayBuffer and EmpiricalNormalization imported unchanged)",
    "train.py evaluate()": "the harness's shared protocol instead (same idea: deterministic "
    "actor, full episodes, mean undiscounted return), with the protocol's episode length "
    "and action repeat and --num-eval-envs envs",
    "learning-rate schedulers": "not built: cosine from *_learning_rate to "
    "*_learning_rate_end, which are equal (3e-4) in the configs used, i.e. constant",
    "GradScaler, wandb, rendering, save_params": "not used (bf16 needs no scaler; the "
    "harness records the curve; no videos; no checkpoints)",
}
# --tiny (the smoke test): every size shrunk, nothing else changed.
TINY = dict(
    num_envs=8,
    batch_size=64,
    buffer_size=512,
    critic_hidden_dim=32,
    actor_hidden_dim=32,
    num_updates=1,
)
# On a CPU: the rates of the brief's measurement (64 envs, batch 1,024, fp32).
CPU_SIZES = dict(num_envs=64, batch_size=1024)


class SourceError(Exception):
    """No usable FastTD3 checkout: one line for the user; the other trainers still run."""


def find_source(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The checkout: `explicit`, else $FASTTD3_SRC, else DEFAULT_SRC."""
    text = explicit or os.environ.get("FASTTD3_SRC")
    src = Path(text).expanduser().resolve() if text else DEFAULT_SRC
    if not (src / "fast_td3").is_dir():
        how = "--fasttd3-src" if explicit else "FASTTD3_SRC" if text else "the default"
        raise SourceError(
            f"no FastTD3 checkout at {src} ({how}; want {UPSTREAM} at commit "
            f"{PINNED_COMMIT[:7]}, with its fast_td3/ folder)"
        )
    return src


def verify_source(src: Path) -> dict[str, Any]:
    """Check the checkout is the pinned commit by content; SourceError naming the first
    differing file otherwise."""
    for rel, want in SOURCE_SHA256.items():
        path = src / rel
        if not path.is_file():
            raise SourceError(
                f"FastTD3 checkout {src} has no {rel}: not commit {PINNED_COMMIT[:7]}"
            )
        got = hashlib.sha256(path.read_bytes()).hexdigest()
        if got != want:
            raise SourceError(
                f"FastTD3 checkout {src} is not commit {PINNED_COMMIT[:7]}: {rel} differs "
                f"(sha256 {got[:12]}, want {want[:12]})"
            )
    return {
        "upstream": UPSTREAM,
        "commit": PINNED_COMMIT,
        "source": str(src),
        "verified_by": "sha256 of " + ", ".join(SOURCE_SHA256),
    }


def import_fasttd3(src: Path) -> tuple[Any, Any, Any]:
    """FastTD3's modules (networks, utils, hyperparams), imported from `src` as its package."""
    if str(src) not in sys.path:
        sys.path.insert(0, str(src))
    from fast_td3 import fast_td3, fast_td3_utils, hyperparams

    return fast_td3, fast_td3_utils, hyperparams


# ----------------------------------------------------------------------------- settings
def published_args(hyperparams: Any, env_name: str) -> Any:
    """What FastTD3's get_args() picks for a Playground task: the class whose env_name default
    is this task (e.g. CheetahRunArgs), else MuJoCoPlaygroundArgs."""
    base = hyperparams.MuJoCoPlaygroundArgs
    for value in vars(hyperparams).values():
        if (
            isinstance(value, type)
            and dataclasses.is_dataclass(value)
            and issubclass(value, base)
            and value.__dataclass_fields__["env_name"].default == env_name
        ):
            return value()
    return base(env_name=env_name)


def settings(
    published: Any, *, cuda: bool, tiny: bool, seed: int, num_eval_envs: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The config used and {key: {published, used, reason}} for every changed key."""
    before = dataclasses.asdict(published)
    used = dict(before)
    reasons: dict[str, str] = {}

    def change(key: str, value: Any, reason: str) -> None:
        used[key] = value
        reasons[key] = reason

    change("seed", seed, "the harness's --seed")
    change("num_eval_envs", num_eval_envs, "the harness's protocol (--num-eval-envs)")
    change("use_wandb", False, "the harness records the curve")
    for key in ("eval_interval", "render_interval", "save_interval"):
        change(key, 0, "the harness evaluates (its spacing, in env steps); no videos or saves")
    if not cuda:
        change("cuda", False, "no CUDA device: torch runs on the CPU")
        change("amp", False, "train.py enables bf16 autocast only with CUDA")
        change(
            "compile",
            False,
            "published mode reduce-overhead means CUDA graphs (GPU only); inductor's CPU "
            "compile of the update costs minutes of a 2-core budget",
        )
        for key, value in CPU_SIZES.items():
            change(
                key,
                value,
                "a CPU: 1,024 envs and batch 32,768 give one iteration every few seconds on 2 "
                "cores; the sizes FastTD3 was measured at on this machine",
            )
    if tiny:
        for key, value in TINY.items():
            change(key, value, "--tiny smoke test")
    changes = {
        key: {"published": before[key], "used": used[key], "reason": reasons[key]}
        for key in reasons
        if before[key] != used[key]
    }
    return used, changes


# ----------------------------------------------------------------------------- environment
def _to_torch(x: Any) -> Any:
    import torch

    return torch.from_dlpack(x)


def _to_jax(t: Any) -> Any:
    import jax.dlpack

    return jax.dlpack.from_dlpack(t.detach().contiguous())


def _committed(state: Any) -> Any:
    """`state` committed to JAX's first device, like the DLPack actions: one compile of the
    step (jit caches committed and uncommitted inputs apart)."""
    import jax

    return jax.device_put(state, jax.devices()[0])


def _flat_obs(obs: Any, env_name: str) -> Any:
    if isinstance(obs, dict):
        raise NotImplementedError(
            f"{env_name} has dict observations (asymmetric actor/critic obs); the fasttd3 "
            "adapter handles flat-observation tasks (DM Control) only"
        )
    return obs


class PlaygroundTorchEnv:
    """`num_envs` copies of a Playground env for FastTD3's loop: torch in, torch out.

    `step` returns (next_obs, reward, done, info) with `info["time_outs"]` (truncation) and
    `info["final_obs"]` (the observation before the auto-reset where done), the interface of
    FastTD3's forked wrapper.
    """

    def __init__(self, env: Any, num_envs: int, episode_length: int, action_repeat: int, seed: int):
        import jax
        from brax.envs.wrappers import training as brax_training
        from mujoco_playground import wrapper

        class KeepFinalObs(wrapper.Wrapper):  # under the auto-reset: info is not reset
            def reset(self, rng: Any) -> Any:
                state = self.env.reset(rng)
                state.info["final_obs"] = state.obs
                return state

            def step(self, state: Any, action: Any) -> Any:
                state = self.env.step(state, action)
                state.info["final_obs"] = state.obs
                return state

        self.env_name = type(env).__name__
        wrapped = brax_training.VmapWrapper(env)
        wrapped = brax_training.EpisodeWrapper(wrapped, episode_length, action_repeat)
        self._env = wrapper.BraxAutoResetWrapper(KeepFinalObs(wrapped))
        self.num_envs = num_envs
        self.num_obs = int(_flat_obs(env.observation_size, self.env_name))
        self.num_actions = int(env.action_size)
        self._keys = jax.random.split(jax.random.PRNGKey(seed), num_envs)
        self._reset = jax.jit(self._env.reset)
        self._step = jax.jit(self._env.step)
        self.state = None

    def reset(self) -> Any:
        self.state = _committed(self._reset(self._keys))
        return _to_torch(self.state.obs)

    def step(self, actions: Any) -> tuple[Any, Any, Any, dict[str, Any]]:
        import torch

        self.state = self._step(self.state, _to_jax(torch.clamp(actions, -1.0, 1.0)))
        info = {
            "time_outs": _to_torch(self.state.info["truncation"]),
            "final_obs": _to_torch(self.state.info["final_obs"]),
        }
        return (
            _to_torch(self.state.obs),
            _to_torch(self.state.reward),
            _to_torch(self.state.done),
            info,
        )


class Evaluator:
    """The harness's evaluation: one full episode in each of `num_envs` envs (time limit and
    action repeat of the protocol), a deterministic policy, mean undiscounted return."""

    def __init__(self, env: Any, num_envs: int, episode_length: int, action_repeat: int, seed: int):
        import jax
        from brax.envs.wrappers import training as brax_training

        wrapped = brax_training.EpisodeWrapper(
            brax_training.VmapWrapper(env), episode_length, action_repeat
        )
        self._reset = jax.jit(wrapped.reset)
        self._step = jax.jit(wrapped.step)
        self._keys = jax.random.split(jax.random.PRNGKey(seed + 1), num_envs)
        self.agent_steps = -(-episode_length // action_repeat)

    def __call__(self, act: Callable[[Any], Any]) -> tuple[float, float]:
        import torch

        state = _committed(self._reset(self._keys))
        total = torch.zeros(self._keys.shape[0], dtype=torch.float64)
        done = torch.zeros_like(total)
        for _ in range(self.agent_steps):
            action = act(_to_torch(state.obs))
            state = self._step(state, _to_jax(torch.clamp(action.float(), -1.0, 1.0)))
            total += _to_torch(state.reward).double().cpu() * (1.0 - done)
            done = torch.maximum(done, _to_torch(state.done).double().cpu())
            if bool(done.min() > 0):  # every episode over
                break
        return float(total.mean()), float(total.std(unbiased=False))


# ----------------------------------------------------------------------------- learner
class Learner:
    """FastTD3's networks, buffer and normaliser (imported) and its update step (ours, the
    math of train.py's update_main / update_pol / soft_update)."""

    def __init__(
        self, ftd3: Any, utils: Any, args: dict[str, Any], n_obs: int, n_act: int, device: Any
    ):
        import torch
        from tensordict import from_module

        self.args, self.device = args, device
        self.amp = bool(args["amp"] and args["cuda"] and device.type == "cuda")
        self.amp_dtype = torch.bfloat16 if args["amp_dtype"] == "bf16" else torch.float16
        if self.amp and self.amp_dtype != torch.bfloat16:
            raise ValueError("only bf16 autocast is supported (fp16 needs train.py's GradScaler)")
        actor_kwargs = dict(
            n_obs=n_obs,
            n_act=n_act,
            num_envs=args["num_envs"],
            device=device,
            init_scale=args["init_scale"],
            hidden_dim=args["actor_hidden_dim"],
            std_min=args["std_min"],
            std_max=args["std_max"],
            sim_type=args["sim_type"],
            sim_dimension=args["sim_dimension"],
            seq_len=args["actor_seq_len"],
        )
        critic_kwargs = dict(
            n_obs=n_obs,
            n_act=n_act,
            num_atoms=args["num_atoms"],
            v_min=args["v_min"],
            v_max=args["v_max"],
            hidden_dim=args["critic_hidden_dim"],
            device=device,
            sim_type=args["sim_type"],
            sim_dimension=args["sim_dimension"],
            seq_len=args["critic_seq_len"],
        )
        self.actor = ftd3.Actor(**actor_kwargs)
        self.actor_detach = ftd3.Actor(**actor_kwargs)  # the acting copy, sharing parameters
        from_module(self.actor).data.to_module(self.actor_detach)
        self.qnet = ftd3.Critic(**critic_kwargs)
        self.qnet_target = ftd3.Critic(**critic_kwargs)
        self.qnet_target.load_state_dict(self.qnet.state_dict())
        self.q_optimizer = torch.optim.AdamW(
            list(self.qnet.parameters()),
            lr=torch.tensor(args["critic_learning_rate"], device=device),
            weight_decay=args["weight_decay"],
        )
        self.actor_optimizer = torch.optim.AdamW(
            list(self.actor.parameters()),
            lr=torch.tensor(args["actor_learning_rate"], device=device),
            weight_decay=args["weight_decay"],
        )
        self.obs_normalizer = (
            utils.EmpiricalNormalization(shape=n_obs, device=device)
            if args["obs_normalization"]
            else torch.nn.Identity()
        )
        self.buffer = utils.SimpleReplayBuffer(
            n_env=args["num_envs"],
            buffer_size=args["buffer_size"],
            n_obs=n_obs,
            n_act=n_act,
            n_critic_obs=n_obs,
            asymmetric_obs=False,
            playground_mode=True,
            n_steps=args["num_steps"],
            gamma=args["gamma"],
            device=device,
        )
        self.mark_step = utils.mark_step
        self.policy = self.actor_detach.explore
        self.normalize = self.obs_normalizer.forward
        self.update_critic = self._update_critic
        self.update_actor = self._update_actor
        if args["compile"]:
            mode = args["compile_mode"]
            self.update_critic = torch.compile(self._update_critic, mode=mode)
            self.update_actor = torch.compile(self._update_actor, mode=mode)
            self.policy = torch.compile(self.policy, mode=None)
            self.normalize = torch.compile(self.obs_normalizer.forward, mode=None)

    def autocast(self) -> Any:
        from torch.amp import autocast

        return autocast(device_type=self.device.type, dtype=self.amp_dtype, enabled=self.amp)

    def _update_critic(self, data: Any) -> Any:
        import torch
        import torch.nn.functional as F  # noqa: N812

        a = self.args
        with self.autocast():
            obs, next_obs = data["observations"], data["next"]["observations"]
            actions, rewards = data["actions"], data["next"]["rewards"]
            dones = data["next"]["dones"].bool()
            truncations = data["next"]["truncations"].bool()
            bootstrap = ((~dones) if a["disable_bootstrap"] else (truncations | ~dones)).float()
            noise = (torch.randn_like(actions) * a["policy_noise"]).clamp(
                -a["noise_clip"], a["noise_clip"]
            )
            discount = a["gamma"] ** data["next"]["effective_n_steps"]
            with torch.no_grad():
                next_actions = (self.actor(next_obs) + noise).clamp(-1.0, 1.0)
                proj1, proj2 = self.qnet_target.projection(
                    next_obs, next_actions, rewards, bootstrap, discount
                )
                if a["use_cdq"]:  # the projected distribution with the lower mean
                    lower = self.qnet_target.get_value(proj1) < self.qnet_target.get_value(proj2)
                    proj1 = proj2 = torch.where(lower.unsqueeze(1), proj1, proj2)
            logits1, logits2 = self.qnet(obs, actions)
            loss = (
                -(proj1 * F.log_softmax(logits1, dim=1)).sum(1).mean()
                - (proj2 * F.log_softmax(logits2, dim=1)).sum(1).mean()
            )
        self.q_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if a["use_grad_norm_clipping"]:
            limit = a["max_grad_norm"] if a["max_grad_norm"] > 0 else float("inf")
            torch.nn.utils.clip_grad_norm_(self.qnet.parameters(), max_norm=limit)
        self.q_optimizer.step()
        return loss.detach()

    def _update_actor(self, data: Any) -> Any:
        import torch
        import torch.nn.functional as F  # noqa: N812

        a = self.args
        with self.autocast():
            obs = data["observations"]
            logits1, logits2 = self.qnet(obs, self.actor(obs))
            value1 = self.qnet.get_value(F.softmax(logits1, dim=1))
            value2 = self.qnet.get_value(F.softmax(logits2, dim=1))
            value = torch.minimum(value1, value2) if a["use_cdq"] else (value1 + value2) / 2
            loss = -value.mean()
        self.actor_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if a["use_grad_norm_clipping"]:
            limit = a["max_grad_norm"] if a["max_grad_norm"] > 0 else float("inf")
            torch.nn.utils.clip_grad_norm_(self.actor.parameters(), max_norm=limit)
        self.actor_optimizer.step()
        return loss.detach()

    def soft_update(self) -> None:
        import torch

        tau = self.args["tau"]
        with torch.no_grad():
            src = [p.data for p in self.qnet.parameters()]
            tgt = [p.data for p in self.qnet_target.parameters()]
            torch._foreach_mul_(tgt, 1.0 - tau)
            torch._foreach_add_(tgt, src, alpha=tau)

    def learn(self, iteration: int) -> None:
        """train.py's update phase of one iteration."""
        a = self.args
        for i in range(a["num_updates"]):
            data = self.buffer.sample(max(1, a["batch_size"] // a["num_envs"]))
            data["observations"] = self.normalize(data["observations"])
            data["next"]["observations"] = self.normalize(data["next"]["observations"])
            self.update_critic(data)
            if a["num_updates"] > 1:
                if i % a["policy_frequency"] == 1:
                    self.update_actor(data)
            elif iteration % a["policy_frequency"] == 0:
                self.update_actor(data)
            self.soft_update()

    def act_deterministic(self, obs: Any) -> Any:
        import torch

        with torch.no_grad(), self.autocast():
            return self.actor(self.normalize(obs, update=False))


# ----------------------------------------------------------------------------- the run
def torch_facts(args: dict[str, Any], device: Any) -> dict[str, Any]:
    import torch

    return {
        "torch": torch.__version__,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch_threads": torch.get_num_threads(),
        "compile": bool(args["compile"]),
        "compile_mode": args["compile_mode"] if args["compile"] else None,
        "cuda_graphs": bool(
            args["compile"] and device.type == "cuda" and args["compile_mode"] == "reduce-overhead"
        ),
        "amp": bool(args["amp"] and device.type == "cuda"),
        "amp_dtype": args["amp_dtype"] if args["amp"] and device.type == "cuda" else None,
    }


def run(
    spec: dict[str, Any], protocol: dict[str, Any], load_env: Callable[..., Any]
) -> dict[str, Any]:
    """Train FastTD3 on spec["env"] until the first evaluation at or after spec["budget_s"]."""
    # as train.py sets them: torch and JAX share the GPU (no preallocation by JAX), dynamo
    # inlines nn modules, and MJX's matmuls run at full precision
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("TORCHDYNAMO_INLINE_INBUILT_NN_MODULES", "1")
    src = find_source(spec.get("fasttd3_src"))
    facts = verify_source(src)
    import jax
    import torch

    jax.config.update("jax_default_matmul_precision", "highest")

    ftd3, utils, hyperparams = import_fasttd3(src)
    torch.set_float32_matmul_precision("high")  # as train.py
    cuda = torch.cuda.is_available()
    device = torch.device("cuda:0" if cuda else "cpu")
    if cuda:
        torch.set_num_threads(1)  # train.py's OMP_NUM_THREADS=1; on a CPU torch needs the cores
    published = published_args(hyperparams, spec["env"])
    args, changes = settings(
        published,
        cuda=cuda,
        tiny=spec["tiny"],
        seed=spec["seed"],
        num_eval_envs=spec["num_eval_envs"],
    )
    torch.manual_seed(args["seed"])
    torch.backends.cudnn.deterministic = args["torch_deterministic"]
    length, repeat = protocol["episode_length"], protocol["action_repeat"]
    interval = max(1, round(spec["sps"] * spec["budget_s"] / spec["evals"]))
    budget = spec["budget_s"]
    curve: list[dict[str, Any]] = []
    rates: list[float] = []
    state: dict[str, Any] = {"env_steps": 0, "iterations": 0}

    env = load_env(spec["env"], impl="jax")
    start = time.perf_counter()  # as for Brax: the env is loaded, nothing else is built
    envs = PlaygroundTorchEnv(env, args["num_envs"], length, repeat, args["seed"])
    evaluate = Evaluator(env, args["num_eval_envs"], length, repeat, args["seed"])
    learner = Learner(ftd3, utils, args, envs.num_obs, envs.num_actions, device)

    def eval_point() -> None:
        tick = time.perf_counter()
        mean, std = evaluate(learner.act_deterministic)
        wall = time.perf_counter() - start
        curve.append(
            {
                "wall_s": wall,
                "env_steps": state["env_steps"],
                "eval_return": mean,
                "eval_return_std": std,
                "eval_s": wall - (tick - start),
            }
        )
        print(
            f"fasttd3: {wall:7.1f} s  {state['env_steps']:>11,} env steps  eval return {mean:.2f}",
            file=sys.stderr,
            flush=True,
        )

    stopped_by, error = "total_timesteps", None
    try:
        stopped_by = _loop(learner, envs, args, interval, budget, start, state, rates, eval_point)
    except Exception as exc:  # noqa: BLE001 - FastTD3's crash is a result
        traceback.print_exc()
        stopped_by = "crash"
        error = {
            "error": f"{type(exc).__name__}: {exc}",
            "wall_s": time.perf_counter() - start,
            "env_steps": state["env_steps"],
            "traceback_tail": traceback.format_exc().strip().splitlines()[-6:],
        }
    result = {
        "status": "crashed" if error else "ok",
        "stopped_by": stopped_by,
        "fasttd3": facts,
        "published_config": dataclasses.asdict(published),
        "published_config_class": type(published).__name__,
        "config": args,
        "changes": changes,
        "replaced": REPLACED,
        "torch": torch_facts(args, device),
        "protocol": protocol,
        "eval_interval_env_steps": interval,
        "curve": curve,
        "native": {
            "train_sps_median": sorted(rates)[len(rates) // 2] if rates else None,
            "definition": "median over the stretches between evaluations after the first of "
            "env steps / training seconds; excludes evaluation",
        },
        "sizes": {
            "num_envs": args["num_envs"],
            "batch_size": args["batch_size"],
            "published_num_envs": published.num_envs,
            "published_batch_size": published.batch_size,
            "updates_per_iteration": args["num_updates"],
            "critic_hidden_dim": args["critic_hidden_dim"],
        },
    }
    if error:
        result["error"] = error["error"]
        result["crash"] = error
    return result


def _loop(
    learner: Learner,
    envs: PlaygroundTorchEnv,
    args: dict[str, Any],
    interval: int,
    budget: float,
    start: float,
    state: dict[str, Any],
    rates: list[float],
    eval_point: Callable[[], None],
) -> str:
    """train.py's iteration until the first evaluation at or after the budget."""
    import torch
    from tensordict import TensorDict

    obs, dones = envs.reset(), None
    next_eval = interval
    mark = (time.perf_counter(), 0)
    while state["iterations"] < args["total_timesteps"]:
        if args["compile"]:
            learner.mark_step()
        with torch.no_grad(), learner.autocast():
            actions = learner.policy(obs=learner.normalize(obs), dones=dones)
        next_obs, rewards, dones, infos = envs.step(actions.float())
        true_next_obs = torch.where(dones[:, None] > 0, infos["final_obs"], next_obs)
        transition = TensorDict(
            {
                "observations": obs,
                "actions": actions.float(),
                "next": {
                    "observations": true_next_obs,
                    "rewards": rewards.float(),
                    "truncations": infos["time_outs"].long(),
                    "dones": dones.long(),
                },
            },
            batch_size=(envs.num_envs,),
            device=learner.device,
        )
        learner.buffer.extend(transition)
        obs = next_obs
        if state["iterations"] > args["learning_starts"]:
            learner.learn(state["iterations"])
        state["iterations"] += 1
        state["env_steps"] += envs.num_envs
        wall = time.perf_counter() - start
        trained = state["iterations"] > args["learning_starts"] + 1
        if trained and (state["env_steps"] >= next_eval or wall >= budget):
            if learner.device.type == "cuda":
                torch.cuda.synchronize()
            now = time.perf_counter()
            if mark[1] > 0:  # a stretch after the first evaluation (no compile in it)
                rates.append((state["env_steps"] - mark[1]) / max(now - mark[0], 1e-9))
            eval_point()
            if time.perf_counter() - start >= budget:
                return "budget"
            next_eval = (state["env_steps"] // interval + 1) * interval
            mark = (time.perf_counter(), state["env_steps"])
    eval_point()
    return "total_timesteps"
