"""A2C: the synchronous advantage actor-critic (Mnih et al. 2016; lecture sections 3-4).

while not converged:
    collect T = 5 steps from each of N actors                       -> `RolloutCollector`
    estimate Â_t with the k-step estimator (Eqs. 25-27), k = T:      -> `advantages_and_returns`
        each step's sum of rewards runs to the rollout's end, then bootstraps with V
    one gradient step on
        policy loss -E[log π(a|s) Â]  (Eq. 3 with Â for R)
        + value loss  (Eq. 20)
        - entropy bonus                                              -> `A2CLearner.update`

Where it sits among the lecture's algorithms:
* REINFORCE with a value baseline (section 3), except that the return is cut after at most k steps and
  completed by V(s_{t+k}) (section 4): less variance for the bias of an imperfect critic, and an update
  every T steps instead of every episode.
* PPO with one epoch of one minibatch (the whole rollout) and no clip: at the first step of an epoch PPO's
  ratio is 1, the clip is inactive, and the gradient of the clipped surrogate (Eq. 19) is this gradient.
  PPO's other changes (advantage normalisation, Adam, several epochs) are exactly what A2C does without.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from actorcritic.algorithms.buffers import Rollout
from actorcritic.algorithms.onpolicy import OnPolicyAgent, OnPolicyLearner, RolloutConfig, advantages_and_returns
from actorcritic.config import check_range, check_scheduled
from actorcritic.core.estimators import explained_variance
from actorcritic.core.losses import policy_gradient_loss, value_loss
from actorcritic.core.optim import gradient_step

# rl-baselines3-zoo, hyperparams/a2c.yml ("=== Mujoco Envs ===", tuned on the -v4 tasks): SB3's A2C defaults
# with VecNormalize (observations and rewards), 1M steps (Humanoid 2M; Swimmer γ = 0.9999)
_MUJOCO = dict(total_steps=1_000_000, normalize_observations=True, normalize_rewards=True)


@dataclass(frozen=True)
class A2CConfig(RolloutConfig):
    """A2C. Defaults: Stable-Baselines3's A2C, which are the original's (Mnih et al. 2016): 5 steps per actor
    and update, RMSprop (α 0.99, ε 1e-5) at a constant 7e-4, no advantage normalisation, gradient norm 0.5.
    `A2CConfig.for_env` applies rl-baselines3-zoo's settings (see `PRESETS`)."""

    num_steps: int = 5
    """T: steps each actor collects per update (the original's t_max)."""
    advantage: Literal["gae", "kstep", "mc"] = "kstep"
    """kstep (Eqs. 25-27; with k >= num_steps, each step's return runs to the rollout's end, as in the
    original), gae (Eq. 32: SB3 computes A2C's advantage as GAE with λ = 1, the same numbers) or mc (Eq. 28)."""
    gae_lambda: float = 1.0
    """GAE's λ, for --advantage gae (1: the k-step estimator above)."""
    learning_rate: float | str = 7e-4
    """RMSprop step size."""
    anneal_lr: bool = False
    """Decay the learning rate linearly to zero over total_steps (off: constant, as in SB3)."""
    normalize_observations: bool = False
    """Running mean/std observation normalisation (SB3's VecNormalize; the MuJoCo presets turn it on)."""
    normalize_rewards: bool = False
    """Scale rewards by the running std of the discounted return (VecNormalize; on in the MuJoCo presets)."""
    normalize_advantages: bool = False
    """Centre Â and divide it by its std over the rollout (off in the original and in SB3)."""
    entropy_coef: float | str = 0.0
    """Weight of the entropy bonus."""
    value_coef: float = 1.0
    """Weight of the value loss (Eq. 20, ½ the squared error): 1.0 here is SB3's vf_coef 0.5 on the full
    squared error."""
    log_every: int = 1000
    """Environment steps per metrics row, the means over that window's updates (0: one row per update of
    N·T transitions)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_scheduled("entropy_coef", self.entropy_coef, 0)
        check_range("value_coef", self.value_coef, 0)

    PRESETS = {
        # hyperparams/a2c.yml: 8 actors, 500k steps, no entropy bonus
        "CartPole-v1": dict(total_steps=500_000, num_envs=8),
        "HalfCheetah-v5": _MUJOCO,
        "Ant-v5": _MUJOCO,
        "Hopper-v5": _MUJOCO,
        "Walker2d-v5": _MUJOCO,
        "Humanoid-v5": _MUJOCO | dict(total_steps=2_000_000),
        "Swimmer-v5": _MUJOCO | dict(gamma=0.9999),
    }


class A2CLearner(OnPolicyLearner):
    """A2C's update: one RMSprop step on the whole rollout's policy, value and entropy terms."""

    optimizer_name = "rmsprop"

    def update(self, batch: Rollout, update_index: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        cfg = self.config
        advantages, returns = advantages_and_returns(batch, cfg, cfg.normalize_advantages)
        explained = explained_variance(returns, batch.values)
        obs, actions, _, advantages, returns = batch.transitions(advantages, returns)
        log_probs, entropy, values = self.model.evaluate_actions(obs, actions)
        policy_loss, _ = policy_gradient_loss(log_probs, advantages)  # Eq. 3, Â in place of R
        v_loss, _ = value_loss(values, returns)  # Eq. 20
        entropy = entropy.mean()
        loss = policy_loss + cfg.value_coef * v_loss - cfg.entropy_coef * entropy
        gradient_step(loss, self.optimizer, self.flat_parameters, cfg.max_grad_norm)
        return {
            "policy_loss": policy_loss.detach(),
            "value_loss": v_loss.detach(),
            "entropy": entropy.detach(),
            "explained_variance": explained,
        }


class A2C(OnPolicyAgent):
    """Advantage actor-critic with a separate value network, for Discrete and Box action spaces."""

    algo = "a2c"
    config_class = A2CConfig
    learner_class = A2CLearner
