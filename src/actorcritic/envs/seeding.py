"""Seeding streams: every environment copy, evaluation episode and GRPO group of a run draws its reset seed from
its own child of `numpy.random.SeedSequence([seed, kind, position])`, never `seed + i` (STYLE.md)."""

from __future__ import annotations

import numpy as np

TRAINING_RESETS, EVALUATION_RESETS, GROUP_RESETS = 0, 1, 2
"""Kinds of environment resets of a run, each a family of random streams of its own (`reset_seeds`)."""


def reset_seeds(seed: int, kind: int, count: int, position: int = 0) -> list[int]:
    """Reset seeds for `count` environment copies (or evaluation episodes) of the run with seed `seed`: the
    children of numpy.random.SeedSequence([seed, kind, position]). With the common `seed + i`, seed 0's copy 1
    and seed 1's copy 0 would share one stream of start states, and two "independent" seeds of a run would
    be correlated. `position` tells apart the resets of one kind within a run (e.g. a restart's step)."""
    children = np.random.SeedSequence([seed, kind, position]).spawn(count)
    return [int(child.generate_state(1)[0]) for child in children]
