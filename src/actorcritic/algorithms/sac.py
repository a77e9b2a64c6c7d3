"""SAC (Haarnoja et al. 2018), with automatic entropy tuning: the entropy-regularised member of the
Q-learning family (lecture section 7.4). It shares the engine and the twin critics with TD3; what differs
is a stochastic tanh-Gaussian actor, the entropy term α log π in the target and in the actor's loss, and
the temperature α fitted to a target entropy of -|A|.

The critic ensemble is a configuration: `num_critics` members, the target's minimum over all of them or over a
random subset of `target_critics` (REDQ, Chen et al. 2021), the actor on their minimum or their mean. REDQ and
DroQ are configurations of this learner, as DDPG is of TD3's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from actorcritic.algorithms.buffers import Transitions
from actorcritic.algorithms.offpolicy import (
    OffPolicyAgent,
    OffPolicyConfig,
    critic_optimizer,
    fit_critics,
    move_targets,
)
from actorcritic.config import check_positive_int, check_range
from actorcritic.core.losses import bellman_target, soft_actor_loss, temperature_loss
from actorcritic.core.optim import FlatParameters, gradient_step
from actorcritic.errors import ActorCriticError
from actorcritic.nets.actors import PolicyMode, TanhGaussianActor
from actorcritic.nets.batch_renorm import RenormSettings
from actorcritic.nets.critics import Critics
from actorcritic.nets.mlp import ACTIVATIONS


@dataclass(frozen=True)
class SACConfig(OffPolicyConfig):
    """SAC: the defaults of Haarnoja et al. (2018) and SB3 (256-256, Adam 3e-4, τ = 0.005, batch 256)."""

    initial_alpha: float = 1.0
    """Initial entropy temperature α."""
    autotune_alpha: bool = True
    """Fit α so that the policy's entropy tracks target_entropy (off: α stays at initial_alpha)."""
    target_entropy: float | None = None
    """Target entropy H̄ for the α update; None means the usual -|A| (minus the action dimension)."""
    policy_delay: int = 1
    """Update the actor (and α) every this many critic updates."""
    num_critics: int = 2
    """Q-functions in the critic ensemble (SAC's clipped double Q: 2; REDQ: 10)."""
    target_critics: int | None = None
    """Members the Bellman target takes its minimum over, drawn afresh for each update (REDQ: 2 of 10); None: all."""
    actor_q: Literal["min", "mean"] = "min"
    """How the actor's loss combines the ensemble's Q-values: their minimum (SAC) or their mean (REDQ)."""
    critic_dropout: float = 0.0
    """Dropout rate after each hidden layer of the critics, in every update's Q-values (DroQ: 0.01)."""
    critic_layer_norm: bool = False
    """Layer normalisation after each hidden layer of the critics (DroQ)."""
    adam_betas: tuple[float, float] = (0.9, 0.999)
    """Adam's β1 and β2 for the actor and the critics (CrossQ: β1 = 0.5)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("initial_alpha", self.initial_alpha, 0, low_inclusive=False)
        check_positive_int("policy_delay", self.policy_delay)
        check_range("num_critics", self.num_critics, 1, 64)
        if self.target_critics is not None:
            check_range("target_critics", self.target_critics, 1, self.num_critics)
        if self.target_entropy is not None:
            check_range("target_entropy", self.target_entropy)
        check_range("critic_dropout", self.critic_dropout, 0, 1, high_inclusive=False)
        if len(self.adam_betas) != 2:
            raise ActorCriticError(f"--adam-betas takes two numbers (β1 β2), not {len(self.adam_betas)}")
        for beta in self.adam_betas:
            check_range("adam_betas", beta, 0, 1, high_inclusive=False)


class Temperature(nn.Module):
    """log α as a parameter, so that α = exp(log α) stays positive."""

    def __init__(self, initial_alpha: float):
        super().__init__()
        self.log_alpha = nn.Parameter(torch.tensor(float(initial_alpha)).log())


def ensemble_minimum(q: torch.Tensor, subset_size: int | None, generator: torch.Generator) -> torch.Tensor:
    """min over the members of a critic ensemble, q [M, B] -> [B]; with `subset_size` K < M, over K members
    drawn uniformly without replacement (REDQ's in-target minimisation, Chen et al. 2021, Eq. 1)."""
    if subset_size is None or subset_size == q.shape[0]:
        return q.min(0).values
    members = torch.randperm(q.shape[0], generator=generator)[:subset_size].to(q.device)
    return q[members].min(0).values


class SACLearner:
    """Networks, exploration and one gradient update of SAC."""

    metric_names = ("critic_loss", "actor_loss", "q_mean", "target_q_mean", "alpha", "entropy")
    target_networks = True
    """Whether the critics have target copies (CrossQ's have none)."""

    def __init__(
        self, config: SACConfig, observation_space: gym.spaces.Box, action_space: gym.spaces.Box, device: torch.device
    ):
        obs_dim = int(np.prod(observation_space.shape))
        self.config = config
        action_dim = action_space.shape[0]
        activation = ACTIVATIONS[config.activation]
        self.actor = TanhGaussianActor(
            obs_dim,
            action_dim,
            config.actor_widths,
            action_space.low,
            action_space.high,
            self.renorm(),
            activation,
            config.layer_norm,
        ).to(device)
        self.critics = Critics(
            config.num_critics,
            obs_dim,
            action_dim,
            config.critic_widths,
            device,
            dropout=config.critic_dropout,
            layer_norm=config.critic_layer_norm or config.layer_norm,
            outputs=self.critic_outputs(),
            renorm=self.renorm(),
            targets=self.target_networks,
            activation=activation,
        )
        self.critic_optimizer = critic_optimizer(self.critics, config.learning_rate, config.adam_betas)
        self.temperature = Temperature(config.initial_alpha).to(device)
        self.target_entropy = -float(action_dim) if config.target_entropy is None else config.target_entropy
        self.actor_flat = FlatParameters(self.actor)
        self.actor_optimizer = torch.optim.Adam(
            [self.actor_flat.parameter], lr=config.learning_rate, betas=config.adam_betas, fused=True
        )
        self.alpha_optimizer = torch.optim.Adam(self.temperature.parameters(), lr=config.learning_rate)

    def explore(self, obs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.actor(obs, generator)[0]

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor.mode(obs)

    def policy(self) -> torch.nn.Module:
        return PolicyMode(self.actor)

    def update(self, batch: Transitions, update_index: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """The critics' step, every policy_delay-th update the actor's and α's, then the targets move."""
        alpha = self.temperature.log_alpha.detach().exp()
        info = self.fit_critics(batch, alpha, generator)
        if update_index % self.config.policy_delay == 0:
            info.update(self.improve_actor(batch, alpha, generator))
        if self.target_networks:
            move_targets(self.critics, self.config.tau)
        return info

    def fit_critics(self, batch: Transitions, alpha: torch.Tensor, generator: torch.Generator) -> dict:
        """One step of the critics towards y = r + γ (1 - terminated) (min Q̄(s', a') - α log π(a'|s'))."""
        cfg = self.config
        with torch.no_grad():
            next_actions, next_log_probs = self.actor(batch.next_observations, generator)
            next_q = ensemble_minimum(
                self.critics.target_q(batch.next_observations, next_actions, generator), cfg.target_critics, generator
            )
            targets = bellman_target(batch.rewards, batch.terminated, next_q - alpha * next_log_probs, cfg.gamma)
        return fit_critics(self.critics, self.critic_optimizer, batch, targets, generator)

    def improve_actor(self, batch: Transitions, alpha: torch.Tensor, generator: torch.Generator) -> dict:
        """One step of the actor on the soft objective, and (autotuned) one of α."""
        actions, log_probs = self.actor(batch.observations, generator)
        q_all = self.critics.q(batch.observations, actions, detach_weights=True, generator=generator)
        actor_loss, actor_info = soft_actor_loss(self.actor_value(q_all), log_probs, alpha)
        gradient_step(actor_loss, self.actor_optimizer, self.actor_flat)
        if self.config.autotune_alpha:
            alpha_loss, _ = temperature_loss(self.temperature.log_alpha, log_probs, self.target_entropy)
            gradient_step(alpha_loss, self.alpha_optimizer)
        return {**actor_info, "actor_loss": actor_loss.detach(), "alpha": alpha}

    def actor_value(self, q_all: torch.Tensor) -> torch.Tensor:
        """The critics' value of the actor's actions [B], from every member's [M, B]: their min or their mean."""
        return q_all.min(0).values if self.config.actor_q == "min" else q_all.mean(0)

    def critic_outputs(self) -> int:
        """Outputs of each critic: one Q-value (a distributional critic has more)."""
        return 1

    def renorm(self) -> RenormSettings | None:
        """Batch renormalisation in the actor and the critics (CrossQ's), or none."""
        return None

    def modules(self) -> dict[str, torch.nn.Module]:
        targets = {"critic_target": self.critics.target} if self.target_networks else {}
        return {"actor": self.actor, "critic": self.critics.online, **targets, "temperature": self.temperature}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {
            "actor_optimizer": self.actor_optimizer,
            "critic_optimizer": self.critic_optimizer,
            "alpha_optimizer": self.alpha_optimizer,
        }


def _default_target_entropy_as_none(state: dict) -> dict:
    """Format 1 -> 2: SAC's target entropy 0, which meant the default -|A|, became None."""
    if state["config"].get("target_entropy") == 0.0:
        state["config"] = {**state["config"], "target_entropy": None}
    return state


class SAC(OffPolicyAgent):
    """Soft actor-critic."""

    algo = "sac"
    config_class = SACConfig
    learner_class = SACLearner
    state_migrations = {1: _default_target_entropy_as_none}
