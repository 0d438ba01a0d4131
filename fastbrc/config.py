"""Training configuration in two parts, validated up front.

`AgentConfig` is the agent (environments, networks, algorithm, hyperparameters): fixed for
the life of a run and the only part the learner sees. `RunConfig` is this run of it (length,
run directory, evaluation, logging, checkpoints, devices): a resumed run may change it
(`RESUMABLE_FIELDS`). `Config` is both, flat, as the command line and config.json spell them
(``--batch-size``); ``config.agent`` and ``config.run`` are its two parts.

Every field has a docstring (``tyro`` turns them into ``--help`` text). Step quantities say
what they count: ``num_envs`` parallel environments, one *iteration* = one step of every
env followed by ``updates_per_iteration`` gradient updates, ``env_steps`` = iterations x
``num_envs`` (agent/control steps; an ``action_repeat`` > 1 runs more physics steps per env
step), ``batch_size`` is the *total* batch, split evenly across envs.

Defaults follow FastTD3's MuJoCo Playground hyperparameters (Seo et al. 2025, arXiv
2505.22642) with the BRC critic (Nauman et al. 2025, arXiv 2505.23150); named presets in
``fastbrc.presets`` adapt them per task and per hardware profile.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from fastbrc.errors import ConfigError

__all__ = [
    "RESUMABLE_FIELDS",
    "AgentConfig",
    "Config",
    "ConfigError",
    "RunConfig",
    "check_divisible",
    "validate",
]


@dataclass(frozen=True)
class AgentConfig:
    """The agent: its environments, networks, algorithm and hyperparameters. Fixed for the
    life of a run (a resume must keep every one of these fields) and the only part of the
    config the learner (`fastbrc.learner`) sees."""

    # --- environment ---------------------------------------------------------------------
    env: str = "HumanoidWalk"
    """MuJoCo Playground environment name (or a fastbrc probe env such as ProbeBandit)."""
    seed: int = 0
    """Random seed: same seed, same config, same machine => same numbers on CPU."""
    seeds: tuple[int, ...] = ()
    """Train these seeds in one compiled program (e.g. --seeds 0,1,2,3): the train state gains a
    leading seed axis and every jitted function is vmapped over it, so the seeds compile once
    and share every kernel launch. Each member is the single-seed run of its seed (its own
    PRNG streams, exploration, replay buffer, normalisers and evaluation). Empty: one run of
    --seed."""
    impl: Literal["jax", "warp"] = "jax"
    """Physics backend: 'jax' (MJX, runs everywhere) or 'warp' (MuJoCo Warp, NVIDIA GPUs)."""

    # --- simulation ----------------------------------------------------------------------
    num_envs: int = 1024
    """Parallel training environments, stepped inside the jitted training scan."""
    episode_length: int | None = None
    """Time limit in env steps (default: the environment's own). Reaching it truncates."""
    train_episode_length: int | None = None
    """Time limit of the training episodes only (default: `episode_length`). Shorter ones
    truncate (the target bootstraps) and reset more often, so more of the data comes from
    the start states; evaluation keeps the full episode."""
    action_repeat: int | None = None
    """Physics control steps per env step (default: the environment's own)."""

    # --- replay --------------------------------------------------------------------------
    replay_capacity_per_env: int = 10_240
    """Ring-buffer capacity per env, in transitions (total = this x num_envs)."""
    n_step: int = 1
    """n-step returns; windows never cross an episode end."""
    batch_size: int = 32_768
    """Total transitions per gradient update, split evenly across envs."""

    # --- loop ----------------------------------------------------------------------------
    updates_per_iteration: int = 2
    """Critic updates after each env step of all envs."""
    policy_frequency: int = 2
    """Update the actor (and its target) every this many critic updates."""
    learning_starts_iterations: int = 10
    """Iterations of uniform random actions before the first update."""
    iterations_per_chunk: int = 250
    """Iterations fused into one jitted lax.scan (one host sync, one log point per chunk)."""

    # --- TD learning ---------------------------------------------------------------------
    gamma: float = 0.97
    """Discount factor."""
    tau: float = 0.1
    """Polyak averaging rate of the target networks."""
    reward_scale: float = 1.0
    """Rewards are multiplied by this before learning (keeps returns inside the support)."""
    reward_normalization: Literal["none", "max_return", "max_value_to_go", "return_std"] = "none"
    """Per-task reward scaling, statistics kept in the train state: 'max_return' (the best
    |discounted episode return| from the first step maps to --reward-norm-target; the BRC
    paper's wording), 'max_value_to_go' (BRC's released code: the largest |value-to-go| over
    all steps of finished episodes, truncated ones bootstrapped with their mean reward over
    1/(1-gamma); keeps num_envs x the time limit rewards in the state), 'return_std' (unit std
    of the running discounted return), or 'none'. Applied on top of --reward-scale."""
    reward_norm_target: float = 5.0
    """Value the best return (max_return) or value-to-go (max_value_to_go) maps to."""
    target_noise: float = 0.001
    """Std of the Gaussian noise added to the target action (target-policy smoothing)."""
    target_noise_clip: float = 0.5
    """Clip of that noise."""
    std_min: float = 0.001
    """Lower end of the per-env exploration noise std, re-drawn at every env reset."""
    std_max: float = 0.4
    """Upper end of the per-env exploration noise std."""
    obs_normalization: bool = True
    """Normalise observations with running mean/std kept in the train state."""

    # --- critic (BRC BroNet, categorical) ------------------------------------------------
    critic_width: int = 1024
    """BroNet critic width."""
    critic_depth: int = 2
    """Residual blocks in the BroNet critic."""
    num_critics: int = 2
    """Ensemble members (one set of stacked params)."""
    critic_target: Literal["min", "mean"] = "min"
    """'min': clipped double-Q (member with the lower mean, per sample); 'mean': BRC's mean."""
    value_target: Literal["categorical", "hl_gauss"] = "categorical"
    """'categorical': C51 projection of r + g^n z'; 'hl_gauss': HL-Gauss histogram of the mean."""
    hl_gauss_sigma: float = 0.75
    """HL-Gauss std in units of the atom spacing."""
    num_atoms: int = 101
    """Atoms of the fixed value support."""
    v_min: float = -10.0
    """Lowest atom."""
    v_max: float = 10.0
    """Highest atom."""
    critic_lr: float = 3e-4
    """AdamW learning rate of the critic."""
    critic_weight_decay: float = 0.1
    """AdamW weight decay of the critic."""
    critic_bf16: bool = False
    """Run the critic's hidden matmuls in bfloat16 (params, LayerNorm, the residual stream, the
    output head, its logits and the loss stay float32). FastTD3 runs its critic under bf16
    autocast on GPUs; off by default until a GPU measurement shows it pays."""
    bronet_init: Literal["default", "orthogonal_sqrt2"] = "orthogonal_sqrt2"
    """Initialisation of the BroNet critic and actor: 'orthogonal_sqrt2' (BRC's released code:
    every kernel, head included, orthogonal with scale sqrt(2)) or 'default' (hidden kernels
    orthogonal with scale 1, head LeCun normal: fastbrc's default before issue 20, and what a
    config.json without this field was trained with); biases start at zero either way. The SAC
    actor's one head holds mean and log-std (BRC draws its log-std head with scale 1). On
    CheetahRun, 2 seeds x 180 s on 2 CPU cores, neither was better (final 639.6 / 261.8 against
    293.9 / 525.3: docs/results.md), so BRC's choice is the default."""

    # --- multi-task (BRC) ----------------------------------------------------------------
    task_conditioning: Literal["auto", "none", "embedding", "separate_heads"] = "auto"
    """How the critic and actor know the task: 'embedding' (BRC: learnable unit-norm task
    embeddings appended to the inputs; the actor reads the critic's table, which only the TD
    loss trains), 'separate_heads' (one critic output head per task; the actor gets a one-hot
    task id), 'none'; 'auto' = embedding with several tasks, none with one."""
    task_embedding_dim: int = 32
    """Size of the task embeddings."""
    envs_per_task: tuple[int, ...] | None = None
    """Envs of each task in a multi-task run, in --env order (default: an even split)."""
    init_from: str | None = None
    """Start from the critic and actor of this run directory's newest checkpoint (BRC
    transfer): shared weights are copied, the new task gets a fresh embedding row, the
    optimiser, normalisers and buffer start fresh."""
    min_obs_size: int = 0
    """Pad observations to at least this many features (set by --init-from)."""
    min_action_size: int = 0
    """Pad actions to at least this many dims (set by --init-from)."""

    # --- actor ---------------------------------------------------------------------------
    actor: Literal["td3", "sac"] = "td3"
    """'td3': deterministic tanh actor with per-env exploration noise (FastTD3); 'sac':
    tanh-Gaussian actor with a learned temperature, target entropy -|A|/2 (BRC; see
    sac_target_entropy_per_dim)."""
    sac_backup_entropy: bool = True
    """SAC: back the entropy bonus up into the critic's target (the soft value, as SAC and
    BRC do). False keeps the critic on the rewards alone (the actor still pays alpha * log
    pi), so the value support and the reward normaliser see only the task's returns."""
    sac_target_entropy_per_dim: float = 0.5
    """SAC: the temperature's entropy target is -sac_target_entropy_per_dim * |A| (BRC: 0.5;
    SAC and Brax SAC: 1.0, a more deterministic policy). Must exceed -log 2: a tanh-squashed
    action's entropy stays below |A| log 2, so a target at or above that is unreachable."""
    sac_alpha_min: float = 0.0
    """SAC: floor of the temperature alpha (0: none). The temperature step is projected onto
    alpha >= sac_alpha_min, so the entropy bonus cannot vanish while the policy's entropy
    sits above target."""
    actor_type: Literal["mlp", "bronet"] = "mlp"
    """Actor network: plain MLP (FastTD3) or BroNet (BRC)."""
    actor_hidden: tuple[int, ...] = (512, 256, 128)
    """MLP actor hidden sizes."""
    actor_width: int = 256
    """BroNet actor width."""
    actor_depth: int = 1
    """BroNet actor residual blocks."""
    actor_lr: float = 3e-4
    """AdamW learning rate of the actor."""
    actor_weight_decay: float = 0.1
    """AdamW weight decay of the actor."""
    max_grad_norm: float = 0.0
    """Clip gradients to this global norm (0 disables)."""

    # --- derived -------------------------------------------------------------------------
    @property
    def env_names(self) -> tuple[str, ...]:
        return tuple(name.strip() for name in self.env.split(",") if name.strip())

    @property
    def conditioning(self) -> str:
        """The task conditioning in effect ('auto' resolved)."""
        if self.task_conditioning == "auto":
            return "embedding" if len(self.env_names) > 1 else "none"
        return self.task_conditioning

    @property
    def env_steps_per_chunk(self) -> int:
        return self.iterations_per_chunk * self.num_envs

    @property
    def seed_list(self) -> tuple[int, ...]:
        """The seeds this run trains: --seeds, else (--seed,)."""
        return self.seeds or (self.seed,)

    @property
    def multi_seed(self) -> bool:
        """Whether the train state has a leading seed axis (--seeds given)."""
        return bool(self.seeds)

    def changed_fields(self, other: AgentConfig) -> list[str]:
        """Names of the fields whose values differ between `self` and `other`."""
        return [
            f.name
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        ]


@dataclass(frozen=True)
class RunConfig:
    """This run of the agent: how long, where its files go, how often it evaluates, logs and
    saves, and on how many devices. A resumed run may change any of these."""

    # --- run -----------------------------------------------------------------------------
    run_dir: str | None = None
    """Where config.json, metrics.jsonl and TensorBoard files go (default runs/<env>-<time>)."""
    total_env_steps: int = 20_000_000
    """Stop after this many environment steps (summed over all envs)."""
    stop_at_return: float | None = None
    """Stop at the end of the first evaluation at which every seed's eval return reached this
    (saving there); None: train on. A run that stopped there is resumed past it with a larger
    value or --stop-at-return None."""
    max_wall_s: float = 0.0
    """Stop at the end of the first chunk whose wall-clock time since the start (compile
    included) reaches this many seconds, evaluating and saving there (0: no limit).
    --resume continues the run (with a larger value, or 0)."""
    num_devices: int = 0
    """Devices to split the envs, replay buffer and batch over (data parallel; parameters are
    replicated): 0 = every device JAX sees, across all hosts under jax.distributed.
    --num-envs, --batch-size and --num-eval-envs are global and must divide by it."""
    cpu_devices: int = 1
    """On a machine without an accelerator, present the CPU to JAX as this many devices, so
    that --num-devices 0 runs data parallel over the cores (0: one per usable core; 1: one
    device, which uses about one core). Only takes effect before JAX starts (the CLI and the
    benchmarks see to that); the numbers drawn are the same, only the speed changes."""

    # --- evaluation ----------------------------------------------------------------------
    num_eval_envs: int = 16
    """Evaluation environments; each runs one deterministic episode per evaluation."""
    eval_every_env_steps: int = 1_000_000
    """Evaluate after the first chunk that crosses each multiple of this (and at the end)."""

    # --- logging -------------------------------------------------------------------------
    wandb: bool = False
    """Also log to Weights & Biases (metrics.jsonl and TensorBoard are always written; the
    keys are the same in all three). Needs the wandb package (the 'wandb' extra)."""
    wandb_project: str = "fastbrc"
    """W&B project."""
    wandb_entity: str | None = None
    """W&B entity (team or user; default: your default entity)."""
    wandb_mode: Literal["online", "offline"] = "online"
    """'offline' writes the W&B run under <run_dir>/wandb without network (`wandb sync`
    uploads it later)."""
    video_every: int = 0
    """After every this many evaluations, write a clip of the deterministic policy (at most
    250 agent steps; one per task) to <run_dir>/videos/<env steps>.mp4 (0: never). It saves
    a checkpoint there and renders from it (headless OpenGL: EGL or OSMesa)."""

    # --- checkpoints ---------------------------------------------------------------------
    checkpoint_every: int = 2_000_000
    """Save a checkpoint after the first chunk that crosses each multiple of this many env
    steps, and at the end (or on SIGINT/SIGTERM)."""
    keep_checkpoints: int = 2
    """Keep the newest this many checkpoints (2 or more leaves a fallback if one is damaged)."""
    save_buffer: bool = True
    """Save the replay buffer in checkpoints (exact resume). Without it a resumed run refills
    the buffer for the warm-up before it learns again."""


# Fields a resumed run may change (the run part); every other field must match the
# checkpoint's config.
RESUMABLE_FIELDS = frozenset(f.name for f in dataclasses.fields(RunConfig))

# Fields whose default changed after they were added: the value a config.json (or a
# checkpoint's config) that lacks the field was written with. A field added later still takes
# its current default when absent (see `checkpoint.incompatibility`); these take this value.
WRITTEN_BEFORE_DEFAULT_CHANGED: dict[str, Any] = {"bronet_init": "default"}


@dataclass(frozen=True)
class Config(RunConfig, AgentConfig):
    """Everything the trainer is told, flat: the fields of `AgentConfig` then those of
    `RunConfig`, as the command line (``--batch-size``) and config.json spell them.
    `agent` and `run` are the two parts."""

    @property
    def agent(self) -> AgentConfig:
        return AgentConfig(
            **{f.name: getattr(self, f.name) for f in dataclasses.fields(AgentConfig)}
        )

    @property
    def run(self) -> RunConfig:
        return RunConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(RunConfig)})

    def member(self, seed: int) -> Config:
        """The single-seed config of `seed`, one member of a --seeds run (what its readers
        build their networks and envs from)."""
        if seed not in self.seed_list:
            raise ConfigError(
                f"this run has no seed {seed} (seeds: {', '.join(map(str, self.seed_list))})"
            )
        return dataclasses.replace(self, seed=seed, seeds=())

    @property
    def num_chunks(self) -> int:
        return -(-self.total_env_steps // self.env_steps_per_chunk)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Config:
        raw = json.loads(text)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - names)
        if unknown:
            raise ConfigError(f"config.json has unknown fields: {', '.join(unknown)}")
        for name in ("actor_hidden", "envs_per_task", "seeds"):
            if raw.get(name) is not None:
                raw[name] = tuple(raw[name])
        for name, value in WRITTEN_BEFORE_DEFAULT_CHANGED.items():
            raw.setdefault(name, value)
        return validate(cls(**raw))


