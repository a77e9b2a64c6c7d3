"""Losses: pure functions of tensors that return ``(loss, info)``; `info` holds detached diagnostics under
the names that go straight into metrics.csv."""

from __future__ import annotations

import torch
from torch import Tensor


def policy_gradient_loss(log_probs: Tensor, advantages: Tensor) -> tuple[Tensor, dict]:
    """REINFORCE: -E[log π_θ(a_t|s_t) Â_t], whose gradient is the policy gradient   (lecture Eqs. 2-3)

    With Â_t the reward-to-go R_t this is Eq. 3; with R_t - b(s_t), the baselined estimator of section 3.
    All inputs [B]; `advantages` carry no gradient."""
    return -(log_probs * advantages).mean(), {}


def importance_weighted_surrogate(log_probs: Tensor, old_log_probs: Tensor, advantages: Tensor) -> tuple[Tensor, dict]:
    """-E_{a ~ π_old}[π_θ(a|s) / π_old(a|s) · Â]   (lecture Eq. 4)

    Reuses a batch sampled by π_old after θ has moved; at θ = θ_old its gradient equals the policy
    gradient of `policy_gradient_loss`. All inputs [B]. info: `approx_kl`."""
    log_ratio = log_probs - old_log_probs
    ratio = log_ratio.exp()
    return -(ratio * advantages).mean(), {"approx_kl": ((ratio.detach() - 1.0) - log_ratio.detach()).mean()}


def clipped_surrogate(
    log_probs: Tensor, old_log_probs: Tensor, advantages: Tensor, clip_eps: float, weights: Tensor | None = None
) -> tuple[Tensor, dict]:
    """PPO's clipped surrogate, negated for minimisation   (lecture Eq. 19; Schulman et al. 2017)

        L = -E[min(r(θ) A, clip(r(θ), 1 - ε, 1 + ε) A)],   r(θ) = π_θ(a|s) / π_θ_old(a|s)

    All inputs [B]. `weights` [B], when given, replaces the mean by a weighted sum (GRPO's per-sequence
    1/|o_i| normalisation, Eq. 36). info: `approx_kl` (the low-variance estimator E[(r - 1) - log r] of
    KL(π_old || π_θ)), `clip_fraction` (share of samples whose ratio left [1 - ε, 1 + ε])."""
    log_ratio = log_probs - old_log_probs
    ratio = log_ratio.exp()
    unclipped = ratio * advantages
    clipped = ratio.clamp(1.0 - clip_eps, 1.0 + clip_eps) * advantages
    objective = unclipped.minimum(clipped)
    loss = -(objective.mean() if weights is None else (weights * objective).sum())
    with_grad_off = ratio.detach()
    info = {
        "approx_kl": ((with_grad_off - 1.0) - log_ratio.detach()).mean(),
        "clip_fraction": ((with_grad_off - 1.0).abs() > clip_eps).float().mean(),
    }
    return loss, info


def value_loss(
    values: Tensor, returns: Tensor, old_values: Tensor | None = None, clip_eps: float | None = None
) -> tuple[Tensor, dict]:
    """Regression of V_φ on the empirical returns, ½ E[(V_φ(s_t) - R_t)²]   (lecture Eq. 20)

    With `old_values` and `clip_eps`, the pessimistic clipped form of PPO implementations: the larger of the
    squared errors of V and of old_V + clip(V - old_V, -ε, ε). All inputs [B]."""
    squared_error = (values - returns).square()
    if old_values is not None and clip_eps is not None:
        clipped_values = old_values + (values - old_values).clamp(-clip_eps, clip_eps)
        squared_error = squared_error.maximum((clipped_values - returns).square())
    loss = 0.5 * squared_error.mean()
    return loss, {}


def bellman_target(rewards: Tensor, terminated: Tensor, next_values: Tensor, gamma: float) -> Tensor:
    """y = r + γ (1 - terminated) Q_target(s', a')   (lecture Eq. 40; Lillicrap et al. 2016)

    `next_values` is the target critic's value of the next state: Q_φ̄(s', μ_θ̄(s')) for DDPG, the minimum of
    the twin target critics at a smoothed target action for TD3 (Fujimoto et al. 2018), and
    min Q_φ̄(s', a') - α log π(a'|s') for SAC. Only a termination stops the bootstrap. All inputs [B]."""
    return rewards + gamma * (1.0 - terminated) * next_values


def critic_loss(q_values: Tensor, targets: Tensor) -> tuple[Tensor, dict]:
    """Σ_m E[(Q_m(s, a) - y)²] over the M critics of a stack against one target   (lecture Eq. 40)

    q_values [M, B], targets [B]. info: `q_mean` (mean Q over critics and batch), `target_q_mean`."""
    loss = (q_values - targets).square().mean(dim=1).sum()
    return loss, {"q_mean": q_values.detach().mean(), "target_q_mean": targets.mean()}


def truncated_quantile_target(quantiles: Tensor, drop_per_critic: int) -> Tensor:
    """The atoms of TQC's target distribution: the M critics' Q quantiles of Z̄(s', a') pooled and sorted, the
    M·d largest dropped   (Kuznetsov et al. 2020, Eq. 10)

    quantiles [M, B, Q] -> [B, M·(Q - d)]. Dropping the top atoms is TQC's control of overestimation: where TD3
    takes the minimum of two critics (lecture section 7), TQC cuts the right tail of their mixture, d atoms per
    critic, a knob that ranges from no correction (d = 0) to a strongly pessimistic target."""
    members, batch, count = quantiles.shape
    pooled = quantiles.permute(1, 0, 2).reshape(batch, members * count).sort(dim=1).values
    return pooled[:, : members * (count - drop_per_critic)]


