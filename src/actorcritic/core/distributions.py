"""Distribution math of the policies, as a few tensor operations each: categorical (one or several choices) and
diagonal Gaussian log-probabilities, entropies and KL divergences, and the tanh-Gaussian's log-density."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

_HALF_LOG_TWO_PI = 0.5 * math.log(2 * math.pi)


# ---------------------------------------------------------------- policy distributions


def categorical_log_prob_and_entropy(logits: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
    """log π(a|s) and H(π(·|s)) of π = softmax(logits). logits [B, K], actions [B] -> ([B], [B])."""
    log_probs = torch.log_softmax(logits, dim=-1)
    log_prob = log_probs.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
    entropy = -(log_probs.exp() * log_probs).sum(-1)
    return log_prob, entropy


def multi_categorical_log_prob_and_entropy(
    logits: Tensor, actions: Tensor, nvec: Sequence[int]
) -> tuple[Tensor, Tensor]:
    """Independent categoricals (MultiDiscrete, MultiBinary as MultiDiscrete([2] * n)): log π(a|s) = Σ_g log π_g(a_g|s)
    and H = Σ_g H_g. logits [B, Σ nvec], actions [B, G] -> ([B], [B])."""
    terms = [
        categorical_log_prob_and_entropy(group, actions[:, g]) for g, group in enumerate(logits.split(list(nvec), -1))
    ]
    return sum(term[0] for term in terms), sum(term[1] for term in terms)


def multi_categorical_kl(old_logits: Tensor, logits: Tensor, nvec: Sequence[int]) -> Tensor:
    """KL between products of independent categoricals: the sum of the groups' KLs. [B, Σ nvec] -> [B]."""
    return sum(
        categorical_kl(old, new) for old, new in zip(old_logits.split(list(nvec), -1), logits.split(list(nvec), -1))
    )


def gaussian_log_prob(mean: Tensor, log_std: Tensor, actions: Tensor) -> Tensor:
    """log N(a; μ, diag σ²) summed over action dimensions. mean, actions [B, A], log_std [A] -> [B]."""
    z = (actions - mean) * torch.exp(-log_std)
    return -0.5 * z.square().sum(-1) - (log_std.sum() + _HALF_LOG_TWO_PI * log_std.shape[0])


def categorical_kl(old_logits: Tensor, logits: Tensor) -> Tensor:
    """KL(softmax(old_logits) || softmax(logits)) per state. [B, K] -> [B]."""
    old_log_probs = torch.log_softmax(old_logits, -1)
    return (old_log_probs.exp() * (old_log_probs - torch.log_softmax(logits, -1))).sum(-1)


def gaussian_kl(old_mean: Tensor, old_log_std: Tensor, mean: Tensor, log_std: Tensor) -> Tensor:
    """KL(N(μ_old, σ_old²) || N(μ, σ²)) per state, summed over independent action dimensions. [B, A] -> [B]."""
    variance_ratio = torch.exp(2 * (old_log_std - log_std))
    return (
        log_std - old_log_std + 0.5 * (variance_ratio + (old_mean - mean).square() * torch.exp(-2 * log_std)) - 0.5
    ).sum(-1)


def gaussian_entropy(log_std: Tensor) -> Tensor:
    """H(N(μ, diag σ²)) = Σ_i (log σ_i + ½ log 2πe), the same for every state. log_std [A] -> scalar."""
    return (log_std + 0.5 + _HALF_LOG_TWO_PI).sum()


def tanh_gaussian_log_prob(noise: Tensor, log_std: Tensor, u: Tensor, action_scale: Tensor) -> Tensor:
    """log π(a|s) for a = bias + scale·tanh(u), u = μ + σ·ε: the Gaussian log-density of u minus the log
    Jacobian Σ log(scale·(1 - tanh²u)), with log(1 - tanh²u) = 2(log 2 - u - softplus(-2u)) for numerical
    stability where |u| is large (Haarnoja et al. 2018, appendix C). All [B, A] except the result [B]."""
    gaussian = -0.5 * noise.square() - log_std - _HALF_LOG_TWO_PI
    log_jacobian = 2.0 * (math.log(2.0) - u - nn.functional.softplus(-2.0 * u)) + torch.log(action_scale)
    return (gaussian - log_jacobian).sum(-1)
