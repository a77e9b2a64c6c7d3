"""The off-policy actors (lecture section 7): a deterministic actor (DDPG, TD3) and a tanh-Gaussian one (SAC),
both bounded to the action box, and the module that exports a policy's mode."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from actorcritic.core.distributions import tanh_gaussian_log_prob
from actorcritic.nets.batch_renorm import RenormSettings
from actorcritic.nets.mlp import linear_stack


class PolicyMode(nn.Module):
    """An actor's deterministic action as a module's forward (SAC's tanh of the mean, for export)."""

    def __init__(self, actor: nn.Module):
        super().__init__()
        self.actor = actor

    def forward(self, obs: Tensor) -> Tensor:
        return self.actor.mode(obs)


class BoundedActor(nn.Module):
    """An MLP whose output is squashed by tanh and mapped affinely onto the action box [low, high] (with `renorm`,
    a batch-renormalisation layer before each of its linear layers: CrossQ's actor; `activation` and `layer_norm`
    as `nets.mlp.linear_stack` has them)."""

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        hidden_sizes: tuple[int, ...],
        low: np.ndarray,
        high: np.ndarray,
        outputs_per_action: int = 1,
        renorm: RenormSettings | None = None,
        activation: type[nn.Module] = nn.ReLU,
        layer_norm: bool = False,
    ):
        super().__init__()
        width = action_dim * outputs_per_action
        self.net = nn.Sequential(*linear_stack(obs_dim, hidden_sizes, width, renorm, activation, layer_norm))
        self.register_buffer("action_scale", torch.as_tensor((high - low) / 2.0, dtype=torch.float32))
        self.register_buffer("action_bias", torch.as_tensor((high + low) / 2.0, dtype=torch.float32))

    def squash(self, u: Tensor) -> Tensor:
        return self.action_bias + self.action_scale * torch.tanh(u)


class DeterministicActor(BoundedActor):
    """μ_θ(s): the deterministic policy of DDPG and TD3, amortising argmax_a Q(s, a) (lecture Eq. 38)."""

    def forward(self, obs: Tensor) -> Tensor:
        """obs [B, obs_dim] -> actions [B, A] inside the action box."""
        return self.squash(self.net(obs))


class TanhGaussianActor(BoundedActor):
    """SAC's policy: u ~ N(μ_θ(s), σ_θ(s)²), a = tanh(u) mapped onto the action box (Haarnoja et al. 2018)."""

    log_std_bounds = (-5.0, 2.0)

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        hidden_sizes: tuple[int, ...],
        low: np.ndarray,
        high: np.ndarray,
        renorm: RenormSettings | None = None,
        activation: type[nn.Module] = nn.ReLU,
        layer_norm: bool = False,
    ):
        super().__init__(obs_dim, action_dim, hidden_sizes, low, high, 2, renorm, activation, layer_norm)

    def forward(self, obs: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Reparameterised sample: obs [B, obs_dim] -> actions [B, A], log π(a|s) [B]."""
        mean, log_std = self.net(obs).chunk(2, dim=-1)
        log_std = log_std.clamp(*self.log_std_bounds)
        noise = torch.randn(mean.shape, generator=generator).to(mean.device)
        u = mean + log_std.exp() * noise
        return self.squash(u), tanh_gaussian_log_prob(noise, log_std, u, self.action_scale)

    def mode(self, obs: Tensor) -> Tensor:
        """The deterministic action tanh(μ(s)), for evaluation."""
        return self.squash(self.net(obs).chunk(2, dim=-1)[0])
