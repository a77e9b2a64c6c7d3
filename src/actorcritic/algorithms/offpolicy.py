"""The off-policy engine of the Q-learning family (lecture section 7): DDPG, TD3 and SAC differ only in
their `learner` (networks, exploration, one gradient update); everything else is here, once.

    for each environment step:
        a = random action while global_step < learning_starts, else learner.explore(s)
        store (s, a, r, s', terminated, truncated) in the replay buffer
        updates_per_step times: learner.update(uniform batch from the buffer)

Metrics are accumulated as tensors and written as one metrics.csv row every `log_every` environment steps
(means over the updates of that window), so no update waits on a `.item()`. The loop, evaluations,
checkpoints and callbacks are `common.Agent`'s, shared with the on-policy engine.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal, Protocol

import gymnasium as gym
import numpy as np
import torch

from actorcritic.algorithms.buffers import ReplayBuffer, Transitions
from actorcritic.algorithms.engine import Agent, build_quietly
from actorcritic.algorithms.hindsight import HindsightCollector
from actorcritic.algorithms.replay import ReplayCollector
from actorcritic.config import AgentConfig, check_positive_int, check_range
from actorcritic.core.losses import critic_loss
from actorcritic.core.optim import gradient_step, polyak_update
from actorcritic.envs.make import is_image
from actorcritic.errors import ActorCriticError
from actorcritic.nets.critics import Critics


@dataclass(frozen=True)
class OffPolicyConfig(AgentConfig):
    """Fields shared by DDPG, TD3 and SAC (with `AgentConfig`'s). Defaults follow Fujimoto et al. (2018) on MuJoCo."""

    env: str = "HalfCheetah-v5"
    """Gymnasium environment id (continuous actions): registered, plugin (namespace/Name-v0) or module:EnvName-v0."""
    learning_starts: int = 25_000
    """Steps of uniformly random actions that fill the buffer before the first update."""
    batch_size: int = 256
    """Transitions per gradient update."""
    buffer_size: int = 1_000_000
    """Replay buffer capacity (oldest transitions are overwritten)."""
    updates_per_step: int = 1
    """Gradient updates per environment step once learning has started."""
    learning_rate: float | str = 3e-4
    """Adam step size of the actor and the critics."""
    tau: float = 0.005
    """Soft target update: φ̄ <- τ φ + (1 - τ) φ̄."""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """Hidden layer widths of the actor and of each critic, unless set apart."""
    activation: Literal["tanh", "relu", "elu", "gelu", "silu"] = "relu"
    """Activation of every hidden layer."""
    log_every: int = 1000
    """Environment steps per metrics.csv row."""
    checkpoint_every: int = 50_000
    """Save a checkpoint every this many environment steps (0: only at the end)."""
    save_replay_buffer: bool = True
    """Include the replay buffer in checkpoints, so that a resumed run continues with the same data."""
    num_threads: int = 2
    """Torch intra-op threads (256-unit layers on a batch of 256 gain from a second core)."""
    her_goals: int = 0
    """Hindsight experience replay (algorithms.hindsight): relabel a sampled transition of a finished episode
    with probability K / (K + 1) (K relabelled per real one, Andrychowicz et al. 2017's k); 0: off. Needs a
    goal-conditioned environment (Dict observation with achieved_goal and desired_goal, compute_reward)."""
    her_strategy: Literal["future", "final", "episode"] = "future"
    """Where a relabelled goal comes from: a later step of the same episode, its last step, or any of its steps."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("batch_size", "buffer_size", "updates_per_step", "log_every"):
            check_positive_int(name, getattr(self, name))
        check_range("learning_starts", self.learning_starts, 0)
        if self.batch_size > self.buffer_size:
            raise ActorCriticError(
                f"--batch-size {self.batch_size} is larger than --buffer-size {self.buffer_size}: lower it or enlarge "
                "the buffer"
            )
        if self.learning_starts >= self.total_steps:
            raise ActorCriticError(
                f"--learning-starts {self.learning_starts} is not below --total-steps {self.total_steps}: the agent "
                "would never "
                "train; lower --learning-starts or raise --total-steps"
            )
        check_range("tau", self.tau, 0, 1, low_inclusive=False)
        check_range("her_goals", self.her_goals, 0, 64)

    PRESETS = {
        # Pendulum needs far fewer warm-up steps than MuJoCo's 25k; 1e-3 learns it within 20k steps.
        "Pendulum-v1": dict(total_steps=20_000, learning_starts=1_000, learning_rate=1e-3),
    }


def fit_critics(
    critics: Critics,
    optimizer: torch.optim.Optimizer,
    batch: Transitions,
    targets: torch.Tensor,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """One optimiser step of every member of the ensemble towards the same Bellman targets y [B] (Eq. 40);
    the loss and its diagnostics, detached. `generator` drives the critics' dropout, where they have it."""
    q_values = critics.q(batch.observations, batch.actions, generator=generator)
    return fit_critics_to(q_values, targets, optimizer, critics)


def fit_critics_to(
    q_values: torch.Tensor, targets: torch.Tensor, optimizer: torch.optim.Optimizer, critics: Critics
) -> dict[str, torch.Tensor]:
    """`fit_critics` from the ensemble's values Q_m(s, a) [M, B] already computed (with their graph)."""
    loss, info = critic_loss(q_values, targets)
    gradient_step(loss, optimizer, critics.flat)
    return {**info, "critic_loss": loss.detach()}


def critic_optimizer(
    critics: Critics, learning_rate: float, betas: tuple[float, float] = (0.9, 0.999)
) -> torch.optim.Optimizer:
    """Adam over the whole ensemble's one flat parameter (PyTorch's default ε, as in Fujimoto et al.'s code)."""
    return torch.optim.Adam([critics.flat.parameter], lr=learning_rate, betas=betas, fused=True)


def move_targets(critics: Critics, tau: float) -> None:
    """φ̄ <- τ φ + (1 - τ) φ̄ for every member of the ensemble."""
    polyak_update(critics.target_flat, critics.flat, tau)


class Learner(Protocol):
    """What an off-policy algorithm supplies to the engine (TD3Learner and SACLearner are the examples)."""

    metric_names: tuple[str, ...]
    """Names of the metrics `update` returns, in column order (some only on some updates)."""

    def __init__(
        self,
        config: OffPolicyConfig,
        observation_space: gym.spaces.Box,
        action_space: gym.spaces.Box,
        device: torch.device,
    ) -> None:
        """Build the networks and optimisers; the engine calls this under the run's seed."""

    def explore(self, obs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Behaviour actions [B, A] for observations [B, obs_dim]."""

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        """Deterministic actions [B, A] for evaluation."""

    def policy(self) -> torch.nn.Module:
        """A module whose forward is `act` (for export)."""

    def update(self, batch: Transitions, update_index: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """One gradient update on a replay batch (update_index counts from 1); detached metrics."""

    def modules(self) -> dict[str, torch.nn.Module]:
        """Every network (online and target), by checkpoint name."""

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Every optimiser, by checkpoint name."""


class OffPolicyAgent(Agent):
    """The engine. An algorithm names itself and its parts: `algo`, `config_class`, `learner_class` and, where it
    is not `ReplayCollector`, `collector_class`."""

    learner_class: type
    collector_class: type = ReplayCollector
    action_spaces = (gym.spaces.Box,)
    action_space_description = "continuous (Box)"
    action_space_hint = ": use ppo for discrete actions"

    def __init__(self, config: OffPolicyConfig, env_fn=None):
        if config.encoder not in ("auto", "mlp", "cnn"):
            raise ActorCriticError(
                f"--encoder {getattr(config.encoder, '__name__', config.encoder)}: {self.algo}'s actor and critics "
                "read the flat observation (an encoder of your own is for ppo, a2c, reinforce, trpo and grpo); drop it"
            )
        super().__init__(config, num_envs=1, env_fn=env_fn)
        if config.encoder == "cnn" or is_image(self.observation_space):
            raise ActorCriticError(
                f"{self.algo} has no image encoder (pixel SAC/TD3 with a shared CNN is not built): "
                "use ppo for images, or --encoder mlp to flatten the pixels"
            )
        self.learner: Learner = build_quietly(
            lambda: self.learner_class(self.config.at(0.0), self.observation_space, self.action_space, self.device),
            config.seed,
        )
        self.collector = self._collector_class()(self)

    def _collector_class(self) -> type:
        """The algorithm's collector, or with --her-goals the hindsight-relabelling one (an option of every
        off-policy algorithm: it changes the replay, not the learner)."""
        return HindsightCollector if self.config.her_goals else self.collector_class

    @property
    def buffer(self) -> ReplayBuffer:
        """The replay buffer (the collector's)."""
        return self.collector.buffer

    @property
    def metric_names(self) -> tuple[str, ...]:
        return self.learner.metric_names + (("learning_rate",) if self.config.has_schedules else ())

    # ---------------------------------------------------------------- acting

    def act(self, obs: np.ndarray, deterministic: bool = True, flat: bool | None = None) -> np.ndarray:
        """Actions for observations, ready for `env.step`: the environment's own (one, or a vector environment's
        batch; a Dict of goals is flattened as training flattened it) or the policy's flat [obs_dim] / [B, obs_dim]
        (`flat` True: only these; False: only the environment's; None: the flat reading where both fit)."""
        obs, single = self.policy_observations(obs, flat)
        with torch.inference_mode():
            batch = torch.from_numpy(np.asarray(obs, dtype=np.float32)).to(self.device)
            actions = self.learner.act(batch) if deterministic else self.learner.explore(batch, self.generator)
        actions = actions.cpu().numpy()
        return actions[0] if single else actions

    def deterministic_policy(self) -> torch.nn.Module:
        """A standalone module: observations [B, obs_dim] -> the actions `act` returns (what `actorcritic
        export` writes)."""
        return copy.deepcopy(self.learner.policy()).cpu().eval()

    # ---------------------------------------------------------------- the loop

    def _advance(self) -> None:
        """One environment step of the collector, then `updates_per_step` updates on uniform batches."""
        cfg = self.config
        self.collector.collect()
        if self.global_step >= cfg.learning_starts:
            if cfg.has_schedules:
                self.window_metrics.add({"learning_rate": self._follow_schedules().learning_rate})
            for _ in range(cfg.updates_per_step):
                self.updates += 1
                batch = self.collector.sample(cfg.batch_size)
                with self._update_precision():
                    self.window_metrics.add(self.learner.update(batch, self.updates, self.generator))
            self.clock.lap("update")  # sampling the batches included

    def _log_due(self, step_before: int) -> bool:
        return self.global_step % self.config.log_every == 0

    # ---------------------------------------------------------------- save and load

    def _extra_state(self, policy_only: bool = False) -> tuple[dict[str, torch.Tensor], dict]:
        return self.collector.state(policy_only)

    def _load_extra_state(self, tensors: dict[str, torch.Tensor], counters: dict) -> None:
        self.collector.load_state(tensors, counters)
