"""Checkpoints: tensors in safetensors, everything else in JSON. No pickle; loading a file never runs code.

A checkpoint is a directory with two files:

* ``tensors.safetensors``: parameters, optimiser moments, normaliser statistics, RNG states.
* ``state.json``: format version, algorithm, environment and its spaces, the full config, counters, the
  optimiser's hyperparameters, and the SHA-256 of ``tensors.safetensors`` (so a damaged file is refused
  even when it still parses).

Writes are atomic: the new checkpoint is written to ``<dir>.tmp``, then swapped in with renames. A crash at
any point leaves either the previous checkpoint or the new one, complete, and `load_checkpoint` finds it."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from actorcritic.errors import ActorCriticError
from actorcritic.storage.files import _json_bytes, _write_synced, describe_os_error

FORMAT_VERSION = 2
TENSORS_FILE = "tensors.safetensors"
STATE_FILE = "state.json"
SEED_ORDER_FILE = "seeds.json"
"""A multi-seed checkpoint: seeds.json lists the seeds, each seed's checkpoint is in seed-K/."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- save and load


def previous_checkpoint(directory: Path) -> Path:
    """Where a checkpoint being replaced waits during `save_checkpoint`: `<dir>.prev`. A crash between the save's two
    renames leaves the checkpoint there and none at `directory`: whoever reads a checkpoint looks there too
    (`readable_checkpoint`)."""
    return directory.with_name(directory.name + ".prev")


def readable_checkpoint(directory: Path) -> Path:
    """`directory`, or its `previous_checkpoint` where a save was cut between its renames (then only that one
    holds a state file). The one place that rule is known."""
    directory = Path(directory)
    previous = previous_checkpoint(directory)
    if not (directory / STATE_FILE).exists() and (previous / STATE_FILE).exists():
        return previous
    return directory


def save_checkpoint(directory: Path, tensors: dict[str, torch.Tensor], state: dict) -> None:
    """Write a checkpoint directory atomically (see the module docstring)."""
    directory = Path(directory)
    staging = directory.with_name(directory.name + ".tmp")
    previous = previous_checkpoint(directory)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        contiguous = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
        save_file(contiguous, str(staging / TENSORS_FILE))
        state = {"format_version": FORMAT_VERSION, **state, "tensors_sha256": _sha256(staging / TENSORS_FILE)}
        _write_synced(staging / STATE_FILE, _json_bytes(state))  # the staging directory is swapped in whole below
    except (OSError, SafetensorError) as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise ActorCriticError(
            f"{describe_os_error(error)} while saving the checkpoint to {directory}; {_previous_checkpoint(directory)}"
        ) from None
    if directory.exists():
        shutil.rmtree(previous, ignore_errors=True)
        os.replace(directory, previous)
    os.replace(staging, directory)
    shutil.rmtree(previous, ignore_errors=True)


def _previous_checkpoint(directory: Path) -> str:
    """What is left when a save fails: the checkpoint already there, if any."""
    try:
        step = json.loads((directory / STATE_FILE).read_text())["counters"]["global_step"]
        return f"the previous checkpoint at step {step} is intact"
    except (OSError, ValueError, KeyError, TypeError):
        return "there was no earlier checkpoint"


