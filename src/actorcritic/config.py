"""Validation helpers shared by the algorithm configs (frozen dataclasses, one per algorithm).

Every config validates itself on construction; a bad field raises `ActorCriticError` with a message that
names the field, the bad value and the allowed range, so the CLI and the Python API report it the same way.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from actorcritic.errors import ActorCriticError


def check_range(
    name: str,
    value: float,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> None:
    """Raise `ActorCriticError` unless low <= value <= high (bounds inclusive or not, as said)."""
    above = value >= low if low_inclusive else value > low
    below = value <= high if high_inclusive else value < high
    if isinstance(value, float) and math.isnan(value) or not (above and below):
        left = "[" if low_inclusive else "("
        right = "]" if high_inclusive else ")"
        flag = "--" + name.replace("_", "-")
        raise ActorCriticError(
            f"{flag} {value} is out of range: {name} must be in {left}{_show(low)}, {_show(high)}{right}"
        )


def check_positive_int(name: str, value: int) -> None:
    check_range(name, value, 1)


def check_choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        flag = "--" + name.replace("_", "-")
        raise ActorCriticError(f"{flag} {value!r} is not allowed: choose one of {', '.join(map(str, choices))}")


def _show(bound: float) -> str:
    if bound == math.inf:
        return "inf"
    if bound == -math.inf:
        return "-inf"
    return f"{bound:g}"


def config_to_dict(config: Any) -> dict:
    """A JSON-able dict of a config dataclass (tuples become lists)."""
    return dataclasses.asdict(config)


def config_from_dict(cls: type, data: dict) -> Any:
    """Rebuild a config dataclass from `config_to_dict` output; unknown or missing fields are refused."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        shown = ", ".join(unknown[:3]) + (", ..." if len(unknown) > 3 else "")
        raise ActorCriticError(f"saved config does not fit {cls.__name__} (unknown fields {shown}): the file was written by another algorithm or version")
    values = {}
    for name, value in data.items():
        if isinstance(value, list):
            value = tuple(value)
        values[name] = value
    return cls(**values)
