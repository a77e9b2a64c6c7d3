"""REINFORCE (Williams 1992; lecture Eq. 3) with every baseline of the lecture's section 3.

    θ <- θ + η Σ_t (R_t - b) ∇θ log π_θ(a_t|s_t)

`--baseline` chooses b:
* `none`: b = 0, the plain reward-to-go of Eq. 3.
* `mean`: b = the batch's mean return, a state-independent constant.
* `value`: b = V_φ(s_t), a learned critic fitted by Eq. 20; with it any advantage estimator of section 4
  can be chosen (`--advantage mc|kstep|gae`; mc, λ = 1, is REINFORCE proper).
* `optimal`: b* = Σ w R / Σ w with w = ||∇θ log π_θ(a|s)||², Eq. 18 estimated once per batch (pooled over
  states). The per-sample squared score norms come from per-sample gradients (torch.func.vmap over
  torch.func.grad): one extra backward pass per sample, memory B x |θ| in chunks of 256 samples. That is the
  cost Eq. 18 asks for; it is why practice uses V instead.

Without a learned value (none, mean, optimal) nothing can bootstrap, so returns are summed to the end of
the episode or the rollout, whichever comes first: choose `num_steps` at least the episode length.
With `--epochs > 1` the batch is reused with the importance-weighted surrogate of Eq. 4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from actorcritic.algorithms.buffers import Rollout
from actorcritic.algorithms.engine import MetricMeans
from actorcritic.algorithms.onpolicy import OnPolicyAgent, OnPolicyLearner, RolloutConfig, advantages_and_returns
from actorcritic.config import check_positive_int, check_range
from actorcritic.core.estimators import (
    discounted_returns,
    normalize,
    variance_minimizing_baseline,
)
from actorcritic.core.losses import (
    importance_weighted_surrogate,
    policy_gradient_loss,
    value_loss,
)
from actorcritic.core.optim import gradient_step
from actorcritic.errors import ActorCriticError


@dataclass(frozen=True)
class REINFORCEConfig(RolloutConfig):
    """REINFORCE. Defaults: 8 actors x 500 steps (whole CartPole episodes), Adam 1e-3, one step per batch."""

    num_envs: int = 8
    """N: parallel actors."""
    num_steps: int = 500
    """T: steps per actor per batch; without a value baseline returns stop at the rollout's end."""
    learning_rate: float | str = 1e-3
    """Adam step size."""
    anneal_lr: bool = False
    """Decay the learning rate linearly to zero over total_steps."""
    advantage: Literal["gae", "kstep", "mc"] = "mc"
    """With --baseline value: mc (REINFORCE, Eq. 28), kstep (Eqs. 25-27) or gae (Eq. 32)."""
    normalize_observations: bool = False
    """Running mean/std observation normalisation."""
    normalize_rewards: bool = False
    """Scale rewards by the running std of the discounted return."""
    baseline: Literal["none", "mean", "value", "optimal"] = "value"
    """b in (R - b): none (Eq. 3), mean (batch mean return), value (learned V, Eq. 20), optimal (Eq. 18)."""
    epochs: int = 1
    """Passes over each batch; above 1 the importance-weighted surrogate (Eq. 4) reuses it."""
    value_coef: float = 0.5
    """Weight of the value loss (with --baseline value)."""
    normalize_advantages: bool = False
    """Divide (R - b) by its batch std and centre it (off: the lecture's estimators as they are)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int("epochs", self.epochs)
        check_range("value_coef", self.value_coef, 0)
        if self.baseline != "value" and self.advantage != "mc":
            raise ActorCriticError(
                f"--advantage {self.advantage} needs a value function: use --baseline value, or --advantage mc"
            )
        if self.baseline == "optimal" and self.recurrent != "none":
            raise ActorCriticError(
                "--baseline optimal needs per-step scores, which a recurrent policy has not: choose another baseline"
            )

    PRESETS = {"CartPole-v1": dict(total_steps=200_000, learning_rate=3e-3)}


class REINFORCELearner(OnPolicyLearner):
    """REINFORCE's update: the score-function gradient of (R - b), b the chosen baseline."""

    def update(self, batch: Rollout, update_index: int, generator: torch.Generator) -> dict[str, float]:
        cfg = self.config
        if cfg.baseline == "value":
            advantages, returns = advantages_and_returns(batch, cfg, normalize_advantages=False)
        else:
            zeros = torch.zeros_like(batch.rewards)
            returns = discounted_returns(batch.rewards, zeros, batch.terminated, batch.truncated, cfg.gamma)
            advantages = returns
        obs, actions, old_log_probs, returns, advantages = batch.transitions(returns, advantages)
        baseline_value = 0.0
        if cfg.baseline == "mean":
            baseline_value = returns.mean()
        elif cfg.baseline == "optimal":
            baseline_value = variance_minimizing_baseline(self.score_squared_norms(obs, actions), returns)
        advantages = advantages - baseline_value
        if cfg.normalize_advantages:
            advantages = normalize(advantages)
        diagnostics = MetricMeans()
        for _ in range(cfg.epochs):
            log_probs, entropy, values = self.model.evaluate_actions(obs, actions)
            if cfg.epochs == 1:
                policy_loss, _ = policy_gradient_loss(log_probs, advantages)  # Eq. 3
            else:  # Eq. 4: after the first step the batch is no longer on-policy
                policy_loss, _ = importance_weighted_surrogate(log_probs, old_log_probs, advantages)
            loss = policy_loss
            v_loss = torch.zeros((), device=self.device)
            if cfg.baseline == "value":
                v_loss, _ = value_loss(values, returns)
                loss = loss + cfg.value_coef * v_loss
            gradient_step(loss, self.optimizer, self.flat_parameters, cfg.max_grad_norm)
            diagnostics.add(
                {"policy_loss": policy_loss.detach(), "value_loss": v_loss.detach(), "entropy": entropy.detach().mean()}
            )
        return {**diagnostics.means(), "baseline": float(baseline_value), "advantage_std": float(advantages.std())}

    def score_squared_norms(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """w_i = ||∇θ log π_θ(a_i|s_i)||² for every sample, by per-sample gradients (torch.func). [B]."""
        return torch.cat([scores.square().sum(1) for scores in self.model.per_sample_scores(obs, actions)])


class REINFORCE(OnPolicyAgent):
    """The score-function policy gradient with a choice of baseline."""

    algo = "reinforce"
    config_class = REINFORCEConfig
    learner_class = REINFORCELearner
