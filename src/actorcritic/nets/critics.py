"""Networks: MLPs with orthogonal initialisation, stacked MLPs, policy distributions, the PPO actor-critic.

Speed on small networks is a matter of how many tensor operations run, not how many FLOPs:

* `StackedMLP` holds M independent MLPs of the same shape (separate parameters, nothing shared) and runs
  them in one batched matrix product per layer. PPO's policy and value networks are its two members;
  TD3's and SAC's twin critics will be another.
* Acting, one environment step at a time, uses an inference-only NumPy copy of the weights
  (`acting_copy()`), rebuilt after every update: a NumPy forward pass of a 64-unit MLP costs a few
  microseconds, a torch one several times more in per-operation overhead. The random numbers for sampling
  still come from the agent's torch generator, drawn for a whole rollout at once.
* Log-probabilities and entropies are a few tensor operations instead of `torch.distributions` objects."""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from actorcritic.core.losses import critic_loss
from actorcritic.core.optim import FlatParameters, gradient_step, polyak_update
from actorcritic.nets.mlp import StackedMLP

# ---------------------------------------------------------------- off-policy critics and actors (lecture section 7)


class Critics:
    """An ensemble of M Q-functions Q_m(s, a), their target copies Q̄_m and their optimiser (lecture section 7).

    The members are one `StackedMLP` (ReLU, `nn.Linear` initialisation as in Fujimoto et al.'s code), so
    all M run in one batched matrix product per layer. DDPG uses M = 1, TD3 and SAC M = 2 (clipped double
    Q); an ensemble method such as REDQ is M = 10 with a subset's minimum in its target."""

    def __init__(
        self,
        members: int,
        obs_dim: int,
        action_dim: int,
        hidden_sizes: tuple[int, ...],
        learning_rate: float,
        device: torch.device | str = "cpu",
    ):
        self.online = StackedMLP(members, obs_dim + action_dim, hidden_sizes, 1, activation=nn.ReLU).to(device)
        self.target = copy.deepcopy(self.online)  # copied before the flat buffers make its parameters views
        self.flat, self.target_flat = FlatParameters(self.online), FlatParameters(self.target)
        self.optimizer = torch.optim.Adam([self.flat.parameter], lr=learning_rate, fused=True)

    @property
    def members(self) -> int:
        return self.online.members

    def q(self, obs: Tensor, actions: Tensor, detach_weights: bool = False) -> Tensor:
        """Q_m(s, a) of every member: obs [B, obs_dim], actions [B, A] -> [M, B]. With `detach_weights`
        gradients reach the actions only (the actor's loss, Eq. 39)."""
        return self.online(torch.cat([obs, actions], 1), detach_weights=detach_weights).squeeze(-1)

    def q_member(self, obs: Tensor, actions: Tensor, index: int, detach_weights: bool = False) -> Tensor:
        """Q_index(s, a) alone: [B]."""
        return self.online.member(torch.cat([obs, actions], 1), index, detach_weights=detach_weights).squeeze(-1)

    @torch.no_grad()
    def target_q(self, obs: Tensor, actions: Tensor) -> Tensor:
        """Q̄_m(s, a) of every target member: [M, B]."""
        return self.target(torch.cat([obs, actions], 1)).squeeze(-1)

    def fit(self, obs: Tensor, actions: Tensor, targets: Tensor) -> dict[str, Tensor]:
        """One Adam step of every member towards the same Bellman targets y [B] (Eq. 40); the diagnostics."""
        loss, info = critic_loss(self.q(obs, actions), targets)
        gradient_step(loss, self.optimizer, self.flat)
        return {**info, "critic_loss": loss.detach()}

    def soft_update(self, tau: float) -> None:
        """φ̄ <- τ φ + (1 - τ) φ̄ for every member."""
        polyak_update(self.target_flat, self.flat, tau)
