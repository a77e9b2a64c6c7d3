"""Observation encoders the user brings: a callable of the observation space that returns a torch module,
whose output (its width inferred from one forward pass) feeds the policy and value networks, as the Nature CNN's
does for images. Its parameters are the model's: trained, saved and loaded with it."""

from __future__ import annotations

import importlib
from typing import Any, Callable

import gymnasium as gym
import torch
from torch import nn

from actorcritic.errors import ActorCriticError


def resolve_encoder(spec: str | Callable[[gym.Space], nn.Module]) -> Callable[[gym.Space], nn.Module]:
    """The callable an --encoder module:Name names (imported here), or the callable itself."""
    if callable(spec):
        return spec
    module_name, _, name = spec.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for part in name.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as error:
        raise ActorCriticError(
            f"--encoder {spec}: cannot import it ({type(error).__name__}: {error}): name an importable callable as "
            "module:Name (the module on PYTHONPATH or in the current directory)"
        ) from None
    if not callable(found):
        raise ActorCriticError(f"--encoder {spec} is a {type(found).__name__}, not a callable of the observation space")
    return found


def build_user_encoder(spec, observation_space: gym.spaces.Box) -> tuple[nn.Module, int]:
    """The user's encoder for `observation_space` and the width of its output: it must map observations [B, *shape]
    (float32) to features [B, F]."""
    name = spec if isinstance(spec, str) else getattr(spec, "__name__", type(spec).__name__)
    try:
        encoder = resolve_encoder(spec)(observation_space)
    except ActorCriticError:
        raise
    except Exception as error:  # the user's code, whatever it raises
        raise ActorCriticError(
            f"encoder {name} failed on {observation_space} ({type(error).__name__}: {error})"
        ) from None
    if not isinstance(encoder, nn.Module):
        raise ActorCriticError(f"encoder {name} returned a {type(encoder).__name__}, not a torch.nn.Module")
    probe = torch.zeros((2, *observation_space.shape), dtype=torch.float32)
    try:
        with torch.no_grad():
            features = encoder(probe)
    except Exception as error:
        raise ActorCriticError(
            f"encoder {name} cannot read observations [B, {', '.join(map(str, observation_space.shape))}] "
            f"({type(error).__name__}: {error})"
        ) from None
    if not isinstance(features, torch.Tensor) or features.dim() != 2 or features.shape[0] != 2:
        shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
        raise ActorCriticError(f"encoder {name} returned {shape} for 2 observations: return features [B, F]")
    return encoder, int(features.shape[1])
