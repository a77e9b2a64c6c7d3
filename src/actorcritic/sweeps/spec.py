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
The trials run here (local processes) or on a Ray cluster (`actorcritic.sweeps.ray_backend`); either way a trial is
`run_trial`, and an interrupted one resumes from its checkpoint."""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from actorcritic.algorithms.registry import algorithm
from actorcritic.config import config_from_dict
from actorcritic.errors import ActorCriticError
from actorcritic.storage.layout import SWEEP_FILE

TOP_LEVEL = {"algo", "env", "seeds", "seeds_per_trial", "total_steps", "samples", "seed", "grid", "random", "fixed"}
DISTRIBUTIONS = ("uniform", "log_uniform", "choice")


@dataclass(frozen=True)
class Trial:
    name: str
    algo: str
    config: Any
    settings: dict
    """The grid and random values of this trial (what distinguishes it from its neighbours)."""


def read_sweep_file(path: Path) -> dict:
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ActorCriticError(f"sweep file {path} does not exist: give the path of a TOML file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ActorCriticError(f"cannot read the sweep file {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ActorCriticError(f"sweep file {path} is not valid TOML ({error}): fix the line it names") from None


def expand(spec: dict) -> list[Trial]:
    """Every trial of a sweep description, each config built (and so validated) now."""

    unknown = sorted(set(spec) - TOP_LEVEL)
    if unknown:
        raise ActorCriticError(
            f"sweep: unknown top-level key {unknown[0]!r}: use {', '.join(sorted(TOP_LEVEL))} "
            "(other fields go under [fixed])"
        )
    algos, envs = _as_list(spec.get("algo"), "algo"), _as_list(spec.get("env"), "env")
    seeds = _seeds(spec.get("seeds", 1))
    per_trial = spec.get("seeds_per_trial", len(seeds))
    if type(per_trial) is not int or per_trial < 1:
        raise ActorCriticError(f"sweep: seeds_per_trial must be a count of 1 or more, not {per_trial!r}")
    # separate processes for one configuration's seeds: on few cores, one-seed runs side by side are faster
    # than one multi-seed process (benchmarks/seeds_vs_runs.py); the report merges them again
    seed_chunks = [seeds[i : i + per_trial] for i in range(0, len(seeds), per_trial)]
    grid, random, fixed = (_table(spec, key) for key in ("grid", "random", "fixed"))
    samples = spec.get("samples", 1 if not random else None)
    if samples is None or type(samples) is not int or samples < 1:
        raise ActorCriticError("sweep: with a [random] table, give samples = N (draws per grid point), N >= 1")
    for name, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ActorCriticError(f"sweep: [grid] {name} must be a non-empty list of values")
    draws = np.random.default_rng(spec.get("seed", 0))
    trials: list[Trial] = []
    for algo in algos:
        config_class = algorithm(algo).config_class
        for env in envs:
            for point in itertools.product(*grid.values()):
                for _ in range(samples):
                    settings = {**dict(zip(grid, point)), **{name: _draw(name, d, draws) for name, d in random.items()}}
                    values = {**fixed, **settings}
                    if "total_steps" in spec:
                        values["total_steps"] = spec["total_steps"]
                    for chunk in seed_chunks:
                        config = _build(config_class, env, values, chunk, algo)
                        name = _trial_name(algo, env, settings, len(trials), chunk if len(seed_chunks) > 1 else ())
                        trials.append(Trial(name, algo, config, settings))
    return trials


def _as_list(value: Any, key: str) -> list:
    if value is None:
        raise ActorCriticError(f"sweep: give {key} (a name or a list of names)")
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) for v in values):
        raise ActorCriticError(f"sweep: {key} must be a name or a non-empty list of names, not {value!r}")
    return values


def _seeds(value: Any) -> tuple[int, ...]:
    if type(value) is int and value >= 1:
        return tuple(range(value))
    if isinstance(value, list) and value and all(type(v) is int for v in value):
        return tuple(value)
    raise ActorCriticError(f"sweep: seeds must be a count (seeds = 5) or a list of seeds, not {value!r}")


def _table(spec: dict, key: str) -> dict:
    table = spec.get(key, {})
    if not isinstance(table, dict):
        raise ActorCriticError(f"sweep: [{key}] must be a table of config fields")
    return table


def _draw(name: str, distribution: Any, draws: np.random.Generator) -> Any:
    if not isinstance(distribution, dict) or len(distribution) != 1 or next(iter(distribution)) not in DISTRIBUTIONS:
        raise ActorCriticError(
            f"sweep: [random] {name} must be one of {{ uniform = [a, b] }}, {{ log_uniform = [a, b] }}, "
            "{ choice = [...] }"
        )
    kind, values = next(iter(distribution.items()))
    if kind == "choice":
        if not isinstance(values, list) or not values:
            raise ActorCriticError(f"sweep: [random] {name} choice needs a non-empty list")
        return values[int(draws.integers(len(values)))]
    if not (
        isinstance(values, list)
        and len(values) == 2
        and all(isinstance(v, (int, float)) for v in values)
        and values[0] < values[1]
    ):
        raise ActorCriticError(f"sweep: [random] {name} {kind} needs [low, high] with low < high")
    if kind == "log_uniform":
        if values[0] <= 0:
            raise ActorCriticError(f"sweep: [random] {name} log_uniform needs positive bounds")
        return float(math.exp(draws.uniform(math.log(values[0]), math.log(values[1]))))
    return float(draws.uniform(*values))


def _build(config_class: type, env: str, values: dict, seeds: tuple[int, ...], algo: str) -> Any:
    """The trial's config: the env's preset, then the sweep's values; unknown fields named with a suggestion."""
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    for name in values:
        if name not in fields:
            close = difflib.get_close_matches(name, list(fields), n=1)
            hint = f"did you mean {close[0]}?" if close else f"see `actorcritic train {algo} --help`"
            raise ActorCriticError(f"sweep: {algo} has no config field {name!r}: {hint}")
        if name in ("seed", "seeds", "env"):
            raise ActorCriticError(f"sweep: {name} is set by the sweep's top level, not as a field")
    try:  # a TOML list for a tuple field is taken by the config itself (check_field_types)
        return config_class.for_env(env, seed=seeds[0], seeds=seeds if len(seeds) > 1 else (), **values)
    except TypeError as error:
        raise ActorCriticError(f"sweep: a value does not fit {algo}'s config ({error})") from None


