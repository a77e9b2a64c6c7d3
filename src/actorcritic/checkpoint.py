"""Checkpoints: tensors in safetensors, everything else in JSON. No pickle; loading a file never runs code.

A checkpoint is a directory with two files:

* ``tensors.safetensors``: parameters, optimiser moments, normaliser statistics, RNG states.
* ``state.json``: format version, algorithm, environment and its spaces, the full config, counters, the
  optimiser's hyperparameters, and the SHA-256 of ``tensors.safetensors`` (so a damaged file is refused
  even when it still parses).

Writes are atomic: the new checkpoint is written to ``<dir>.tmp``, then swapped in with renames. A crash at
any point leaves either the previous checkpoint or the new one, complete, and `load_checkpoint` finds it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from actorcritic.errors import ActorCriticError

FORMAT_VERSION = 2
TENSORS_FILE = "tensors.safetensors"
STATE_FILE = "state.json"


# ---------------------------------------------------------------- atomic file writes

@contextlib.contextmanager
def replaced_atomically(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` for the caller to write; when the block ends it is renamed over
    `path`. If anything fails the temporary file is removed and `path` is as it was; an OS error (a full
    disk, a filesystem that refuses the write after the checks allowed it) becomes one line
    (`ActorCriticError`)."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield temporary
        os.replace(temporary, path)
    except OSError as error:
        raise ActorCriticError(f"cannot write {path}: {describe_os_error(error)}; the file is unchanged") from None
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same directory and a rename (see
    `replaced_atomically`)."""
    with replaced_atomically(path) as temporary:
        _write_synced(temporary, data)


def describe_os_error(error: BaseException) -> str:
    """An OS error (or safetensors' wrapping of one) in a few words."""
    text = str(error)
    if getattr(error, "errno", None) == errno.ENOSPC or "No space left" in text or "StorageFull" in text:
        return "no space left on the device"
    return getattr(error, "strerror", None) or text.splitlines()[0][:120]


def write_json_atomic(path: Path, obj: Any) -> None:
    write_atomic(path, _json_bytes(obj))


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode()


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def check_writable_file(path: Path, flag: str) -> None:
    """Refuse, before any work, a file path that cannot be written: a directory, or one whose directory is
    missing or not writable."""
    path = Path(path)
    if path.is_dir() or not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
        raise ActorCriticError(f"{flag} {path} cannot be written: give a file in an existing, writable directory")


