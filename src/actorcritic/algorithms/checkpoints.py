"""Checkpoints of any agent: rebuilding an agent from its checkpoint (its config, counters and spaces checked),
the episodes it had in flight, and the upgrade of older formats (the engines' migrations, then each
algorithm's own `state_migrations`). The file format itself is `actorcritic.storage.checkpoint`."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from actorcritic.config import config_from_dict
from actorcritic.envs.make import space_signature
from actorcritic.envs.resume import (
    checked_episode_record,
)
from actorcritic.errors import ActorCriticError
from actorcritic.storage.checkpoint import (
    FORMAT_VERSION,
    SEED_ORDER_FILE,
    STATE_FILE,
    load_checkpoint,
    readable_checkpoint,
)
from actorcritic.storage.layout import CHECKPOINT_DIR

# ---------------------------------------------------------------- checkpoints of any agent

EPISODES = "episodes"
"""Prefix of a checkpoint's tensors that continue the episodes in flight (`Agent._episode_record`)."""


def saved_episodes(
    agent: Any, directory: Path, record: Any, tensors: dict[str, torch.Tensor]
) -> tuple[list[dict] | None, dict[str, np.ndarray]]:
    """A checkpoint's record of its episodes, checked (`envs.checked_episode_record`): one line on a
    malformed one; none of its arrays where it was made for other environments (new episodes will start)."""
    try:
        arrays = {
            name[len(EPISODES) + 1 :]: tensor.numpy()
            for name, tensor in tensors.items()
            if name.startswith(f"{EPISODES}.")
        }
        return checked_episode_record(
            record,
            arrays,
            agent.envs.num_envs,
            agent.envs.get_attr("physics_size")[0],
            agent.observation_space.shape,
            agent.episode_values,
        )
    except (TypeError, ValueError) as error:
        raise ActorCriticError(
            f"corrupt checkpoint in {directory}: its record of the episodes in flight is malformed ({error})"
        ) from None


def checkpoint_directory(directory: str | Path) -> Path:
    """`directory` itself, or its checkpoint/ when it is a run directory."""
    directory = Path(directory)
    inner = directory / CHECKPOINT_DIR
    if (
        not (directory / STATE_FILE).exists()
        and not (directory / SEED_ORDER_FILE).exists()
        and ((readable_checkpoint(inner) / STATE_FILE).exists() or (inner / SEED_ORDER_FILE).exists())
    ):
        return inner
    return directory


def is_seed_group_checkpoint(directory: Path) -> bool:
    return not (directory / STATE_FILE).exists() and (directory / SEED_ORDER_FILE).exists()


def rebuild_agent(
    cls: type, directory: Path, config_overrides: dict, env_fn=None
) -> tuple[Any, dict[str, torch.Tensor], dict]:
    """Read a checkpoint written by `cls`, build the agent from its config (plus overrides) and check that
    the environment's spaces are the saved ones. Returns the agent (counters restored), the tensors and
    the JSON state; the caller loads its tensors inside `reading_tensors`."""
    tensors, state = load_checkpoint(Path(directory), cls.algo)
    check_state_fields(state, directory)
    try:
        state = upgrade_state(state, cls)
        config = dataclasses.replace(config_from_dict(cls.config_class, state["config"]), **config_overrides)
        counters = state["counters"]
        global_step, updates = (
            step_count(counters, "global_step", directory),
            step_count(counters, "updates", directory),
        )
        saved_spaces = (state["observation_space"], state["action_space"])
        if not isinstance(state["optimizer_param_groups"], dict):  # format 1's list was made a dict above
            raise TypeError("optimizer_param_groups is not a mapping of optimiser names")
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ActorCriticError(f"corrupt checkpoint in {directory}: state.json lacks or garbles {error}") from None
    if state.get("env_factory") is True and env_fn is None:
        raise ActorCriticError(
            f"the run in {directory} was trained on an environment factory ({config.env!r} only names it): load it "
            f"in Python with {cls.__name__}.load(directory, env_fn=...) and the same factory"
        )
    agent = cls(config, env_fn=env_fn) if env_fn is not None else cls(config)
    spaces = (space_signature(agent.observation_space), space_signature(agent.action_space))
    if spaces != saved_spaces:
        raise ActorCriticError(
            f"checkpoint in {directory} was built for spaces {saved_spaces}, but {config.env} has {spaces}: use the "
            "environment it was trained on"
        )
    agent.global_step, agent.updates = global_step, updates
    return agent, tensors, state


STATE_FIELDS = {
    "env": str,
    "observation_space": dict,
    "action_space": dict,
    "config": dict,
    "counters": dict,
    "optimizer_param_groups": (dict, list),  # a list: format 1's single on-policy optimiser
}
"""The fields of an agent's state.json and the JSON type each must have (`storage.checkpoint` checked
format_version and algo)."""


def check_state_fields(state: dict, directory: Path, fields: dict[str, type | tuple[type, ...]] = STATE_FIELDS) -> None:
    """Refuse, in one line, a state.json whose `fields` are missing or of another JSON type, before any is used."""
    for name, kind in fields.items():
        if not isinstance(state.get(name), kind):
            found = "missing" if name not in state else f"a {type(state[name]).__name__}"
            raise ActorCriticError(
                f"corrupt checkpoint in {directory}: state.json's {name} is {found}; restore it from a backup or "
                "train again"
            )


MAX_COUNT = 10**15


def step_count(counters: dict, name: str, directory: Path) -> int:
    """A saved counter: an integer in [0, 10^15] (JSON turns 1e400 into infinity; a hand edit, into anything)."""
    value = counters[name]
    if type(value) is not int or not 0 <= value <= MAX_COUNT:
        raise ActorCriticError(
            f"corrupt checkpoint in {directory}: counter {name} = {value!r} is not a count in [0, {MAX_COUNT}]"
        )
    return value


def upgrade_state(state: dict, agent_class: type) -> dict:
    """A state.json of an older format in today's terms: for each format step, the engines' migration, then
    the algorithm's own (`Agent.state_migrations`, declared in the algorithm's file)."""
    for version in range(state["format_version"], FORMAT_VERSION):
        state = ENGINE_MIGRATIONS[version](dict(state))
        if version in agent_class.state_migrations:
            state = agent_class.state_migrations[version](dict(state))
    return state


def _engines_share_one_contract(state: dict) -> dict:
    """Format 1 -> 2 (the engines came to share one contract): the on-policy optimiser's hyperparameters keyed
    by name, and `checkpoint_every` in environment steps rather than updates."""
    groups = state["optimizer_param_groups"]
    if isinstance(groups, list):  # the on-policy engine saved its single optimiser's groups bare
        config = dict(state["config"])
        state["optimizer_param_groups"] = {"optimizer": groups}
        steps_per_update = config.get("num_envs", 1) * config.get("num_steps", 1)
        config["checkpoint_every"] = config.get("checkpoint_every", 0) * steps_per_update
        state["config"] = config
    return state


ENGINE_MIGRATIONS = {1: _engines_share_one_contract}
"""format version N -> the migration of every checkpoint from N to N + 1."""


@contextlib.contextmanager
def reading_tensors(directory: Path) -> Iterator[None]:
    """Turn a missing or misshapen tensor into a one-line `ActorCriticError`."""
    try:
        yield
    except (KeyError, RuntimeError, ValueError) as error:
        raise ActorCriticError(f"corrupt checkpoint in {directory}: missing or malformed tensor {error}") from None
