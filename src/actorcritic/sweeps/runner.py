"""Running a sweep: validate and write sweep.json, run the trials (here as processes, as many at a time as the
cores allow, or on a Ray cluster: `sweeps.ray_backend`), then results.csv and report.md."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from actorcritic.config import config_to_dict
from actorcritic.errors import ActorCriticError
from actorcritic.storage.files import (
    check_writable_directory,
    make_directory,
    write_atomic,
    write_json_atomic,
)
from actorcritic.storage.layout import REPORT_FILE, RESULTS_FILE, SWEEP_FILE, TRIALS_DIR
from actorcritic.sweeps.spec import Backend, Trial, _short, expand, load
from actorcritic.sweeps.trials import available_cores, progress


def start(spec: dict, out: Path, backend: Backend = Backend()) -> list[Trial]:
    """Expand and validate a sweep, then write sweep.json into a new `out` (nothing runs yet)."""
    trials = expand(spec)
    out = Path(out)
    check_writable_directory(out, "--out")
    if (out / SWEEP_FILE).exists():
        raise ActorCriticError(
            f"{out} already holds a sweep: continue it with `actorcritic sweep --resume {out}` or choose another --out"
        )
    backend = check_backend(backend)
    make_directory(out, "the sweep's --out")
    write_json_atomic(
        out / SWEEP_FILE,
        {
            "spec": spec,
            "backend": dataclasses.asdict(backend),
            "trials": [
                {"name": t.name, "algo": t.algo, "settings": t.settings, "config": config_to_dict(t.config)}
                for t in trials
            ],
        },
    )
    return trials


def check_backend(backend: Backend) -> Backend:
    """The backend with its defaults filled in, or a one-line error (before anything is written or run)."""
    if backend.ray is not None:
        if backend.jobs is not None:
            raise ActorCriticError(
                "--jobs is for local sweeps: on Ray, --cpus-per-trial sets each trial's share and Ray schedules them"
            )
        if type(backend.cpus_per_trial) is not int or backend.cpus_per_trial < 1:
            raise ActorCriticError(f"--cpus-per-trial {backend.cpus_per_trial} is out of range: give 1 or more")
        from actorcritic.sweeps.ray_backend import check_address, require_ray

        require_ray()
        check_address(backend.ray)
        return backend
    return dataclasses.replace(backend, jobs=check_jobs(backend.jobs))


def check_jobs(jobs: int | None) -> int:
    """Processes at a time: `jobs` (1 to the cores; None: the cores), or a one-line error."""
    cores = available_cores()
    if jobs is not None and not 1 <= jobs <= cores:
        raise ActorCriticError(
            f"--jobs {jobs} is out of range: this machine gives {cores} cores, so 1 to {cores} trials at a time"
        )
    return jobs or cores


def run(out: Path, ray: str | None = None) -> None:
    """Run (or continue) every trial of the sweep in `out` on its backend (`ray` names another cluster for
    a Ray sweep). Finished trials are kept, started ones resume from their checkpoints. Then results.csv
    and report.md, and a one-line error if any trial failed."""
    out = Path(out)
    trials, backend = load(out)
    if ray is not None and backend.ray is None:
        raise ActorCriticError(f"{out} is a local sweep: resume it without --ray (or start a new sweep with --ray)")
    from actorcritic.runs.training import run_state

    queue = [t for t in trials if run_state(out / TRIALS_DIR / t.name) != "done"]
    if backend.ray is not None:
        from actorcritic.sweeps.ray_backend import run_on_ray

        failed = run_on_ray(out, queue, len(trials) - len(queue), ray or backend.ray, backend.cpus_per_trial)
        where = "in the Ray logs"
    else:
        failed = _run_locally(out, queue, len(trials) - len(queue), backend.jobs)
        where = f"{out / TRIALS_DIR}/NAME.log.txt"
    write_results(out, trials)
    if failed:
        raise ActorCriticError(
            f"{len(failed)} trial(s) failed ({', '.join(failed[:3])}): see {where}; "
            f"`actorcritic sweep --resume {out}` runs them again"
        )


def _run_locally(out: Path, queue: list[Trial], done: int, jobs: int) -> list[str]:
    """`jobs` processes at a time, each with cores // jobs torch threads, so threads x concurrent trials
    never exceed the cores. The names of the trials that failed."""
    threads = max(1, available_cores() // jobs)
    queue = list(queue)
    running: dict[str, tuple[subprocess.Popen, Any]] = {}
    failed: list[str] = []
    progress(done, 0, len(queue))
    while queue or running:
        while queue and len(running) < jobs:
            trial = queue.pop(0)
            running[trial.name] = _launch(out, trial, threads)
            progress(done, len(running), len(queue))
        time.sleep(0.2)
        for name, (process, log) in list(running.items()):
            if process.poll() is not None:
                log.close()
                del running[name]
                done += 1
                if process.returncode != 0:
                    failed.append(name)
                progress(done, len(running), len(queue))
    return failed


def _launch(out: Path, trial: Trial, threads: int) -> tuple[subprocess.Popen, Any]:
    (out / TRIALS_DIR).mkdir(parents=True, exist_ok=True)
    log = open(out / TRIALS_DIR / f"{trial.name}.log.txt", "a")
    command = [sys.executable, "-m", "actorcritic.sweeps.trials", str(out), trial.name, str(threads)]
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), log


def write_results(out: Path, trials: list[Trial]) -> None:
    """results.csv (one row per finished trial and seed) and report.md."""
    from actorcritic.analysis.reports import write_report
    from actorcritic.runs.training import run_state

    setting_names = sorted({name for trial in trials for name in trial.settings})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["trial", "algo", "env", *setting_names, "seed", "total_steps", "eval_return_mean"])
    finished = []
    for trial in trials:
        run_dir = Path(out) / TRIALS_DIR / trial.name
        if run_state(run_dir) != "done":
            continue
        finished.append(run_dir)
        summary = json.loads((run_dir / "summary.json").read_text())
        for entry in summary.get("per_seed", [summary]):
            writer.writerow(
                [
                    trial.name,
                    trial.algo,
                    trial.config.env,
                    *[_short(trial.settings.get(n, "")) for n in setting_names],
                    entry["seed"],
                    summary["total_steps"],
                    entry["eval_return_mean"],
                ]
            )
    write_atomic(Path(out) / RESULTS_FILE, buffer.getvalue().encode())
    if finished:
        write_report(finished, Path(out) / REPORT_FILE)
