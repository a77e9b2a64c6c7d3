"""The critic ensemble of the Q-learning family (lecture section 7): M Q-functions and their target copies.

The networks only: the learners (TD3's, SAC's) fit them and move their targets (`algorithms.offpolicy`)."""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from actorcritic.core.optim import FlatParameters
from actorcritic.nets.batch_renorm import RenormSettings
from actorcritic.nets.mlp import StackedMLP


class Critics:
    """An ensemble of M Q-functions Q_m(s, a) and their target copies Q̄_m (lecture section 7).

    The members are one `StackedMLP` (ReLU, `nn.Linear` initialisation as in Fujimoto et al.'s code), so
    all M run in one batched matrix product per layer. DDPG uses M = 1, TD3 and SAC M = 2 (clipped double
    Q); an ensemble method such as REDQ is M = 10 with a subset's minimum in its target. With `outputs` Q > 1
    each member is distributional, Q quantiles of the return (TQC), and the values below gain a last axis [.., Q].
    With `renorm` the members are batch-renormalised and, with `targets=False`, have no target copies (CrossQ)."""

    def __init__(
        self,
        members: int,
        obs_dim: int,
        action_dim: int,
        hidden_sizes: tuple[int, ...],
        device: torch.device | str = "cpu",
        dropout: float = 0.0,
        layer_norm: bool = False,
        outputs: int = 1,
        renorm: RenormSettings | None = None,
        targets: bool = True,
        activation: type[nn.Module] = nn.ReLU,
    ):
        self.online = StackedMLP(
            members,
            obs_dim + action_dim,
            hidden_sizes,
            outputs,
            activation=activation,
            dropout=dropout,
            layer_norm=layer_norm,
            renorm=renorm,
        ).to(device)
        # copied before the flat buffers make its parameters views; None without target networks (CrossQ)
        self.target = copy.deepcopy(self.online) if targets else None
        # one flat buffer each: the optimiser's step and the soft target update are one operation per ensemble
        self.flat = FlatParameters(self.online)
        self.target_flat = FlatParameters(self.target) if targets else None

    @property
    def members(self) -> int:
        return self.online.members

    def q(
        self, obs: Tensor, actions: Tensor, detach_weights: bool = False, generator: torch.Generator | None = None
    ) -> Tensor:
        """Q_m(s, a) of every member: obs [B, obs_dim], actions [B, A] -> [M, B]. With `detach_weights`
        gradients reach the actions only (the actor's loss, Eq. 39); `generator` drives dropout (DroQ)."""
        return self.online(torch.cat([obs, actions], 1), detach_weights, generator).squeeze(-1)

    def q_member(self, obs: Tensor, actions: Tensor, index: int, detach_weights: bool = False) -> Tensor:
        """Q_index(s, a) alone: [B]."""
        return self.online.member(torch.cat([obs, actions], 1), index, detach_weights=detach_weights).squeeze(-1)

    @torch.no_grad()
    def target_q(self, obs: Tensor, actions: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Q̄_m(s, a) of every target member: [M, B] (`generator`: dropout, as in `q`)."""
        return self.target(torch.cat([obs, actions], 1), generator=generator).squeeze(-1)
