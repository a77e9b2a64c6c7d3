"""Score levels of a peer, Stable-Baselines3, trained with our settings: tells our implementation apart from
the task and the hyperparameters when our score sits far from a paper's (docs/experiments.md, "Score
levels"). Not a timing: it may share the machine with other runs.

    python scripts/peer_scores.py td3 Walker2d-v5 --seeds 0 1 2 --total-steps 300000 --out full-runs/peer-td3-walker2d

One process per seed (run several beside each other), one torch thread each. Every `--eval-every` steps:
10 deterministic episodes on a separate environment, as our runs evaluate; each seed writes
OUT/seed-K.csv (step, eval_return_mean, eval_return_std) as it goes, and OUT/seed-K.json at the end. SB3's
settings are set to ours: (256, 256) networks (SB3's TD3 default is (400, 300)), Adam 3e-4, batch 256,
25k uniformly random steps, τ = 0.005, one update per step, a 1M buffer; TD3's noise 0.1, target
smoothing 0.2 clipped at 0.5, delay 2; SAC's automatic entropy tuning (both libraries' defaults).
Needs the `bench` extra (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch


def train_one_seed(algo: str, env_id: str, seed: int, total_steps: int, eval_every: int, eval_episodes: int, out: Path) -> dict:
    from stable_baselines3 import SAC, TD3
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.noise import NormalActionNoise

    torch.set_num_threads(1)  # one process per seed: more threads per process would oversubscribe the cores
    env = gym.make(env_id)
    eval_env = Monitor(gym.make(env_id))
    eval_env.reset(seed=seed + 10_000)  # an evaluation stream of its own, apart from training's
    common = dict(learning_rate=3e-4, buffer_size=1_000_000, learning_starts=25_000, batch_size=256, tau=0.005, gamma=0.99,
                  train_freq=1, gradient_steps=1, policy_kwargs=dict(net_arch=[256, 256]), seed=seed, device="cpu", verbose=0)
    if algo == "td3":
        half_width = (env.action_space.high - env.action_space.low) / 2
        noise = NormalActionNoise(np.zeros_like(half_width), 0.1 * half_width)
        model = TD3("MlpPolicy", env, action_noise=noise, policy_delay=2, target_policy_noise=0.2, target_noise_clip=0.5, **common)
    else:
        model = SAC("MlpPolicy", env, **common)

    csv_path = out / f"seed-{seed}.csv"
    rows: list[tuple[int, float, float]] = []

    class Evaluate(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % eval_every == 0:
                returns, _ = evaluate_policy(model, eval_env, n_eval_episodes=eval_episodes, deterministic=True, return_episode_rewards=True)
                rows.append((self.num_timesteps, float(np.mean(returns)), float(np.std(returns))))
                with open(csv_path, "w", newline="") as handle:
                    writer = csv.writer(handle)
                    writer.writerow(["step", "eval_return_mean", "eval_return_std"])
                    writer.writerows(rows)
                print(f"{algo} {env_id} seed {seed}: step {self.num_timesteps:,d} eval {rows[-1][1]:.1f}", flush=True)
            return True

    start = time.perf_counter()
    model.learn(total_timesteps=total_steps, callback=Evaluate())
    result = {"algo": algo, "env": env_id, "seed": seed, "total_steps": total_steps, "final_eval_return": rows[-1][1],
              "wall_seconds": round(time.perf_counter() - start), "library": "stable-baselines3"}
    (out / f"seed-{seed}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("algo", choices=["td3", "sac"])
    parser.add_argument("env")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--total-steps", type=int, default=300_000)
    parser.add_argument("--eval-every", type=int, default=10_000)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [(args.algo, args.env, seed, args.total_steps, args.eval_every, args.eval_episodes, args.out) for seed in args.seeds]
    with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
        results = pool.starmap(train_one_seed, jobs)
    finals = [r["final_eval_return"] for r in results]
    print(f"{args.algo} {args.env}, {args.total_steps:,d} steps, final evaluation per seed: {', '.join(f'{x:,.0f}' for x in finals)}")


if __name__ == "__main__":
    main()
