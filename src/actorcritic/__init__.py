"""actorcritic: the actor-critic family of reinforcement-learning methods, as the lecture teaches them."""

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
from actorcritic.runs.seeds import SeedGroup, load_agent_or_group, make_agent
from actorcritic.runs.training import learn

__all__ = [
    "PPO",
    "PPOConfig",
    "RecurrentPPO",
    "RecurrentPPOConfig",
    "A2C",
    "A2CConfig",
    "REINFORCE",
    "REINFORCEConfig",
    "TRPO",
    "TRPOConfig",
    "GRPO",
    "GRPOConfig",
    "GRPOLM",
    "GRPOLMConfig",
    "TD3",
    "TD3Config",
    "DDPG",
    "DDPGConfig",
    "SAC",
    "SACConfig",
    "REDQ",
    "REDQConfig",
    "DroQ",
    "DroQConfig",
    "TQC",
    "TQCConfig",
    "CrossQ",
    "CrossQConfig",
    "SeedGroup",
    "make_agent",
    "load_agent_or_group",
    "learn",
]
__version__ = "0.1.0"
