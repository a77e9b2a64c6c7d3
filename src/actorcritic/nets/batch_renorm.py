"""Batch renormalisation as a layer (Ioffe 2017): the normalisation CrossQ puts before every linear layer of its
critics and its actor (Bhatt et al. 2024). The arithmetic is `core.normalization.batch_renormalize`.

In training mode (`module.train()`) a layer normalises with the batch's statistics, corrected by r and d once
`warmup_steps` batches have passed (plain batch normalisation before), and moves its running statistics
towards the batch's; in evaluation mode (the default here, so that acting, evaluation and export never touch
the statistics) it normalises with the running statistics. The learner switches a network to training mode
only for the forward passes that should update them (`training(module)`)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import Tensor, nn

from actorcritic.core.normalization import batch_renormalize


@dataclass(frozen=True)
class RenormSettings:
    """The hyper-parameters of every batch-renormalisation layer of a network (sb3-contrib's CrossQ defaults)."""

    momentum: float = 0.01
    """Step of the running statistics towards each batch's: μ <- μ + momentum (μ_B - μ)."""
    warmup_steps: int = 100_000
    """Training batches of plain batch normalisation (r = 1, d = 0) before r and d apply."""
    eps: float = 1e-3
    """ε under the square roots."""
    r_max: float = 3.0
    """r's clip range [1/r_max, r_max]."""
    d_max: float = 5.0
    """d's clip range [-d_max, d_max]."""


class BatchRenorm(nn.Module):
    """y = γ x̂ + β over the last axis, x̂ batch-renormalised over the batch axis (-2); with `members`, one set of
    statistics, γ and β per member of a stack (x [M, B, F]), else x [B, F]."""

    def __init__(self, features: int, settings: RenormSettings, members: int | None = None):
        super().__init__()
        self.settings = settings
        shape = (members, 1, features) if members else (1, features)
        self.gain = nn.Parameter(torch.ones(shape))
        self.bias = nn.Parameter(torch.zeros(shape))
        self.register_buffer("running_mean", torch.zeros(shape))
        self.register_buffer("running_var", torch.ones(shape))
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))
        self.eval()

    def forward(self, x: Tensor, detach_weights: bool = False) -> Tensor:
        gain, bias = (self.gain.detach(), self.bias.detach()) if detach_weights else (self.gain, self.bias)
        s = self.settings
        if not self.training:
            scale = gain / (self.running_var + s.eps).sqrt()
            return torch.addcmul(bias - self.running_mean * scale, x, scale)
        renormalizing = int(self.steps) >= s.warmup_steps
        renormalized, mean, var = batch_renormalize(
            x.float(),
            self.running_mean,
            self.running_var,
            s.r_max if renormalizing else 1.0,
            s.d_max if renormalizing else 0.0,
            s.eps,
            gain,
            bias,
        )
        with torch.no_grad():
            self.running_mean.lerp_(mean, s.momentum)
            self.running_var.lerp_(var, s.momentum)
            self.steps += 1
        return renormalized  # float32, as γ and β are, whatever x's precision


@contextlib.contextmanager
def training(module: nn.Module) -> Iterator[None]:
    """The module in training mode for the block (its batch-renormalisation layers update their statistics),
    then in evaluation mode again."""
    module.train()
    try:
        yield
    finally:
        module.eval()
