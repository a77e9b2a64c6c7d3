"""TQC and CrossQ side by side with sb3-contrib (PyTorch) and SBX (JAX): same machine, same hyperparameters,
same steps.

    .venv/bin/pip install -e '.[bench]'
    cd benchmarks
    ../.venv/bin/python tqc_crossq_vs_peers.py                       # speed: TQC and CrossQ on HalfCheetah-v5
    ../.venv/bin/python tqc_crossq_vs_peers.py --algo crossq --env Pendulum-v1 --warmup 100 --steps 19900
    ../.venv/bin/python tqc_crossq_vs_peers.py --algo crossq --critic-width 256 --threads 1 --peers sb3-contrib

Each (library, algorithm, seed) runs in its own process with the same torch thread count (default 2; JAX uses its
own thread pool). Every run first takes `--warmup` uniformly random steps (learning_starts), then `--steps`
steps with one gradient update each; steps/s is measured over those training steps only. Reported: steps/s, the
ratio of ours to each peer, the deterministic evaluation return over 10 episodes at the end, peak memory. With
`--contenders actorcritic actorcritic-floor`, also the floor of an eager PyTorch program doing our step's
arithmetic with these kernels (eager_floor.py; not a run).

Settings (all three libraries): γ = 0.99, batch 256, buffer 1e6, one update per step, automatic entropy tuning
from α = 1 towards -|A|, ReLU networks.
* TQC: sb3-contrib's defaults: actor and critics 256-256, 2 critics x 25 quantiles, 2 dropped per critic,
  Adam 3e-4, τ = 0.005, actor every step.
* CrossQ: sb3-contrib's defaults: actor 256-256, critics 1024-1024, batch renormalisation before every linear
  layer (momentum 0.01, i.e. SBX's 0.99, 100k warm-up batches), no target networks, Adam 1e-3 with β1 = 0.5,
  actor every 3rd update. (SBX's actor puts its first normalisation after the input layer, not before it.)
  `--critic-width W` gives every library's critics two layers of W units instead (what a score table at a
  smaller cost would run).
"""

from __future__ import annotations

import argparse
import functools
import time

from side_by_side import compare, evaluate, print_header, report_worker

COMMON = dict(batch_size=256, gamma=0.99, buffer_size=1_000_000)
TQC_SETTINGS = dict(learning_rate=3e-4, tau=0.005)
CROSSQ_SETTINGS = dict(learning_rate=1e-3, policy_delay=3)


def _agent(algo: str, env: str, warmup: int, steps: int, seed: int, threads: int, critic_width: int = 1024):
    """Our TQC or CrossQ agent with the peers' settings, after its `warmup` random steps."""
    from actorcritic import TQC, CrossQ, CrossQConfig, TQCConfig

    if algo == "tqc":
        agent_class, settings = TQC, TQCConfig(
            env=env, n_quantiles=25, top_quantiles_to_drop=2, num_critics=2, hidden_sizes=(256, 256), **TQC_SETTINGS,
            seed=seed, total_steps=warmup + steps, learning_starts=warmup, num_threads=threads, **COMMON,
        )  # fmt: skip
    else:
        agent_class, settings = CrossQ, CrossQConfig(
            env=env, hidden_sizes=(256, 256), critic_hidden_sizes=(critic_width, critic_width), adam_betas=(0.5, 0.999),
            renorm_momentum=0.01, renorm_warmup_steps=100_000, **CROSSQ_SETTINGS,
            seed=seed, total_steps=warmup + steps, learning_starts=warmup, num_threads=threads, **COMMON,
        )  # fmt: skip
    agent = agent_class(settings)
    agent.learn(warmup)
    return agent


def run_actorcritic(algo: str, env: str, warmup: int, steps: int, seed: int, threads: int, critic_width=1024) -> dict:
    agent = _agent(algo, env, warmup, steps, seed, threads, critic_width)
    started = time.perf_counter()
    agent.learn(steps)
    elapsed = time.perf_counter() - started
    return {"steps_per_second": steps / elapsed, "eval_return": evaluate(lambda obs: agent.act(obs), env)}


