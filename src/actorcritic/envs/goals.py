"""Goal-conditioned environments, in Gymnasium-Robotics' convention: a Dict observation of `observation`,
`achieved_goal` and `desired_goal`, and `compute_reward(achieved_goal, desired_goal, info)` that scores any
goal, batched. The engines see such an observation flattened (gymnasium's FlattenObservation); `GoalLayout`
says where its goals lie in that vector, which is what hindsight relabelling rewrites.

`BitFlipping-v0` is the toy of the HER paper (Andrychowicz et al. 2017): n bits to turn into a target pattern,
reward -1 until they match. With a continuous action (as Stable-Baselines3's `BitFlippingEnv(continuous=True)`)
each positive coordinate flips its bit. Registered when this module is imported:
`--env actorcritic.envs.goals:BitFlipping-v0 --env-kwargs bits=15`."""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

GOAL_KEYS = ("observation", "achieved_goal", "desired_goal")


@dataclass(frozen=True)
class GoalLayout:
    """The columns of the flattened observation that hold the achieved and the desired goal."""

    achieved: slice
    desired: slice

    @classmethod
    def of(cls, space: gym.Space) -> "GoalLayout | None":
        """The layout of a goal-conditioned Dict space as FlattenObservation lays it out (its keys in the space's
        order, each flattened), or None for any other space."""
        if not isinstance(space, gym.spaces.Dict) or not set(GOAL_KEYS) <= set(space.spaces):
            return None
        columns, start = {}, 0
        for key, part in space.spaces.items():
            width = gym.spaces.flatdim(part)
            columns[key] = slice(start, start + width)
            start += width
        return cls(columns["achieved_goal"], columns["desired_goal"])


class BitFlippingEnv(gym.Env):
    """n bits and a target pattern; each action flips the bits whose coordinate is positive. Reward 0 when the
    bits match the target (the episode then terminates), -1 otherwise; at most n steps (`max_steps`)."""

    def __init__(self, bits: int = 8, max_steps: int | None = None):
        self.bits, self.max_steps = bits, max_steps or bits
        vector = gym.spaces.Box(0.0, 1.0, (bits,), np.float32)
        self.observation_space = gym.spaces.Dict(
            {"observation": vector, "achieved_goal": vector, "desired_goal": vector}
        )
        self.action_space = gym.spaces.Box(-1.0, 1.0, (bits,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.state = self.np_random.integers(0, 2, self.bits).astype(np.float32)
        self.goal = self.np_random.integers(0, 2, self.bits).astype(np.float32)
        self.steps = 0
        return self._observation(), {}

    def step(self, action):
        self.state = np.where(np.asarray(action) > 0, 1.0 - self.state, self.state).astype(np.float32)
        self.steps += 1
        reward = float(self.compute_reward(self.state, self.goal, {}))
        success = reward == 0.0
        return (
            self._observation(),
            reward,
            success,
            self.steps >= self.max_steps and not success,
            {"is_success": success},
        )

    def compute_reward(self, achieved_goal, desired_goal, info) -> np.ndarray:
        """0 where every bit matches, else -1: [...] for goals [..., n]."""
        return -(np.abs(np.asarray(achieved_goal) - np.asarray(desired_goal)).sum(axis=-1) > 0).astype(np.float32)

    def _observation(self) -> dict:
        return {"observation": self.state.copy(), "achieved_goal": self.state.copy(), "desired_goal": self.goal.copy()}


gym.register("BitFlipping-v0", entry_point=BitFlippingEnv)
