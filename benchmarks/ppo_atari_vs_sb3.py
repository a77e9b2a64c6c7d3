"""PPO on Atari side by side with Stable-Baselines3's CnnPolicy: same machine, same settings, same steps.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/ppo_atari_vs_sb3.py                              # Breakout, 20k steps, seed 0
    .venv/bin/python benchmarks/ppo_atari_vs_sb3.py --env ALE/Pong-v5 --steps 50000 --threads 2

Each library runs in its own process with the same torch thread count. Reported: training steps/s (wall time
of `learn`, evaluation excluded), the ratio actorcritic / SB3, and the mean return of 3 evaluation games.
The contender actorcritic-bf16 is the same run with --precision bf16 (bf16 autocast in the updates);
actorcritic-async steps the 8 environments in worker processes (--vectorization async), and its fair peer
is sb3-subproc, SB3 with `SubprocVecEnv` (the default peer, sb3, steps them in its process as we do by
default).

Settings (both): ALE/*-v5 with frameskip=1 underneath a frame skip of 4 (max-pooled), up to 30 no-op starts,
FIRE to start, 84x84 grey, 4 frames stacked, episodic life and sign-clipped rewards for training; the
Nature-DQN CNN (shared by policy and value) with linear heads; 8 envs x 128 steps, 4 minibatches of 256,
4 epochs, Adam 2.5e-4 annealed to 0, clip 0.1, clipped value loss, entropy 0.01, value 0.5, grad clip 0.5,
γ 0.99, λ 0.95 (CleanRL's ppo_atari.py). SB3: `make_atari_env` (its AtariWrapper) + VecFrameStack(4).
"""

from __future__ import annotations

import argparse
import functools
import time

from side_by_side import compare, print_header, report_worker

SETTINGS = dict(
    num_envs=8,
    num_steps=128,
    minibatch_size=256,
    epochs=4,
    learning_rate=2.5e-4,
    clip_eps=0.1,
    entropy_coef=0.01,
    value_coef=0.5,
    max_grad_norm=0.5,
    gamma=0.99,
    gae_lambda=0.95,
)


def run_actorcritic(
    env: str, steps: int, seed: int, threads: int, precision: str = "fp32", vectorization: str = "sync"
) -> dict:
    from actorcritic import PPO, PPOConfig

    agent = PPO(
        PPOConfig.for_env(
            env,
            seed=seed,
            total_steps=steps,
            num_threads=threads,
            eval_episodes=3,
            precision=precision,
            vectorization=vectorization,
            **SETTINGS,
        )
    )
    started = time.perf_counter()
    agent.learn()
    elapsed = time.perf_counter() - started
    return {"steps_per_second": agent.global_step / elapsed, "eval_return": float(sum(agent.evaluate()) / 3)}


def run_sb3(env: str, steps: int, seed: int, threads: int, subprocesses: bool = False) -> dict:
    import ale_py
    import gymnasium as gym
    import numpy as np
    import torch
    from stable_baselines3 import PPO as SB3PPO
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import (
        DummyVecEnv,
        SubprocVecEnv,
        VecFrameStack,
    )

    gym.register_envs(ale_py)
    torch.set_num_threads(threads)
    envs = VecFrameStack(
        make_atari_env(
            env,
            n_envs=SETTINGS["num_envs"],
            seed=seed,
            env_kwargs={"frameskip": 1},
            vec_env_cls=SubprocVecEnv if subprocesses else DummyVecEnv,
            # fork: the workers inherit the ALE ids registered above (forkserver's would not)
            vec_env_kwargs={"start_method": "fork"} if subprocesses else None,
        ),
        n_stack=4,
    )
    model = SB3PPO(
        "CnnPolicy",
        envs,
        seed=seed,
        device="cpu",
        n_steps=SETTINGS["num_steps"],
        batch_size=SETTINGS["minibatch_size"],
        n_epochs=SETTINGS["epochs"],
        learning_rate=lambda progress: SETTINGS["learning_rate"] * progress,
        clip_range=SETTINGS["clip_eps"],
        clip_range_vf=SETTINGS["clip_eps"],
        ent_coef=SETTINGS["entropy_coef"],
        vf_coef=SETTINGS["value_coef"],
        max_grad_norm=SETTINGS["max_grad_norm"],
        gamma=SETTINGS["gamma"],
        gae_lambda=SETTINGS["gae_lambda"],
        verbose=0,
    )
    started = time.perf_counter()
    model.learn(total_timesteps=steps)
    elapsed = time.perf_counter() - started
    # evaluation: whole games, real score (SB3's AtariWrapper without its training-only signals)
    eval_env = VecFrameStack(
        make_atari_env(
            env,
            n_envs=1,
            seed=seed + 10_000,
            env_kwargs={"frameskip": 1},
            wrapper_kwargs={"terminal_on_life_loss": False, "clip_reward": False},
        ),
        n_stack=4,
    )
    returns, obs, total = [], eval_env.reset(), 0.0
    while len(returns) < 3:
        action, _ = model.predict(obs, deterministic=True)
        obs, reward, done, info = eval_env.step(action)
        total += float(reward[0])
        if done[0] and info[0].get("lives", 0) == 0:
            returns.append(total)
            total = 0.0
    return {"steps_per_second": model.num_timesteps / elapsed, "eval_return": float(np.mean(returns))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="ALE/Breakout-v5")
    parser.add_argument("--steps", type=int, default=20_480, help="environment steps per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads for both libraries")
    parser.add_argument("--peers", nargs="+", choices=["sb3", "sb3-subproc"], default=["sb3", "sb3-subproc"])
    parser.add_argument(
        "--contenders",
        nargs="+",
        choices=["actorcritic", "actorcritic-bf16", "actorcritic-async"],
        default=["actorcritic", "actorcritic-bf16", "actorcritic-async"],
    )
    parser.add_argument("--worker", nargs=4, metavar=("LIBRARY", "ENV", "STEPS", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        library, env, steps, seed = args.worker
        report_worker(
            library,
            {
                "actorcritic": run_actorcritic,
                "actorcritic-bf16": functools.partial(run_actorcritic, precision="bf16"),
                "actorcritic-async": functools.partial(run_actorcritic, vectorization="async"),
                "sb3": run_sb3,
                "sb3-subproc": functools.partial(run_sb3, subprocesses=True),
            },
            env,
            int(steps),
            int(seed),
            args.threads,
        )
        return
    print_header("env", 18, library_width=17)
    for seed in args.seeds:
        compare(
            args.env,
            seed,
            lambda library: [
                __file__,
                "--threads",
                str(args.threads),
                "--worker",
                library,
                args.env,
                str(args.steps),
                str(seed),
            ],
            width=18,
            peers=tuple(args.peers),
            contenders=tuple(args.contenders),
            library_width=17,
        )


if __name__ == "__main__":
    main()
