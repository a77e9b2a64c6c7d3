"""TRPO side by side with sb3-contrib's TRPO: same machine, same hyperparameters, same number of steps.

    .venv/bin/pip install -e '.[bench]'
    cd benchmarks
    ../.venv/bin/python trpo_vs_sb3_contrib.py                     # CartPole-v1 and Pendulum-v1, seed 0
    ../.venv/bin/python trpo_vs_sb3_contrib.py --env CartPole-v1 --steps 150000 --seeds 0 1 2

Each (library, env, seed) runs in its own process with one torch thread. Reported: training steps/s (wall
time of `learn`), the ratio actorcritic / sb3-contrib and the deterministic evaluation return over 10
episodes at the end (the same evaluation code for both).

Settings (both, sb3-contrib's defaults): 1 env x 2048 steps per update, separate 64-64 tanh policy and
value networks, max KL 0.01, 15 conjugate-gradient iterations with damping 0.1, line search of at most 10
steps shrinking by 0.8, value function fitted by 10 epochs of Adam 1e-3 on minibatches of 128, GAE
γ = 0.99, λ = 0.95, advantage normalisation, no observation or reward normalisation.
Known difference: actorcritic clips the value function's gradient norm at 0.5.
"""

from __future__ import annotations

import argparse
import time

from side_by_side import compare, evaluate, print_header, report_worker

ENVS = {"CartPole-v1": 100_000, "Pendulum-v1": 100_000}


def run_actorcritic(env: str, steps: int, seed: int) -> dict:
    from actorcritic import TRPO, TRPOConfig

    agent = TRPO(
        TRPOConfig(
            env=env,
            seed=seed,
            total_steps=steps,
            num_envs=1,
            num_steps=2048,
            normalize_observations=False,
            normalize_rewards=False,
            num_threads=1,
        )
    )
    started = time.perf_counter()
    agent.learn()
    elapsed = time.perf_counter() - started
    return {"steps_per_second": agent.global_step / elapsed, "eval_return": evaluate(lambda obs: agent.act(obs), env)}


def run_sb3_contrib(env: str, steps: int, seed: int) -> dict:
    import torch
    from sb3_contrib import TRPO as ContribTRPO

    torch.set_num_threads(1)
    model = ContribTRPO("MlpPolicy", env, seed=seed, device="cpu", n_steps=2048, batch_size=128, verbose=0)
    started = time.perf_counter()
    model.learn(total_timesteps=steps)
    elapsed = time.perf_counter() - started
    return {
        "steps_per_second": model.num_timesteps / elapsed,
        "eval_return": evaluate(lambda obs: model.predict(obs, deterministic=True)[0], env),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=[*ENVS, "all"], default="all")
    parser.add_argument("--steps", type=int, help="environment steps per run (default: 100k)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--worker", nargs=3, metavar=("LIBRARY", "ENV", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        library, env, seed = args.worker
        report_worker(
            library,
            {"actorcritic": run_actorcritic, "sb3-contrib": run_sb3_contrib},
            env,
            args.steps or ENVS[env],
            int(seed),
        )
        return
    envs = list(ENVS) if args.env == "all" else [args.env]
    print_header("env", 12)
    for env in envs:
        for seed in args.seeds:
            compare(
                env,
                seed,
                lambda library: (
                    [__file__, "--worker", library, env, str(seed)]
                    + (["--steps", str(args.steps)] if args.steps else [])
                ),
                peers=("sb3-contrib",),
            )


if __name__ == "__main__":
    main()
