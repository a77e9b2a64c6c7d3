"""Hindsight experience replay (Andrychowicz et al. 2017), a replay option of every off-policy algorithm
(`--her-goals K --her-strategy future|final|episode`): a transition of an episode that missed its goal is
also a transition of an episode whose goal was what it reached.

    store (s, a, r, s') as any transition, and remember which episode each row belongs to
    sample a uniform batch; relabel each row of a finished episode with probability K / (K + 1):
        g' = the achieved goal of s'_f, f drawn from the same episode: at or after the row (future),
             its last step (final) or any of its steps (episode)
        s, s' get g' as their desired goal; r = compute_reward(achieved goal of s', g')   (one batched call)

Goals are rewritten when sampling, so memory does not grow with K. `terminated` is kept as stored (as
Stable-Baselines3 does): a time limit never cuts the bootstrap, whatever the goal."""

from __future__ import annotations

import numpy as np
import torch

from actorcritic.algorithms.buffers import Transitions
from actorcritic.algorithms.engine import Agent
from actorcritic.algorithms.replay import ReplayCollector
from actorcritic.envs.goals import GoalLayout
from actorcritic.errors import ActorCriticError


def hindsight_goal_steps(
    rows: np.ndarray, first: np.ndarray, last: np.ndarray, oldest: int, uniform: np.ndarray, strategy: str
) -> np.ndarray:
    """The step (absolute index) whose achieved goal relabels each sampled step `rows` [B]: uniform in [row, last]
    (future), last (final) or uniform in [max(first, oldest), last] (episode), from `uniform` [B] in [0, 1)."""
    if strategy == "final":
        return last.copy()
    low = rows if strategy == "future" else np.maximum(first, oldest)
    return low + np.minimum((uniform * (last - low + 1)).astype(np.int64), last - low)


class HindsightCollector(ReplayCollector):
    """The replay collector with hindsight relabelling: each stored row also records its episode's first and
    (once it ends) last step, counted in transitions stored since the start; `sample` relabels."""

    def __init__(self, agent: Agent):
        super().__init__(agent)
        cfg = agent.config
        probe = agent.env_maker.single()
        self.layout = GoalLayout.of(probe.unwrapped.observation_space)
        self.compute_reward = getattr(probe.unwrapped, "compute_reward", None)
        if self.layout is None or self.compute_reward is None:
            probe.close()
            raise ActorCriticError(
                f"--her-goals needs a goal-conditioned environment (a Dict observation of observation, achieved_goal "
                f"and desired_goal, and compute_reward(achieved, desired, info)); {cfg.env} has "
                f"{probe.unwrapped.observation_space}: drop --her-goals"
            )
        self._probe = probe  # kept: its compute_reward scores relabelled goals
        self.relabel_probability = cfg.her_goals / (cfg.her_goals + 1)
        self.episode_first = np.zeros(cfg.buffer_size, dtype=np.int64)
        self.episode_last = np.full(cfg.buffer_size, -1, dtype=np.int64)
        self.stored = 0  # transitions stored since the start (row = stored % capacity)
        self.current_first = 0  # the step at which the episode in flight began

    def collect(self) -> None:
        row = self.buffer.position
        super().collect()
        self.episode_first[row] = self.current_first
        self.episode_last[row] = -1
        self.stored += 1
        ended = (
            self.buffer.table[row, self.buffer._columns["terminated"]]
            or self.buffer.table[row, self.buffer._columns["truncated"]]
        )
        if ended:
            steps = np.arange(max(self.current_first, self.stored - self.buffer.capacity), self.stored)
            self.episode_last[steps % self.buffer.capacity] = self.stored - 1
            self.current_first = self.stored

    def sample(self, batch_size: int) -> Transitions:
        agent, buffer = self.agent, self.buffer
        rows = torch.randint(buffer.size, (batch_size,), generator=agent.generator).numpy()
        uniform = torch.rand((2, batch_size), generator=agent.generator, dtype=torch.float64).numpy()
        batch = buffer.table[rows]  # a copy: relabelling writes into it
        steps = self._absolute_steps(rows)
        last = self.episode_last[rows]
        relabel = (uniform[0] < self.relabel_probability) & (last >= 0)
        if relabel.any():
            chosen = hindsight_goal_steps(
                steps[relabel],
                self.episode_first[rows[relabel]],
                last[relabel],
                self.stored - buffer.size,
                uniform[1][relabel],
                agent.config.her_strategy,
            )
            self._relabel(batch, relabel, chosen % buffer.capacity)
        return buffer.transitions(torch.from_numpy(batch).to(buffer.device))

    def _absolute_steps(self, rows: np.ndarray) -> np.ndarray:
        """The absolute step of each stored row (rows before the write position are the newest lap)."""
        lap_start = self.stored - self.buffer.position
        return np.where(rows < self.buffer.position, lap_start + rows, lap_start - self.buffer.capacity + rows)

    def _relabel(self, batch: np.ndarray, relabel: np.ndarray, goal_rows: np.ndarray) -> None:
        """Give the rows `relabel` of `batch` the achieved goals of `goal_rows`' successors as desired goals, and
        the rewards of those goals."""
        columns, layout = self.buffer._columns, self.layout
        next_obs = columns["next_obs"].start
        goals = self.buffer.table[goal_rows, next_obs + layout.achieved.start : next_obs + layout.achieved.stop]
        chosen = batch[relabel]
        chosen[:, layout.desired] = goals
        chosen[:, next_obs + layout.desired.start : next_obs + layout.desired.stop] = goals
        achieved = chosen[:, next_obs + layout.achieved.start : next_obs + layout.achieved.stop]
        infos = [{} for _ in range(len(goals))]
        chosen[:, columns["reward"]] = np.asarray(self.compute_reward(achieved, goals, infos), dtype=np.float32)
        batch[relabel] = chosen

    def state(self, policy_only: bool) -> tuple[dict[str, torch.Tensor], dict]:
        tensors, counters = super().state(policy_only)
        if counters["replay_buffer"] is None:
            return tensors, counters
        size = self.buffer.size
        tensors = {
            **tensors,
            "hindsight.episode_first": torch.from_numpy(self.episode_first[:size].copy()),
            "hindsight.episode_last": torch.from_numpy(self.episode_last[:size].copy()),
        }
        return tensors, {**counters, "hindsight": {"stored": self.stored, "current_first": self.current_first}}

    def load_state(self, tensors: dict[str, torch.Tensor], counters: dict) -> None:
        super().load_state(tensors, counters)
        saved = counters.get("hindsight")
        if saved is None:  # a checkpoint without its buffer: the episodes start afresh
            return
        size = self.buffer.size
        self.episode_first[:size] = tensors["hindsight.episode_first"].numpy()
        self.episode_last[:size] = tensors["hindsight.episode_last"].numpy()
        self.stored, self.current_first = int(saved["stored"]), int(saved["current_first"])
