"""TD3 (Fujimoto et al. 2018) and DDPG (Lillicrap et al. 2016) as one algorithm (lecture section 7.3).

TD3 is DDPG plus three changes, each a config switch here:

* `clipped_double_q`: two critics; the target takes min(Q1', Q2'); the actor maximises Q1.
* `target_policy_smoothing`: clipped Gaussian noise on the target action.
* `policy_delay`: the actor and the targets are updated every d critic updates.

With all three off this file *is* DDPG, the lecture's Listing 1; `DDPG` below only changes the defaults.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from actorcritic.algorithms.buffers import Transitions
from actorcritic.algorithms.offpolicy import (
    OffPolicyAgent,
    OffPolicyConfig,
    critic_optimizer,
    fit_critics,
    move_targets,
)
from actorcritic.config import check_positive_int, check_range
from actorcritic.core.losses import bellman_target, deterministic_policy_gradient_loss
from actorcritic.core.optim import FlatParameters, gradient_step, polyak_update
from actorcritic.nets.actors import DeterministicActor
from actorcritic.nets.critics import Critics
from actorcritic.nets.mlp import ACTIVATIONS


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


@dataclass(frozen=True)
class DDPGConfig(TD3Config):
    """DDPG: TD3's config with its three changes switched off (the lecture's Listing 1)."""

    clipped_double_q: bool = False
    """Two critics and min(Q1', Q2') in the target (off: DDPG has one critic)."""
    target_policy_smoothing: bool = False
    """Clipped Gaussian noise on the target action (off in DDPG)."""
    policy_delay: int = 1
    """Actor and target updates every this many critic updates (1 in DDPG)."""


class TD3Learner:
    """Networks, exploration and one gradient update of TD3 / DDPG."""

    metric_names = ("critic_loss", "actor_loss", "q_mean", "target_q_mean")

    def __init__(
        self, config: TD3Config, observation_space: gym.spaces.Box, action_space: gym.spaces.Box, device: torch.device
    ):
        obs_dim = int(np.prod(observation_space.shape))
        self.config = config
        action_dim = action_space.shape[0]
        activation = ACTIVATIONS[config.activation]
        self.actor = DeterministicActor(
            obs_dim,
            action_dim,
            config.actor_widths,
            action_space.low,
            action_space.high,
            activation=activation,
            layer_norm=config.layer_norm,
        ).to(device)
        self.critics = Critics(
            2 if config.clipped_double_q else 1,
            obs_dim,
            action_dim,
            config.critic_widths,
            device,
            layer_norm=config.layer_norm,
            activation=activation,
        )
        self.critic_optimizer = critic_optimizer(self.critics, config.learning_rate)
        self.actor_target = copy.deepcopy(self.actor)
        self.actor_flat, self.actor_target_flat = FlatParameters(self.actor), FlatParameters(self.actor_target)
        self.actor_optimizer = torch.optim.Adam([self.actor_flat.parameter], lr=config.learning_rate, fused=True)
        self.low = torch.as_tensor(action_space.low, dtype=torch.float32, device=device)
        self.high = torch.as_tensor(action_space.high, dtype=torch.float32, device=device)
        self.half_width = (self.high - self.low) / 2

    def explore(self, obs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """μ(s) + N(0, (σ·half-width)²), clipped to the action box."""
        actions = self.actor(obs)
        noise = torch.randn(actions.shape, generator=generator).to(actions.device) * (
            self.config.exploration_noise * self.half_width
        )
        return torch.clamp(actions + noise, self.low, self.high)

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(obs)

    def policy(self) -> torch.nn.Module:
        return self.actor

    def update(self, batch: Transitions, update_index: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        cfg = self.config
        with torch.no_grad():
            next_actions = self.actor_target(batch.next_observations)
            if cfg.target_policy_smoothing:
                noise = torch.randn(next_actions.shape, generator=generator).to(next_actions.device) * (
                    cfg.policy_noise * self.half_width
                )
                limit = cfg.noise_clip * self.half_width
                next_actions = torch.clamp(next_actions + torch.clamp(noise, -limit, limit), self.low, self.high)
            next_q = self.critics.target_q(batch.next_observations, next_actions)  # [M, B]
            next_q = next_q.min(0).values if cfg.clipped_double_q else next_q[0]
            targets = bellman_target(batch.rewards, batch.terminated, next_q, cfg.gamma)  # Eq. 40
        info = fit_critics(self.critics, self.critic_optimizer, batch, targets)
        if update_index % cfg.policy_delay == 0:
            # the actor climbs Q1 through the action only: the critic's weights are held fixed (Eq. 39)
            q_actor = self.critics.q_member(batch.observations, self.actor(batch.observations), 0, detach_weights=True)
            actor_loss, _ = deterministic_policy_gradient_loss(q_actor)
            gradient_step(actor_loss, self.actor_optimizer, self.actor_flat)
            info["actor_loss"] = actor_loss.detach()
            move_targets(self.critics, cfg.tau)
            polyak_update(self.actor_target_flat, self.actor_flat, cfg.tau)
        return info

    def modules(self) -> dict[str, torch.nn.Module]:
        return {
            "actor": self.actor,
            "critic": self.critics.online,
            "actor_target": self.actor_target,
            "critic_target": self.critics.target,
        }

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