def quantile_huber_loss(quantiles: Tensor, targets: Tensor, kappa: float = 1.0) -> tuple[Tensor, dict]:
    """Σ_m E_b[ mean_{i,j} |τ_i - 1{u < 0}| · H_κ(u) / κ ],  u = y_j - θ_m,i,  τ_i = (2i + 1) / 2Q
    (Dabney et al. 2018, QR-DQN; Kuznetsov et al. 2020, Eq. 11)

    quantiles [M, B, Q] (each critic's Q quantile estimates at (s, a)), targets [B, K] (the atoms of the target
    distribution, no gradient); H_κ the Huber loss, quadratic within κ. Each critic's loss is the mean over its
    quantiles and the target atoms, summed over critics as the Bellman loss is (Eq. 40). info: `q_mean` (the mean
    of all quantiles, an estimate of Q), `target_q_mean`. The gradient is the analytic one
    (`_QuantileHuberLoss`): the [M, B, Q, K] pairs are the update's largest tensors, and autograd's
    dozen passes over them cost more than the critics' products."""
    if quantiles.dim() != 3 or targets.dim() != 2 or quantiles.shape[1] != targets.shape[0]:
        raise ValueError(
            f"expected quantiles [M, B, Q] and targets [B, K] of one batch size B, got {tuple(quantiles.shape)} "
            f"and {tuple(targets.shape)}"
        )
    loss = _QuantileHuberLoss.apply(quantiles, targets.detach(), kappa)
    return loss, {"q_mean": quantiles.detach().mean(), "target_q_mean": targets.mean()}


class _QuantileHuberLoss(torch.autograd.Function):
    """`quantile_huber_loss`'s value and its gradient in the quantiles, in a few passes over the pairs.

    With c = clip(u, -κ, κ), the Huber loss is H_κ(u) = c (u - c/2) and its derivative H_κ'(u) = c, so with
    N = B·Q·K pairs per critic
        loss      = Σ_{m,b,i,j} w c (u - c/2) / (N κ),     w = |τ_i - 1{u < 0}|
        ∂loss/∂θ_m,b,i = -Σ_j w c / (N κ)                  (u = y - θ; w is piecewise constant)
    and w c = τ c + (1 - 2τ) min(c, 0), since c has the sign of u. The gradient is formed in the forward pass, so
    nothing of size [M, B, Q, K] outlives it."""

    @staticmethod
    def forward(ctx, quantiles: Tensor, targets: Tensor, kappa: float) -> Tensor:
        _, batch, count = quantiles.shape
        errors = targets[None, :, None, :] - quantiles[..., None]  # u [M, B, Q, K]
        taus = ((torch.arange(count, device=errors.device, dtype=errors.dtype) + 0.5) / count)[:, None]
        slopes = errors.clamp(-kappa, kappa)  # c
        negative = slopes.clamp(max=0.0)
        errors.sub_(slopes, alpha=0.5)  # u - c/2
        slopes.mul_(taus).addcmul_(negative, 1.0 - 2.0 * taus)  # w c
        scale = 1.0 / (batch * count * targets.shape[1] * kappa)
        ctx.save_for_backward(slopes.sum(dim=-1).mul_(-scale))
        ctx.quantiles_dtype = quantiles.dtype
        return torch.dot(slopes.view(-1), errors.view(-1)) * scale

    @staticmethod
    def backward(ctx, grad: Tensor):
        (gradient,) = ctx.saved_tensors
        return (grad * gradient).to(ctx.quantiles_dtype), None, None


def deterministic_policy_gradient_loss(q_values: Tensor) -> tuple[Tensor, dict]:
    """-E_s[Q_φ(s, μ_θ(s))], whose gradient in θ is the deterministic policy gradient
    E_s[∇_a Q_φ(s, a)|_{a=μ_θ(s)} ∇_θ μ_θ(s)]   (lecture Eqs. 38-39; Silver et al. 2014)

    q_values [B]: the critic at the actor's actions, differentiable through the action only."""
    return -q_values.mean(), {}


def soft_actor_loss(q_values: Tensor, log_probs: Tensor, alpha: Tensor) -> tuple[Tensor, dict]:
    """E_s[α log π(a|s) - min_m Q_m(s, a)], a ~ π reparameterised   (Haarnoja et al. 2018, Eq. 7)

    q_values [B] (already the minimum over critics), log_probs [B]. info: `entropy` (-E[log π])."""
    return (alpha * log_probs - q_values).mean(), {"entropy": -log_probs.detach().mean()}


def temperature_loss(log_alpha: Tensor, log_probs: Tensor, target_entropy: float) -> tuple[Tensor, dict]:
    """-E[log α · (log π(a|s) + H̄)]: raises α when the entropy is below the target H̄, lowers it above
    (Haarnoja et al. 2018b, automatic temperature adjustment). log_probs [B], detached."""
    return -(log_alpha * (log_probs.detach() + target_entropy)).mean(), {}


def kl_k3(log_probs: Tensor, reference_log_probs: Tensor) -> Tensor:
    """Per-sample estimator of KL(π_θ || π_ref) from samples of π_θ: ρ - log ρ - 1 with ρ = π_ref / π_θ
    (Schulman 2020, "k3"; used by GRPO, DeepSeek-AI 2024). Unbiased, always >= 0. Inputs [B] -> [B].

    Written (ρ - 1) - log ρ with ρ - 1 = expm1(log ρ): for nearby policies (a sampler that differs from
    the trainer in the last bits) exp(x) - 1 in float32 rounds x²/2 away, and the KL came out 0."""
    log_ratio = reference_log_probs - log_probs
    return torch.expm1(log_ratio) - log_ratio