def _trial_name(algo: str, env: str, settings: dict, index: int, seeds: tuple[int, ...] = ()) -> str:
    shown = "-".join(
        f"{name}={_short(value)}" for name, value in {**settings, **({"seeds": seeds} if seeds else {})}.items()
    )
    name = f"{index:03d}-{algo}-{env.replace('/', '-').replace(':', '-')}" + (f"-{shown}" if shown else "")
    return "".join(c if c.isalnum() or c in "-_=.," else "_" for c in name)[:120]


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


@dataclass(frozen=True)
class Backend:
    """Where the trials run: `jobs` local processes at a time, or a Ray cluster (`ray` is "auto" or an
    address) with `cpus_per_trial` CPUs, and as many torch threads, per trial."""

    jobs: int | None = None
    ray: str | None = None
    cpus_per_trial: int = 1


def load(out: Path) -> tuple[list[Trial], Backend]:
    """The trials and backend of a sweep directory."""
    path = Path(out) / SWEEP_FILE
    try:
        saved = json.loads(path.read_text())
        trials = [
            Trial(t["name"], t["algo"], config_from_dict(algorithm(t["algo"]).config_class, t["config"]), t["settings"])
            for t in saved["trials"]
        ]
        # sweeps before the Ray backend
        backend = Backend(**saved["backend"]) if "backend" in saved else Backend(jobs=int(saved["jobs"]))
        return trials, backend
    except FileNotFoundError:
        raise ActorCriticError(
            f"{out} holds no sweep ({SWEEP_FILE} is missing): pass the --out of an earlier `actorcritic sweep`"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ActorCriticError(f"corrupt sweep: {path} cannot be read ({error!s:.80})") from None
