"""What every experiment shares: its result, the three files it writes, the table it prints, and the
runs it spreads over processes and resumes after an interruption."""

from __future__ import annotations

import csv
import io
import json
import math
import multiprocessing
import multiprocessing.connection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from actorcritic.algorithms.engine import refuse_unfit_environment
from actorcritic.algorithms.td3 import TD3, TD3Config
from actorcritic.config import config_to_dict
from actorcritic.errors import ActorCriticError
from actorcritic.storage.files import (
    directory_for_work,
    replaced_atomically,
    write_atomic,
    write_json_atomic,
)


@dataclass
class ExperimentResult:
    """rows -> results.csv (one dict per row, same keys); summary -> summary.json; draw(path) -> figure.png."""

    rows: list[dict]
    summary: dict
    draw: Callable[[Path], None]
    table_columns: list[str] = field(default_factory=list)


def run_experiment(name: str, module, config) -> ExperimentResult:
    """Run an experiment module with `config`, write its files to `config.out`, print its table."""
    out = Path(config.out)
    with directory_for_work(out, "the experiment's --out"):  # created first, so that a refusal there costs no computing
        result = module.run(config)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(result.rows[0]))
    writer.writeheader()
    writer.writerows(result.rows)
    write_atomic(out / "results.csv", buffer.getvalue().encode())
    write_json_atomic(
        out / "summary.json",
        {"experiment": name, "claim": module.CLAIM, "config": config_to_dict(config), **result.summary},
    )
    with replaced_atomically(out / "figure.png") as temporary:
        result.draw(temporary)
    print(format_table(result.rows, result.table_columns or list(result.rows[0])))
    print(f"wrote {out / 'results.csv'}, {out / 'figure.png'}, {out / 'summary.json'}")
    return result


def format_table(rows: list[dict], columns: list[str]) -> str:
    def show(value) -> str:
        if isinstance(value, float):
            return "nan" if math.isnan(value) else f"{value:.4g}"
        return str(value)

    cells = [[show(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (6.0, 4.0)):
    """A matplotlib figure with the non-interactive backend (experiments run on servers and in CI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False)


# ---------------------------------------------------------------- runs in processes, resumable


def run_units(function: Callable[..., Any], units: list[tuple], jobs: int | None = None) -> list:
    """`function(*unit, threads=1)` for every unit, `jobs` at a time (default: one per core), each in a
    fresh process; the results in the order of `units`.

    One torch thread per unit, whatever `jobs` is: the thread count changes the last bits of a matrix
    product, so this keeps a run's numbers independent of --jobs (and threads x processes within the cores).
    One process per unit (spawned, never reused): a seed's numbers cannot depend on what ran before it.
    jobs = 1 runs the units here, one after another. The first error stops the experiment: the units still
    running are stopped, the others never start. An interrupted experiment is continued by running it
    again: each unit resumes from what it saved (see `unit_directory`)."""
    from actorcritic.sweeps.runner import check_jobs

    jobs = check_jobs(jobs)
    if jobs == 1:
        return [function(*unit, threads=1) for unit in units]
    context = multiprocessing.get_context("spawn")
    results: list = [None] * len(units)
    queue, running, done = list(enumerate(units)), {}, 0
    try:
        while queue or running:
            while queue and len(running) < jobs:
                index, unit = queue.pop(0)
                receiver, sender = context.Pipe(duplex=False)
                process = context.Process(target=_unit_process, args=(function, unit, sender), daemon=True)
                process.start()
                sender.close()
                running[receiver] = (index, process)
            for receiver in multiprocessing.connection.wait(list(running)):
                index, process = running.pop(receiver)
                try:
                    ok, value = receiver.recv()
                except EOFError:  # the process died without a word (killed, out of memory)
                    process.join()
                    ok, value = (
                        False,
                        ActorCriticError(
                            f"run {index + 1} of the experiment stopped (exit code {process.exitcode}): "
                            "run the command again to continue"
                        ),
                    )
                process.join()
                if not ok:
                    raise value
                results[index], done = value, done + 1
                print(f"runs: {done} of {len(units)} done", flush=True)
    finally:
        for _, process in running.values():
            process.terminate()
    return results


def _unit_process(function: Callable[..., Any], unit: tuple, sender) -> None:
    """A unit's process: run it, send (True, result) or (False, the error) back."""
    try:
        sender.send((True, function(*unit, threads=1)))
    except BaseException as error:  # noqa: BLE001 - every failure goes back to the parent, which raises it
        try:
            sender.send((False, error))
        except Exception:  # an error that cannot be pickled goes back as its text
            sender.send((False, RuntimeError(f"{type(error).__name__}: {error}")))


def run_identity(config, **measurement) -> dict:
    """What a unit computes, for `unit_directory`: its run's config (less num_threads, which `run_units`
    sets), with the experiment's own measurement settings beside it where there are any."""
    run = {name: value for name, value in config_to_dict(config).items() if name != "num_threads"}
    return {"agent": run, **measurement} if measurement else run


def same_identity(saved, identity) -> bool:
    """Whether an identity read back from JSON is `identity` (compared as JSON: tuples are lists there)."""
    return saved == json.loads(json.dumps(identity))


def unit_path(out: str | Path, *parts: str) -> Path:
    """Where `unit_directory` keeps a unit's files: out/runs/PART/..."""
    return Path(out, "runs", *parts)


def unit_directory(out: str | Path, identity: dict, *parts: str) -> Path:
    """out/runs/PART/..., holding one unit's files, with identity.json: what the unit computes (its
    config). A directory left by a unit of another identity is refused, so that a rerun with other
    options never mixes its results with an earlier run's: the error names the directory to remove."""
    directory = unit_path(out, *parts)
    saved = directory / "identity.json"
    if saved.exists():
        if not same_identity(json.loads(saved.read_text()), identity):
            raise ActorCriticError(
                f"{directory} holds a run with other options: pass another --out, or delete it to start again"
            )
    else:
        directory.mkdir(parents=True, exist_ok=True)
        write_json_atomic(saved, identity)
    return directory


def td3_run_config(config: Any, env: str, seed: int, switches: dict, **extra) -> TD3Config:
    """The TD3 config of one run of a TD3 experiment on `env`: the preset of the env, then the experiment's
    `total_steps`, `hidden_sizes` and `learning_starts` (None: the preset's), a buffer as large as the run
    (1M at most), the three changes' `switches` and `extra`."""
    overrides = dict(
        seed=seed,
        total_steps=config.total_steps,
        hidden_sizes=config.hidden_sizes,
        buffer_size=min(config.total_steps, 1_000_000),
        **extra,
        **switches,
    )
    if config.learning_starts is not None:
        overrides["learning_starts"] = config.learning_starts
    try:
        return TD3Config.for_env(env, **overrides)
    except ActorCriticError:
        refuse_unfit_environment(TD3, env)  # a space TD3 cannot act in is the complaint that comes first
        raise
