"""What every algorithm shares: presets, devices, seeded construction, and the hook a run directory gives
the training loop."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import re
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from actorcritic.checkpoint import load_checkpoint
from actorcritic.config import config_from_dict, config_to_dict
from actorcritic.envs import space_signature
from actorcritic.errors import ActorCriticError
from actorcritic.logging import RunLogger

EMPTY_METRIC = math.nan
"""Value of a metric with no data in an update (e.g. no episode ended); written as an empty CSV cell."""


def apply_preset(cls: type, presets: dict[str, dict], env: str, overrides: dict[str, Any]) -> Any:
    """`cls` defaults, then `presets[env]` if present, then `overrides` (which win)."""
    return cls(**{**presets.get(env, {}), **overrides, "env": env})


def check_device(device: str) -> None:
    if not re.fullmatch(r"cpu|cuda(:\d+)?|mps", device):
        raise ActorCriticError(f"--device {device!r} is not a device: use cpu, cuda or cuda:N")


def resolve_device(device: str) -> torch.device:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ActorCriticError(f"--device {device} asked for a GPU but torch sees none: use --device cpu")
    return torch.device(device)


def build_quietly(build: Callable[[], Any], seed: int) -> Any:
    """Run `build()` (network construction) under `seed` without touching the global torch RNG stream."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


class LearningRun:
    """The link between a training loop and its run directory: logs each update's metrics and saves a
    checkpoint every `checkpoint_every` updates."""

    def __init__(self, logger: RunLogger, checkpoint_dir: Path, checkpoint_every: int):
        self.logger = logger
        self.checkpoint_dir = Path(checkpoint_dir)
        self.checkpoint_every = checkpoint_every

    def after_update(self, agent: Any, metrics: dict[str, float]) -> None:
        self.logger.log(metrics)
        if self.checkpoint_every and agent.updates % self.checkpoint_every == 0:
            agent.save(self.checkpoint_dir)


# ---------------------------------------------------------------- checkpoints of any agent

def agent_state(agent: Any, counters: dict, optimizer_param_groups: Any) -> dict:
    """The JSON half of an agent's checkpoint: who wrote it, for which spaces, with which config and counters."""
    return {
        "algo": agent.algo,
        "env": agent.config.env,
        "observation_space": space_signature(agent.observation_space),
        "action_space": space_signature(agent.action_space),
        "config": config_to_dict(agent.config),
        "counters": {"global_step": agent.global_step, "updates": agent.updates, **counters},
        "optimizer_param_groups": optimizer_param_groups,
    }


def rebuild_agent(cls: type, directory: Path, config_overrides: dict) -> tuple[Any, dict[str, torch.Tensor], dict]:
    """Read a checkpoint written by `cls`, build the agent from its config (plus overrides) and check that
    the environment's spaces are the saved ones. Returns the agent (counters restored), the tensors and
    the JSON state; the caller loads its tensors inside `reading_tensors`."""
    tensors, state = load_checkpoint(Path(directory), cls.algo)
    try:
        config = dataclasses.replace(config_from_dict(cls.config_class, state["config"]), **config_overrides)
        counters = state["counters"]
        global_step, updates = int(counters["global_step"]), int(counters["updates"])
        saved_spaces = (state["observation_space"], state["action_space"])
        _ = state["optimizer_param_groups"]  # looked up here so that its absence reads as a corrupt file
    except (KeyError, TypeError, ValueError) as error:
        raise ActorCriticError(f"corrupt checkpoint in {directory}: state.json lacks or garbles {error}") from None
    agent = cls(config)
    spaces = (space_signature(agent.observation_space), space_signature(agent.action_space))
    if spaces != saved_spaces:
        raise ActorCriticError(
            f"checkpoint in {directory} was built for spaces {saved_spaces}, but {config.env} has {spaces}: use the environment it was trained on"
        )
    agent.global_step, agent.updates = global_step, updates
    return agent, tensors, state


@contextlib.contextmanager
def reading_tensors(directory: Path) -> Iterator[None]:
    """Turn a missing or misshapen tensor into a one-line `ActorCriticError`."""
    try:
        yield
    except (KeyError, RuntimeError, ValueError) as error:
        raise ActorCriticError(f"corrupt checkpoint in {directory}: missing or malformed tensor {error}") from None
