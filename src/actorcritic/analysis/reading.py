"""Reading run directories: a run's config and its learning curves per seed, and an algorithm's defaults."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from actorcritic.errors import ActorCriticError
from actorcritic.storage.layout import CONFIG_FILE, METRICS_FILE

PANELS = (
    ("episode_return_mean", "episode return (training)"),
    ("eval_return_mean", "evaluation return (deterministic)"),
    ("eval_success_rate", "evaluation success rate (goal-conditioned tasks)"),
    ("heldout_accuracy", "held-out accuracy (greedy; grpo-lm)"),
)


def read_run(run_dir: Path) -> tuple[dict, dict[str, dict[int, list[tuple[int, float]]]]]:
    """A run directory's config.json and, per plotted column and per seed, its (global_step, value) points."""
    run_dir = Path(run_dir)
    try:
        config = json.loads((run_dir / CONFIG_FILE).read_text())
        with open(run_dir / METRICS_FILE, newline="") as f:
            rows = list(csv.DictReader(f))
    except PermissionError:
        raise  # the command's one line for a file this user may not read
    except (OSError, ValueError) as error:
        raise ActorCriticError(
            f"{run_dir} is not a run directory with config.json and metrics.csv ({error}): pass the --run-dir of a run"
        ) from None
    config = {**config_defaults(config.get("algo")), **config}  # a run older than a field had that field's default
    curves: dict[str, dict[int, list[tuple[int, float]]]] = {}
    for column, _ in PANELS:
        curves[column] = {}
        for row in rows:
            if row.get(column) in (None, ""):
                continue
            seed = int(row["seed"]) if row.get("seed") not in (None, "") else config.get("seed", 0)
            step, value = int(float(row["global_step"])), float(row[column])
            if math.isfinite(value):
                curves[column].setdefault(seed, []).append((step, value))
    return config, curves


def config_defaults(algo) -> dict:
    """The config defaults of an algorithm ({} for an unknown one)."""
    import dataclasses

    from actorcritic.algorithms.registry import ALGORITHMS

    if algo not in ALGORITHMS:
        return {}
    return {
        f.name: f.default
        for f in dataclasses.fields(ALGORITHMS[algo].config_class)
        if f.default is not dataclasses.MISSING
    }
