"""actorcritic: the actor-critic family of reinforcement-learning methods, as the lecture teaches them."""

from actorcritic.algorithms.ppo import PPO, PPOConfig
from actorcritic.algorithms.sac import SAC, SACConfig
from actorcritic.algorithms.td3 import DDPG, TD3, DDPGConfig, TD3Config

__all__ = ["PPO", "PPOConfig", "TD3", "TD3Config", "DDPG", "DDPGConfig", "SAC", "SACConfig"]
__version__ = "0.1.0"
