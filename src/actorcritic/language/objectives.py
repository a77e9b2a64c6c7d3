"""GRPO for language models, as pure functions of per-token tensors [B, L] (B completions, L tokens, `mask`
True on real tokens): advantages, loss normalisations, the training-inference mismatch and its
importance-sampling corrections, and the loss of Eq. 36.
"""

from __future__ import annotations

import torch
from torch import Tensor

from actorcritic.core.estimators import group_relative_advantages
from actorcritic.core.losses import clipped_surrogate, kl_k3
from actorcritic.errors import ActorCriticError

LOSS_NORMALIZATIONS = ("sequence", "token", "constant")
REWARD_SCALINGS = ("group", "batch", "none")
IS_CORRECTIONS = ("none", "token-truncate", "sequence-truncate", "token-mask", "sequence-mask")


def grpo_advantages(rewards: Tensor, scale_rewards: str, eps: float = 1e-4) -> Tensor:
    """Â_i of each completion from rewards [prompts, G]   (lecture Eq. 35)

    * "group": (r_i - mean_group) / std_group, GRPO's Eq. 35 (DeepSeek-AI 2024).
    * "batch": (r_i - mean_group) / std over the whole batch: the group mean as baseline, one scale for
      every prompt (Liu et al. 2025, "Tricks or Traps?", whose "Lite PPO" found it more robust).
    * "none": r_i - mean_group, no division: Dr. GRPO (Liu et al. 2025, "Understanding R1-Zero-Like
      Training"), which argues the std division over-weights prompts that are too easy or too hard.
    Returns [prompts, G]."""
    if scale_rewards == "group":
        return group_relative_advantages(rewards, scale=True, eps=eps)
    centred = group_relative_advantages(rewards, scale=False)
    if scale_rewards == "batch":
        return centred / (rewards.std(correction=0) + eps)
    if scale_rewards == "none":
        return centred
    raise ActorCriticError(
        f"--scale-rewards {scale_rewards!r} is not allowed: choose one of {', '.join(REWARD_SCALINGS)}"
    )


def loss_normalization_weights(mask: Tensor, normalization: str, max_new_tokens: int) -> Tensor:
    """The weight w_{i,t} of each token's term in the loss Σ_{i,t} w_{i,t} ℓ_{i,t}. mask [B, L] -> [B, L].

    * "sequence": w = 1 / (B |o_i|). Each completion's tokens are averaged, then the completions: Eq. 36's
      1/G Σ_i 1/|o_i| Σ_t (GRPO, DeepSeek-AI 2024). A token of a short completion weighs more than one
      of a long completion.
    * "token": w = 1 / Σ_i |o_i|. Every token of the batch weighs the same (DAPO, Yu et al. 2025), so long
      completions are not diluted.
    * "constant": w = 1 / (B · max_new_tokens). A fixed constant, the generation budget, in place of any
      length (Dr. GRPO, Liu et al. 2025): removes the length bias of the 1/|o_i| normalisation."""
    mask = mask.float()
    if normalization == "sequence":
        return mask / (mask.sum(dim=1, keepdim=True).clamp(min=1.0) * mask.shape[0])
    if normalization == "token":
        return mask / mask.sum().clamp(min=1.0)
    if normalization == "constant":
        return mask / (mask.shape[0] * max_new_tokens)
    raise ActorCriticError(
        f"--loss-normalization {normalization!r} is not allowed: choose one of {', '.join(LOSS_NORMALIZATIONS)}"
    )


def mismatch_metrics(sampler_log_probs: Tensor, trainer_log_probs: Tensor, mask: Tensor) -> dict[str, float]:
    """How far the sampler's log-probabilities are from the training pass's on the sampled tokens
    (training-inference mismatch, Qi et al. 2025; lecture section 2.1). Inputs [B, L].

    * `mismatch_kl`: mean over tokens of log π_sampler - log π_trainer, the k1 estimate of
      KL(π_sampler || π_trainer) (tokens are drawn from the sampler).
    * `mismatch_kl_k3`: mean of the k3 estimator of the same KL (Schulman 2020), always >= 0.
    * `mismatch_max_abs`: the largest |log π_sampler - log π_trainer| of any token."""
    gap = (sampler_log_probs - trainer_log_probs)[mask]
    k3 = kl_k3(sampler_log_probs[mask], trainer_log_probs[mask])
    return {
        "mismatch_kl": float(gap.mean()),
        "mismatch_kl_k3": float(k3.mean()),
        "mismatch_max_abs": float(gap.abs().max()),
    }


