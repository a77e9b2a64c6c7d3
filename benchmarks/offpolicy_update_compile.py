"""Would `torch.compile` speed up an off-policy update on this CPU? Issue 40 asks to measure it before relying on
it. Times the project's own TD3 or SAC update (`learner.update`, the same batches) eagerly and compiled, on one
agent warmed up as benchmarks/offpolicy_vs_sb3.py's (HalfCheetah-v5, 256-256, batch 256, 2 threads, seed 0).
Run it alone.

    .venv/bin/python benchmarks/offpolicy_update_compile.py --algo sac
    .venv/bin/python benchmarks/offpolicy_update_compile.py --algo td3 --modes eager max-autotune-no-cudagraphs

The updates draw their noise from the run's `torch.Generator`, which TorchDynamo cannot trace (torch 2.13:
"UserDefinedObjectVariable(Generator)"), so the compiled update runs as compiled pieces between those draws.
Printed: milliseconds per update of each mode (the median of `--repeats` timings of `--updates` updates, after
the first call, whose compilation time is printed apart) and the ratio to eager.
"""

from __future__ import annotations

import argparse
import statistics
import time


def time_updates(
    algo: str, env: str, modes: list[str], updates: int, repeats: int, threads: int
) -> list[tuple[str, float, float]]:
    """(mode, ms per update, seconds of the first call) for each of `modes` in turn (a mode may come twice, to see
    the timings' noise), on the update of one agent trained past its warm-up."""
    import torch

    from actorcritic import SAC, TD3, SACConfig, TD3Config

    agent_class, config_class = (TD3, TD3Config) if algo == "td3" else (SAC, SACConfig)
    warmup = 1_000
    config = config_class(
        env=env,
        seed=0,
        total_steps=warmup + 100,
        learning_starts=warmup,
        num_threads=threads,
        hidden_sizes=(256, 256),
        learning_rate=3e-4,
        batch_size=256,
    )
    agent = agent_class(config).learn()
    batches = [agent.collector.sample(config.batch_size) for _ in range(updates)]
    found = []
    for mode in modes:
        update = agent.learner.update if mode == "eager" else torch.compile(agent.learner.update, mode=mode)
        started = time.perf_counter()
        update(batches[0], 1, agent.generator)
        first_call = time.perf_counter() - started
        timings = []
        for _ in range(repeats):
            started = time.perf_counter()
            for index, batch in enumerate(batches):
                update(batch, index + 2, agent.generator)
            timings.append((time.perf_counter() - started) / updates * 1e3)
        found.append((mode, statistics.median(timings), first_call))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", choices=["td3", "sac"], default="sac")
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--modes", nargs="+", default=["eager", "default", "max-autotune-no-cudagraphs", "eager"])
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from actorcritic.algorithms.precision import describe_cpu

    print(f"{args.algo} update on {args.env}, {args.threads} threads, torch {torch.__version__}, CPU: {describe_cpu()}")
    found = time_updates(args.algo, args.env, args.modes, args.updates, args.repeats, args.threads)
    eager = next((milliseconds for mode, milliseconds, _ in found if mode == "eager"), None)
    for mode, milliseconds, first_call in found:
        ratio = f"{eager / milliseconds:.2f}x eager" if eager else ""
        print(f"{mode:28s} {milliseconds:6.2f} ms/update  {ratio:12s} (first call {first_call:.1f} s)")


if __name__ == "__main__":
    main()
