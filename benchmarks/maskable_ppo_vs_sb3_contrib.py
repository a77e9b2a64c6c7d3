"""Masked PPO side by side with sb3-contrib's MaskablePPO: same machine, same task, same settings.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/maskable_ppo_vs_sb3_contrib.py                  # 20k steps, seed 0
    .venv/bin/python benchmarks/maskable_ppo_vs_sb3_contrib.py --steps 5120 --seeds 0 1 2 3

Each (library, seed) runs in its own process with one torch thread. Reported: training steps/s (wall time of
`learn`, evaluation excluded), the ratio actorcritic / sb3-contrib, and the deterministic evaluation return
over 10 episodes after training, each step's mask given to the policy (the same evaluation code for both).

Task: `actorcritic.envs.masks:InvalidActions-v0` with 64 actions of which 4 are valid at each step (episodes of
16 steps, reward 1 for the target the observation names; at random among the valid actions 4 per episode).
Settings (both): 4 envs x 128 steps, minibatches of 128, 4 epochs, Adam 1e-3 constant, entropy 0.01, γ 0.99,
λ 0.95, clip 0.2, value coefficient 0.5 on the squared error (ours: 1.0 on half of it), advantages normalised
per minibatch, gradient-norm clip 0.5, 64-64 tanh networks, no observation or reward normalisation.
"""

from __future__ import annotations

import time

from side_by_side import main_with_seeds

ENV, ACTIONS = "actorcritic.envs.masks:InvalidActions-v0", 64
SETTINGS = dict(num_envs=4, num_steps=128, minibatch_size=128, epochs=4, learning_rate=1e-3, entropy_coef=0.01)


def masked_return(act, episodes: int = 10, seed: int = 10_000) -> float:
    """Mean return of `act(obs, mask) -> action` over fresh episodes, each step's mask given."""
    import gymnasium as gym
    import numpy as np

    import actorcritic.envs.masks  # noqa: F401  (registers the task)

    env = gym.make(ENV, actions=ACTIONS)
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done, total = False, 0.0
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs, env.unwrapped.action_masks()))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def run_actorcritic(steps: int, seed: int, threads: int) -> dict:
    from actorcritic import PPO, PPOConfig

    config = PPOConfig(
        env=ENV,
        env_kwargs=(f"actions={ACTIONS}",),
        seed=seed,
        total_steps=steps,
        num_threads=threads,
        action_masks=True,
        anneal_lr=False,
        value_coef=2 * 0.5,
        normalize_per_minibatch=True,
        normalize_observations=False,
        normalize_rewards=False,
        eval_every=0,
        **SETTINGS,
    )
    agent = PPO(config)
    started = time.perf_counter()
    agent.learn()
    elapsed = time.perf_counter() - started
    return {
        "steps_per_second": agent.global_step / elapsed,
        "steps": agent.global_step,
        "eval_return": masked_return(lambda obs, mask: agent.act(obs, action_masks=mask)),
    }


def run_sb3_contrib(steps: int, seed: int, threads: int) -> dict:
    import torch
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.env_util import make_vec_env

    import actorcritic.envs.masks  # noqa: F401  (registers the task)

    torch.set_num_threads(threads)
    envs = make_vec_env(ENV, n_envs=SETTINGS["num_envs"], seed=seed, env_kwargs={"actions": ACTIONS})
    model = MaskablePPO(
        "MlpPolicy",
        envs,
        seed=seed,
        device="cpu",
        n_steps=SETTINGS["num_steps"],
        batch_size=SETTINGS["minibatch_size"],
        n_epochs=SETTINGS["epochs"],
        learning_rate=SETTINGS["learning_rate"],
        ent_coef=SETTINGS["entropy_coef"],
        vf_coef=0.5,
        max_grad_norm=0.5,
        verbose=0,
    )
    started = time.perf_counter()
    model.learn(total_timesteps=steps)
    elapsed = time.perf_counter() - started
    return {
        "steps_per_second": model.num_timesteps / elapsed,
        "steps": model.num_timesteps,
        "eval_return": masked_return(lambda obs, mask: model.predict(obs, action_masks=mask, deterministic=True)[0]),
    }


if __name__ == "__main__":
    main_with_seeds(
        __doc__, __file__, "invalid-actions", {"sb3_contrib": run_sb3_contrib, "actorcritic": run_actorcritic}, 20_480
    )
