"""actorcritic: the actor-critic family of reinforcement-learning methods, as the lecture teaches them."""

from actorcritic.algorithms.ppo import PPO, PPOConfig

__all__ = ["PPO", "PPOConfig"]
__version__ = "0.1.0"
