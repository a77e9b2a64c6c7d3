"""Tasks that need memory: classic control with the velocities removed from the observation (rl-baselines3-zoo's
`CartPoleNoVel-v1` / `PendulumNoVel-v1` idea). One observation then says where the pole is, not where it is
going; a policy must infer the velocity from the observations before it, which a feed-forward policy cannot and a
recurrent one (--recurrent lstm|gru) can.

`--env actorcritic.envs.memory:CartPoleNoVel-v1` (or `PendulumNoVel-v1`): Gymnasium imports this module, which
registers them. `NoVelocity(env, keep)` is the wrapper, for any other vector observation."""

from __future__ import annotations

from typing import Sequence

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control import CartPoleEnv, PendulumEnv


class NoVelocity(gym.ObservationWrapper):
    """The observation's entries `keep` only (a Box of those entries' bounds and dtype)."""

    def __init__(self, env: gym.Env, keep: Sequence[int]):
        super().__init__(env)
        self.keep = np.asarray(keep, dtype=np.int64)
        space = env.observation_space
        self.observation_space = gym.spaces.Box(space.low[self.keep], space.high[self.keep], dtype=space.dtype)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return observation[self.keep]


def cartpole_no_velocity(**kwargs) -> gym.Env:
    """CartPole's cart position and pole angle, without their velocities (observation [x, θ])."""
    return NoVelocity(CartPoleEnv(**kwargs), keep=(0, 2))


def pendulum_no_velocity(**kwargs) -> gym.Env:
    """Pendulum's (cos θ, sin θ), without the angular velocity."""
    return NoVelocity(PendulumEnv(**kwargs), keep=(0, 1))


gym.register("CartPoleNoVel-v1", entry_point=cartpole_no_velocity, max_episode_steps=500, reward_threshold=475.0)
gym.register("PendulumNoVel-v1", entry_point=pendulum_no_velocity, max_episode_steps=200)
