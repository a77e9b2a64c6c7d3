"""The critic side of the lecture (sections 3-4): returns, TD residuals, k-step and GAE advantages, baselines.

All functions are pure and work on time-major tensors ``[T, N]`` (T steps of N parallel actors), except
`group_relative_advantages`, which works along the last dimension (groups of G).

Boundary rules, shared by every estimator here (lecture section 2; STYLE.md):

* ``terminated[t]``: the MDP ended after step t. Nothing is bootstrapped past it.
* ``truncated[t]``: the episode was cut after step t (time limit). The estimate stops there and
  bootstraps with ``next_values[t]``.
* The rollout's last step ``T - 1`` is treated like a truncation: bootstrap with ``next_values[T - 1]``.
* ``next_values[t]`` is V(s_{t+1}) of the *true* successor of step t. At a truncation that is V of the
  final observation, never of the observation the environment was reset to.
"""

from __future__ import annotations

import torch
from torch import Tensor


def check_rollout_shapes(**tensors: Tensor) -> None:
    """Every input of a time-major estimator is [T, N] (or [T]) and all have one shape; otherwise raise,
    naming each input's shape. Broadcasting would otherwise turn a misaligned input (a transposed [N, T]
    tensor among [T, N] ones, a [T, 1] column) into different numbers without an error. A rollout whose
    every input is transposed has valid shapes and cannot be told apart here: the convention is [T, N]."""
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    first = next(iter(shapes.values()))
    if len(first) in (1, 2) and all(shape == first for shape in shapes.values()):
        return
    shown = ", ".join(f"{name} {list(shape)}" for name, shape in shapes.items())
    raise ValueError(f"expected time-major [T, N] (or [T]) inputs of one shape, got {shown}")


def _segment_ends(terminated: Tensor, truncated: Tensor) -> Tensor:
    """Where an estimate must stop: at a termination, a truncation, or the rollout's last step. [T, N] bool."""
    ends = terminated.bool() | truncated.bool()
    ends = ends.clone()
    ends[-1] = True
    return ends


def td_residuals(rewards: Tensor, values: Tensor, next_values: Tensor, terminated: Tensor, gamma: float) -> Tensor:
    """δ_t = r_t + γ (1 - terminated_t) V(s_{t+1}) - V(s_t)   (lecture Eq. 31; Schulman et al. 2016)

    All inputs [T, N]. Returns [T, N]. This is also the 1-step advantage estimator (Eq. 25) and GAE at
    λ = 0 (Eq. 33)."""
    check_rollout_shapes(rewards=rewards, values=values, next_values=next_values, terminated=terminated)
    not_terminated = 1.0 - terminated.to(rewards.dtype)
    return rewards + gamma * not_terminated * next_values - values


def gae(
    rewards: Tensor,
    values: Tensor,
    next_values: Tensor,
    terminated: Tensor,
    truncated: Tensor,
    gamma: float,
    lam: float,
) -> Tensor:
    """Generalized advantage estimation: Â_t = Σ_{t'≥t} (γλ)^{t'-t} δ_{t'}   (lecture Eq. 32; Schulman et al. 2016)

    Computed by the backward recursion A_t = δ_t + γλ (1 - done_t) A_{t+1}, where done = terminated or
    truncated, and A_{T-1} = δ_{T-1}: the sum stops at the end of an episode and at the end of the rollout,
    where δ has already bootstrapped from ``next_values``. λ = 0 gives the TD residual (Eq. 33), λ = 1 the
    Monte-Carlo return minus V (Eq. 34).

    All inputs [T, N]. Returns [T, N]."""
    check_rollout_shapes(
        rewards=rewards, values=values, next_values=next_values, terminated=terminated, truncated=truncated
    )
    deltas = td_residuals(rewards, values, next_values, terminated, gamma)
    continues = 1.0 - _segment_ends(terminated, truncated).to(rewards.dtype)
    decay = gamma * lam * continues
    advantages = torch.empty_like(deltas)
    running = torch.zeros_like(deltas[0])
    for t in range(deltas.shape[0] - 1, -1, -1):
        running = deltas[t] + decay[t] * running
        advantages[t] = running
    return advantages


def discounted_returns(
    rewards: Tensor, next_values: Tensor, terminated: Tensor, truncated: Tensor, gamma: float
) -> Tensor:
    """Reward-to-go R_t = Σ_{t'≥t} γ^{t'-t} r_{t'}   (lecture Eqs. 2 and 24)

    Within a rollout the sum runs to the end of the episode. Where the episode continues past what was
    observed (a truncation or the rollout's end) the tail is bootstrapped with γ·next_values; after a
    termination the tail is zero. This is the regression target of the value function (Eq. 20).

    All inputs [T, N]. Returns [T, N]."""
    check_rollout_shapes(rewards=rewards, next_values=next_values, terminated=terminated, truncated=truncated)
    terminated = terminated.to(rewards.dtype)
    ends = _segment_ends(terminated, truncated)
    returns = torch.empty_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        tail = torch.where(ends[t], (1.0 - terminated[t]) * next_values[t], running)
        running = rewards[t] + gamma * tail
        returns[t] = running
    return returns


