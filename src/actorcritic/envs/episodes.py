"""The bookkeeping of a step: episode statistics of N copies, a non-finite observation or reward refused at its
step, and the true final observations of the episodes that ended (`info["final_obs"]`, same-step autoreset)."""

from __future__ import annotations

import numpy as np

from actorcritic.errors import ActorCriticError


def check_finite_step(env_id: str, step: int, obs: np.ndarray, rewards: np.ndarray) -> None:
    """Refuse a non-finite reward or observation at the step it appears: one NaN reward would otherwise turn
    the parameters into NaN a few updates later, far from its cause."""
    if np.isfinite(rewards).all() and np.isfinite(obs).all():
        return
    what = "reward" if not np.isfinite(rewards).all() else "observation"
    values = rewards if what == "reward" else obs
    raise ActorCriticError(
        f"{env_id} returned a non-finite {what} ({values[~np.isfinite(values)].ravel()[0]}) "
        f"at environment step {step}: fix the environment, or wrap it to clip or replace such values"
    )


def final_observations(obs: np.ndarray, info: dict) -> np.ndarray:
    """The true successor observation of every actor's last step: `obs`, except where an episode just
    ended, where it is the episode's final observation from ``info["final_obs"]``. [N, *obs_shape]."""
    ended = info.get("_final_obs")
    if ended is None or not ended.any():
        return obs
    successors = obs.copy()
    for index in np.flatnonzero(ended):
        successors[index] = info["final_obs"][index]
    return successors


class EpisodeStatistics:
    """Undiscounted returns and lengths of the episodes the actors finish, from the raw environment rewards."""

    def __init__(self, num_envs: int):
        self.running_return = np.zeros(num_envs, dtype=np.float64)
        self.running_length = np.zeros(num_envs, dtype=np.int64)
        self.returns: list[float] = []
        self.lengths: list[int] = []

    def step(self, rewards: np.ndarray, dones: np.ndarray) -> None:
        self.running_return += rewards
        self.running_length += 1
        if dones.any():
            self.returns.extend(self.running_return[dones].tolist())
            self.lengths.extend(self.running_length[dones].tolist())
            self.running_return[dones] = 0.0
            self.running_length[dones] = 0

    def pop(self) -> tuple[list[float], list[int]]:
        """The returns and lengths of the episodes finished since the last call."""
        returns, lengths = self.returns, self.lengths
        self.returns, self.lengths = [], []
        return returns, lengths
