"""Atari (ALE/*-v5 ids, the `atari` extra: ale-py and OpenCV): the standard preprocessing and the two
training-only signals of PPO on Atari (Mnih et al. 2015; Huang et al. 2022, "The 37 implementation details
of PPO", the Atari details).

`preprocess` is applied to every copy, for training and evaluation: no-op starts (up to 30), frame skip 4
with a max over the last two frames, 84x84 grey, FIRE pressed at the start and after each lost life in
games that need it (else a deterministic policy that never fires would stall until the 108k-frame limit),
and the last 4 frames stacked -> uint8 [4, 84, 84]. The environment itself must not skip frames
(`frameskip=1`; the preset passes it).

`EpisodicLife` and `SignReward` are applied to the training copies only (`training_wrappers`): a lost life
ends the training episode (so the value does not bootstrap past it) without resetting the game, and rewards
are clipped to their sign. Evaluation plays whole games with the real score.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np


def preprocess(env: gym.Env) -> gym.Env:
    """No-op reset, frame skip 4 (max-pooled), 84x84 grey, FIRE to (re)start, 4 frames stacked."""
    quiet_ale()
    env = gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=84, grayscale_obs=True)
    if "FIRE" in env.unwrapped.get_action_meanings():
        env = FireToStart(env)
    return gym.wrappers.FrameStackObservation(env, 4)


def quiet_ale() -> None:
    """ALE prints its banner on stderr at each game's creation; keep stderr for errors."""
    try:
        import ale_py
    except ImportError:
        return
    ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)


class FireToStart(gym.Wrapper):
    """Press FIRE after a reset and after each lost life: games like Breakout wait for it."""

    def reset(self, **kwargs):
        self.env.reset(**kwargs)
        obs, _, terminated, truncated, info = self.env.step(1)
        if terminated or truncated:
            obs, info = self.env.reset(**kwargs)
        self.lives = self.env.unwrapped.ale.lives()
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        lives = self.env.unwrapped.ale.lives()
        if lives < self.lives and not (terminated or truncated):
            obs, fire_reward, terminated, truncated, info = self.env.step(1)
            reward += fire_reward
        self.lives = lives
        return obs, reward, terminated, truncated, info


class EpisodicLife(gym.Wrapper):
    """A lost life is the end of a training episode; the game goes on from there (no reset) until it is over."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.lives, self.game_over = 0, True

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.game_over = terminated or truncated
        lives = self.env.unwrapped.ale.lives()
        if 0 < lives < self.lives:
            terminated = True
        self.lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, **kwargs):
        if self.game_over:
            obs, info = self.env.reset(**kwargs)
        else:  # continue the game after the lost life with a no-op
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
        self.lives, self.game_over = self.env.unwrapped.ale.lives(), False
        return obs, info


def SignReward(env: gym.Env) -> gym.Env:  # noqa: N802 (a wrapper, named like one)
    """Rewards clipped to -1, 0 or +1."""
    return gym.wrappers.TransformReward(env, lambda reward: float(np.sign(reward)))


PPO_PRESET = dict(
    env_kwargs=("frameskip=1",),
    wrappers=("actorcritic.envs.atari:preprocess",),
    training_wrappers=("actorcritic.envs.atari:EpisodicLife", "actorcritic.envs.atari:SignReward"),
    total_steps=10_000_000,
    num_envs=8,
    num_steps=128,
    minibatch_size=256,
    epochs=4,
    learning_rate=2.5e-4,
    anneal_lr=True,
    clip_eps=0.1,
    entropy_coef=0.01,
    value_coef=0.5,
    max_grad_norm=0.5,
    gamma=0.99,
    gae_lambda=0.95,
    hidden_sizes=(),
    normalize_observations=False,
    normalize_rewards=False,
    clip_value_loss=True,
    checkpoint_every=500_000,
)
"""CleanRL's ppo_atari.py settings (8 envs x 128 steps, 4 minibatches, 4 epochs, lr 2.5e-4 annealed, clip 0.1,
entropy 0.01, clipped value loss), with linear heads on the CNN's 512 features."""