def importance_correction_weights(
    trainer_log_probs: Tensor, sampler_log_probs: Tensor, mask: Tensor, mode: str, cap: float
) -> Tensor:
    """Truncated or masked importance weights that correct for sampling with π_sampler instead of the
    trainer's π_old (Yao et al. 2025, truncated IS; Qi et al. 2025). Inputs [B, L] -> weights [B, L], no grad.

    With ρ_t = π_old(o_t) / π_sampler(o_t) per token and ρ = Π_t ρ_t per sequence, a token's weight is
    * "token-truncate": min(ρ_t, C);  "sequence-truncate": min(ρ, C) on every token of the sequence;
    * "token-mask": ρ_t if ρ_t <= C else 0;  "sequence-mask": ρ if ρ <= C else 0 on every token;
    * "none": 1.
    Truncation bounds the variance at the price of a little bias; masking drops the tokens (sequences)
    whose mismatch is too large to trust. Padding gets weight 0."""
    mask_float = mask.float()
    if mode == "none":
        return mask_float
    log_ratio = ((trainer_log_probs - sampler_log_probs) * mask_float).detach()
    if mode.startswith("sequence"):
        log_ratio = log_ratio.sum(dim=1, keepdim=True).expand_as(log_ratio)
    ratio = log_ratio.clamp(max=60.0).exp()  # a far-gone sequence would overflow float32; it is capped anyway
    if mode.endswith("truncate"):
        weights = ratio.clamp(max=cap)
    elif mode.endswith("mask"):
        weights = ratio * (ratio <= cap)
    else:
        raise ActorCriticError(f"--is-correction {mode!r} is not allowed: choose one of {', '.join(IS_CORRECTIONS)}")
    return weights * mask_float


def grpo_loss(
    log_probs: Tensor,
    old_log_probs: Tensor,
    advantages: Tensor,
    mask: Tensor,
    weights: Tensor,
    epsilon: float,
    epsilon_high: float,
    reference_log_probs: Tensor | None = None,
    beta: float = 0.0,
    correction_weights: Tensor | None = None,
) -> tuple[Tensor, dict]:
    """The GRPO loss, -J_GRPO of Eq. 36 (DeepSeek-AI 2024), on tokens:

        L = -Σ_{i,t} w_{i,t} [c_{i,t} min(r_{i,t} Â_i, clip(r_{i,t}, 1 - ε, 1 + ε_high) Â_i) - β k3_{i,t}]

    with r_{i,t} = π_θ(o_{i,t}) / π_old(o_{i,t}), w the normalisation weights of
    `loss_normalization_weights`, c the importance corrections of `importance_correction_weights`
    (1 without), and k3 the per-token estimator of KL(π_θ || π_ref) (Schulman 2020). ε_high > ε is
    DAPO's clip-higher (Yu et al. 2025): it lets unlikely tokens with positive advantage grow further.

    log_probs, old_log_probs, weights, mask [B, L]; advantages [B] (one per completion). info:
    `clip_fraction`, `approx_kl` (to π_old), `kl_to_reference`."""
    token_advantages = advantages[:, None].expand_as(log_probs)[mask]
    # With Â > 0 only the upper clip 1 + ε can bind and with Â < 0 only the lower 1 - ε, so a per-token ε
    # chosen by the advantage's sign turns the symmetric clipped surrogate into clip-higher.
    clip_eps = torch.where(token_advantages > 0, epsilon_high, epsilon)
    surrogate_weights = weights if correction_weights is None else weights * correction_weights
    loss, info = clipped_surrogate(
        log_probs[mask], old_log_probs[mask], token_advantages, clip_eps, weights=surrogate_weights[mask]
    )
    kl_to_reference = torch.full((), float("nan"))
    if reference_log_probs is not None:
        weighted_kl = weights[mask] * kl_k3(log_probs[mask], reference_log_probs[mask])
        kl_to_reference = weighted_kl.sum() / weights[mask].sum()
        loss = loss + beta * weighted_kl.sum()
    info["kl_to_reference"] = kl_to_reference.detach()
    return loss, info
