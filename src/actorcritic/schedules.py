"""Schedules: a hyperparameter as a function of training progress p = steps done / total steps, in [0, 1].

A schedule is written as text, so that a config can store it and a checkpoint resume it exactly:

    3e-4                    constant
    constant:3e-4           constant
    linear:3e-4:1e-5        3e-4 · (1 - p) + 1e-5 · p
    cosine:3e-4:1e-5        1e-5 + (3e-4 - 1e-5) · (1 + cos(π p)) / 2   (Loshchilov & Hutter 2017, one cycle)
    lin_3e-4                rl-baselines3-zoo's linear schedule: linear:3e-4:0

Stable-Baselines3 hands its schedules the remaining progress 1 - p; a Python callable given for a scheduled
field is called the same way (see `actorcritic.config.scheduled_value`)."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    """A value moving from `start` (p = 0) to `end` (p = 1) along `shape`: constant, linear or cosine."""

    shape: str
    start: float
    end: float

    def at(self, progress: float) -> float:
        """The value at progress p ∈ [0, 1] (clamped to it: a run extended past its total stays at the end)."""
        p = min(max(progress, 0.0), 1.0)
        if self.shape == "constant":
            return self.start
        if self.shape == "linear":
            # start·(1 - p) + end·p rather than start + (end - start)·p: with end = 0 this is exactly
            # start·(1 - p), the on-policy learning-rate anneal's arithmetic, so that anneal keeps its numbers
            return self.start * (1.0 - p) + self.end * p
        return self.end + (self.start - self.end) * 0.5 * (1.0 + math.cos(math.pi * p))


SCHEDULE_FORMS = "a number, constant:V, linear:START:END, cosine:START:END or the zoo's lin_V"


@functools.lru_cache(maxsize=256)
def parse_schedule(text: str) -> Schedule:
    """The `Schedule` a text names (the forms of the module docstring); ValueError naming the forms otherwise."""
    try:
        if text.startswith("lin_"):
            return Schedule("linear", _number(text[4:]), 0.0)
        shape, *numbers = text.split(":")
        if not numbers:
            return Schedule("constant", _number(shape), _number(shape))
        if shape == "constant" and len(numbers) == 1:
            return Schedule("constant", _number(numbers[0]), _number(numbers[0]))
        if shape in ("linear", "cosine") and len(numbers) == 2:
            return Schedule(shape, _number(numbers[0]), _number(numbers[1]))
    except ValueError:
        pass
    raise ValueError(f"{text!r} is not a schedule: write {SCHEDULE_FORMS} (finite numbers)")


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value