def check_writable_directory(path: Path, flag: str) -> None:
    """Refuse, before any work, a directory path that is a file, lies below a file, loops through symbolic
    links, or whose nearest existing directory is not writable."""
    path = Path(path)
    try:
        path.resolve(strict=False)
    except (RuntimeError, OSError):
        raise ActorCriticError(f"{flag} {path} cannot be resolved (a loop of symbolic links?): give another path") from None
    if path.exists() and not path.is_dir():
        raise ActorCriticError(f"{flag} {path} is a file: give a directory")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ActorCriticError(f"{flag} {path} lies below {existing}, which is a file: give another path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ActorCriticError(f"{flag} {path} cannot be written: {existing} is not writable")


def make_directory(path: Path, what: str) -> None:
    """Create directory `path` (and its parents) or say in one line why not; `what` names it, e.g. "the
    run directory". Called before the work that fills it, so that a refusal the checks above could not
    foresee (a filesystem that says yes to access(2) and no to mkdir) costs nothing."""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ActorCriticError(f"cannot create {what} {path}: {describe_os_error(error)}") from None


@contextlib.contextmanager
def directory_for_work(path: Path, what: str) -> Iterator[Path]:
    """`make_directory` before work that validates its own input as it starts: if the work fails, the
    directories made here that are still empty are removed again, so a refused input leaves nothing
    behind; what the work wrote (an interrupted experiment's runs) stays, to be continued."""
    path = Path(path)
    made = [directory for directory in (path, *path.parents) if not directory.exists()]
    make_directory(path, what)
    try:
        yield path
    except BaseException:
        for directory in made:  # deepest first
            try:
                directory.rmdir()
            except OSError:  # not empty: the work wrote there
                break
        raise


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- save and load

def save_checkpoint(directory: Path, tensors: dict[str, torch.Tensor], state: dict) -> None:
    """Write a checkpoint directory atomically (see the module docstring)."""
    directory = Path(directory)
    staging = directory.with_name(directory.name + ".tmp")
    previous = directory.with_name(directory.name + ".prev")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        contiguous = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
        save_file(contiguous, str(staging / TENSORS_FILE))
        state = {"format_version": FORMAT_VERSION, **state, "tensors_sha256": _sha256(staging / TENSORS_FILE)}
        _write_synced(staging / STATE_FILE, _json_bytes(state))  # the staging directory is swapped in whole below
    except (OSError, SafetensorError) as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise ActorCriticError(f"{describe_os_error(error)} while saving the checkpoint to {directory}; {_previous_checkpoint(directory)}") from None
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
    directory = Path(directory)
    if not (directory / STATE_FILE).exists():
        previous = directory.with_name(directory.name + ".prev")
        if (previous / STATE_FILE).exists():  # a crash between the two renames of `save_checkpoint`
            directory = previous
        else:
            raise ActorCriticError(f"no checkpoint in {directory}: expected {STATE_FILE} and {TENSORS_FILE} there (is this a run directory written by `actorcritic train`?)")
    try:
        state = json.loads((directory / STATE_FILE).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ActorCriticError(f"corrupt checkpoint: {directory / STATE_FILE} is not valid JSON ({error}); restore it from a backup or train again") from None
    if not isinstance(state, dict) or "format_version" not in state or "algo" not in state:
        raise ActorCriticError(f"{directory / STATE_FILE} is not an actorcritic checkpoint (no format_version/algo fields)")
    version = state["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ActorCriticError(f"checkpoint format version {version} is newer than this actorcritic reads ({FORMAT_VERSION}): upgrade actorcritic")
    if algo is not None and state["algo"] != algo:
        raise ActorCriticError(f"checkpoint in {directory} was written by {state['algo']!r}, not {algo!r}: load it with {state['algo']!r}")
    tensors_path = directory / TENSORS_FILE
    if not tensors_path.exists():
        raise ActorCriticError(f"corrupt checkpoint: {tensors_path} is missing")
    if _sha256(tensors_path) != state.get("tensors_sha256"):
        raise ActorCriticError(f"corrupt checkpoint: {tensors_path} does not match the checksum in {STATE_FILE}; restore it from a backup or train again")
    try:
        tensors = load_file(str(tensors_path))
    except (SafetensorError, OSError, ValueError) as error:
        raise ActorCriticError(f"corrupt checkpoint: {tensors_path} cannot be read ({error})") from None
    return tensors, state


# ---------------------------------------------------------------- pieces of agent state

def module_tensors(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{name}": t for name, t in module.state_dict().items()}


def load_module_tensors(prefix: str, module: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    own = {name[len(prefix) + 1:]: t for name, t in tensors.items() if name.startswith(prefix + ".")}
    try:
        module.load_state_dict(own, strict=True)
    except RuntimeError as error:
        first = str(error).strip().splitlines()
        raise ActorCriticError(f"checkpoint does not fit the {prefix} network ({first[-1].strip() if first else error}): it was built for other spaces or sizes") from None


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
        if not isinstance(group, dict) or not isinstance(group.get("params"), list) or not all(type(i) is int for i in group["params"]):
            return False
        numbers = [v for v in group.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        numbers += [x for v in group.values() if isinstance(v, list) and v is not group["params"] for x in v]
        lr = group.get("lr")
        return all(isinstance(x, (int, float)) and math.isfinite(x) for x in numbers) and isinstance(lr, (int, float)) and lr > 0

    if not isinstance(param_groups, list) or not param_groups or not all(fine(group) for group in param_groups):
        raise ActorCriticError(f"corrupt checkpoint: the {prefix} hyperparameters in {STATE_FILE} are garbled")


def load_optimizer_state(prefix: str, optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], param_groups: list[dict]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            index, slot = name[len(prefix) + 1:].split(".", 1)
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
