"""Checkpoints: tensors in safetensors, everything else in JSON. No pickle; loading a file never runs code.

A checkpoint is a directory with two files:

* ``tensors.safetensors``: parameters, optimiser moments, normaliser statistics, RNG states.
* ``state.json``: format version, algorithm, environment and its spaces, the full config, counters, the
  optimiser's hyperparameters, and the SHA-256 of ``tensors.safetensors`` (so a damaged file is refused
  even when it still parses).

Writes are atomic: the new checkpoint is written to ``<dir>.tmp``, then swapped in with renames. A crash at
any point leaves either the previous checkpoint or the new one, complete, and `load_checkpoint` finds it."""

from __future__ import annotations

import contextlib
import errno
import json
import os
from pathlib import Path
from typing import Any, Iterator

from actorcritic.errors import ActorCriticError

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
    """Refuse, before any work, a file path that cannot be written: one below a directory the user may not
    enter, a directory, or one whose directory is missing or not writable."""
    path = Path(path)
    _check_reachable(path, flag)
    if path.is_dir() or not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
        raise ActorCriticError(f"{flag} {path} cannot be written: give a file in an existing, writable directory")


def check_writable_directory(path: Path, flag: str) -> None:
    """Refuse, before any work, a directory path that is a file, lies below a file or below a directory the
    user may not enter, loops through symbolic links, or whose nearest existing directory is not writable."""
    path = Path(path)
    try:
        path.resolve(strict=False)
    except (RuntimeError, OSError):
        raise ActorCriticError(
            f"{flag} {path} cannot be resolved (a loop of symbolic links?): give another path"
        ) from None
    _check_reachable(path, flag)
    if path.exists() and not path.is_dir():
        raise ActorCriticError(f"{flag} {path} is a file: give a directory")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ActorCriticError(f"{flag} {path} lies below {existing}, which is a file: give another path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ActorCriticError(f"{flag} {path} cannot be written: {existing} is not writable")


def _check_reachable(path: Path, flag: str) -> None:
    """Refuse a path below a directory the user may not enter (whose permissions would turn every later
    look at the path into a PermissionError)."""
    for directory in reversed(path.absolute().parents):
        try:
            if directory.is_dir() and not os.access(directory, os.X_OK):
                raise ActorCriticError(
                    f"{flag} {path} cannot be written: permission denied, this user may not enter {directory}; "
                    "give another path or change its permissions"
                )
        except PermissionError:  # unreachable in turn: the directory above it said so already
            return


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