def load_checkpoint(directory: Path, algo: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Read and verify a checkpoint directory; refuse a missing, corrupt, foreign or newer one with one line.

    `algo`, when given, must match the algorithm that wrote the checkpoint."""
    directory = readable_checkpoint(directory)
    if not (directory / STATE_FILE).exists():
        raise ActorCriticError(
            f"no checkpoint in {directory}: expected {STATE_FILE} and {TENSORS_FILE} there (is this a run directory "
            "written by `actorcritic train`?)"
        )
    try:
        state = json.loads((directory / STATE_FILE).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ActorCriticError(
            f"corrupt checkpoint: {directory / STATE_FILE} is not valid JSON ({error}); restore it from a backup or "
            "train again"
        ) from None
    if not isinstance(state, dict) or "format_version" not in state or "algo" not in state:
        raise ActorCriticError(
            f"{directory / STATE_FILE} is not an actorcritic checkpoint (no format_version/algo fields)"
        )
    version = state["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ActorCriticError(
            f"checkpoint format version {version!r} is newer than this actorcritic reads ({FORMAT_VERSION}): upgrade "
            "actorcritic"
        )
    if algo is not None and state["algo"] != algo:
        raise ActorCriticError(
            f"checkpoint in {directory} was written by {state['algo']!r}, not {algo!r}: load it with {state['algo']!r}"
        )
    tensors_path = directory / TENSORS_FILE
    if not tensors_path.exists():
        raise ActorCriticError(f"corrupt checkpoint: {tensors_path} is missing")
    if _sha256(tensors_path) != state.get("tensors_sha256"):
        raise ActorCriticError(
            f"corrupt checkpoint: {tensors_path} does not match the checksum in {STATE_FILE}; restore it from a "
            "backup or train again"
        )
    try:
        tensors = load_file(str(tensors_path))
    except (SafetensorError, OSError, ValueError) as error:
        raise ActorCriticError(f"corrupt checkpoint: {tensors_path} cannot be read ({error})") from None
    return tensors, state


# ---------------------------------------------------------------- pieces of agent state


def module_tensors(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{name}": t for name, t in module.state_dict().items()}


def load_module_tensors(prefix: str, module: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    own = {name[len(prefix) + 1 :]: t for name, t in tensors.items() if name.startswith(prefix + ".")}
    try:
        module.load_state_dict(own, strict=True)
    except RuntimeError as error:
        first = str(error).strip().splitlines()
        raise ActorCriticError(
            f"checkpoint does not fit the {prefix} network ({first[-1].strip() if first else error}): it was built "
            "for other spaces or sizes"
        ) from None


def optimizer_state(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """Split an optimiser's state into tensors (moments, step counts) and JSON (hyperparameters)."""
    state_dict = optimizer.state_dict()
    tensors = {}
    for index, slots in state_dict["state"].items():
        for slot, value in slots.items():
            tensors[f"{prefix}.{index}.{slot}"] = value if torch.is_tensor(value) else torch.tensor(value)
    return tensors, state_dict["param_groups"]


def check_param_groups(prefix: str, param_groups: Any) -> None:
    """The JSON half of an optimiser's state: a list of groups, each with integer parameter indices and
    finite numeric hyperparameters (a positive learning rate)."""

    def fine(group) -> bool:
        if (
            not isinstance(group, dict)
            or not isinstance(group.get("params"), list)
            or not all(type(i) is int for i in group["params"])
        ):
            return False
        numbers = [v for v in group.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        numbers += [x for v in group.values() if isinstance(v, list) and v is not group["params"] for x in v]
        lr = group.get("lr")
        return (
            all(isinstance(x, (int, float)) and math.isfinite(x) for x in numbers)
            and isinstance(lr, (int, float))
            and lr > 0
        )

    if not isinstance(param_groups, list) or not param_groups or not all(fine(group) for group in param_groups):
        raise ActorCriticError(f"corrupt checkpoint: the {prefix} hyperparameters in {STATE_FILE} are garbled")


def load_optimizer_state(
    prefix: str, optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], param_groups: list[dict]
) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            index, slot = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(index), {})[slot] = value
    check_param_groups(prefix, param_groups)
    try:
        optimizer.load_state_dict({"state": state, "param_groups": param_groups})
    except (ValueError, KeyError, RuntimeError, TypeError) as error:
        raise ActorCriticError(f"checkpoint's {prefix} state does not fit this model ({error})") from None


def generator_state(generator: torch.Generator) -> torch.Tensor:
    return generator.get_state()


def numpy_arrays_to_tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {name: torch.from_numpy(np.ascontiguousarray(a)) for name, a in arrays.items()}


def tensors_to_numpy(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, np.ndarray]:
    return {name: t.numpy() for name, t in tensors.items() if name.startswith(prefix + ".")}
