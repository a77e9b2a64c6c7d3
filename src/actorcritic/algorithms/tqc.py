"""TQC (Kuznetsov et al. 2020, "Controlling Overestimation Bias with Truncated Mixture of Continuous
Distributional Quantile Critics"): SAC whose M critics each predict Q quantiles of the return, trained towards
a target distribution from which the largest atoms are dropped.

    Z_m(s, a) = (θ_m,1 .. θ_m,Q)(s, a),                     m = 1..M       each critic: Q quantiles
    atoms     = sort(∪_m θ̄_m(s', a')) without its M·d largest,  a' ~ π(·|s')   (`truncated_quantile_target`)
    y_j       = r + γ (1 - terminated) (atom_j - α log π(a'|s'))
    critics:  quantile Huber loss of every θ_m,i against every y_j   (`quantile_huber_loss`)
    actor:    maximise  mean_{m,i} θ_m,i(s, ã) - α log π(ã|s)

The lecture's section 7 follows the critic's overestimation: Q-learning's max over noisy estimates is biased up,
and TD3 corrects with the minimum of two critics, a correction of fixed size. TQC makes it a dial:
`--top-quantiles-to-drop` d (per critic) removes the right tail of the pooled distribution, from no correction
(d = 0) to a strongly pessimistic target, and pooling M critics before truncating decouples the correction from
the number of critics. The rest (actor, temperature, targets' soft update, the engine) is SAC's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from actorcritic.algorithms.buffers import Transitions
from actorcritic.algorithms.offpolicy import OffPolicyAgent, OffPolicyConfig
from actorcritic.algorithms.sac import SACConfig, SACLearner
from actorcritic.config import check_range
from actorcritic.core.losses import bellman_target, quantile_huber_loss, truncated_quantile_target
from actorcritic.core.optim import gradient_step
from actorcritic.errors import ActorCriticError

# Kuznetsov et al. (2020), Table 6: five critics of 25 quantiles on every MuJoCo task, d per task
_PAPER = dict(num_critics=5, n_quantiles=25)


@dataclass(frozen=True)
class TQCConfig(SACConfig):
    """TQC: sb3-contrib's defaults (2 critics of 25 quantiles, 2 dropped per critic); the rest is SAC's.
    `TQCConfig.for_env` applies the paper's MuJoCo settings (see `PRESETS`)."""

    n_quantiles: int = 25
    """Q: quantiles each critic predicts."""
    top_quantiles_to_drop: int = 2
    """d: the largest atoms dropped per critic from the pooled target: the overestimation knob (0: none)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("n_quantiles", self.n_quantiles, 1, 1024)
        check_range("top_quantiles_to_drop", self.top_quantiles_to_drop, 0, self.n_quantiles - 1)
        if self.target_critics is not None or self.actor_q != "min":
            raise ActorCriticError(
                "tqc pools its critics' quantiles: --target-critics and --actor-q do not apply (leave them unset)"
            )

    PRESETS = {
        **OffPolicyConfig.PRESETS,
        "HalfCheetah-v5": _PAPER | dict(top_quantiles_to_drop=0),
        "Hopper-v5": _PAPER | dict(top_quantiles_to_drop=5),
        "Walker2d-v5": _PAPER | dict(top_quantiles_to_drop=2),
        "Ant-v5": _PAPER | dict(top_quantiles_to_drop=2),
        "Humanoid-v5": _PAPER | dict(top_quantiles_to_drop=2),
    }


class TQCLearner(SACLearner):
    """SAC's learner with distributional critics and the truncated mixture in the target."""

    def critic_outputs(self) -> int:
        return self.config.n_quantiles

    def fit_critics(self, batch: Transitions, alpha: torch.Tensor, generator: torch.Generator) -> dict:
        cfg = self.config
        with torch.no_grad():
            next_actions, next_log_probs = self.actor(batch.next_observations, generator)
            atoms = truncated_quantile_target(
                self.critics.target_q(batch.next_observations, next_actions, generator), cfg.top_quantiles_to_drop
            )
            targets = bellman_target(
                batch.rewards[:, None], batch.terminated[:, None], atoms - alpha * next_log_probs[:, None], cfg.gamma
            )
        loss, info = quantile_huber_loss(
            self.critics.q(batch.observations, batch.actions, generator=generator), targets
        )
        gradient_step(loss, self.critic_optimizer, self.critics.flat)
        return {**info, "critic_loss": loss.detach()}

    def actor_value(self, q_all: torch.Tensor) -> torch.Tensor:
        """The mean over every critic's every quantile [M, B, Q] -> [B]: the mixture's mean, an estimate of Q."""
        return q_all.mean(dim=(0, 2))


class TQC(OffPolicyAgent):
    """Truncated quantile critics."""

    algo = "tqc"
    config_class = TQCConfig
    learner_class = TQCLearner
