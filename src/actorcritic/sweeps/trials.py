"""One trial of a sweep: an ordinary run directory under trials/NAME/, run in its own process
(`python -m actorcritic.sweeps.trials OUT NAME THREADS`), and the cores there are to run trials on."""

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
