"""The registry: every algorithm by its command-line name, registered once, with the settings of its smoke run.

`actorcritic train NAME`, `resume`, `evaluate`, sweeps, experiments and the contract suite (`tests/contract/`)
all find an algorithm here, and nowhere else. Registering a new algorithm is one entry below; the contract
suite then checks it (smoke run, save/load, exact resume, seed independence, NaN refusal, help, export)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from actorcritic.algorithms.a2c import A2C, A2CConfig
from actorcritic.algorithms.crossq import CrossQ, CrossQConfig
from actorcritic.algorithms.droq import DroQ, DroQConfig
from actorcritic.algorithms.grpo import GRPO, GRPOConfig
from actorcritic.algorithms.grpo_lm import GRPOLM, GRPOLMConfig
from actorcritic.algorithms.ppo import PPO, PPOConfig
from actorcritic.algorithms.recurrent_ppo import RecurrentPPO, RecurrentPPOConfig
from actorcritic.algorithms.redq import REDQ, REDQConfig
from actorcritic.algorithms.reinforce import REINFORCE, REINFORCEConfig
from actorcritic.algorithms.sac import SAC, SACConfig
from actorcritic.algorithms.td3 import DDPG, TD3, DDPGConfig, TD3Config
from actorcritic.algorithms.tqc import TQC, TQCConfig
from actorcritic.algorithms.trpo import TRPO, TRPOConfig
from actorcritic.errors import ActorCriticError


@dataclass(frozen=True)
class Registration:
    """An algorithm as the rest of the package knows it."""

    agent_class: type
    config_class: type
    smoke: dict[str, Any] = field(default_factory=dict)
    """Config fields of a run of a few seconds that passes through every part of the loop (updates, a
    logging window, an evaluation, a checkpoint): the contract suite's settings for this algorithm."""

    @property
    def name(self) -> str:
        return self.agent_class.algo


_ON_POLICY_SMOKE = dict(
    env="InvertedPendulum-v5",
    num_envs=2,
    num_steps=32,
    total_steps=256,
    hidden_sizes=(8,),
    eval_episodes=1,
    checkpoint_every=128,
)
_OFF_POLICY_SMOKE = dict(
    env="InvertedPendulum-v5",
    total_steps=240,
    learning_starts=60,
    batch_size=16,
    hidden_sizes=(8,),
    log_every=60,
    eval_episodes=1,
    num_threads=1,
    buffer_size=500,
    checkpoint_every=120,
)

ALGORITHMS: dict[str, Registration] = {
    registration.name: registration
    for registration in (
        Registration(PPO, PPOConfig, dict(_ON_POLICY_SMOKE, minibatch_size=32, epochs=2)),
        Registration(A2C, A2CConfig, dict(_ON_POLICY_SMOKE, num_steps=8, log_every=64)),
        Registration(
            RecurrentPPO,
            RecurrentPPOConfig,
            dict(_ON_POLICY_SMOKE, minibatch_size=16, epochs=2, recurrent_size=8, sequence_length=8),
        ),
        Registration(REINFORCE, REINFORCEConfig, dict(_ON_POLICY_SMOKE, baseline="value")),
        Registration(TRPO, TRPOConfig, dict(_ON_POLICY_SMOKE, minibatch_size=32, value_epochs=2)),
        Registration(
            GRPO,
            GRPOConfig,
            dict(
                env="InvertedPendulum-v5",
                group_size=3,
                groups_per_update=2,
                total_steps=240,
                hidden_sizes=(8,),
                eval_episodes=1,
                checkpoint_every=120,
            ),
        ),
        Registration(TD3, TD3Config, _OFF_POLICY_SMOKE),
        Registration(DDPG, DDPGConfig, _OFF_POLICY_SMOKE),
        Registration(SAC, SACConfig, _OFF_POLICY_SMOKE),
        Registration(REDQ, REDQConfig, dict(_OFF_POLICY_SMOKE, num_critics=4, updates_per_step=2, policy_delay=2)),
        Registration(DroQ, DroQConfig, dict(_OFF_POLICY_SMOKE, updates_per_step=2, policy_delay=2)),
        Registration(TQC, TQCConfig, dict(_OFF_POLICY_SMOKE, n_quantiles=5, top_quantiles_to_drop=1)),
        Registration(CrossQ, CrossQConfig, dict(_OFF_POLICY_SMOKE, critic_hidden_sizes=(16,), renorm_warmup_steps=50)),
        Registration(
            GRPOLM,
            GRPOLMConfig,
            dict(
                task="addition",
                digits=1,
                warmup_steps=20,
                warmup_learning_rate=3e-2,  # so that the GRPO steps after it sample right answers and update
                total_steps=6,
                prompts_per_step=4,
                group_size=4,
                d_model=16,
                num_layers=1,
                num_heads=2,
                eval_prompts=10,
                warmup_check_prompts=10,
                eval_every=3,
                checkpoint_every=2,
            ),
        ),
    )
}
"""name -> its registration, in the order `actorcritic train --help` lists them."""


def algorithm(name: str) -> Registration:
    """The registration of `name`, or a one-line error listing the names there are."""
    if name not in ALGORITHMS:
        raise ActorCriticError(f"unknown algorithm {name!r}: choose one of {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]
