"""The registry's smoke settings as command-line flags and as a config, which checks apply to which
registration (decided from the config and agent classes, never from a list of names), and helpers to
compare runs: what the contract suite and the tests that read the registry use."""

from __future__ import annotations

import csv
import dataclasses
import math
import typing
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from actorcritic.algorithms.registry import ALGORITHMS, Registration
from actorcritic.cli.flags import flag_of
from actorcritic.cli.parsing import parse_config
from actorcritic.storage.checkpoint import load_checkpoint


def has_field(registration: Registration, name: str) -> bool:
    """Whether the config class has `name` as a dataclass field (not as a property)."""
    return name in {f.name for f in dataclasses.fields(registration.config_class)}


def names_where(condition) -> list[str]:
    return [name for name, registration in ALGORITHMS.items() if condition(registration)]


ALL = list(ALGORITHMS)
ON_ENVIRONMENTS = names_where(lambda r: has_field(r, "env"))
"""Algorithms that train on a Gymnasium environment (grpo-lm's `env` is a property naming its task)."""
WITH_SEEDS = names_where(lambda r: has_field(r, "seeds"))
WITH_PRECISION = names_where(lambda r: has_field(r, "precision"))
EXPORTABLE = names_where(lambda r: hasattr(r.agent_class, "deterministic_policy"))


def smoke_flags(name: str, **overrides) -> list[str]:
    """The smoke settings of `name` (with `overrides`) as `actorcritic train NAME` flags, from the field
    types: tuples as several values, booleans as --x / --no-x."""
    config_class = ALGORITHMS[name].config_class
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    hints = typing.get_type_hints(config_class)
    flags: list[str] = []
    for field_name, value in {**ALGORITHMS[name].smoke, **overrides}.items():
        flag = flag_of(fields[field_name])
        if hints[field_name] is bool:
            flags.append(flag if value else f"--no-{flag[2:]}")
        elif isinstance(value, tuple):
            assert value, f"{name}'s smoke setting {field_name}=() has no command-line form"
            flags += [flag, *map(str, value)]
        else:
            flags += [flag, str(value)]
    return flags


def smoke_config(name: str, **overrides):
    """The config `actorcritic train NAME` builds from the smoke flags (over the environment's preset)."""
    return parse_config(ALGORITHMS[name].config_class, smoke_flags(name, **overrides), prog=f"contract {name}")


def untimed(rows: list[dict]) -> list[dict]:
    """Metrics rows without the columns that measure speed (they differ from run to run); NaN as "nan", so
    that rows holding one compare equal."""
    return [
        {k: "nan" if isinstance(v, float) and math.isnan(v) else v for k, v in row.items() if not _timing(k)}
        for row in rows
    ]


def _timing(column: str) -> bool:
    return "per_second" in column or "wall_time" in column


def csv_rows(run_dir: Path, seed: int | None = None) -> list[dict]:
    """metrics.csv's rows, untimed; with `seed`, that seed's rows only, without the seed column."""
    with open(Path(run_dir) / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    if seed is not None:
        rows = [
            {k: v for k, v in row.items() if k != "seed"} for row in rows if row.get("seed", str(seed)) == str(seed)
        ]
    return untimed(rows)


def differing_tensors(expected_dir: Path, got_dir: Path) -> list[str]:
    """The tensors of two checkpoints that are not bit-identical (after checking that both hold the same names)."""
    expected, _ = load_checkpoint(Path(expected_dir))
    got, _ = load_checkpoint(Path(got_dir))
    assert sorted(got) == sorted(expected)
    return [key for key in expected if not torch.equal(expected[key], got[key])]


def observations(agent, count: int = 7) -> np.ndarray:
    """`count` float32 observations of the agent's space (Gaussian where the box is unbounded), fixed."""
    space = agent.observation_space
    rng = np.random.default_rng(0)
    low = np.where(np.isfinite(space.low), space.low, -3.0)
    high = np.where(np.isfinite(space.high), space.high, 3.0)
    return rng.uniform(low, high, size=(count, *space.shape)).astype(np.float32)


def close(agent) -> None:
    if getattr(agent, "envs", None) is not None:
        agent.envs.close()


# ---------------------------------------------------------------- an environment that returns a NaN reward


class NaNRewardAt(gym.Wrapper):
    """The wrapped environment, except that the run's `at`-th environment step (counted over every copy, as
    `steps`) returns the reward NaN. Its terminations are dropped (the time limit stays), so that every copy
    is still in its first episode at the NaN: then the environment steps taken are the steps each algorithm
    counts (GRPO counts only the steps of the episodes still running in a group)."""

    steps = 0

    def __init__(self, env: gym.Env, at: int):
        super().__init__(env)
        self.at = at

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        NaNRewardAt.steps += 1
        return obs, (math.nan if NaNRewardAt.steps == self.at else reward), False, truncated, info


def nan_step(name: str) -> int:
    """A step within the smoke run and before its first checkpoint."""
    smoke = ALGORITHMS[name].smoke
    return min(smoke.get("checkpoint_every") or smoke["total_steps"], smoke["total_steps"]) // 3


def nan_env_id(name: str) -> str:
    """The Gymnasium id of `name`'s smoke environment with a NaN reward at `nan_step(name)` (registered here)."""
    env, at = ALGORITHMS[name].smoke["env"], nan_step(name)
    env_id = f"ContractNaNRewardAt{at}-{env.replace('/', '-')}"
    if env_id not in gym.registry:
        gym.register(env_id, entry_point=lambda: NaNRewardAt(gym.make(env), at))
    return env_id
