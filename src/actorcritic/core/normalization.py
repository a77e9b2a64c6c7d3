"""Normalisation: of observations and rewards on the environment side, and of a network's activations.

* Running observation and reward normalisation for continuous control (Huang et al. 2022, details 5-7). The
  statistics are plain float64 NumPy arrays, updated on the environment side once per vector step (cheaper
  there than as tensors), saved with the model, and frozen at evaluation.
* Batch renormalisation (Ioffe 2017), the normalisation of CrossQ's networks (`batch_renormalize`; the layer
  with its running statistics is `nets.batch_renorm.BatchRenorm`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


class RunningMeanStd:
    """Mean and variance of a stream of batches, merged with the parallel algorithm of Chan et al. (1979)."""

    def __init__(self, shape: tuple[int, ...] = ()):
        self.mean = np.zeros(shape, dtype=np.float64)
        self.var = np.ones(shape, dtype=np.float64)
        self.count = np.array(1e-4, dtype=np.float64)  # a tiny prior count keeps the first update finite

    def update(self, batch: np.ndarray) -> None:
        """Merge a batch [B, *shape] into the statistics."""
        batch_count = batch.shape[0]
        # sums instead of mean()/var(): this runs every environment step, and NumPy's reductions carry
        # several microseconds of Python overhead each
        batch_mean = batch.sum(axis=0) / batch_count
        batch_var = np.square(batch - batch_mean).sum(axis=0) / batch_count
        delta = batch_mean - self.mean
        total = self.count + batch_count
        self.mean = self.mean + delta * batch_count / total
        self.var = (
            self.var * self.count + batch_var * batch_count + delta**2 * self.count * batch_count / total
        ) / total
        self.count = np.asarray(total, dtype=np.float64)

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.mean": self.mean, f"{prefix}.var": self.var, f"{prefix}.count": self.count}

    def load_state(self, prefix: str, arrays: dict[str, np.ndarray]) -> None:
        self.mean, self.var, self.count = (
            np.array(arrays[f"{prefix}.{k}"], dtype=np.float64) for k in ("mean", "var", "count")
        )


class ObservationNormalizer:
    """obs -> clip((obs - mean) / sqrt(var + eps), -clip, clip), with running statistics of raw observations."""

    def __init__(self, shape: tuple[int, ...], enabled: bool, clip: float = 10.0, eps: float = 1e-8):
        self.enabled, self.clip, self.eps = enabled, clip, eps
        self.stats = RunningMeanStd(shape)

    def __call__(self, obs: np.ndarray, update: bool) -> np.ndarray:
        """Normalise a batch [B, *shape] of raw observations (float32 out); `update` adds it to the statistics first."""
        if not self.enabled:  # images stay uint8: a quarter of the memory, scaled by the encoder
            return obs if obs.dtype == np.uint8 else obs.astype(np.float32, copy=False)
        if update:
            self.stats.update(obs)
        normalized = (obs - self.stats.mean) / np.sqrt(self.stats.var + self.eps)
        return np.clip(normalized, -self.clip, self.clip).astype(np.float32)


class RewardScaler:
    """r -> clip(r / sqrt(Var[G] + eps), -clip, clip), with G the running discounted return of each actor.

    Scaling (no centring) keeps the sign of rewards and so the optimal policy; the variance of the
    discounted return is the quantity PPO implementations track (Engstrom et al. 2020)."""

    def __init__(self, num_envs: int, gamma: float, enabled: bool, clip: float = 10.0, eps: float = 1e-8):
        self.enabled, self.gamma, self.clip, self.eps = enabled, gamma, clip, eps
        self.stats = RunningMeanStd(())
        self.returns = np.zeros(num_envs, dtype=np.float64)

    def __call__(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        """Scale rewards [N] of one vector step; `dones` [N] restarts the discounted return of finished episodes."""
        if not self.enabled:
            return rewards
        self.returns = self.returns * self.gamma + rewards
        self.stats.update(self.returns)
        self.returns[dones] = 0.0
        return np.clip(rewards / np.sqrt(self.stats.var + self.eps), -self.clip, self.clip)


def batch_renormalize(
    x: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
    r_max: float,
    d_max: float,
    eps: float,
    gain: Tensor | float = 1.0,
    bias: Tensor | float = 0.0,
) -> tuple[Tensor, Tensor, Tensor]:
    """y = γ x̂ + β,   x̂ = (x - μ_B) / σ_B · r + d,   r = sg(clip(σ_B / σ, 1/r_max, r_max)),
    d = sg(clip((μ_B - μ) / σ, ±d_max))   (Ioffe 2017, Algorithm 1), with σ_B = √(Var_B[x] + ε), σ = √(running var
    + ε), γ = `gain`, β = `bias`; sg: no gradient.

    x [.., B, F]: the statistics are over the batch axis (-2), per feature (and per member of a stack). With
    r = 1 and d = 0 (r_max = 1, d_max = 0) this is batch normalisation; r and d correct the batch's statistics
    towards the running ones that inference uses, so training and inference normalise alike. Returns y and the
    batch's mean and (biased) variance [.., 1, F], for the running averages.

    Computed as one affine map of x, y = x · s + t with s = γ r / σ_B and t = β + γ d - μ_B s (the same function,
    and the same gradients: they reach x through μ_B and σ_B inside s and t): one pass over x and two back
    instead of the eight of the step-by-step form, which is most of CrossQ's time outside the products."""
    var, mean = _BatchMoments.apply(x)
    std = (var + eps).sqrt()
    if r_max != 1.0 or d_max != 0.0:
        with torch.no_grad():
            running_std = (running_var + eps).sqrt()
            r = (std / running_std).clamp(1.0 / r_max, r_max)
            d = ((mean - running_mean) / running_std).clamp(-d_max, d_max)
        scale = gain * r / std
        shift = bias + gain * d - mean * scale
    else:
        scale = gain / std
        shift = bias - mean * scale
    return torch.addcmul(shift, x, scale), mean.detach(), var.detach()


class _BatchMoments(torch.autograd.Function):
    """The batch's mean and biased variance over axis -2, x [.., B, F] -> ([.., 1, F], [.., 1, F]), and their
    gradients by hand:

        μ = (1/B) Σ_b x_b,   σ² = (1/B) Σ_b (x_b - μ)²,   ∂μ/∂x_b = 1/B,   ∂σ²/∂x_b = 2 (x_b - μ) / B

    (σ²'s path through μ adds (2/B²) Σ_b (x_b - μ) = 0). torch.var_mean over a batch axis that is not the last
    took 9 ms forward and 13 ms with its backward on a [2, 512, 1024] batch (one AVX2 thread); this, two plain
    passes forward and one back, 2.3 ms in all, to rounding the same numbers. Returns (variance, mean), as
    torch.var_mean does."""

    @staticmethod
    def forward(ctx, x: Tensor) -> tuple[Tensor, Tensor]:
        mean = x.mean(-2, keepdim=True)
        centered = x - mean
        ctx.save_for_backward(centered)
        return centered.square().mean(-2, keepdim=True), mean

    @staticmethod
    def backward(ctx, grad_var: Tensor, grad_mean: Tensor) -> Tensor:
        (centered,) = ctx.saved_tensors
        count = centered.shape[-2]
        return torch.addcmul(grad_mean / count, centered, grad_var * (2.0 / count))