def k_step_advantages(
    rewards: Tensor,
    values: Tensor,
    next_values: Tensor,
    terminated: Tensor,
    truncated: Tensor,
    gamma: float,
    k: int | None,
) -> Tensor:
    """k-step advantage Â_t^(k) = Σ_{i<k} γ^i r_{t+i} + γ^k V(s_{t+k}) - V(s_t)   (lecture Eqs. 25-28)

    The sum stops early at the end of the episode or of the rollout: after a termination nothing is
    bootstrapped; at a truncation or the rollout's last step it bootstraps with ``next_values`` of the
    step where it stopped. ``k=None`` gives the Monte-Carlo estimator (Eq. 28) within the rollout, which
    equals ``discounted_returns(...) - values``.

    All inputs [T, N]. Returns [T, N]."""
    check_rollout_shapes(
        rewards=rewards, values=values, next_values=next_values, terminated=terminated, truncated=truncated
    )
    if k is None:
        return discounted_returns(rewards, next_values, terminated, truncated, gamma) - values
    if k < 1:
        raise ValueError(f"k = {k} is out of range: the k-step estimator needs k >= 1 (or None for Monte Carlo)")
    horizon = rewards.shape[0]
    terminated = terminated.to(rewards.dtype)
    ends = _segment_ends(terminated, truncated)
    bootstrap = (1.0 - terminated) * next_values
    # Step i of the estimate that starts at t reads index t + i; `active[t]` says whether that estimate
    # is still summing rewards at step i.
    estimate = torch.zeros_like(rewards)
    active = torch.ones_like(ends)
    for i in range(min(k, horizon)):
        length = horizon - i
        discount = gamma**i
        reward_i, end_i, bootstrap_i = rewards[i:], ends[i:], bootstrap[i:]
        is_active = active[:length]
        estimate[:length] += torch.where(is_active, discount * reward_i, 0.0)
        stops_here = is_active & (end_i | (i == k - 1))
        estimate[:length] += torch.where(stops_here, gamma * discount * bootstrap_i, 0.0)
        active[:length] = is_active & ~stops_here
    return estimate - values


def group_relative_advantages(rewards: Tensor, scale: bool = True, eps: float = 1e-4) -> Tensor:
    """Â_i = (r_i - mean(r_1..r_G)) / std(r_1..r_G)   (lecture Eq. 35; DeepSeek-AI 2024, GRPO)

    ``rewards`` [..., G]: one reward per member of a group, groups along the last dimension. ``scale=False``
    only subtracts the group mean (as Dr. GRPO does). ``eps`` is added to the (population) std so that a
    group whose rewards are all equal gets zero advantage instead of a division by zero. Returns [..., G]."""
    centred = rewards - rewards.mean(dim=-1, keepdim=True)
    if not scale:
        return centred
    return centred / (rewards.std(dim=-1, keepdim=True, correction=0) + eps)


def normalize(x: Tensor, eps: float = 1e-8) -> Tensor:
    """(x - mean(x)) / (std(x) + eps) over all elements: the advantage normalisation of PPO (lecture section 5)."""
    return (x - x.mean()) / (x.std() + eps)


def explained_variance(returns: Tensor, values: Tensor) -> Tensor:
    """1 - Var[R - V] / Var[R]: the share of the value targets' variance the critic accounts for (1: all of
    it, 0: no better than a constant, below 0: worse). A diagnostic of the value fit (Eq. 20); scalar tensor."""
    return 1.0 - (returns - values).var() / returns.var().clamp_min(1e-8)


def variance_minimizing_baseline(score_sq_norms: Tensor, returns: Tensor, dim: int = 0) -> Tensor:
    """b* = E[||∇θ log π(a|s)||² R] / E[||∇θ log π(a|s)||²]   (lecture Eq. 18; Greensmith et al. 2004, Thm. 8)

    A score-weighted average of returns, estimated from samples along ``dim``: ``score_sq_norms`` holds
    w = ||∇θ log π(a|s)||² per sample and ``returns`` the matching returns (same shape). Returns the
    tensor reduced along ``dim``."""
    weights = score_sq_norms.to(returns.dtype)
    return (weights * returns).sum(dim=dim) / weights.sum(dim=dim)
