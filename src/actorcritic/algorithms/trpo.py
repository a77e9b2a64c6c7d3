"""TRPO (Schulman et al. 2015; lecture Eqs. 5-7).

    maximise  E[π_θ(a|s) / π_old(a|s) · Â]   subject to   E_s[KL(π_old(·|s) || π_θ(·|s))] <= δ

One update: the surrogate's gradient g; the natural-gradient direction x = F⁻¹ g by conjugate gradient on
Fisher-vector products (no Fisher matrix is formed); the step β x with β = sqrt(2δ / xᵀFx), the largest
the quadratic model of the KL allows; a backtracking line search that accepts the first shrunken step that
improves the surrogate and keeps the measured KL within δ (else no step). The value function is fitted
by regression (Eq. 20) with Adam, on GAE advantages (Eq. 32).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from actorcritic.algorithms.buffers import Rollout
from actorcritic.algorithms.onpolicy import OnPolicyAgent, OnPolicyLearner, RolloutConfig, advantages_and_returns
from actorcritic.config import check_positive_int, check_range
from actorcritic.core.losses import importance_weighted_surrogate, value_loss
from actorcritic.core.optim import (
    conjugate_gradient,
    fisher_vector_product,
    gradient_step,
)


@dataclass(frozen=True)
class TRPOConfig(RolloutConfig):
    """TRPO: the defaults of sb3-contrib's TRPO (after Schulman et al. 2015)."""

    learning_rate: float | str = 1e-3
    """Adam step size of the value network (the policy step comes from the trust region)."""
    anneal_lr: bool = False
    """Decay the value network's learning rate linearly to zero over total_steps."""
    max_kl: float = 0.01
    """δ: bound on the mean KL(π_old || π_θ) of one update (Eq. 7)."""
    cg_iterations: int = 15
    """Conjugate-gradient iterations for F⁻¹ g."""
    cg_damping: float = 0.1
    """λ in (F + λI) x = g, for a well-conditioned solve."""
    line_search_steps: int = 10
    """Most step shrinkings tried by the line search."""
    line_search_shrink: float = 0.8
    """Factor applied to the step at each line-search trial."""
    value_epochs: int = 10
    """Passes of minibatch Adam over each rollout for the value function."""
    minibatch_size: int = 128
    """Transitions per value-function gradient step."""
    normalize_advantages: bool = True
    """Centre and scale the advantages of each rollout."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("max_kl", self.max_kl, 0, math.inf, low_inclusive=False)
        check_range("cg_damping", self.cg_damping, 0)
        check_range("line_search_shrink", self.line_search_shrink, 0, 1, low_inclusive=False, high_inclusive=False)
        for name in ("cg_iterations", "line_search_steps", "value_epochs", "minibatch_size"):
            check_positive_int(name, getattr(self, name))

    PRESETS = {
        "CartPole-v1": dict(
            total_steps=150_000,
            num_envs=8,
            num_steps=256,
            gamma=0.99,
            gae_lambda=0.95,
            normalize_observations=False,
            normalize_rewards=False,
        ),
    }


class TRPOLearner(OnPolicyLearner):
    """TRPO's update: a natural-gradient step of the policy inside the trust region, then Adam on the value."""

    recurrent_policies = False  # its Fisher-vector products and line search read single steps

    def update(self, batch: Rollout, update_index: int, generator: torch.Generator) -> dict[str, float]:
        cfg = self.config
        advantages, returns = advantages_and_returns(batch, cfg, cfg.normalize_advantages)
        obs, actions, old_log_probs, advantages, returns = batch.transitions(advantages, returns)
        metrics = self.policy_step(obs, actions, old_log_probs, advantages)
        metrics["value_loss"] = self._fit_value(obs, returns, generator)
        return metrics

    def policy_step(self, obs, actions, old_log_probs, advantages) -> dict[str, float]:
        cfg, model = self.config, self.model
        parameters = list(model.parameters())
        mask = model.policy_parameter_mask()  # the trust region concerns the policy's entries only
        with torch.no_grad():
            old_policy_out = model(obs)[0]
            old_log_std = None if model.discrete else model.log_std.detach().clone()

        def surrogate() -> torch.Tensor:  # Eq. 6, to be maximised
            return -importance_weighted_surrogate(model.evaluate_actions(obs, actions)[0], old_log_probs, advantages)[0]

        def mean_kl() -> torch.Tensor:
            return model.kl_from(obs, old_policy_out, old_log_std).mean()  # Eq. 7

        objective = surrogate()
        gradient = torch.cat([g.reshape(-1) for g in torch.autograd.grad(objective, parameters)]) * mask

        def fisher(v: torch.Tensor) -> torch.Tensor:  # (F + λI) v over the policy's entries
            return fisher_vector_product(mean_kl, parameters, v * mask, cfg.cg_damping) * mask

        direction, cg_residual = conjugate_gradient(fisher, gradient, cfg.cg_iterations)
        curvature = direction.dot(fisher(direction))
        full_step = torch.sqrt(2 * cfg.max_kl / curvature.clamp_min(1e-12)) * direction

        start = self.flat_parameters.parameter.detach().clone()
        accepted, improvement, kl, trials = False, 0.0, 0.0, 0
        with torch.no_grad():
            for trial in range(cfg.line_search_steps):
                trials = trial + 1
                self.flat_parameters.parameter.copy_(start + cfg.line_search_shrink**trial * full_step)
                improvement = float(surrogate() - objective)
                kl = float(mean_kl())
                if kl <= cfg.max_kl and improvement > 0:
                    accepted = True
                    break
            if not accepted:
                self.flat_parameters.parameter.copy_(start)
                improvement, kl = 0.0, 0.0
        with torch.no_grad():
            entropy = model.evaluate_actions(obs, actions)[1].mean()
        return {
            "kl": kl,
            "surrogate_improvement": improvement,
            "line_search_steps": trials,
            "step_accepted": float(accepted),
            "cg_residual": cg_residual,
            "entropy": float(entropy),
        }

    def _fit_value(self, obs, returns, generator: torch.Generator) -> float:
        cfg = self.config
        size, total, steps = obs.shape[0], torch.zeros((), device=obs.device), 0
        for _ in range(cfg.value_epochs):
            order = torch.randperm(size, generator=generator).to(obs.device)
            for start in range(0, size, cfg.minibatch_size):
                rows = order[start : start + cfg.minibatch_size]
                v_loss, _ = value_loss(self.model(obs[rows])[1], returns[rows])
                gradient_step(v_loss, self.optimizer, self.flat_parameters, cfg.max_grad_norm)
                total += v_loss.detach()
                steps += 1
        return float(total / steps)


class TRPO(OnPolicyAgent):
    """Trust region policy optimisation with a separate value network."""

    algo = "trpo"
    config_class = TRPOConfig
    learner_class = TRPOLearner
