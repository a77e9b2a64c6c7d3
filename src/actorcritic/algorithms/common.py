"""What every algorithm shares: presets, devices, seeded construction, and the hook a run directory gives
the training loop."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Any, Callable

import torch

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


def config_field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]
