"""Does `--precision bf16` learn as well as fp32? TD3 and SAC on HalfCheetah-v5, 100k steps, 5 seeds each
way, each (algorithm, precision) one multi-seed run; then each arm's final evaluation IQM with its 95%
stratified-bootstrap CI, and whether the fp32 and bf16 intervals overlap.

    .venv/bin/python scripts/precision_parity.py run OUT [--jobs 2]     # about 1.5 hours on 2 cores
    .venv/bin/python scripts/precision_parity.py report OUT

`run` trains the four runs, `--jobs` at a time with one torch thread each (threads x processes must not
exceed the cores); a run directory left by an interrupted `run` is resumed, a finished one kept.
`report` prints the table (markdown) from the runs' summary.json files.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ARMS = [(algo, precision) for algo in ("td3", "sac") for precision in ("fp32", "bf16")]
SEEDS = ["0", "1", "2", "3", "4"]


def command(out: Path, algo: str, precision: str, total_steps: int) -> list[str]:
    run_dir = out / f"{algo}-{precision}"
    if (run_dir / "summary.json").exists():
        return []
    if (run_dir / "checkpoint").exists():
        return [sys.executable, "-m", "actorcritic.cli", "resume", str(run_dir)]
    return [
        sys.executable,
        "-m",
        "actorcritic.cli",
        "train",
        algo,
        "--env",
        "HalfCheetah-v5",
        "--seeds",
        *SEEDS,
        "--total-steps",
        str(total_steps),
        "--precision",
        precision,
        "--num-threads",
        "1",
        "--checkpoint-every",
        "10000",
        "--run-dir",
        str(run_dir),
    ]


def run(out: Path, jobs: int, total_steps: int) -> None:
    out.mkdir(parents=True, exist_ok=True)

    def train(arm: tuple[str, str]) -> None:
        args = command(out, *arm, total_steps)
        if args:
            with open(out / f"{arm[0]}-{arm[1]}.log", "a") as log:
                subprocess.run(args, stdout=log, stderr=subprocess.STDOUT, check=True)

    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(train, ARMS))


def report(out: Path) -> None:
    # no wall time: a run resumed across sessions records only its last leg
    print("| algorithm | precision | seeds' final returns | IQM [95% CI] | mean [95% CI] |")
    print("|---|---|---|---|---|")
    intervals = {}
    for algo, precision in ARMS:
        summary = json.loads((out / f"{algo}-{precision}" / "summary.json").read_text())
        aggregate = summary["aggregate"]
        intervals[algo, precision] = aggregate["iqm_ci"]
        finals = ", ".join(f"{entry['eval_return_mean']:.0f}" for entry in summary["per_seed"])
        iqm, mean = aggregate["iqm"], aggregate["mean"]
        print(
            f"| {algo} | {precision} | {finals} "
            f"| {iqm:.0f} [{aggregate['iqm_ci'][0]:.0f}, {aggregate['iqm_ci'][1]:.0f}] "
            f"| {mean:.0f} [{aggregate['mean_ci'][0]:.0f}, {aggregate['mean_ci'][1]:.0f}] |"
        )
    for algo in ("td3", "sac"):
        (low32, high32), (low16, high16) = intervals[algo, "fp32"], intervals[algo, "bf16"]
        overlap = low32 <= high16 and low16 <= high32
        print(f"\n{algo}: the fp32 and bf16 IQM intervals {'overlap' if overlap else 'do NOT overlap'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["run", "report"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--total-steps", type=int, default=100_000)
    args = parser.parse_args()
    if args.command == "run":
        run(args.out, args.jobs, args.total_steps)
    report(args.out)


if __name__ == "__main__":
    main()