def run_floor(algo: str, env: str, warmup: int, steps: int, seed: int, threads: int, critic_width=1024) -> dict:
    """Not a run: the most steps/s an eager PyTorch program doing our training step's arithmetic could reach with
    these kernels (`eager_floor.floor_result`)."""
    from eager_floor import floor_result

    return floor_result(_agent(algo, env, warmup, steps, seed, threads, critic_width), min(steps, 1000))


def run_peer(
    algo: str, env: str, warmup: int, steps: int, seed: int, threads: int, *, library: str, critic_width: int = 1024
) -> dict:
    """sb3-contrib's TQC / CrossQ, or with library="sbx" SBX's (the same API, in JAX)."""
    import gymnasium as gym
    import torch

    if library == "sbx":
        from sbx import TQC as PeerTQC
        from sbx import CrossQ as PeerCrossQ
    else:
        from sb3_contrib import TQC as PeerTQC
        from sb3_contrib import CrossQ as PeerCrossQ

    torch.set_num_threads(threads)
    environment = gym.make(env)
    kwargs = dict(
        seed=seed,
        device="cpu" if library == "sb3-contrib" else "auto",
        learning_starts=warmup,
        train_freq=1,
        gradient_steps=1,
        ent_coef="auto_1.0",
        verbose=0,
        **COMMON,
    )
    if algo == "tqc":
        model = PeerTQC(
            "MlpPolicy",
            environment,
            top_quantiles_to_drop_per_net=2,
            policy_kwargs=dict(net_arch=[256, 256], n_critics=2, n_quantiles=25),
            **TQC_SETTINGS,
            **kwargs,
        )
    else:
        momentum = 0.01 if library == "sb3-contrib" else 0.99  # flax's convention: the running average's decay
        model = PeerCrossQ(
            "MlpPolicy",
            environment,
            policy_kwargs=dict(
                net_arch=dict(pi=[256, 256], qf=[critic_width, critic_width]),
                batch_norm_momentum=momentum,
                renorm_warmup_steps=100_000,
            ),
            **CROSSQ_SETTINGS,
            **kwargs,
        )
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
    parser.add_argument("--algo", choices=["tqc", "crossq", "all"], default="all")
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--warmup", type=int, default=1_000, help="random steps before learning starts")
    parser.add_argument("--steps", type=int, default=3_000, help="training steps (one update each), timed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--critic-width", type=int, default=1024, help="CrossQ's critic layers (sb3-contrib: 1024)")
    parser.add_argument("--peers", nargs="+", choices=["sb3-contrib", "sbx"], default=["sb3-contrib", "sbx"])
    parser.add_argument(
        "--contenders", nargs="+", choices=["actorcritic", "actorcritic-floor"], default=["actorcritic"]
    )
    parser.add_argument("--worker", nargs=3, metavar=("LIBRARY", "ALGO", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        library, algo, seed = args.worker
        width = dict(critic_width=args.critic_width)
        runners = {
            "sb3-contrib": functools.partial(run_peer, library="sb3-contrib", **width),
            "sbx": functools.partial(run_peer, library="sbx", **width),
            "actorcritic": functools.partial(run_actorcritic, **width),
            "actorcritic-floor": functools.partial(run_floor, **width),
        }
        report_worker(library, runners, algo, args.env, args.warmup, args.steps, int(seed), args.threads)
        return

    algos = ["tqc", "crossq"] if args.algo == "all" else [args.algo]
    print(
        f"{args.env}: {args.warmup} random steps, then {args.steps} training steps (timed), "
        f"{args.threads} torch threads"
    )
    print_header("algo", 6, library_width=18)
    for algo in algos:
        for seed in args.seeds:
            compare(
                algo,
                seed,
                lambda library: [
                    __file__,
                    *("--env", args.env, "--warmup", str(args.warmup), "--steps", str(args.steps)),
                    *("--threads", str(args.threads), "--critic-width", str(args.critic_width)),
                    *("--worker", library, algo, str(seed)),
                ],
                width=6,
                peers=tuple(args.peers),
                contenders=tuple(args.contenders),
                library_width=18,
            )


if __name__ == "__main__":
    main()
