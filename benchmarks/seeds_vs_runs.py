"""S seeds in one process against S separate runs: wall time and peak memory (RSS).

    .venv/bin/python benchmarks/seeds_vs_runs.py [--algo td3] [--env HalfCheetah-v5] [--seeds 8]
        [--total-steps 100000] [--learning-starts 25000] [--precision fp32]

One process: `actorcritic train ALGO --seeds 0..S-1` with as many torch threads as there are cores.
Separate runs: `actorcritic train ALGO --seed k` for each k, as many at a time as there are cores, one
thread each (threads x processes never exceed the cores; on this machine that is faster than running them
one after another with every thread). Both write their run directories under a temporary directory.
Peak RSS comes from `/usr/bin/time -f %M` around each process; for the separate runs the table gives the
largest single run and the sum over the runs that were alive together (the machine's real footprint).
Run it alone: a second job on the machine makes both timings meaningless.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def train(args: argparse.Namespace, run_dir: Path, seeds: list[int], threads: int) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one `actorcritic train` process."""
    seed_args = ["--seeds", *map(str, seeds)] if len(seeds) > 1 else ["--seed", str(seeds[0])]
    command = [
        "/usr/bin/time",
        "-f",
        "%M",
        "-o",
        str(run_dir) + ".rss",
        sys.executable,
        "-m",
        "actorcritic.cli",
        "train",
        args.algo,
        "--env",
        args.env,
        *seed_args,
        "--total-steps",
        str(args.total_steps),
        "--learning-starts",
        str(args.learning_starts),
        "--precision",
        args.precision,
        "--num-threads",
        str(threads),
        "--checkpoint-every",
        "0",
        "--run-dir",
        str(run_dir),
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started, int(Path(str(run_dir) + ".rss").read_text().split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", default="td3")
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--total-steps", type=int, default=100_000)
    parser.add_argument("--learning-starts", type=int, default=25_000)
    parser.add_argument("--precision", default="fp32")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    seeds = list(range(args.seeds))
    with tempfile.TemporaryDirectory() as scratch:
        together, together_rss = train(args, Path(scratch) / "together", seeds, cores)
        started = time.perf_counter()
        with ThreadPoolExecutor(cores) as pool:
            separate = list(pool.map(lambda seed: train(args, Path(scratch) / f"seed-{seed}", [seed], 1), seeds))
        separate_wall = time.perf_counter() - started
    largest = max(rss for _, rss in separate)
    print(
        f"{args.algo} on {args.env}, {args.seeds} seeds x {args.total_steps:,d} steps "
        f"(learning starts {args.learning_starts:,d}), {args.precision}, {cores} cores"
    )
    print("| how | wall time | seed-steps/s | peak RSS |")
    print("|---|---|---|---|")
    seed_steps = args.seeds * args.total_steps
    print(
        f"| one process, {args.seeds} seeds, {cores} threads | {together:.0f} s | {seed_steps / together:.0f} "
        f"| {together_rss / 1024:.0f} MiB |"
    )
    print(
        f"| {args.seeds} runs, {cores} at a time, 1 thread each | {separate_wall:.0f} s "
        f"| {seed_steps / separate_wall:.0f} | "
        f"{largest / 1024:.0f} MiB per run, {cores * largest / 1024:.0f} MiB for {cores} alive |"
    )
    print(f"one process / separate runs: {separate_wall / together:.2f}x the speed")


if __name__ == "__main__":
    main()
