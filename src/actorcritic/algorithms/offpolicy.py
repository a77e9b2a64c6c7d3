"""The off-policy engine of the Q-learning family (lecture section 7): DDPG, TD3 and SAC differ only in
their `learner` (networks, exploration, one gradient update); everything else is here, once.

    for each environment step:
        a = random action while global_step < learning_starts, else learner.explore(s)
        store (s, a, r, s', terminated, truncated) in the replay buffer
        updates_per_step times: learner.update(uniform batch from the buffer)

Metrics are accumulated as tensors and written as one metrics.csv row every `log_every` environment steps
(means over the updates of that window), so no update waits on a `.item()`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
import torch

from actorcritic.algorithms.common import (
    EMPTY_METRIC,
    LearningRun,
    agent_state,
    build_quietly,
    check_device,
    reading_tensors,
    rebuild_agent,
    resolve_device,
)
from actorcritic.buffers import ReplayBuffer, Transitions
from actorcritic.checkpoint import load_module_tensors, load_optimizer_state, module_tensors, optimizer_state, save_checkpoint
from actorcritic.config import check_positive_int, check_range
from actorcritic.envs import EpisodeStatistics, evaluate_policy, final_observations, make_vector_env
from actorcritic.errors import ActorCriticError
from actorcritic.losses import critic_loss
from actorcritic.optim import FlatParameters


@dataclass(frozen=True)
class OffPolicyConfig:
    """Fields shared by DDPG, TD3 and SAC. Defaults follow Fujimoto et al. (2018) on MuJoCo."""

    env: str = "HalfCheetah-v5"
    """Gymnasium environment id (continuous actions)."""
    seed: int = 0
    """Seed of the network initialisation, the exploration, the batch sampling and the environments."""
    total_steps: int = 1_000_000
    """Environment steps to train for."""
    learning_starts: int = 25_000
    """Steps of uniformly random actions that fill the buffer before the first update."""
    batch_size: int = 256
    """Transitions per gradient update."""
    buffer_size: int = 1_000_000
    """Replay buffer capacity (oldest transitions are overwritten)."""
    updates_per_step: int = 1
    """Gradient updates per environment step once learning has started."""
    learning_rate: float = 3e-4
    """Adam step size of the actor and the critics."""
    gamma: float = 0.99
    """Discount factor γ."""
    tau: float = 0.005
    """Soft target update: φ̄ <- τ φ + (1 - τ) φ̄."""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """Hidden layer widths of the actor and of each critic (ReLU)."""
    eval_episodes: int = 10
    """Episodes of the deterministic policy per evaluation."""
    eval_every: int = 0
    """Evaluate every this many environment steps (column eval_return_mean; 0: only at the end)."""
    log_every: int = 1000
    """Environment steps per metrics.csv row."""
    checkpoint_every: int = 50_000
    """Save a checkpoint every this many environment steps (0: only at the end)."""
    save_replay_buffer: bool = True
    """Include the replay buffer in checkpoints, so that a resumed run continues with the same data."""
    device: str = "cpu"
    """Torch device: cpu or cuda / cuda:N."""
    num_threads: int = 2
    """Torch intra-op threads (256-unit layers on a batch of 256 gain from a second core)."""

    def __post_init__(self) -> None:
        for name in ("total_steps", "batch_size", "buffer_size", "updates_per_step", "eval_episodes", "log_every", "num_threads"):
            check_positive_int(name, getattr(self, name))
        for name in ("learning_starts", "eval_every", "checkpoint_every"):
            check_range(name, getattr(self, name), 0)
        check_range("learning_rate", self.learning_rate, 0, math.inf, low_inclusive=False)
        check_range("gamma", self.gamma, 0, 1)
        check_range("tau", self.tau, 0, 1, low_inclusive=False)
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise ActorCriticError(f"--hidden-sizes {list(self.hidden_sizes)} is invalid: give one or more positive layer widths")
        check_device(self.device)


def critic_step(critic, flat: FlatParameters, optimizer: torch.optim.Optimizer, batch: Transitions, targets: torch.Tensor) -> dict[str, torch.Tensor]:
    """One Adam step of every critic of a stack towards the same Bellman targets (Eq. 40); the diagnostics."""
    q_values = critic(torch.cat([batch.observations, batch.actions], 1)).squeeze(-1)
    loss, info = critic_loss(q_values, targets)
    flat.zero_grad()
    loss.backward()
    optimizer.step()
    return {**info, "critic_loss": loss.detach()}


class Learner(Protocol):
    """What an off-policy algorithm supplies to the engine."""

    def explore(self, obs: torch.Tensor, generator: torch.Generator) -> torch.Tensor: ...
    def act(self, obs: torch.Tensor) -> torch.Tensor: ...
    def update(self, batch: Transitions, update_index: int, generator: torch.Generator) -> dict[str, torch.Tensor]: ...
    def modules(self) -> dict[str, torch.nn.Module]: ...
    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...


class OffPolicyAgent:
    """The engine. Subclasses name the algorithm: `algo`, `config_class`, `learner_class` (nothing else)."""

    algo: str
    config_class: type
    learner_class: type

    def __init__(self, config: OffPolicyConfig):
        self.config = config
        self.device = resolve_device(config.device)
        torch.set_num_threads(config.num_threads)
        self.envs = make_vector_env(config.env, 1, config.seed)
        self.observation_space = self.envs.single_observation_space
        self.action_space = self.envs.single_action_space
        if not isinstance(self.action_space, gym.spaces.Box):
            raise ActorCriticError(
                f"{self.algo} needs a continuous (Box) action space, but {config.env} has {self.action_space}: use ppo for discrete actions"
            )
        if not isinstance(self.observation_space, gym.spaces.Box):
            raise ActorCriticError(f"{self.algo} needs a Box observation space; {config.env} has {self.observation_space}")
        obs_dim = int(np.prod(self.observation_space.shape))
        action_dim = int(np.prod(self.action_space.shape))
        self.learner: Learner = build_quietly(lambda: self.learner_class(config, obs_dim, self.action_space, self.device), config.seed)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.buffer = ReplayBuffer(config.buffer_size, obs_dim, action_dim, self.device)
        self._low = torch.as_tensor(self.action_space.low, dtype=torch.float32)
        self._range = torch.as_tensor(self.action_space.high - self.action_space.low, dtype=torch.float32)
        self.global_step = 0
        self.updates = 0
        self._obs: np.ndarray | None = None

    # ---------------------------------------------------------------- acting

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Actions for observations ([obs_dim] or [B, obs_dim]), ready for `env.step`."""
        obs = np.asarray(obs, dtype=np.float32)
        single = obs.ndim == len(self.observation_space.shape)
        with torch.inference_mode():
            batch = torch.from_numpy(obs[None] if single else obs).to(self.device)
            actions = self.learner.act(batch) if deterministic else self.learner.explore(batch, self.generator)
        actions = actions.cpu().numpy()
        return actions[0] if single else actions

    def evaluate(self, episodes: int | None = None, seed: int | None = None) -> list[float]:
        """Returns of fresh episodes of the deterministic policy (episode i reset with seed + i)."""
        episodes = episodes or self.config.eval_episodes
        seed = self.config.seed + 10_000 if seed is None else seed
        return evaluate_policy(lambda obs: self.act(obs), self.config.env, episodes, seed)

    # ---------------------------------------------------------------- the loop

    def learn(self, total_steps: int | None = None, run: LearningRun | None = None):
        """Train until `total_steps` environment steps (default: config.total_steps); see the module docstring."""
        if total_steps is not None and total_steps != self.config.total_steps:
            self.config = replace(self.config, total_steps=total_steps)
        cfg = self.config
        if self._obs is None:
            # a resumed run restarts its episode from a reset seeded by its step count
            self._obs, _ = self.envs.reset(seed=cfg.seed + self.global_step)
        episodes = EpisodeStatistics(1)
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}
        window_start, window_step = time.perf_counter(), self.global_step
        while self.global_step < cfg.total_steps:
            obs_t = torch.from_numpy(self._obs.astype(np.float32, copy=False))
            if self.global_step < cfg.learning_starts:
                actions = self._low + self._range * torch.rand(self._range.shape, generator=self.generator)
                actions = actions.unsqueeze(0)
            else:
                with torch.inference_mode():
                    actions = self.learner.explore(obs_t.to(self.device), self.generator).cpu()
            actions = actions.numpy()
            next_obs, rewards, terminated, truncated, info = self.envs.step(actions)
            self.buffer.add(self._obs, actions, rewards, final_observations(next_obs, info), terminated, truncated)
            episodes.step(rewards, terminated | truncated)
            self._obs = next_obs
            self.global_step += 1
            if self.global_step >= cfg.learning_starts:
                for _ in range(cfg.updates_per_step):
                    self.updates += 1
                    info = self.learner.update(self.buffer.sample(cfg.batch_size, self.generator), self.updates, self.generator)
                    for name, value in info.items():
                        sums[name] = sums[name] + value if name in sums else value
                        counts[name] = counts.get(name, 0) + 1
            at_end = self.global_step >= cfg.total_steps
            if run is not None and (self.global_step % cfg.log_every == 0 or at_end):
                returns, lengths = episodes.pop()
                names = list(sums)
                means = (torch.stack([sums[n] for n in names]).cpu() / torch.tensor([counts[n] for n in names])).tolist() if names else []
                now = time.perf_counter()
                metrics = {
                    "global_step": self.global_step,
                    "updates": self.updates,
                    "episode_return_mean": float(np.mean(returns)) if returns else EMPTY_METRIC,
                    "episode_length_mean": float(np.mean(lengths)) if lengths else EMPTY_METRIC,
                    "episodes": len(returns),
                    "steps_per_second": (self.global_step - window_step) / (now - window_start),
                    **{name: EMPTY_METRIC for name in self.metric_names},
                    **dict(zip(names, means)),
                    "eval_return_mean": EMPTY_METRIC,
                }
                if cfg.eval_every and (self.global_step % cfg.eval_every == 0 or at_end):
                    metrics["eval_return_mean"] = float(np.mean(self.evaluate()))
                sums, counts = {}, {}
                run.logger.log(metrics)
                window_start, window_step = time.perf_counter(), self.global_step
            if run is not None and cfg.checkpoint_every and self.global_step % cfg.checkpoint_every == 0:
                self.save(run.checkpoint_dir)
        return self

    @property
    def metric_names(self) -> tuple[str, ...]:
        return self.learner.metric_names

    # ---------------------------------------------------------------- save and load

    def save(self, directory: str | Path) -> None:
        """Write a checkpoint (safetensors + JSON, atomically); with `save_replay_buffer`, the buffer too."""
        tensors: dict[str, torch.Tensor] = {"generator": self.generator.get_state()}
        param_groups = {}
        for name, module in self.learner.modules().items():
            tensors.update(module_tensors(name, module))
        for name, optimizer in self.learner.optimizers().items():
            optimizer_tensors, param_groups[name] = optimizer_state(name, optimizer)
            tensors.update(optimizer_tensors)
        buffer_counters = None
        if self.config.save_replay_buffer:
            buffer_tensors, buffer_counters = self.buffer.state()
            tensors.update(buffer_tensors)
        save_checkpoint(Path(directory), tensors, agent_state(self, {"replay_buffer": buffer_counters}, param_groups))

    @classmethod
    def load(cls, directory: str | Path, **config_overrides: Any):
        """Rebuild an agent (and its replay buffer, if saved) from a checkpoint directory."""
        agent, tensors, state = rebuild_agent(cls, directory, config_overrides)
        with reading_tensors(directory):
            for name, module in agent.learner.modules().items():
                load_module_tensors(name, module, tensors)
            for name, optimizer in agent.learner.optimizers().items():
                load_optimizer_state(name, optimizer, tensors, state["optimizer_param_groups"][name])
            agent.generator.set_state(tensors["generator"])
            if state["counters"].get("replay_buffer") is not None:
                agent.buffer.load_state(tensors, state["counters"]["replay_buffer"])
        return agent
