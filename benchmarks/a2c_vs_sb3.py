"""A2C side by side with Stable-Baselines3: same machine, same hyperparameters, same number of steps.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/a2c_vs_sb3.py                      # both cases, seed 0
    .venv/bin/python benchmarks/a2c_vs_sb3.py --case cartpole --steps 200000 --seeds 0 1 2

Each (library, case, seed) runs in its own process with the same torch thread count. Reported: training
steps/s (wall time of `learn`, evaluation excluded), the ratio actorcritic / SB3, and the deterministic
evaluation return over 10 episodes after training (the same evaluation code for both).

Settings (both libraries, SB3's A2C defaults): separate 64-64 tanh policy and value networks with orthogonal
initialisation, RMSprop (α 0.99, ε 1e-5) at a constant 7e-4, 5 steps per actor and update, γ = 0.99, the
return to the rollout's end (SB3: GAE with λ = 1; ours: the k-step estimator with k = 5, the same numbers),
value coefficient 0.5 on the squared error (ours: 1.0 on half of it), no entropy bonus, gradient-norm clip
0.5, no advantage normalisation.
* cartpole:    CartPole-v1, 8 envs (rl-baselines3-zoo's set), no normalisation.
* halfcheetah: HalfCheetah-v5, 1 env, observation and reward normalisation (SB3: VecNormalize).
A2C does one small update every 5 x N steps: the benchmark measures the per-update overhead of each library
as much as its arithmetic.
"""

from __future__ import annotations

import argparse
import time

from side_by_side import compare, evaluate, print_header, report_worker

CASES = {
    "cartpole": dict(env="CartPole-v1", num_envs=8, normalize=False, steps=200_000),
    "halfcheetah": dict(env="HalfCheetah-v5", num_envs=1, normalize=True, steps=50_000),
}
COMMON = dict(num_steps=5, learning_rate=7e-4, gamma=0.99, entropy_coef=0.0, max_grad_norm=0.5)
SB3_VALUE_COEF = 0.5
"""SB3's vf_coef on the mean squared error; actorcritic's value loss is half of it (Eq. 20), so 2 x this."""


def run_actorcritic(case: dict, steps: int, seed: int, threads: int) -> dict:
    from actorcritic import A2C, A2CConfig

    config = A2CConfig(
        env=case["env"],
        seed=seed,
        total_steps=steps,
        num_envs=case["num_envs"],
        normalize_observations=case["normalize"],
        normalize_rewards=case["normalize"],
        num_threads=threads,
        value_coef=2 * SB3_VALUE_COEF,
        eval_every=0,
        **COMMON,
    )
    agent = A2C(config)
    started = time.perf_counter()
    agent.learn()
    elapsed = time.perf_counter() - started
    return {
        "steps_per_second": agent.global_step / elapsed,
        "steps": agent.global_step,
        "eval_return": evaluate(lambda obs: agent.act(obs), case["env"]),
    }


def run_sb3(case: dict, steps: int, seed: int, threads: int) -> dict:
    import torch
    from stable_baselines3 import A2C as SB3A2C
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(threads)
    envs = make_vec_env(case["env"], n_envs=case["num_envs"], seed=seed)
    if case["normalize"]:
        envs = VecNormalize(envs, gamma=COMMON["gamma"])
    model = SB3A2C(
        "MlpPolicy",
        envs,
        seed=seed,
        device="cpu",
        n_steps=COMMON["num_steps"],
        learning_rate=COMMON["learning_rate"],
        gamma=COMMON["gamma"],
        gae_lambda=1.0,
        ent_coef=COMMON["entropy_coef"],
        vf_coef=SB3_VALUE_COEF,
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
        report_worker(library, {"actorcritic": run_actorcritic, "sb3": run_sb3}, CASES[case], int(steps), int(seed),
                      args.threads)  # fmt: skip
        return

    cases = list(CASES) if args.case == "all" else [args.case]
    print_header("case", 12)
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
                ],  # fmt: skip
                contenders=("actorcritic",),
            )


if __name__ == "__main__":
    main()
