"""Running observation and reward normalisation for continuous control (Huang et al. 2022, details 5-7).

The statistics are plain float64 NumPy arrays, updated on the environment side once per vector step
(cheaper there than as tensors), saved with the model, and frozen at evaluation.
"""

from __future__ import annotations

import numpy as np


class RunningMeanStd:
    """Mean and variance of a stream of batches, merged with the parallel algorithm of Chan et al. (1979)."""

    def __init__(self, shape: tuple[int, ...] = ()):
        self.mean = np.zeros(shape, dtype=np.float64)
        self.var = np.ones(shape, dtype=np.float64)
        self.count = np.array(1e-4, dtype=np.float64)  # a tiny prior count keeps the first update finite

    def update(self, batch: np.ndarray) -> None:
        """Merge a batch [B, *shape] into the statistics."""
        batch_count = batch.shape[0]
        # sums instead of mean()/var(): this runs every environment step, and NumPy's reductions carry
        # several microseconds of Python overhead each
        batch_mean = batch.sum(axis=0) / batch_count
        batch_var = np.square(batch - batch_mean).sum(axis=0) / batch_count
        delta = batch_mean - self.mean
        total = self.count + batch_count
        self.mean = self.mean + delta * batch_count / total
        self.var = (
            self.var * self.count + batch_var * batch_count + delta**2 * self.count * batch_count / total
        ) / total
        self.count = np.asarray(total, dtype=np.float64)

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.mean": self.mean, f"{prefix}.var": self.var, f"{prefix}.count": self.count}

    def load_state(self, prefix: str, arrays: dict[str, np.ndarray]) -> None:
        self.mean, self.var, self.count = (
            np.array(arrays[f"{prefix}.{k}"], dtype=np.float64) for k in ("mean", "var", "count")
        )


class ObservationNormalizer:
    """obs -> clip((obs - mean) / sqrt(var + eps), -clip, clip), with running statistics of raw observations."""

    def __init__(self, shape: tuple[int, ...], enabled: bool, clip: float = 10.0, eps: float = 1e-8):
        self.enabled, self.clip, self.eps = enabled, clip, eps
        self.stats = RunningMeanStd(shape)

    def __call__(self, obs: np.ndarray, update: bool) -> np.ndarray:
        """Normalise a batch [B, *shape] of raw observations (float32 out); `update` adds it to the statistics first."""
        if not self.enabled:  # images stay uint8: a quarter of the memory, scaled by the encoder
            return obs if obs.dtype == np.uint8 else obs.astype(np.float32, copy=False)
        if update:
            self.stats.update(obs)
        normalized = (obs - self.stats.mean) / np.sqrt(self.stats.var + self.eps)
        return np.clip(normalized, -self.clip, self.clip).astype(np.float32)


class RewardScaler:
    """r -> clip(r / sqrt(Var[G] + eps), -clip, clip), with G the running discounted return of each actor.

    Scaling (no centring) keeps the sign of rewards and so the optimal policy; the variance of the
    discounted return is the quantity PPO implementations track (Engstrom et al. 2020)."""

    def __init__(self, num_envs: int, gamma: float, enabled: bool, clip: float = 10.0, eps: float = 1e-8):
        self.enabled, self.gamma, self.clip, self.eps = enabled, gamma, clip, eps
        self.stats = RunningMeanStd(())
        self.returns = np.zeros(num_envs, dtype=np.float64)

    def __call__(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        """Scale rewards [N] of one vector step; `dones` [N] restarts the discounted return of finished episodes."""
        if not self.enabled:
            return rewards
        self.returns = self.returns * self.gamma + rewards
        self.stats.update(self.returns)
        self.returns[dones] = 0.0
        return np.clip(rewards / np.sqrt(self.stats.var + self.eps), -self.clip, self.clip)
