"""How much of a PPO Breakout step is the environment? Steps the 8 preprocessed training copies of the
Atari preset (frame skip 4, 84x84 grey, 4 stacked frames) with random actions, nothing else.

    .venv/bin/python benchmarks/atari_stepping.py"""

from __future__ import annotations

import time

import numpy as np

from actorcritic import PPO, PPOConfig


def main() -> None:
    envs = PPO(PPOConfig.for_env("ALE/Breakout-v5", num_envs=8, num_steps=128)).envs
    envs.reset(seed=0)
    actions = np.random.default_rng(0)
    for _ in range(20):
        envs.step(actions.integers(0, 4, 8))
    started = time.perf_counter()
    for _ in range(128):
        envs.step(actions.integers(0, 4, 8))
    print(f"8 Breakout copies: {time.perf_counter() - started:.3f} s per 1,024 environment steps (stepping only)")


if __name__ == "__main__":
    main()
