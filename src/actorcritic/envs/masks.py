"""Where an environment says which actions are allowed: the three conventions users have, read through one,
an `action_masks()` method (sb3-contrib's MaskablePPO; its ActionMasker wrapper):

* `action_masks()` on the environment (or one of its wrappers): read as it is;
* `info["action_mask"]` from `reset` and `step` (Gymnasium's Taxi and others): `ActionMaskFromInfo`;
* an `"action_mask"` key of a Dict observation (PettingZoo's convention): `ActionMaskFromObservation`, which
  also takes the key out of the observation, so the networks and an exported policy read the rest.

`with_action_masks(env, env_id)` picks the one the environment uses (--action-masks)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from actorcritic.errors import ActorCriticError

MASK_KEY = "action_mask"


def no_masks(env_id: str) -> ActorCriticError:
    return ActorCriticError(
        f"--action-masks needs an action_masks() method on {env_id}, an '{MASK_KEY}' in its info or an "
        f"'{MASK_KEY}' key of its Dict observation: give it one (or wrap it in "
        "sb3_contrib.common.wrappers.ActionMasker), or drop --action-masks"
    )


class ActionMaskFromInfo(gym.Wrapper):
    """`action_masks()` from the `info["action_mask"]` of the last `reset` or `step`."""

    def __init__(self, env: gym.Env, env_id: str):
        super().__init__(env)
        self.env_id, self._mask = env_id, None

    def reset(self, **kwargs):
        observation, info = self.env.reset(**kwargs)
        self._mask = info.get(MASK_KEY)
        return observation, info

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._mask = info.get(MASK_KEY)
        return observation, reward, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        if self._mask is None:
            raise no_masks(self.env_id)
        return np.asarray(self._mask, dtype=bool)


class ActionMaskFromObservation(gym.ObservationWrapper):
    """`action_masks()` from the observation's `"action_mask"` entry; the observation without it."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.observation_space = gym.spaces.Dict(
            {key: space for key, space in env.observation_space.spaces.items() if key != MASK_KEY}
        )
        self._mask = None

    def observation(self, observation: dict) -> dict:
        self._mask = observation[MASK_KEY]
        return {key: value for key, value in observation.items() if key != MASK_KEY}

    def action_masks(self) -> np.ndarray:
        return np.asarray(self._mask, dtype=bool)


def with_action_masks(env: gym.Env, env_id: str) -> gym.Env:
    """`env` with an `action_masks()` method: its own, or read from its Dict observation or its info."""
    try:
        env.get_wrapper_attr("action_masks")
        return env
    except AttributeError:
        pass
    space = env.observation_space
    if isinstance(space, gym.spaces.Dict) and MASK_KEY in space.spaces:
        return ActionMaskFromObservation(env)
    return ActionMaskFromInfo(env, env_id)


class InvalidActionsEnv(gym.Env):
    """A task with many invalid actions, for masking: each step the observation (one-hot) names a target among
    `actions` actions, of which only `allowed` (the target among them) are valid, drawn anew each step and given by
    `action_masks()`. Reward 1 for the target, 0 otherwise; an invalid action is taken like any other (reward 0),
    so an unmasked policy can learn it too, only slower. Episodes of `length` steps. Choosing at random among the
    valid actions earns `length / allowed`, among all `length / actions`."""

    def __init__(self, actions: int = 16, allowed: int = 4, length: int = 16):
        if not 1 <= allowed <= actions:
            raise ActorCriticError(
                f"InvalidActions needs 1 <= allowed <= actions, not allowed={allowed}, actions={actions}"
            )
        self.actions, self.allowed, self.length = actions, allowed, length
        self.observation_space = gym.spaces.Box(0.0, 1.0, (actions,), np.float32)
        self.action_space = gym.spaces.Discrete(actions)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.steps = 0
        self._draw()
        return self._observation(), {}

    def _draw(self) -> None:
        self.target = int(self.np_random.integers(self.actions))
        others = self.np_random.permutation([a for a in range(self.actions) if a != self.target])[: self.allowed - 1]
        self.valid = np.zeros(self.actions, dtype=bool)
        self.valid[[self.target, *others]] = True

    def _observation(self) -> np.ndarray:
        return np.eye(self.actions, dtype=np.float32)[self.target]

    def action_masks(self) -> np.ndarray:
        return self.valid.copy()

    def step(self, action):
        reward = float(int(action) == self.target)
        self.steps += 1
        self._draw()
        return self._observation(), reward, self.steps >= self.length, False, {}


gym.register("InvalidActions-v0", entry_point=InvalidActionsEnv)
