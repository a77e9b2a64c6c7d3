"""PPO side by side with Stable-Baselines3: same machine, same hyperparameters, same number of steps.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/ppo_vs_sb3.py                      # both cases, seed 0
    .venv/bin/python benchmarks/ppo_vs_sb3.py --case halfcheetah --steps 200000 --seeds 0 1 2

Each (library, case, seed) runs in its own process with the same torch thread count. Reported: training
steps/s (wall time of `learn`, evaluation excluded), the ratio actorcritic / SB3, and the deterministic
evaluation return over 10 episodes after training (the same evaluation code for both). The contender
actorcritic-x8 trains 8 seeds in one process (`--seeds`), each for 1/8 of the steps (the same seed-steps in
all), and reports seed-steps/s, also as a ratio to our single-seed run.

Settings (both libraries): separate 64-64 tanh policy and value networks with orthogonal initialisation,
Adam 3e-4 annealed linearly to 0, γ = 0.99, GAE λ = 0.95, clip 0.2, 10 epochs of minibatches of 64,
value coefficient 0.5, no entropy bonus, gradient-norm clip 0.5, advantage normalisation.
* cartpole:    CartPole-v1, 8 envs x 256 steps, no observation/reward normalisation.
* halfcheetah: HalfCheetah-v5, 1 env x 2048 steps, observation and reward normalisation (SB3: VecNormalize).
Known differences: SB3 normalises advantages per minibatch, actorcritic per rollout (as the lecture says).
"""

from __future__ import annotations

import argparse
import functools
import time

from side_by_side import compare, evaluate, print_header, report_worker

CASES = {
    "cartpole": dict(env="CartPole-v1", num_envs=8, num_steps=256, normalize=False, steps=100_000),
    "halfcheetah": dict(env="HalfCheetah-v5", num_envs=1, num_steps=2048, normalize=True, steps=100_000),
}
COMMON = dict(
    learning_rate=3e-4,
    gamma=0.99,
    gae_lambda=0.95,
    clip_eps=0.2,
    epochs=10,
    minibatch_size=64,
    value_coef=0.5,
    entropy_coef=0.0,
    max_grad_norm=0.5,
)


def run_actorcritic(case: dict, steps: int, seed: int, threads: int, num_seeds: int = 1) -> dict:
    from actorcritic import PPO, PPOConfig, make_agent

    config = PPOConfig(
        env=case["env"],
        seed=seed,
        seeds=tuple(range(seed, seed + num_seeds)),
        total_steps=steps // num_seeds,
        num_envs=case["num_envs"],
        num_steps=case["num_steps"],
        normalize_observations=case["normalize"],
        normalize_rewards=case["normalize"],
        num_threads=threads,
        anneal_lr=True,
        **COMMON,
    )
    agent = make_agent(PPO, config)
    started = time.perf_counter()
    agent.learn()
    elapsed = time.perf_counter() - started
    first = agent.seed_agent(0) if num_seeds > 1 else agent
    return {
        "steps_per_second": num_seeds * agent.global_step / elapsed,
        "steps": num_seeds * agent.global_step,
        "eval_return": evaluate(lambda obs: first.act(obs), case["env"]),
    }


def run_sb3(case: dict, steps: int, seed: int, threads: int) -> dict:
    import torch
    from stable_baselines3 import PPO as SB3PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(threads)
    envs = make_vec_env(case["env"], n_envs=case["num_envs"], seed=seed)
    if case["normalize"]:
        envs = VecNormalize(envs, gamma=COMMON["gamma"])
    model = SB3PPO(
        "MlpPolicy",
        envs,
        seed=seed,
        device="cpu",
        n_steps=case["num_steps"],
        batch_size=COMMON["minibatch_size"],
        n_epochs=COMMON["epochs"],
        learning_rate=lambda progress: COMMON["learning_rate"] * progress,
        gamma=COMMON["gamma"],
        gae_lambda=COMMON["gae_lambda"],
        clip_range=COMMON["clip_eps"],
        ent_coef=COMMON["entropy_coef"],
        vf_coef=COMMON["value_coef"],
        max_grad_norm=COMMON["max_grad_norm"],
        verbose=0,
    )
    started = time.perf_counter()
    model.learn(total_timesteps=steps)
    elapsed = time.perf_counter() - started
    if case["normalize"]:
        envs.training = False

    def act(obs):
        if case["normalize"]:
            obs = envs.normalize_obs(obs)
        return model.predict(obs, deterministic=True)[0]

    return {
        "steps_per_second": model.num_timesteps / elapsed,
        "steps": model.num_timesteps,
        "eval_return": evaluate(act, case["env"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=[*CASES, "all"], default="all")
    parser.add_argument("--steps", type=int, help="environment steps per run (default: per case)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both libraries")
    parser.add_argument("--worker", nargs=4, metavar=("LIBRARY", "CASE", "STEPS", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        library, case, steps, seed = args.worker
        report_worker(
            library,
            {
                "actorcritic": run_actorcritic,
                "actorcritic-x8": functools.partial(run_actorcritic, num_seeds=8),
                "sb3": run_sb3,
            },
            CASES[case],
            int(steps),
            int(seed),
            args.threads,
        )
        return

    cases = list(CASES) if args.case == "all" else [args.case]
    print_header("case", 12, library_width=14)
    for case in cases:
        steps = args.steps or CASES[case]["steps"]
        for seed in args.seeds:
            compare(
                case,
                seed,
                lambda library: [
                    __file__,
                    "--threads",
                    str(args.threads),
                    "--worker",
                    library,
                    case,
                    str(steps),
                    str(seed),
                ],
                contenders=("actorcritic", "actorcritic-x8"),
                library_width=14,
            )


if __name__ == "__main__":
    main()
