"""TD3 and SAC side by side with Stable-Baselines3 (PyTorch) and SBX (SB3 in JAX): same machine, same
hyperparameters, same steps.

    .venv/bin/pip install -e '.[bench]'
    cd benchmarks
    ../.venv/bin/python offpolicy_vs_sb3.py                          # speed: TD3 and SAC on HalfCheetah-v5
    ../.venv/bin/python offpolicy_vs_sb3.py --algo td3 --env Pendulum-v1 --warmup 1000 --steps 19000 --seeds 0 1 2

Each (library, algorithm, seed) runs in its own process with the same torch thread count (default 2, the
machine's cores, which is also torch's default and so what SB3 users get; JAX uses its own thread pool).
Every run first takes `--warmup` uniformly random steps (learning_starts), then `--steps` steps with one
gradient update each; steps/s is measured over those training steps only. Our contenders:

    actorcritic            one seed, fp32
    actorcritic-bf16       one seed, --precision bf16 (bf16 autocast for the matrix products)
    actorcritic-x8         8 seeds in one process (--seeds), fp32: steps/s counts seed-steps
    actorcritic-bf16-x8    8 seeds in one process, bf16
    actorcritic-floor      (on request) not a run: the most steps/s an eager PyTorch program doing our fp32
                           step's arithmetic with these kernels could reach (eager_floor.py), whatever its overhead

Reported: steps/s of each, the ratio of each of ours to SB3 and SBX (and of the later ones to our first),
the deterministic evaluation return over 10 episodes at the end (seed `seed` of a multi-seed run), the
process's peak resident memory, and for ours the milliseconds per step of each phase of the loop (acting,
environment, storing, update with its batch sampling, logging; seed `seed`'s, in a multi-seed run), so that a
regression shows where it is.

Settings (both): 256-256 ReLU MLPs, Adam 3e-4, batch 256, τ = 0.005, γ = 0.99, buffer 1e6, one update per
step. TD3: exploration noise 0.1, target noise 0.2 clipped at 0.5, policy delay 2. SAC: automatic entropy
tuning from α = 1 with target entropy -|A|, actor and α updated every step.
"""

from __future__ import annotations

import argparse
import functools
import time

from side_by_side import compare, evaluate, phase_milliseconds, print_header, report_worker

COMMON = dict(learning_rate=3e-4, batch_size=256, tau=0.005, gamma=0.99, buffer_size=1_000_000)


CONTENDERS = {
    "actorcritic": ("fp32", 1),
    "actorcritic-bf16": ("bf16", 1),
    "actorcritic-x8": ("fp32", 8),
    "actorcritic-bf16-x8": ("bf16", 8),
}
"""Our runs: name -> (precision, seeds in the process)."""


def _agent(algo: str, env: str, warmup: int, steps: int, seed: int, threads: int, num_seeds: int = 1, **options):
    """Our agent (of `num_seeds` seeds; `options`: further config fields), after its `warmup` random steps."""
    from actorcritic import SAC, TD3, SACConfig, TD3Config, make_agent

    agent_class, config_class = (TD3, TD3Config) if algo == "td3" else (SAC, SACConfig)
    agent = make_agent(
        agent_class,
        config_class(
            env=env,
            seed=seed,
            seeds=tuple(range(seed, seed + num_seeds)),
            total_steps=warmup + steps,
            learning_starts=warmup,
            num_threads=threads,
            hidden_sizes=(256, 256),
            **options,
            **COMMON,
        ),
    )
    agent.learn(warmup)
    return agent


def run_actorcritic(
    algo: str,
    env: str,
    warmup: int,
    steps: int,
    seed: int,
    threads: int,
    precision: str = "fp32",
    num_seeds: int = 1,
    force_bf16: bool = False,
) -> dict:
    agent = _agent(algo, env, warmup, steps, seed, threads, num_seeds, precision=precision, force_bf16=force_bf16)
    first = agent.seed_agent(0) if num_seeds > 1 else agent
    clock_before = dict(first.clock.seconds)
    started = time.perf_counter()
    agent.learn(steps)
    elapsed = time.perf_counter() - started
    return {
        "steps_per_second": num_seeds * steps / elapsed,
        "eval_return": evaluate(lambda obs: first.act(obs), env),
        "phases_ms": phase_milliseconds(clock_before, first.clock.seconds, steps),
    }


