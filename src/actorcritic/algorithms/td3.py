"""TD3 (Fujimoto et al. 2018) and DDPG (Lillicrap et al. 2016) as one algorithm (lecture section 7.3).

TD3 is DDPG plus three changes, each a config switch here:

* `clipped_double_q`: two critics; the target takes min(Q1', Q2'); the actor maximises Q1.
* `target_policy_smoothing`: clipped Gaussian noise on the target action.
* `policy_delay`: the actor and the targets are updated every d critic updates.

With all three off this file *is* DDPG, the lecture's Listing 1; `DDPG` below only changes the defaults.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import gymnasium as gym
import torch

from actorcritic.algorithms.common import apply_preset
from actorcritic.algorithms.offpolicy import OffPolicyAgent, OffPolicyConfig, critic_step
from actorcritic.buffers import Transitions
from actorcritic.config import check_positive_int, check_range
from actorcritic.losses import bellman_target, deterministic_policy_gradient_loss
from actorcritic.networks import DeterministicActor, StackedMLP
from actorcritic.optim import FlatParameters


@dataclass(frozen=True)
class TD3Config(OffPolicyConfig):
    """TD3: the paper's defaults (256-256 MLPs, Adam 3e-4, τ = 0.005, batch 256, 25k warm-up steps)."""

    exploration_noise: float = 0.1
    """Std of the Gaussian exploration noise, as a fraction of the action range's half-width."""
    clipped_double_q: bool = True
    """Two critics; the Bellman target uses min(Q1', Q2') (the first of TD3's three changes)."""
    target_policy_smoothing: bool = True
    """Add clipped Gaussian noise to the target action (the second change)."""
    policy_noise: float = 0.2
    """Std of the target-smoothing noise, as a fraction of the action half-width."""
    noise_clip: float = 0.5
    """The target-smoothing noise is clipped to ±noise_clip (fraction of the action half-width)."""
    policy_delay: int = 2
    """Update the actor and the target networks every this many critic updates (the third change)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("exploration_noise", self.exploration_noise, 0)
        check_range("policy_noise", self.policy_noise, 0)
        check_range("noise_clip", self.noise_clip, 0)
        check_positive_int("policy_delay", self.policy_delay)

    @classmethod
    def for_env(cls, env: str, **overrides) -> "TD3Config":
        """The defaults, then the preset for `env` if there is one, then `overrides`."""
        return apply_preset(cls, PRESETS, env, overrides)


@dataclass(frozen=True)
class DDPGConfig(TD3Config):
    """DDPG: TD3's config with its three changes switched off (the lecture's Listing 1)."""

    clipped_double_q: bool = False
    """Two critics and min(Q1', Q2') in the target (off: DDPG has one critic)."""
    target_policy_smoothing: bool = False
    """Clipped Gaussian noise on the target action (off in DDPG)."""
    policy_delay: int = 1
    """Actor and target updates every this many critic updates (1 in DDPG)."""

    @classmethod
    def for_env(cls, env: str, **overrides) -> "DDPGConfig":
        return apply_preset(cls, PRESETS, env, overrides)


PRESETS: dict[str, dict] = {
    # Pendulum needs far fewer warm-up steps than MuJoCo's 25k; 1e-3 learns it within 20k steps.
    "Pendulum-v1": dict(total_steps=20_000, learning_starts=1_000, learning_rate=1e-3),
}


class TD3Learner:
    """Networks, exploration and one gradient update of TD3 / DDPG."""

    metric_names = ("critic_loss", "actor_loss", "q_mean", "target_q_mean")

    def __init__(self, config: TD3Config, obs_dim: int, action_space: gym.spaces.Box, device: torch.device):
        self.config = config
        action_dim = action_space.shape[0]
        self.actor = DeterministicActor(obs_dim, action_dim, config.hidden_sizes, action_space.low, action_space.high).to(device)
        critics = 2 if config.clipped_double_q else 1
        self.critic = StackedMLP(critics, obs_dim + action_dim, config.hidden_sizes, 1, activation=torch.nn.ReLU).to(device)
        self.actor_target = copy.deepcopy(self.actor)
        self.critic_target = copy.deepcopy(self.critic)
        self.actor_flat, self.critic_flat = FlatParameters(self.actor), FlatParameters(self.critic)
        self.actor_target_flat, self.critic_target_flat = FlatParameters(self.actor_target), FlatParameters(self.critic_target)
        self.actor_optimizer = torch.optim.Adam([self.actor_flat.parameter], lr=config.learning_rate, fused=True)
        self.critic_optimizer = torch.optim.Adam([self.critic_flat.parameter], lr=config.learning_rate, fused=True)
        self.low = torch.as_tensor(action_space.low, dtype=torch.float32, device=device)
        self.high = torch.as_tensor(action_space.high, dtype=torch.float32, device=device)
        self.half_width = (self.high - self.low) / 2

    def explore(self, obs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """μ(s) + N(0, (σ·half-width)²), clipped to the action box."""
        actions = self.actor(obs)
        noise = torch.randn(actions.shape, generator=generator).to(actions.device) * (self.config.exploration_noise * self.half_width)
        return torch.clamp(actions + noise, self.low, self.high)

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(obs)

    def update(self, batch: Transitions, update_index: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        cfg = self.config
        with torch.no_grad():
            next_actions = self.actor_target(batch.next_observations)
            if cfg.target_policy_smoothing:
                noise = torch.randn(next_actions.shape, generator=generator).to(next_actions.device) * (cfg.policy_noise * self.half_width)
                limit = cfg.noise_clip * self.half_width
                next_actions = torch.clamp(next_actions + torch.clamp(noise, -limit, limit), self.low, self.high)
            next_q = self.critic_target(torch.cat([batch.next_observations, next_actions], 1)).squeeze(-1)  # [M, B]
            next_q = next_q.min(0).values if cfg.clipped_double_q else next_q[0]
            targets = bellman_target(batch.rewards, batch.terminated, next_q, cfg.gamma)
        info = critic_step(self.critic, self.critic_flat, self.critic_optimizer, batch, targets)
        if update_index % cfg.policy_delay == 0:
            # the actor climbs Q1 through the action only: the critic's weights are held fixed (Eq. 39)
            q_actor = self.critic.member(torch.cat([batch.observations, self.actor(batch.observations)], 1), 0, detach_weights=True)
            actor_loss, _ = deterministic_policy_gradient_loss(q_actor.squeeze(-1))
            self.actor_flat.zero_grad()
            actor_loss.backward()
            self.actor_optimizer.step()
            info["actor_loss"] = actor_loss.detach()
            with torch.no_grad():  # φ̄ <- τ φ + (1 - τ) φ̄, one lerp over each flat buffer
                self.critic_target_flat.parameter.lerp_(self.critic_flat.parameter, cfg.tau)
                self.actor_target_flat.parameter.lerp_(self.actor_flat.parameter, cfg.tau)
        return info

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"actor": self.actor, "critic": self.critic, "actor_target": self.actor_target, "critic_target": self.critic_target}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"actor_optimizer": self.actor_optimizer, "critic_optimizer": self.critic_optimizer}


class TD3(OffPolicyAgent):
    """Twin delayed DDPG."""

    algo = "td3"
    config_class = TD3Config
    learner_class = TD3Learner


class DDPG(OffPolicyAgent):
    """Deep deterministic policy gradient: the TD3 learner with TD3's three changes off."""

    algo = "ddpg"
    config_class = DDPGConfig
    learner_class = TD3Learner
