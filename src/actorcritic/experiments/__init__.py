"""Experiments that reproduce the lecture's claims, one module each: `actorcritic experiment NAME`.

Every module defines `Config` (a frozen dataclass: the experiment's options, each a CLI flag, including
`out`), `CLAIM` (one line: what it tests), and `run(config) -> ExperimentResult`. `run_experiment` writes
`results.csv`, `figure.png` and `summary.json` into `config.out` and prints the table.
"""

from __future__ import annotations

import importlib

from actorcritic.errors import ActorCriticError

NAMES = (
    "bandit-npg",
    "baseline-variance",
    "gae-lambda",
    "td3-overestimation",
    "td3-ablation",
    "ppo-vs-grpo",
    "mismatch",
)


def available() -> list[str]:
    """The experiments whose module is present."""
    import importlib.util

    return [n for n in NAMES if importlib.util.find_spec(f"actorcritic.experiments.{n.replace('-', '_')}") is not None]


def load(name: str):
    """The module of experiment `name`."""
    if name not in available():
        raise ActorCriticError(f"unknown experiment {name!r}: see `actorcritic experiment --list`")
    return importlib.import_module(f"actorcritic.experiments.{name.replace('-', '_')}")