def validate(config: Config) -> Config:
    """Raise ConfigError (one line) for anything the trainer cannot run; return config."""
    c = config

    def need(ok: bool, message: str) -> None:
        if not ok:
            raise ConfigError(message)

    need(len(c.env_names) >= 1, "--env names no environment")
    positive = (
        "total_env_steps num_envs num_eval_envs replay_capacity_per_env n_step batch_size "
        "updates_per_iteration policy_frequency iterations_per_chunk eval_every_env_steps "
        "checkpoint_every keep_checkpoints "
        "critic_width critic_depth num_critics num_atoms actor_width"
    ).split()
    for name in positive:
        need(
            getattr(c, name) > 0, f"--{name.replace('_', '-')} must be > 0, got {getattr(c, name)}"
        )
    need(c.num_devices >= 0, "--num-devices must be >= 0 (0: all devices)")
    need(c.cpu_devices >= 0, "--cpu-devices must be >= 0 (0: one per usable core)")
    need(c.max_wall_s >= 0, "--max-wall-s must be >= 0 (0: no limit)")
    need(c.video_every >= 0, "--video-every must be >= 0 (0: never)")
    need(c.learning_starts_iterations >= 0, "--learning-starts-iterations must be >= 0")
    need(c.actor_depth >= 0, "--actor-depth must be >= 0")
    need(
        c.batch_size % c.num_envs == 0,
        f"--batch-size {c.batch_size} is not divisible by --num-envs {c.num_envs} "
        f"(the batch is split evenly across envs)",
    )
    if c.envs_per_task is None:
        need(
            c.num_envs % len(c.env_names) == 0,
            f"--num-envs {c.num_envs} does not split evenly over {len(c.env_names)} tasks "
            "(or give --envs-per-task)",
        )
    else:
        need(
            len(c.envs_per_task) == len(c.env_names),
            f"--envs-per-task has {len(c.envs_per_task)} entries for {len(c.env_names)} tasks",
        )
        need(all(n > 0 for n in c.envs_per_task), "--envs-per-task entries must be > 0")
        need(
            sum(c.envs_per_task) == c.num_envs,
            f"--envs-per-task sums to {sum(c.envs_per_task)}, not --num-envs {c.num_envs}",
        )
    need(c.task_embedding_dim > 0, "--task-embedding-dim must be > 0")
    need(
        c.num_eval_envs % len(c.env_names) == 0,
        f"--num-eval-envs {c.num_eval_envs} does not split evenly over {len(c.env_names)} tasks",
    )
    need(
        c.replay_capacity_per_env >= c.n_step,
        f"--replay-capacity-per-env {c.replay_capacity_per_env} is smaller than "
        f"--n-step {c.n_step}",
    )
    need(0.0 < c.gamma <= 1.0, f"--gamma must be in (0, 1], got {c.gamma}")
    need(0.0 < c.tau <= 1.0, f"--tau must be in (0, 1], got {c.tau}")
    need(c.v_min < c.v_max, f"--v-min {c.v_min} must be below --v-max {c.v_max}")
    need(c.num_atoms >= 2, "--num-atoms must be >= 2")
    need(0.0 <= c.std_min <= c.std_max, "need 0 <= --std-min <= --std-max")
    need(c.target_noise >= 0 and c.target_noise_clip >= 0, "target noise and clip must be >= 0")
    need(c.critic_lr > 0 and c.actor_lr > 0, "learning rates must be > 0")
    need(c.hl_gauss_sigma > 0, "--hl-gauss-sigma must be > 0")
    need(c.reward_norm_target > 0, "--reward-norm-target must be > 0")
    need(c.max_grad_norm >= 0, "--max-grad-norm must be >= 0 (0 disables)")
    need(c.sac_alpha_min >= 0, f"--sac-alpha-min must be >= 0 (0: no floor), got {c.sac_alpha_min}")
    # A tanh-squashed action's entropy is at most log 2 per dim (uniform on [-1, 1]); a target
    # above that is out of reach and the temperature would grow without bound.
    need(
        c.sac_target_entropy_per_dim > -math.log(2.0),
        "--sac-target-entropy-per-dim must be > -log 2 = -0.693 (a tanh policy's entropy per "
        f"action dim stays below log 2), got {c.sac_target_entropy_per_dim}",
    )
    need(all(h > 0 for h in c.actor_hidden), "--actor-hidden sizes must be > 0")
    repeated = sorted({s for s in c.seeds if c.seeds.count(s) > 1})
    need(not repeated, f"--seeds repeats seed {', '.join(map(str, repeated))}")
    if c.episode_length is not None:
        need(c.episode_length > 0, "--episode-length must be > 0")
    if c.train_episode_length is not None:
        need(c.train_episode_length > 0, "--train-episode-length must be > 0")
    if c.action_repeat is not None:
        need(c.action_repeat > 0, "--action-repeat must be > 0")
    return c


def check_divisible(config: Config, task_env_counts: tuple[int, ...], num_devices: int) -> None:
    """One-line ConfigError unless every per-env quantity splits evenly over the devices.

    `--num-envs` and `--batch-size` are global (summed over devices): each device steps
    num_envs / D envs and draws batch_size / D samples from them.
    """
    if num_devices == 1:
        return
    d = num_devices
    hint = f"each of the {d} devices gets an equal share; use a multiple of {d}"
    if config.num_envs % d:
        raise ConfigError(
            f"--num-envs {config.num_envs} does not divide across {d} devices ({hint})"
        )
    if config.batch_size % d:
        raise ConfigError(
            f"--batch-size {config.batch_size} does not divide across {d} devices ({hint})"
        )
    if len(task_env_counts) > 1:
        uneven = [n for n in task_env_counts if n % d]
        if uneven:
            counts = ",".join(map(str, task_env_counts))
            raise ConfigError(
                f"the envs per task ({counts}) do not all divide across {d} devices "
                f"({hint}; set --envs-per-task)"
            )
    if config.num_eval_envs % d:
        raise ConfigError(
            f"--num-eval-envs {config.num_eval_envs} does not divide across {d} devices ({hint})"
        )
