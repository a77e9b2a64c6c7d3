"""CrossQ (Bhatt et al. 2024, "CrossQ: Batch Normalization in Deep Reinforcement Learning for Greater Sample
Efficiency and Simplicity"): SAC without target networks, with batch renormalisation in its networks and a
critic that sees the current and the next state-action batches in one forward pass.

    every network: BatchRenorm -> Linear -> ReLU per hidden layer, BatchRenorm -> Linear  (`nets.batch_renorm`)
    a' ~ π(·|s')                                                         (actor normalising with running statistics)
    [Q_i(s, a) ; Q_i(s', a')] = Q_i([s ; s'], [a ; a'])   one joint pass, statistics of the mixed batch
    y = r + γ (1 - terminated) (min_i sg(Q_i(s', a')) - α log π(a'|s'))  no target network: the online critics
    critics: Σ_i E[(Q_i(s, a) - y)²];   every policy_delay-th update: SAC's actor and α steps

The lecture's section 7 stabilises the bootstrapped target with a slowly moving target network (φ̄), at the cost
of a target that lags the critic. CrossQ drops φ̄: the normalisation makes the critic's own next-state values
stable enough to bootstrap from. Why the joint pass: (s, a) comes from the replay buffer and (s', a') from the
current policy, two different distributions; normalising each with statistics of the other (as separate passes
would) puts one of them out of distribution. One pass normalises both with the statistics of their mixture.
The actor's loss reads the critics with their running statistics, and the actor's own statistics move only in
that step. The temperature, the actor's loss and the engine are SAC's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from actorcritic.algorithms.buffers import Transitions
from actorcritic.algorithms.offpolicy import OffPolicyAgent, fit_critics_to
from actorcritic.algorithms.sac import SACConfig, SACLearner, ensemble_minimum
from actorcritic.config import check_range
from actorcritic.core.losses import bellman_target
from actorcritic.nets.batch_renorm import RenormSettings, training


@dataclass(frozen=True)
class CrossQConfig(SACConfig):
    """CrossQ: sb3-contrib's defaults (Adam 1e-3 with β1 = 0.5, policy delay 3, actor 256-256, critics 1024-1024,
    batch renormalisation with momentum 0.01 and 100k warm-up batches); the paper's critics are 2048 wide
    (`--critic-hidden-sizes 2048 2048`). 5,000 random steps as in the paper. The rest is SAC's."""

    learning_rate: float | str = 1e-3
    """Adam step size of the actor, the critics and α."""
    adam_betas: tuple[float, float] = (0.5, 0.999)
    """Adam's β1 and β2 (the paper's β1 = 0.5)."""
    policy_delay: int = 3
    """Update the actor (and α) every this many critic updates."""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """Hidden layer widths of the actor."""
    critic_hidden_sizes: tuple[int, ...] | None = (1024, 1024)
    """Hidden layer widths of each critic: wider than the actor's (None: --hidden-sizes)."""
    learning_starts: int = 5_000
    """Uniformly random steps before the first update."""
    renorm_momentum: float = 0.01
    """Step of the batch-renormalisation running statistics towards each batch's."""
    renorm_warmup_steps: int = 100_000
    """Training batches of plain batch normalisation before the renormalisation's corrections apply."""

    # rl-baselines3-zoo, hyperparams/crossq.yml: Pendulum-v1 (256-256 critics, policy delay 2, 100 random steps,
    # 20k steps) and its MuJoCo defaults (the paper's 2048-wide critics, 5,000 random steps)
    PRESETS = {
        "Pendulum-v1": dict(total_steps=20_000, learning_starts=100, policy_delay=2, critic_hidden_sizes=None),
        **{
            env: dict(critic_hidden_sizes=(2048, 2048), learning_starts=5_000)
            for env in ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Ant-v5", "Humanoid-v5")
        },
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("renorm_momentum", self.renorm_momentum, 0, 1, low_inclusive=False)
        check_range("renorm_warmup_steps", self.renorm_warmup_steps, 0)


class CrossQLearner(SACLearner):
    """SAC's learner with batch-renormalised networks, no target networks and the joint critic pass."""

    target_networks = False

    def renorm(self) -> RenormSettings:
        return RenormSettings(momentum=self.config.renorm_momentum, warmup_steps=self.config.renorm_warmup_steps)

    def fit_critics(self, batch: Transitions, alpha: torch.Tensor, generator: torch.Generator) -> dict:
        """One step of the critics, Q(s, a) and Q(s', a') from one pass through them (statistics of the mixture)."""
        cfg, size = self.config, batch.observations.shape[0]
        with torch.no_grad():
            next_actions, next_log_probs = self.actor(batch.next_observations, generator)
        with training(self.critics.online):
            both = self.critics.q(
                torch.cat([batch.observations, batch.next_observations]),
                torch.cat([batch.actions, next_actions]),
                generator=generator,
            )
        q, next_q = both[:, :size], both[:, size:].detach()
        next_values = ensemble_minimum(next_q, cfg.target_critics, generator) - alpha * next_log_probs
        targets = bellman_target(batch.rewards, batch.terminated, next_values, cfg.gamma)
        return fit_critics_to(q, targets, self.critic_optimizer, self.critics)

    def improve_actor(self, batch: Transitions, alpha: torch.Tensor, generator: torch.Generator) -> dict:
        """SAC's actor and α steps, the actor normalising with (and updating) its batch statistics."""
        with training(self.actor):
            return super().improve_actor(batch, alpha, generator)


class CrossQ(OffPolicyAgent):
    """CrossQ: SAC without target networks, batch-renormalised."""

    algo = "crossq"
    config_class = CrossQConfig
    learner_class = CrossQLearner
