"""Several seeds in one process: `--seeds 0 1 2 3` (or `--num-seeds 4`) trains S independent agents of one
algorithm in one process and one run directory.

Independence is the contract. Seed k is an ordinary agent of the algorithm, built from the config with
`seed = k`: its own networks, optimiser state, replay buffer or rollout storage, environments, normalisers,
learning-rate schedule and random generator. Nothing flows between seeds, so a seed's numbers are
bit-identical to the single-seed run of that seed, whichever seeds share the process and in which order
(tests/test_seeds.py checks this for every algorithm, and that no tensor is shared). `--seed N` alone is the
group of one: the same agent, the same loop.

The seeds advance in lockstep, one logging window each in turn (`Agent.training`), so their curves grow
together and an interrupted run loses at most one checkpoint interval of each seed.

Why the seeds are not stacked into one batched network (benchmarks/seeds_stacking.py, this project's
2-core AMD EPYC with AVX-512 BF16, no AMX): a TD3-sized update for S = 2-8 seeds stacked into one
`baddbmm` per layer runs, per seed, at 0.91-0.99x the speed of one seed's in fp32 and at 1.13-1.49x in bf16,
while bf16 alone (`--precision bf16`) gains 1.6x; and in fp32 `baddbmm` over one member takes another
kernel than over several, so a stacked seed's numbers would depend on how many seeds share the process.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable, Iterable

import gymnasium as gym
import numpy as np
import torch

from actorcritic.algorithms.checkpoints import (
    checkpoint_directory,
    is_seed_group_checkpoint,
)
from actorcritic.algorithms.engine import check_state
from actorcritic.config import check_seeds
from actorcritic.errors import ActorCriticError
from actorcritic.storage.checkpoint import SEED_ORDER_FILE
from actorcritic.storage.files import write_json_atomic

_FINISHED = object()


def seed_subdirectory(directory: str | Path, seed: int) -> Path:
    """Where seed `seed` of a multi-seed agent keeps its checkpoint inside `directory`."""
    return Path(directory) / f"seed-{seed}"


def make_agent(agent_class: type, config: Any, env_fn: Callable[[], gym.Env] | None = None):
    """The agent a config asks for: one `agent_class` agent, or a `SeedGroup` of them when the config lists
    several `seeds` (what `actorcritic train` builds)."""
    if len(getattr(config, "seeds", ())) > 1:
        return SeedGroup(agent_class, config, env_fn=env_fn)
    return agent_class(config, env_fn=env_fn) if env_fn is not None else agent_class(config)


def load_agent_or_group(
    agent_class: type, directory: str | Path, env_fn: Callable[[], gym.Env] | None = None, **overrides: Any
):
    """`agent_class.load(directory)`, or `SeedGroup.load` where the directory holds a multi-seed checkpoint."""
    from_directory = checkpoint_directory(directory)
    if is_seed_group_checkpoint(from_directory):
        return SeedGroup.load(agent_class, from_directory, env_fn, **overrides)
    return agent_class.load(from_directory, env_fn=env_fn, **overrides)


class SeedGroup:
    """S independent agents of one algorithm, one per seed, used like one agent.

    Callbacks receive each seed's events with that seed's agent (`agent.config.seed`), and every metrics row
    names its seed (column `seed`); `on_log` or `on_evaluation` returning False stops that seed only, and
    `on_end` is called once per seed."""

    def __init__(
        self, agent_class: type, config: Any, env_fn: Callable[[], gym.Env] | None = None, agents: list | None = None
    ):
        self.agent_class, self.algo = agent_class, agent_class.algo
        if agents is None:
            agents = [
                agent_class(dataclasses.replace(config, seed=seed, seeds=()), env_fn=env_fn) for seed in config.seeds
            ]
        self.agents = agents

    @property
    def seeds(self) -> list[int]:
        return [agent.config.seed for agent in self.agents]

    @property
    def config(self) -> Any:
        """The config of the group: the seeds' common config, listing every seed."""
        return dataclasses.replace(self.agents[0].config, seeds=tuple(self.seeds))

    @property
    def observation_space(self) -> gym.Space:
        return self.agents[0].observation_space

    @property
    def action_space(self) -> gym.Space:
        return self.agents[0].action_space

    @property
    def global_step(self) -> int:
        """The environment steps of the seed that is furthest behind."""
        return min(agent.global_step for agent in self.agents)

    @property
    def records_video(self) -> bool:
        return self.agents[0].records_video

    def summary_extras(self) -> dict:
        return {}

    def seed_agent(self, index: int):
        """The agent of the index-th seed (in the order of `seeds`): a standalone single-seed agent."""
        return self.agents[index]

    # ---------------------------------------------------------------- acting and evaluation

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Actions of every seed: obs [S, ...] (seed k's observations at index k) -> [S, ...]."""
        if len(obs) != len(self.agents):
            raise ActorCriticError(
                f"act got observations for {len(obs)} seeds, but this agent has {len(self.agents)}: stack one per "
                "seed ([S, ...])"
            )
        return np.stack([agent.act(seed_obs, deterministic) for agent, seed_obs in zip(self.agents, obs)])

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[np.ndarray, None]:
        return self.act(obs, deterministic), None

    def evaluate(
        self, episodes: int | None = None, seed: int | None = None, video_dir: str | Path | None = None
    ) -> list[list[float]]:
        """Each seed's returns (`Agent.evaluate`), in the order of `seeds`; videos go to video_dir/seed-K/."""
        return [
            agent.evaluate(
                episodes, seed, None if video_dir is None else seed_subdirectory(video_dir, agent.config.seed)
            )
            for agent in self.agents
        ]

    # ---------------------------------------------------------------- training

    def learn(self, steps: int | None = None, callbacks: Iterable[Any] = ()):
        """`Agent.learn` for every seed, one logging window of each in turn."""
        callbacks = list(callbacks)
        runs = [agent.learning_windows(steps, callbacks) for agent in self.agents]
        while runs:
            runs = [run for run in runs if next(run, _FINISHED) is not _FINISHED]
        return self

    # ---------------------------------------------------------------- parameters

    def get_parameters(self) -> dict[int, dict[str, dict[str, torch.Tensor]]]:
        """Each seed's `Agent.get_parameters()`, by seed."""
        return {agent.config.seed: agent.get_parameters() for agent in self.agents}

    def set_parameters(self, parameters: dict[int, dict[str, dict[str, torch.Tensor]]], exact: bool = True) -> None:
        """`Agent.set_parameters` for the seeds given (with `exact`, every seed), by seed; all are checked first."""
        unknown = sorted(set(parameters) - set(self.seeds))
        missing = sorted(set(self.seeds) - set(parameters)) if exact else []
        if unknown or missing:
            problem = f"seeds {unknown} it does not have" if unknown else f"no parameters for seeds {missing}"
            raise ActorCriticError(
                f"set_parameters got {problem}: this group's seeds are {self.seeds} (pass exact=False for some)"
            )
        agents = {agent.config.seed: agent for agent in self.agents}
        for seed, seed_parameters in parameters.items():
            states = agents[seed]._states()
            for name, state in seed_parameters.items():
                if name in states:
                    check_state(name, states[name], state)
        for seed, seed_parameters in parameters.items():
            agents[seed].set_parameters(seed_parameters, exact)

    def reseed(self, seeds: Iterable[int]) -> None:
        """`Agent.reseed` for every seed's agent: the k-th agent takes the k-th of `seeds` (distinct, one each)."""
        seeds = list(seeds)
        if len(seeds) != len(self.agents):
            raise ActorCriticError(f"reseed got {len(seeds)} seeds for a group of {len(self.agents)}: give one each")
        check_seeds(tuple(seeds))
        for agent, seed in zip(self.agents, seeds):
            agent.reseed(seed)

    # ---------------------------------------------------------------- save and load

    def save(self, directory: str | Path, policy_only: bool = False) -> None:
        """Each seed's checkpoint in directory/seed-K/, and the order of the seeds in seeds.json."""
        for agent in self.agents:
            agent.save(seed_subdirectory(directory, agent.config.seed), policy_only)
        write_seed_order(directory, self.seeds)

    @classmethod
    def load(
        cls,
        agent_class: type,
        directory: str | Path,
        env_fn: Callable[[], gym.Env] | None = None,
        **config_overrides: Any,
    ) -> "SeedGroup":
        seeds = read_seed_order(directory)
        agents = [
            agent_class.load(seed_subdirectory(directory, seed), env_fn=env_fn, **config_overrides) for seed in seeds
        ]
        if [agent.config.seed for agent in agents] != seeds:
            raise ActorCriticError(
                f"corrupt checkpoint in {directory}: the seed-K/ checkpoints do not hold the seeds {seeds} of "
                f"{SEED_ORDER_FILE}"
            )
        return cls(agent_class, None, agents=agents)


def write_seed_order(directory: str | Path, seeds: list[int]) -> None:
    Path(directory).mkdir(parents=True, exist_ok=True)
    write_json_atomic(Path(directory) / SEED_ORDER_FILE, {"seeds": list(seeds)})


def read_seed_order(directory: str | Path) -> list[int]:
    path = Path(directory) / SEED_ORDER_FILE
    try:
        seeds = json.loads(path.read_text())["seeds"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise ActorCriticError(
            f"corrupt checkpoint: {path} does not list the seeds of a multi-seed run ({error!s:.80})"
        ) from None
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(type(seed) is int and seed >= 0 for seed in seeds)
        or len(set(seeds)) != len(seeds)
    ):
        raise ActorCriticError(f"corrupt checkpoint: {path} lists {seeds!r}, not distinct seeds")
    return seeds
