"""Storage. On-policy: a time-major rollout of T steps from N actors, filled in place, read as tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass
class Rollout:
    """One rollout as tensors, all time-major [T, N, ...]. `next_values[t]` is V of the true successor of
    step t (the final observation at a truncation); `rewards` are the (possibly scaled) training rewards."""

    observations: Tensor
    actions: Tensor
    log_probs: Tensor
    values: Tensor
    next_values: Tensor
    rewards: Tensor
    terminated: Tensor
    truncated: Tensor


class RolloutBuffer:
    """Preallocated NumPy arrays [T, N, ...] written one step at a time (NumPy item writes cost a fraction
    of tensor writes on the per-step path); `rollout()` returns zero-copy tensor views of them."""

    def __init__(self, num_steps: int, num_envs: int, obs_shape: tuple[int, ...], action_shape: tuple[int, ...], action_dtype):
        shape = (num_steps, num_envs)
        self.observations = np.zeros(shape + obs_shape, dtype=np.float32)
        self.actions = np.zeros(shape + action_shape, dtype=action_dtype)
        self.log_probs = np.zeros(shape, dtype=np.float32)
        self.values = np.zeros(shape, dtype=np.float32)
        self.next_values = np.zeros(shape, dtype=np.float32)
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.terminated = np.zeros(shape, dtype=bool)
        self.truncated = np.zeros(shape, dtype=bool)

    def rollout(self, device: torch.device | str = "cpu") -> Rollout:
        arrays = (self.observations, self.actions, self.log_probs, self.values, self.next_values,
                  self.rewards, self.terminated, self.truncated)
        return Rollout(*(torch.from_numpy(a).to(device) for a in arrays))
