"""What the side-by-side benchmarks share: the evaluation both libraries get, and running one
(library, case, seed) worker per process and printing the pair with its speed ratio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Callable


def timed(function, repeats: int = 300, warmup: int = 20) -> float:
    """Milliseconds per call of `function`, after `warmup` untimed calls."""
    for _ in range(warmup):
        function()
    started = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - started) / repeats * 1e3


def evaluate(act, env_id: str, episodes: int = 10, seed: int = 10_000, start_episode=None) -> float:
    """Mean return of `episodes` deterministic episodes of `act(obs) -> action`; `start_episode()`, where given,
    is called at each reset (a recurrent policy forgets its state there)."""
    import gymnasium as gym
    import numpy as np

    env = gym.make(env_id)
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        if start_episode is not None:
            start_episode()
        done, total = False, 0.0
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def report_worker(library: str, runners: dict[str, Callable[..., dict]], *args) -> None:
    """In a worker process: run one library's side (`runners[library]`) with `args` and print its result,
    with the process's peak resident memory, as the JSON line `compare` reads."""
    import resource

    result = runners[library](*args)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def without_emulated_bf16(contenders: tuple[str, ...]) -> tuple[str, ...]:
    """The contenders, less the bf16 ones where this CPU has no hardware bf16 (saying so): emulated bf16 runs
    tens of times slower than fp32, and `--precision bf16` refuses to run there."""
    import torch

    from actorcritic.algorithms.precision import describe_cpu, has_fast_bf16

    if has_fast_bf16(torch.device("cpu")) is not False:
        return contenders
    skipped = [name for name in contenders if "bf16" in name]
    if skipped:
        print(f"skipped {', '.join(skipped)}: this CPU ({describe_cpu()}) has no hardware bf16", flush=True)
    return tuple(name for name in contenders if "bf16" not in name)


def phase_milliseconds(clock_before: dict[str, float], clock_after: dict[str, float], steps: int) -> dict:
    """Milliseconds per environment step in each phase of our loop (the agent's `PhaseClock`) between two
    readings of its `seconds`."""
    order = ("acting", "environment", "storing", "collecting", "update", "logging")
    phases = sorted(clock_after, key=lambda phase: order.index(phase) if phase in order else len(order))
    return {phase: (clock_after[phase] - clock_before.get(phase, 0.0)) * 1e3 / steps for phase in phases}


def print_header(label: str, width: int, library_width: int = 12) -> None:
    print(
        f"{label:<{width}} {'seed':>4} {'library':<{library_width}} {'steps/s':>9} {'eval return':>12} {'peak RSS':>9}"
    )


def compare(
    label: str,
    seed: int,
    worker_command: Callable[[str], list[str]],
    width: int = 12,
    peers: tuple[str, ...] = ("sb3",),
    contenders: tuple[str, ...] = ("actorcritic",),
    library_width: int = 12,
) -> dict:
    """Run each peer's worker, then each contender's, each in a fresh process (`worker_command(library)`
    gives the script's arguments); print steps/s (seed-steps/s where a worker trains several seeds), eval
    return and peak memory of each, then each contender's speed ratio to each peer."""
    contenders = without_emulated_bf16(contenders)
    results = {}
    for library in (*peers, *contenders):
        command = [sys.executable, *worker_command(library)]
        output = subprocess.run(
            command, check=True, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}
        )
        results[library] = r = json.loads(output.stdout.strip().splitlines()[-1])
        print(
            f"{label:<{width}} {seed:>4} {library:<{library_width}} "
            f"{r['steps_per_second']:>9.1f} {r['eval_return']:>12.1f} {r['peak_rss_mib']:>6.0f} MiB",
            flush=True,
        )
        if "phases_ms" in r:  # where our time goes, so that a later regression shows its phase
            phases = ", ".join(f"{phase} {ms:.3f}" for phase, ms in r["phases_ms"].items())
            print(f"{label:<{width}} {seed:>4} {'':<{library_width}} ms per step: {phases}", flush=True)
    for index, contender in enumerate(contenders):
        references = (*peers, *contenders[: min(index, 1)])
        ratios = ", ".join(
            f"{results[contender]['steps_per_second'] / results[peer]['steps_per_second']:.2f}x {peer}"
            for peer in references
        )
        print(f"{label:<{width}} {seed:>4} {'ratio':<{library_width}} {contender}: {ratios}", flush=True)
    return results


def main_with_seeds(doc: str, script: str, label: str, runners: dict[str, Callable[..., dict]], steps: int) -> None:
    """The command line of a benchmark of one case: `--steps`, `--seeds`, `--threads`; `runners` maps each library
    to `run(steps, seed, threads) -> result`, peers first, then actorcritic (the contender)."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--steps", type=int, default=steps, help="environment steps per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both libraries")
    parser.add_argument("--worker", nargs=3, metavar=("LIBRARY", "STEPS", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        library, worker_steps, seed = args.worker
        report_worker(library, runners, int(worker_steps), int(seed), args.threads)
        return
    peers = tuple(library for library in runners if library != "actorcritic")
    print_header("case", 16)
    for seed in args.seeds:
        compare(
            label,
            seed,
            lambda library: [script, "--threads", str(args.threads), "--worker", library, str(args.steps), str(seed)],
            width=16,
            peers=peers,
            contenders=("actorcritic",),
        )
