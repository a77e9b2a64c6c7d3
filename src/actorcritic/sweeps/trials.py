"""Sweeps: grids of algorithms x environments x settings, each trial a multi-seed run, run locally as
separate processes, as many at a time as the cores allow.

A sweep file (TOML):

    algo = "ppo"                      # or a list: ["ppo", "trpo"]
    env = ["CartPole-v1", "Acrobot-v1"]
    seeds = 5                         # seeds of each configuration: 0..4 (or a list of seeds)
    seeds_per_trial = 5               # optional: seeds per process (default: all); 1 runs each seed alone
    total_steps = 100000
    [grid]                            # every combination
    gae_lambda = [0.9, 0.95, 0.99]
    [random]                          # optional: `samples` draws per grid point, top-level `samples = N`
    learning_rate = { log_uniform = [1e-4, 1e-3] }       # also uniform = [a, b], choice = [...]
    [fixed]                           # optional: any other config field
    num_envs = 8

Every trial's config is built and validated before anything runs (an unknown field or a bad value is the
same one-line error as `train`'s). The output directory holds `sweep.json` (the trials and the backend),
`trials/NAME/` (an ordinary run directory each), `results.csv` (one row per trial and seed) and `report.md`.
The trials run here (local processes) or on a Ray cluster (`actorcritic.sweeps_ray`); either way a trial is
`run_trial`, and an interrupted one resumes from its checkpoint."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

from actorcritic.errors import ActorCriticError
from actorcritic.storage.layout import TRIALS_DIR
from actorcritic.sweeps.spec import load

# ---------------------------------------------------------------- running


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def progress(done: int, running: int, queued: int) -> None:
    print(f"sweep: {done} done, {running} running, {queued} queued", flush=True)


def run_trial(out: Path, name: str, threads: int, callbacks: tuple = ()) -> None:
    """In a trial's own process (local or a Ray worker): train it in out/trials/NAME with `threads` torch
    threads, resume it from its checkpoint, or leave it if finished (`training.train_or_resume`)."""
    from actorcritic.runs.training import train_or_resume

    trials, _ = load(out)
    (trial,) = [t for t in trials if t.name == name]
    train_or_resume(
        trial.algo, dataclasses.replace(trial.config, num_threads=threads), Path(out) / TRIALS_DIR / name, callbacks
    )


if __name__ == "__main__":  # a trial's process: python -m actorcritic.sweeps.trials OUT NAME THREADS
    if os.getcwd() not in sys.path:  # module:Id environments are found where the sweep was started, as for `train`
        sys.path.insert(0, os.getcwd())
    try:
        run_trial(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
    except ActorCriticError as error:
        print(f"actorcritic: error: {error}", file=sys.stderr)
        sys.exit(2)