def run_floor(algo: str, env: str, warmup: int, steps: int, seed: int, threads: int) -> dict:
    """Not a run: the most steps/s an eager PyTorch program doing our fp32 training step's arithmetic could reach
    with these kernels (`eager_floor.floor_result`)."""
    from eager_floor import floor_result

    return floor_result(_agent(algo, env, warmup, steps, seed, threads), min(steps, 1000))


def run_sb3(algo: str, env: str, warmup: int, steps: int, seed: int, threads: int, library: str = "sb3") -> dict:
    """SB3's TD3 / SAC, or with library="sbx" SBX's (the same API, in JAX)."""
    import gymnasium as gym
    import numpy as np
    import torch
    from stable_baselines3.common.noise import NormalActionNoise

    if library == "sbx":
        from sbx import SAC as SB3SAC
        from sbx import TD3 as SB3TD3
    else:
        from stable_baselines3 import SAC as SB3SAC
        from stable_baselines3 import TD3 as SB3TD3

    torch.set_num_threads(threads)
    environment = gym.make(env)
    kwargs = dict(
        seed=seed,
        device="cpu" if library == "sb3" else "auto",
        learning_starts=warmup,
        train_freq=1,
        gradient_steps=1,
        policy_kwargs=dict(net_arch=[256, 256]),
        verbose=0,
        **COMMON,
    )
    if algo == "td3":
        half_width = (environment.action_space.high - environment.action_space.low) / 2
        noise = NormalActionNoise(np.zeros_like(half_width), 0.1 * half_width)
        model = SB3TD3(
            "MlpPolicy",
            environment,
            action_noise=noise,
            policy_delay=2,
            target_policy_noise=0.2,
            target_noise_clip=0.5,
            **kwargs,
        )
    else:
        model = SB3SAC("MlpPolicy", environment, ent_coef="auto_1.0", **kwargs)
    model.learn(total_timesteps=warmup)
    started = time.perf_counter()
    model.learn(total_timesteps=steps, reset_num_timesteps=False)
    elapsed = time.perf_counter() - started
    return {
        "steps_per_second": steps / elapsed,
        "eval_return": evaluate(lambda obs: model.predict(obs, deterministic=True)[0], env),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", choices=["td3", "sac", "all"], default="all")
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--warmup", type=int, default=1_000, help="random steps before learning starts")
    parser.add_argument("--steps", type=int, default=3_000, help="training steps (one update each), timed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--peers", nargs="+", choices=["sb3", "sbx"], default=["sb3", "sbx"])
    parser.add_argument("--contenders", nargs="+", choices=[*CONTENDERS, "actorcritic-floor"], default=list(CONTENDERS))
    parser.add_argument("--worker", nargs=3, metavar=("LIBRARY", "ALGO", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        library, algo, seed = args.worker
        runners = {
            "sb3": run_sb3,
            "sbx": functools.partial(run_sb3, library="sbx"),
            **{
                name: functools.partial(run_actorcritic, precision=p, num_seeds=n)
                for name, (p, n) in CONTENDERS.items()
            },
            "actorcritic-floor": run_floor,
        }
        report_worker(library, runners, algo, args.env, args.warmup, args.steps, int(seed), args.threads)
        return

    algos = ["td3", "sac"] if args.algo == "all" else [args.algo]
    print(
        f"{args.env}: {args.warmup} random steps, then {args.steps} training steps (timed), "
        f"{args.threads} torch threads"
    )
    print_header("algo", 5, library_width=19)
    for algo in algos:
        for seed in args.seeds:
            compare(
                algo,
                seed,
                lambda library: [
                    __file__,
                    "--env",
                    args.env,
                    "--warmup",
                    str(args.warmup),
                    "--steps",
                    str(args.steps),
                    "--threads",
                    str(args.threads),
                    "--worker",
                    library,
                    algo,
                    str(seed),
                ],
                width=5,
                peers=tuple(args.peers),
                contenders=tuple(args.contenders),
                library_width=19,
            )


if __name__ == "__main__":
    main()
