"""Observations as a user has them, read as the policy reads them. Training flattens every observation that is not
a flat Box (`gymnasium.wrappers.FlattenObservation`: a Discrete index one-hot, a Dict's or Tuple's parts
concatenated); `act` and `predict` take what the environment itself returns (Stable-Baselines3's `predict` does)
and flatten it the same way, and still take the flat vectors a policy reads."""

from __future__ import annotations

from collections.abc import Mapping

import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import batch_space, iterate

from actorcritic.errors import ActorCriticError


def _fits(space: gym.Space, observations, batched: bool) -> bool:
    """Whether `observations` is, by its structure, one element of `space` (a Discrete index a scalar, a Dict a
    mapping and a Tuple a tuple of single parts, an array of the space's shape) or (`batched`) a batch in a vector
    environment's layout (a Dict or Tuple of batches, an array with a leading batch axis)."""
    if isinstance(space, gym.spaces.Dict):
        return isinstance(observations, Mapping) and all(
            key in observations and _fits(part, observations[key], batched) for key, part in space.spaces.items()
        )
    if isinstance(space, gym.spaces.Tuple):
        return (
            isinstance(observations, tuple)
            and len(observations) == len(space.spaces)
            and all(_fits(part, items, batched) for part, items in zip(space.spaces, observations))
        )
    if isinstance(observations, (Mapping, tuple)) or not _of_integers_where_needed(space, observations):
        return False
    shape = np.shape(observations)
    return shape[1:] == space.shape and len(shape) == len(space.shape) + 1 if batched else shape == space.shape


def policy_observations(
    observations, flat_shape: tuple[int, ...], source: gym.Space | None, flat: bool | None = None
) -> tuple[np.ndarray, bool]:
    """(the policy's input [B, *flat_shape], whether one observation was given) for `observations` of the
    environment's own space `source` (one, or a batch as a vector environment returns it) or already flat
    ([*flat_shape] or [B, *flat_shape]). `flat` True: only the flat reading (also with `source` None); False:
    only the environment's; None: the flat one where both fit (a Discrete task's integer array of length n is
    one one-hot row, as `act` read it before it took the environment's own observations, not n indices)."""
    flattened = source is not None and not (isinstance(source, gym.spaces.Box) and source.shape == flat_shape)
    as_flat = (
        None if flat is False or isinstance(observations, (Mapping, tuple)) else _as_flat(observations, flat_shape)
    )
    if flattened and flat is not True and as_flat is None:
        if _fits(source, observations, batched=False):
            return np.asarray(gym.spaces.flatten(source, observations))[None], True
        if _fits(source, observations, batched=True):
            items = iterate(batch_space(source, 1), observations)
            return np.stack([np.asarray(gym.spaces.flatten(source, item)) for item in items]), False
    if as_flat is not None:
        return as_flat
    raise _not_an_observation(observations, source if flattened and flat is not True else None, flat_shape)


def _as_flat(observations, flat_shape: tuple[int, ...]) -> tuple[np.ndarray, bool] | None:
    """(rows [B, *flat_shape], single) where `observations` has the flat shape, with or without a batch axis."""
    array = np.asarray(observations)
    if array.shape == flat_shape:
        return array[None], True
    if array.ndim == len(flat_shape) + 1 and array.shape[1:] == flat_shape:
        return array, False
    return None


def _of_integers_where_needed(space: gym.Space, observations) -> bool:
    """Discrete and MultiDiscrete observations are integers: a float array there is a flat (one-hot) input."""
    if isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete)):
        return np.issubdtype(np.asarray(observations).dtype, np.integer)
    return True


def _not_an_observation(observations, source: gym.Space | None, flat_shape) -> ActorCriticError:
    structured = isinstance(observations, (Mapping, tuple))
    given = f"a {type(observations).__name__}" if structured else f"shape {np.shape(observations)}"
    environment = f"of the environment's space {source} (one, or a batch) nor " if source is not None else ""
    return ActorCriticError(
        f"act got observations of {given}, which are neither {environment}the policy's flat input of shape "
        f"{flat_shape} (or [B, {', '.join(map(str, flat_shape))}])"
    )
