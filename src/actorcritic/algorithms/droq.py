"""DroQ (Hiraoka et al. 2022, "Dropout Q-Functions for Doubly Efficient Reinforcement Learning"): SAC with two
critics that carry dropout and layer normalisation, at REDQ's high update-to-data ratio.

    Q_i(s, a) = MLP with  Linear -> Dropout(0.01) -> LayerNorm -> ReLU  per hidden layer,   i = 1, 2
    y = r + γ (1 - terminated) (min_i Q̄_i(s', a') - α log π(a'|s')),   a' ~ π(·|s')
    G = 20 critic updates per environment step, one actor (and α) update per step

REDQ (`algorithms/redq.py`) controls the bias of a critic updated 20 times per step with a large ensemble (10
critics, a random pair in the target); DroQ gets that control from two critics by making each an implicit
ensemble: dropout samples a different subnetwork on every forward pass, and layer normalisation keeps
dropout's noise from destabilising the high update ratio. It continues the lecture's section 7, where TD3 meets
the critic's overestimation with the minimum over two critics. Nothing here is code: DroQ is a configuration of
SAC's learner (its critics' dropout and layer normalisation are options of `nets.mlp.StackedMLP`).
"""

from __future__ import annotations

from dataclasses import dataclass

from actorcritic.algorithms.offpolicy import OffPolicyAgent, OffPolicyConfig
from actorcritic.algorithms.sac import SACConfig, SACLearner


@dataclass(frozen=True)
class DroQConfig(SACConfig):
    """DroQ: the settings of Hiraoka et al. (2022), Table 2 (dropout 0.01, layer normalisation, two critics,
    G = 20, 5,000 random steps as in REDQ, whose code theirs builds on); the rest is SAC's."""

    critic_dropout: float = 0.01
    """Dropout rate after each hidden layer of the critics."""
    critic_layer_norm: bool = True
    """Layer normalisation after each hidden layer of the critics."""
    updates_per_step: int = 20
    """G: the update-to-data ratio, critic updates per environment step."""
    policy_delay: int = 20
    """One actor (and α) update per environment step, i.e. per G critic updates."""
    learning_starts: int = 5_000
    """Uniformly random steps before the first update."""

    # SAC's Pendulum preset (1k random steps, Adam 1e-3), but 3k steps: at 20 updates per step its 2k learning
    # steps are 40k updates, twice SAC's 19k in its 20k steps (chosen from one pilot seed at -154 after 2k steps)
    PRESETS = {"Pendulum-v1": dict(OffPolicyConfig.PRESETS["Pendulum-v1"], total_steps=3_000)}


class DroQ(OffPolicyAgent):
    """Dropout Q-functions: SAC's learner, configured."""

    algo = "droq"
    config_class = DroQConfig
    learner_class = SACLearner
