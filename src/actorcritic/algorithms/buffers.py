"""Storage. On-policy: a time-major rollout of T steps from N actors, filled in place, read as tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from actorcritic.nets.recurrent import Sequences


@dataclass
class Rollout:
    """One rollout as tensors, all time-major [T, N, ...]. `next_values[t]` is V of the true successor of
    step t (the final observation at a truncation); `rewards` are the (possibly scaled) training rewards.

    A recurrent policy's rollout also has the state each copy acted from at each step, `states` [T, N, S, H]
    (before the reset at an episode start), `episode_starts` [T, N], and the length of the sequences it is
    trained on, `sequence_length` (a divisor of T)."""

    observations: Tensor
    actions: Tensor
    log_probs: Tensor
    values: Tensor
    next_values: Tensor
    rewards: Tensor
    terminated: Tensor
    truncated: Tensor
    states: Tensor | None = None
    episode_starts: Tensor | None = None
    sequence_length: int = 0

    def transitions(self, *per_step: Tensor) -> list:
        """The rollout's T·N transitions as one batch: observations, actions, old log-probabilities, then each
        extra [T, N] tensor, all reshaped to [T·N, ...]. For a recurrent policy the observations are
        `Sequences`: the rollout cut into sequences of `sequence_length` L steps per copy, each starting from
        its stored state, and the other tensors are flat in the same order (time-major over [L, T/L·N])."""
        if self.states is None:
            size = self.rewards.numel()
            return [
                self.observations.reshape(size, *self.observations.shape[2:]),
                self.actions.reshape(size, *self.actions.shape[2:]),
                self.log_probs.reshape(size),
                *(x.reshape(size) for x in per_step),
            ]
        steps, copies = self.rewards.shape
        length = self.sequence_length
        chunks = steps // length

        def as_sequences(x: Tensor) -> Tensor:  # [T, N, ...] -> [L, T/L·N, ...]: sequence c·N + copy
            return (
                x.reshape(chunks, length, copies, *x.shape[2:])
                .transpose(0, 1)
                .reshape(length, chunks * copies, *x.shape[2:])
            )

        first_states = self.states.reshape(chunks, length, copies, *self.states.shape[2:])[:, 0]
        sequences = Sequences(
            as_sequences(self.observations),
            as_sequences(self.episode_starts).to(torch.float32),
            first_states.reshape(chunks * copies, *self.states.shape[2:]).transpose(0, 1).contiguous(),
        )
        return [
            sequences,
            *(as_sequences(x).reshape(-1, *x.shape[2:]) for x in (self.actions, self.log_probs, *per_step)),
        ]


class RolloutBuffer:
    """Preallocated NumPy arrays [T, N, ...] written one step at a time (NumPy item writes cost a fraction
    of tensor writes on the per-step path); `rollout()` returns zero-copy tensor views of them."""

    def __init__(
        self,
        num_steps: int,
        num_envs: int,
        obs_shape: tuple[int, ...],
        action_shape: tuple[int, ...],
        action_dtype,
        obs_dtype=np.float32,
        state_shape: tuple[int, int] | None = None,
    ):
        shape = (num_steps, num_envs)
        # a recurrent policy's state before each step [S, H], and where episodes start
        self.states = np.zeros(shape + state_shape, dtype=np.float32) if state_shape else None
        self.episode_starts = np.zeros(shape, dtype=bool) if state_shape else None
        self.observations = np.zeros(shape + obs_shape, dtype=obs_dtype)
        self.actions = np.zeros(shape + action_shape, dtype=action_dtype)
        self.log_probs = np.zeros(shape, dtype=np.float32)
        self.values = np.zeros(shape, dtype=np.float32)
        self.next_values = np.zeros(shape, dtype=np.float32)
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.terminated = np.zeros(shape, dtype=bool)
        self.truncated = np.zeros(shape, dtype=bool)

    def rollout(self, device: torch.device | str = "cpu", sequence_length: int = 0) -> Rollout:
        arrays = (
            self.observations,
            self.actions,
            self.log_probs,
            self.values,
            self.next_values,
            self.rewards,
            self.terminated,
            self.truncated,
        )
        if self.states is None:
            return Rollout(*(torch.from_numpy(a).to(device) for a in arrays))
        memory = (torch.from_numpy(self.states).to(device), torch.from_numpy(self.episode_starts).to(device))
        return Rollout(*(torch.from_numpy(a).to(device) for a in arrays), *memory, sequence_length)


@dataclass
class Transitions:
    """A batch sampled from the replay buffer, all [B, ...]. `terminated` is the only end that stops the
    bootstrap: a time-limit truncation still bootstraps from `next_observations` (the final observation)."""

    observations: Tensor
    actions: Tensor
    rewards: Tensor
    next_observations: Tensor
    terminated: Tensor


class ReplayBuffer:
    """Off-policy storage: a preallocated ring of transitions with uniform sampling.

    Every transition is one row of a single float32 table [capacity, obs + action + 1 + obs + 2] (observation,
    action, reward, next observation, terminated, truncated), so a sample is one gather. The table is a NumPy
    array (cheap per-step writes) shared with a tensor view (cheap batched reads). `truncated` is stored for
    completeness; the Bellman target uses `terminated` only."""

    @staticmethod
    def row_bytes(obs_dim: int, action_dim: int) -> int:
        """Bytes of one stored transition."""
        return 4 * (2 * obs_dim + action_dim + 3)

    def __init__(self, capacity: int, obs_dim: int, action_dim: int, device: torch.device | str = "cpu"):
        self.capacity, self.obs_dim, self.action_dim = capacity, obs_dim, action_dim
        self.width = 2 * obs_dim + action_dim + 3
        self.table = np.zeros((capacity, self.width), dtype=np.float32)
        self._view = torch.from_numpy(self.table)
        self.device = torch.device(device)
        self.position = 0  # next row to write
        self.size = 0  # rows filled
        o, a = obs_dim, action_dim
        self._columns = {
            "obs": slice(0, o),
            "action": slice(o, o + a),
            "reward": o + a,
            "next_obs": slice(o + a + 1, 2 * o + a + 1),
            "terminated": 2 * o + a + 1,
            "truncated": 2 * o + a + 2,
        }

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
    ) -> None:
        """Append the N transitions of one vector step (all arrays [N, ...])."""
        for n in range(obs.shape[0]):
            row = self.table[self.position]
            c = self._columns
            row[c["obs"]] = obs[n]
            row[c["action"]] = actions[n]
            row[c["reward"]] = rewards[n]
            row[c["next_obs"]] = next_obs[n]
            row[c["terminated"]] = terminated[n]
            row[c["truncated"]] = truncated[n]
            self.position = (self.position + 1) % self.capacity
            self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, generator: torch.Generator) -> Transitions:
        """`batch_size` transitions drawn uniformly with replacement."""
        rows = torch.randint(self.size, (batch_size,), generator=generator)
        return self.transitions(self._view[rows].to(self.device, non_blocking=True))

    def transitions(self, batch: Tensor) -> Transitions:
        """Gathered rows [B, width] as `Transitions` (views of them)."""
        o, a = self.obs_dim, self.action_dim
        return Transitions(
            observations=batch[:, :o],
            actions=batch[:, o : o + a],
            rewards=batch[:, o + a],
            next_observations=batch[:, o + a + 1 : 2 * o + a + 1],
            terminated=batch[:, 2 * o + a + 1],
        )

    def stored(self, column: str) -> np.ndarray:
        """One column (obs, action, reward, next_obs, terminated, truncated) of the filled rows, in row order:
        a read-only view [size, ...]."""
        view = self.table[: self.size, self._columns[column]]
        view.flags.writeable = False
        return view

    def state(self) -> tuple[dict[str, Tensor], dict]:
        """The filled rows as a tensor and the counters as JSON, for checkpoints."""
        return {"replay_buffer": torch.from_numpy(self.table[: self.size].copy())}, {
            "position": self.position,
            "size": self.size,
        }

    def load_state(self, tensors: dict[str, Tensor], counters: dict) -> None:
        if not isinstance(counters, dict) or type(counters.get("size")) is not int:
            raise ValueError(f"replay buffer counters {counters!r:.60} are not {{position, size}} counts")
        rows = tensors["replay_buffer"].numpy()
        position = counters.get("position")
        if (
            rows.shape[1] != self.width
            or rows.shape[0] > self.capacity
            or rows.shape[0] != counters["size"]
            or type(position) is not int
            or not 0 <= position < self.capacity
        ):
            raise ValueError(
                f"replay buffer of shape {tuple(rows.shape)} does not fit capacity {self.capacity} x width {self.width}"
            )
        self.table[: rows.shape[0]] = rows
        self.position, self.size = int(counters["position"]), int(counters["size"])
