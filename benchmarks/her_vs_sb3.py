"""SAC with hindsight experience replay side by side with Stable-Baselines3's (SAC + HerReplayBuffer): same
machine, same hyperparameters, same steps, on the HER paper's bit-flipping task with continuous flips.

    .venv/bin/pip install -e '.[bench]'
    cd benchmarks
    ../.venv/bin/python her_vs_sb3.py                        # 15 bits: 1k random steps, 5k timed training steps
    ../.venv/bin/python her_vs_sb3.py --steps 19000          # to 20k steps: the success rate both reach

Each library runs in its own process with the same torch thread count (default 2). Every run first takes
`--warmup` uniformly random steps (learning_starts), then `--steps` steps with one gradient update each;
steps/s is measured over those training steps only. Reported: steps/s, our ratio to SB3, the success rate of
50 fresh deterministic episodes at the end (in the eval-return column), peak memory, and our per-phase
milliseconds per step.

Settings (both): SAC, 256-256 ReLU, Adam 1e-3, batch 256, γ = 0.95, τ = 0.005, buffer 1e6, automatic entropy
tuning from α = 1, 4 relabelled goals per real one with the future strategy. The environments are each
library's own bit-flipping task (SB3's `BitFlippingEnv(continuous=True)` and our `BitFlipping-v0`): n bits,
positive coordinates flip their bit, reward -1 until the bits match the goal, n steps at most.
"""

from __future__ import annotations

import argparse
import functools
import time

from side_by_side import compare, phase_milliseconds, print_header, report_worker

SETTINGS = dict(learning_rate=1e-3, batch_size=256, gamma=0.95, tau=0.005, buffer_size=1_000_000)
EVAL_EPISODES = 50


def success_rate(act, make_env, flatten) -> float:
    env, wins = make_env(), 0
    for episode in range(EVAL_EPISODES):
        obs, _ = env.reset(seed=10_000 + episode)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(act(flatten(obs)))
            done = terminated or truncated
        wins += bool(info["is_success"])
    return wins / EVAL_EPISODES


def run_actorcritic(bits: int, warmup: int, steps: int, seed: int, threads: int) -> dict:
    import gymnasium as gym
    import numpy as np

    from actorcritic import SAC, SACConfig

    agent = SAC(
        SACConfig(
            env="actorcritic.envs.goals:BitFlipping-v0",
            env_kwargs=(f"bits={bits}",),
            hidden_sizes=(256, 256),
            her_goals=4,
            her_strategy="future",
            seed=seed,
            total_steps=warmup + steps,
            learning_starts=warmup,
            num_threads=threads,
            **SETTINGS,
        )
    )
    agent.learn(warmup)
    clock_before = dict(agent.clock.seconds)
    started = time.perf_counter()
    agent.learn(steps)
    elapsed = time.perf_counter() - started

    def flatten(obs):  # the Dict flattened in its keys' order, as the agent was trained
        return np.concatenate([obs["achieved_goal"], obs["desired_goal"], obs["observation"]])

    return {
        "steps_per_second": steps / elapsed,
        "eval_return": success_rate(agent.act, lambda: gym.make("BitFlipping-v0", bits=bits), flatten),
        "phases_ms": phase_milliseconds(clock_before, agent.clock.seconds, steps),
    }


def run_sb3(bits: int, warmup: int, steps: int, seed: int, threads: int) -> dict:
    import torch
    from stable_baselines3 import SAC as SB3SAC
    from stable_baselines3 import HerReplayBuffer
    from stable_baselines3.common.envs import BitFlippingEnv

    torch.set_num_threads(threads)

    def make():
        return BitFlippingEnv(n_bits=bits, continuous=True, max_steps=bits)

    model = SB3SAC(
        "MultiInputPolicy",
        make(),
        replay_buffer_class=HerReplayBuffer,
        replay_buffer_kwargs=dict(n_sampled_goal=4, goal_selection_strategy="future"),
        learning_starts=warmup,
        train_freq=1,
        gradient_steps=1,
        ent_coef="auto_1.0",
        policy_kwargs=dict(net_arch=[256, 256]),
        seed=seed,
        device="cpu",
        verbose=0,
        **SETTINGS,
    )
    model.learn(total_timesteps=warmup)
    started = time.perf_counter()
    model.learn(total_timesteps=steps, reset_num_timesteps=False)
    elapsed = time.perf_counter() - started
    act = functools.partial(model.predict, deterministic=True)
    return {"steps_per_second": steps / elapsed, "eval_return": success_rate(lambda obs: act(obs)[0], make, dict)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=1_000, help="random steps before learning starts")
    parser.add_argument("--steps", type=int, default=5_000, help="training steps (one update each), timed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", nargs=2, metavar=("LIBRARY", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        library, seed = args.worker
        runners = {"sb3": run_sb3, "actorcritic": run_actorcritic}
        report_worker(library, runners, args.bits, args.warmup, args.steps, int(seed), args.threads)
        return

    print(
        f"BitFlipping, {args.bits} bits: {args.warmup} random steps, then {args.steps} training steps (timed), "
        f"{args.threads} torch threads; eval column: success rate of {EVAL_EPISODES} episodes"
    )
    print_header("case", 8, library_width=12)
    for seed in args.seeds:
        compare(
            "sac+her",
            seed,
            lambda library: [
                __file__,
                *("--bits", str(args.bits), "--warmup", str(args.warmup), "--steps", str(args.steps)),
                *("--threads", str(args.threads), "--worker", library, str(seed)),
            ],
            width=8,
            peers=("sb3",),
            library_width=12,
        )


if __name__ == "__main__":
    main()
