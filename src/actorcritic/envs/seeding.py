"""Environments: building Gymnasium vector environments, episode statistics, termination vs truncation.

Autoreset. Gymnasium 1.x vector environments reset a finished sub-environment automatically. We use the
``SAME_STEP`` mode: the step that ends an episode already returns the first observation of the next one,
and the true last observation of the finished episode comes in ``info["final_obs"]`` (marked by
``info["_final_obs"]``). The collector reads V of that final observation for truncated episodes, so that
``next_values[t]`` is always V of the true successor of step t (section 2 of the lecture; STYLE.md).
In ``NEXT_STEP`` mode (Gymnasium's default) every episode end would cost an extra step whose reward is
meaningless, which would have to be masked out of every estimator."""

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
