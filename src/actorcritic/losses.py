"""Losses: pure functions of tensors that return ``(loss, info)``; `info` holds detached diagnostics under
the names that go straight into metrics.csv."""

from __future__ import annotations

from torch import Tensor


def clipped_surrogate(log_probs: Tensor, old_log_probs: Tensor, advantages: Tensor, clip_eps: float) -> tuple[Tensor, dict]:
    """PPO's clipped surrogate, negated for minimisation   (lecture Eq. 19; Schulman et al. 2017)

        L = -E[min(r(θ) A, clip(r(θ), 1 - ε, 1 + ε) A)],   r(θ) = π_θ(a|s) / π_θ_old(a|s)

    All inputs [B]. info: `approx_kl` (the low-variance estimator E[(r - 1) - log r] of KL(π_old || π_θ)),
    `clip_fraction` (share of samples whose ratio left [1 - ε, 1 + ε])."""
    log_ratio = log_probs - old_log_probs
    ratio = log_ratio.exp()
    unclipped = ratio * advantages
    clipped = ratio.clamp(1.0 - clip_eps, 1.0 + clip_eps) * advantages
    loss = -unclipped.minimum(clipped).mean()
    with_grad_off = ratio.detach()
    info = {
        "approx_kl": ((with_grad_off - 1.0) - log_ratio.detach()).mean(),
        "clip_fraction": ((with_grad_off - 1.0).abs() > clip_eps).float().mean(),
    }
    return loss, info


def value_loss(values: Tensor, returns: Tensor, old_values: Tensor | None = None, clip_eps: float | None = None) -> tuple[Tensor, dict]:
    """Regression of V_φ on the empirical returns, ½ E[(V_φ(s_t) - R_t)²]   (lecture Eq. 20)

    With `old_values` and `clip_eps`, the pessimistic clipped form of PPO implementations: the larger of the
    squared errors of V and of old_V + clip(V - old_V, -ε, ε). All inputs [B]."""
    squared_error = (values - returns).square()
    if old_values is not None and clip_eps is not None:
        clipped_values = old_values + (values - old_values).clamp(-clip_eps, clip_eps)
        squared_error = squared_error.maximum((clipped_values - returns).square())
    loss = 0.5 * squared_error.mean()
    return loss, {}
