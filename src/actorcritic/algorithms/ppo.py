"""PPO (Schulman et al. 2017; lecture section 5, Algorithm 1).

while not converged:
    collect T steps from N actors                                   -> `OnPolicyAgent._collect_rollout`
    compute advantages for all N·T transitions with GAE (Eq. 32)   -> `PPO._update`
    K epochs of minibatch steps on the clipped surrogate (Eq. 19)
    and on the value regression (Eq. 20), separate value network
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from actorcritic.algorithms.buffers import Rollout
from actorcritic.algorithms.engine import MetricMeans
from actorcritic.algorithms.onpolicy import (
    OnPolicyAgent,
    OnPolicyLearner,
    RolloutConfig,
    advantages_and_returns,
    shuffled_minibatches,
)
from actorcritic.config import check_positive_int, check_range, check_scheduled
from actorcritic.core.estimators import explained_variance, normalize
from actorcritic.core.losses import clipped_surrogate, value_loss
from actorcritic.core.optim import gradient_step
from actorcritic.envs.atari import PPO_PRESET as ATARI_PPO_PRESET
from actorcritic.errors import ActorCriticError

_MUJOCO = dict(total_steps=1_000_000, anneal_lr=False, normalize_observations=True, normalize_rewards=True)
_MUJOCO_256_RELU = _MUJOCO | dict(hidden_sizes=(256, 256), activation="relu", orthogonal_init=False, log_std_init=-2.0)


@dataclass(frozen=True)
class PPOConfig(RolloutConfig):
    """PPO hyperparameters. Defaults are the MuJoCo set of Schulman et al. (2017) as used by SB3 and CleanRL;
    `PPOConfig.for_env` applies a tuned per-environment preset (see `PRESETS`)."""

    minibatch_size: int = 64
    """Transitions per gradient step."""
    epochs: int = 10
    """K: passes over each rollout."""
    clip_eps: float | str = 0.2
    """ε of the clipped surrogate (Eq. 19)."""
    clip_value_loss: bool = False
    """Clip the value update around the old values with the same ε (PPO implementation detail 9)."""
    entropy_coef: float | str = 0.0
    """Weight of the entropy bonus."""
    value_coef: float = 0.5
    """Weight of the value loss (Eq. 20) in the combined loss."""
    normalize_advantages: bool = True
    """Subtract the rollout's mean advantage and divide by its std (lecture section 5)."""
    normalize_per_minibatch: bool = False
    """With normalize_advantages: normalise within each minibatch instead of over the rollout (SB3's way,
    under which rl-baselines3-zoo's tuned sets were found)."""
    target_kl: float = 0.0
    """Stop an update's epochs early once the approximate KL exceeds this (0 turns it off)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int("minibatch_size", self.minibatch_size)
        check_positive_int("epochs", self.epochs)
        check_scheduled("clip_eps", self.clip_eps, 0, low_inclusive=False)
        check_scheduled("entropy_coef", self.entropy_coef, 0)
        check_range("value_coef", self.value_coef, 0)
        check_range("target_kl", self.target_kl, 0)
        if self.minibatch_size > self.num_envs * self.num_steps:
            raise ActorCriticError(
                f"--minibatch-size {self.minibatch_size} is larger than a rollout (num_envs·num_steps = "
                f"{self.num_envs * self.num_steps}): lower it or collect more steps"
            )

    PRESETS = {
        "ALE/*": ATARI_PPO_PRESET,
        # MuJoCo: rl-baselines3-zoo's tuned sets (hyperparams/ppo.yml, tuned on the -v4 tasks; Ant-v4 there is
        # SB3's defaults with normalisation), to 1M steps. Translated: a constant learning rate (no
        # annealing), obs and reward normalisation (their VecNormalize), value_coef = 2 x their vf_coef
        # (their value loss is the MSE, ours ½ MSE: Eq. 20), net_arch 256-256 ReLU with ortho_init=False
        # where they give it. Not translated: they normalise advantages per minibatch, we per rollout.
        "HalfCheetah-v5": _MUJOCO_256_RELU
        | dict(
            num_envs=1,
            num_steps=512,
            minibatch_size=64,
            epochs=20,
            learning_rate=2.0633e-05,
            gamma=0.98,
            gae_lambda=0.92,
            clip_eps=0.1,
            entropy_coef=0.000401762,
            value_coef=2 * 0.58096,
            max_grad_norm=0.8,
        ),
        "Hopper-v5": _MUJOCO_256_RELU
        | dict(
            num_envs=1,
            num_steps=512,
            minibatch_size=32,
            epochs=5,
            learning_rate=9.80828e-05,
            gamma=0.999,
            gae_lambda=0.99,
            clip_eps=0.2,
            entropy_coef=0.00229519,
            value_coef=2 * 0.835671,
            max_grad_norm=0.7,
        ),
        "Walker2d-v5": _MUJOCO
        | dict(
            num_envs=1,
            num_steps=512,
            minibatch_size=32,
            epochs=20,
            learning_rate=5.05041e-05,
            gamma=0.99,
            gae_lambda=0.95,
            clip_eps=0.1,
            entropy_coef=0.000585045,
            value_coef=2 * 0.871923,
            max_grad_norm=1.0,
        ),
        "Ant-v5": _MUJOCO
        | dict(  # SB3's PPO defaults
            num_envs=1,
            num_steps=2048,
            minibatch_size=64,
            epochs=10,
            learning_rate=3e-4,
            gamma=0.99,
            gae_lambda=0.95,
            clip_eps=0.2,
            entropy_coef=0.0,
            value_coef=2 * 0.5,
            max_grad_norm=0.5,
        ),
        # rl-baselines3-zoo's CartPole-v1 set (without its clip-range schedule); solves it well within 100k steps.
        "CartPole-v1": dict(
            total_steps=100_000,
            num_envs=8,
            num_steps=32,
            minibatch_size=256,
            epochs=20,
            learning_rate=1e-3,
            gamma=0.98,
            gae_lambda=0.8,
            entropy_coef=0.0,
            normalize_observations=False,
            normalize_rewards=False,
        ),
    }


class PPOLearner(OnPolicyLearner):
    """PPO's update: K epochs of minibatch steps on the clipped surrogate and the value regression."""

    def update(self, batch: Rollout, update_index: int, generator: torch.Generator) -> dict[str, float]:
        cfg = self.config
        per_minibatch = cfg.normalize_advantages and cfg.normalize_per_minibatch
        advantages, returns = advantages_and_returns(batch, cfg, cfg.normalize_advantages and not per_minibatch)
        samples = batch.transitions(advantages, returns, batch.values)
        diagnostics, steps = MetricMeans(), 0
        for _ in range(cfg.epochs):
            epoch_kl, minibatches = torch.zeros((), device=self.device), 0
            for obs, actions, old_log_probs, adv, ret, old_values in shuffled_minibatches(
                samples, cfg.minibatch_size, generator
            ):
                if per_minibatch and len(adv) > 1:  # a last minibatch of one has no std
                    adv = normalize(adv)
                log_probs, entropy, values = self.model.evaluate_actions(obs, actions)
                policy_loss, info = clipped_surrogate(log_probs, old_log_probs, adv, cfg.clip_eps)  # Eq. 19
                v_loss, _ = (
                    value_loss(values, ret, old_values, cfg.clip_eps)
                    if cfg.clip_value_loss
                    else value_loss(values, ret)
                )  # Eq. 20
                entropy = entropy.mean()
                loss = policy_loss + cfg.value_coef * v_loss - cfg.entropy_coef * entropy
                gradient_step(loss, self.optimizer, self.flat_parameters, cfg.max_grad_norm)
                diagnostics.add(
                    {
                        "policy_loss": policy_loss.detach(),
                        "value_loss": v_loss.detach(),
                        "entropy": entropy.detach(),
                        **info,
                    }
                )
                epoch_kl += info["approx_kl"]
                steps, minibatches = steps + 1, minibatches + 1
            if cfg.target_kl > 0 and epoch_kl.item() / minibatches > cfg.target_kl:
                break
        explained = explained_variance(returns, batch.values)
        return {**diagnostics.means(), "explained_variance": float(explained), "gradient_steps": steps}


class PPO(OnPolicyAgent):
    """Proximal policy optimisation with a separate value network, for Discrete and Box action spaces."""

    algo = "ppo"
    config_class = PPOConfig
    learner_class = PPOLearner
