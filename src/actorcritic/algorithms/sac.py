"""SAC (Haarnoja et al. 2018), with automatic entropy tuning: the entropy-regularised member of the
Q-learning family (lecture section 7.4). It shares the engine and the twin critics with TD3; what differs
is a stochastic tanh-Gaussian actor, the entropy term α log π in the target and in the actor's loss, and
the temperature α fitted to a target entropy of -|A|."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import gymnasium as gym
import torch
from torch import nn

from actorcritic.algorithms.common import apply_preset
from actorcritic.algorithms.offpolicy import OffPolicyAgent, OffPolicyConfig, critic_step
from actorcritic.buffers import Transitions
from actorcritic.config import check_positive_int, check_range
from actorcritic.losses import bellman_target, soft_actor_loss, temperature_loss
from actorcritic.networks import StackedMLP, TanhGaussianActor
from actorcritic.optim import FlatParameters


@dataclass(frozen=True)
class SACConfig(OffPolicyConfig):
    """SAC: the defaults of Haarnoja et al. (2018) and SB3 (256-256, Adam 3e-4, τ = 0.005, batch 256)."""

    initial_alpha: float = 1.0
    """Initial entropy temperature α."""
    autotune_alpha: bool = True
    """Fit α so that the policy's entropy tracks target_entropy (off: α stays at initial_alpha)."""
    target_entropy: float = 0.0
    """Target entropy H̄ for the α update; 0 means the usual -|A| (minus the action dimension)."""
    policy_delay: int = 1
    """Update the actor (and α) every this many critic updates."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("initial_alpha", self.initial_alpha, 0, low_inclusive=False)
        check_positive_int("policy_delay", self.policy_delay)

    @classmethod
    def for_env(cls, env: str, **overrides) -> "SACConfig":
        """The defaults, then the preset for `env` if there is one, then `overrides`."""
        return apply_preset(cls, PRESETS, env, overrides)


PRESETS: dict[str, dict] = {
    "Pendulum-v1": dict(total_steps=20_000, learning_starts=1_000, learning_rate=1e-3),
}


class Temperature(nn.Module):
    """log α as a parameter, so that α = exp(log α) stays positive."""

    def __init__(self, initial_alpha: float):
        super().__init__()
        self.log_alpha = nn.Parameter(torch.tensor(float(initial_alpha)).log())


class SACLearner:
    """Networks, exploration and one gradient update of SAC."""

    metric_names = ("critic_loss", "actor_loss", "q_mean", "target_q_mean", "alpha", "entropy")

    def __init__(self, config: SACConfig, obs_dim: int, action_space: gym.spaces.Box, device: torch.device):
        self.config = config
        action_dim = action_space.shape[0]
        self.actor = TanhGaussianActor(obs_dim, action_dim, config.hidden_sizes, action_space.low, action_space.high).to(device)
        self.critic = StackedMLP(2, obs_dim + action_dim, config.hidden_sizes, 1, activation=torch.nn.ReLU).to(device)
        self.critic_target = copy.deepcopy(self.critic)
        self.temperature = Temperature(config.initial_alpha).to(device)
        self.target_entropy = config.target_entropy or -float(action_dim)
        self.actor_flat, self.critic_flat = FlatParameters(self.actor), FlatParameters(self.critic)
        self.critic_target_flat = FlatParameters(self.critic_target)
        self.actor_optimizer = torch.optim.Adam([self.actor_flat.parameter], lr=config.learning_rate, fused=True)
        self.critic_optimizer = torch.optim.Adam([self.critic_flat.parameter], lr=config.learning_rate, fused=True)
        self.alpha_optimizer = torch.optim.Adam(self.temperature.parameters(), lr=config.learning_rate)

    def explore(self, obs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.actor(obs, generator)[0]

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor.mode(obs)

    def update(self, batch: Transitions, update_index: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        cfg = self.config
        alpha = self.temperature.log_alpha.detach().exp()
        with torch.no_grad():
            next_actions, next_log_probs = self.actor(batch.next_observations, generator)
            next_q = self.critic_target(torch.cat([batch.next_observations, next_actions], 1)).squeeze(-1).min(0).values
            targets = bellman_target(batch.rewards, batch.terminated, next_q - alpha * next_log_probs, cfg.gamma)
        info = critic_step(self.critic, self.critic_flat, self.critic_optimizer, batch, targets)
        if update_index % cfg.policy_delay == 0:
            actions, log_probs = self.actor(batch.observations, generator)
            q_actor = self.critic(torch.cat([batch.observations, actions], 1), detach_weights=True).squeeze(-1).min(0).values
            actor_loss, actor_info = soft_actor_loss(q_actor, log_probs, alpha)
            self.actor_flat.zero_grad()
            actor_loss.backward()
            self.actor_optimizer.step()
            info.update(actor_info, actor_loss=actor_loss.detach(), alpha=alpha)
            if cfg.autotune_alpha:
                alpha_loss, _ = temperature_loss(self.temperature.log_alpha, log_probs, self.target_entropy)
                self.alpha_optimizer.zero_grad(set_to_none=True)
                alpha_loss.backward()
                self.alpha_optimizer.step()
        with torch.no_grad():
            self.critic_target_flat.parameter.lerp_(self.critic_flat.parameter, cfg.tau)
        return info

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"actor": self.actor, "critic": self.critic, "critic_target": self.critic_target, "temperature": self.temperature}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"actor_optimizer": self.actor_optimizer, "critic_optimizer": self.critic_optimizer, "alpha_optimizer": self.alpha_optimizer}


class SAC(OffPolicyAgent):
    """Soft actor-critic."""

    algo = "sac"
    config_class = SACConfig
    learner_class = SACLearner
