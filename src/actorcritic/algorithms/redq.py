"""REDQ (Chen et al. 2021, "Randomized Ensembled Double Q-Learning"): SAC with an ensemble of N critics, a
Bellman target that takes its minimum over a random subset of M of them, and many updates per environment step.

    y = r + γ (1 - terminated) (min_{i ∈ M} Q̄_i(s', a') - α log π(a'|s')),   a' ~ π(·|s'),   M ⊂ {1..N} drawn anew
    actor: maximise  mean_{i=1..N} Q_i(s, ã) - α log π(ã|s)

The lecture's section 7 fights the critic's overestimation with TD3's min over two critics; REDQ keeps that
bias in check at a high update-to-data ratio (G = 20 updates per step) by drawing which critics the minimum
runs over, so that the target's bias can be tuned by M while the ensemble's mean keeps the actor's gradient
low in variance. Nothing here is code: REDQ is a configuration of SAC's learner, as DDPG is of TD3's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from actorcritic.algorithms.offpolicy import OffPolicyAgent, OffPolicyConfig
from actorcritic.algorithms.sac import SACConfig, SACLearner


@dataclass(frozen=True)
class REDQConfig(SACConfig):
    """REDQ: the settings of Chen et al. (2021), Table 1 (N = 10, M = 2, G = 20, 5,000 random steps); the rest is
    SAC's."""

    num_critics: int = 10
    """N: Q-functions in the ensemble."""
    target_critics: int | None = 2
    """M: critics the target's minimum is taken over, drawn at random for each update."""
    actor_q: Literal["min", "mean"] = "mean"
    """The actor climbs the mean of all N critics."""
    updates_per_step: int = 20
    """G: the update-to-data ratio, critic updates per environment step."""
    policy_delay: int = 20
    """One actor (and α) update per environment step, i.e. per G critic updates (the authors' code)."""
    learning_starts: int = 5_000
    """Uniformly random steps before the first update."""

    # SAC's Pendulum preset (1k random steps, Adam 1e-3), but 3k steps: at 20 updates per step its 2k learning
    # steps are 40k updates, twice SAC's 19k in its 20k steps (chosen from one pilot seed at -154 after 2k steps)
    PRESETS = {"Pendulum-v1": dict(OffPolicyConfig.PRESETS["Pendulum-v1"], total_steps=3_000)}


class REDQ(OffPolicyAgent):
    """Randomized ensembled double Q-learning: SAC's learner, configured."""

    algo = "redq"
    config_class = REDQConfig
    learner_class = SACLearner
