"""The off-policy engine's collector: one step of the behaviour policy into the replay buffer."""

from __future__ import annotations

import numpy as np
import torch

from actorcritic.algorithms.buffers import ReplayBuffer, Transitions
from actorcritic.algorithms.engine import Agent, require_memory
from actorcritic.envs.episodes import EpisodeStatistics, check_finite_step, final_observations


class ReplayCollector:
    """One step of the behaviour policy into the replay buffer: the off-policy engine's collector. Uniformly
    random actions for the first `learning_starts` steps, then the learner's exploration; each transition is
    stored with the final observation as its successor at a truncation (never the reset one)."""

    episode_values = ("returns",)
    """The values [1] that a checkpoint keeps of the episode in flight, besides its observation."""

    def __init__(self, agent: Agent):
        self.agent = agent
        cfg = agent.config
        obs_dim, action_dim = int(np.prod(agent.observation_space.shape)), int(np.prod(agent.action_space.shape))
        require_memory(
            cfg.buffer_size * ReplayBuffer.row_bytes(obs_dim, action_dim),
            f"--buffer-size {cfg.buffer_size} (the replay buffer)",
        )
        self.buffer = ReplayBuffer(cfg.buffer_size, obs_dim, action_dim, agent.device)
        self._low = torch.as_tensor(agent.action_space.low, dtype=torch.float32)
        self._range = torch.as_tensor(agent.action_space.high - agent.action_space.low, dtype=torch.float32)
        self.observations: np.ndarray | None = None

    def start(self) -> None:
        self.agent.episodes = EpisodeStatistics(1)
        self.observations = self.agent._start_episodes()

    def episodes_in_flight(self) -> dict[str, np.ndarray]:
        return {"observations": self.observations, "returns": self.agent.episodes.running_return}

    def continue_episodes(self, record: list[dict], saved: dict[str, np.ndarray]) -> None:
        pass

    def behaviour_actions(self) -> np.ndarray:
        """Uniformly random actions during the warm-up, then the learner's exploration policy. [1, A]."""
        agent = self.agent
        if agent.global_step < agent.config.learning_starts:
            uniform = torch.rand(self._range.shape, generator=agent.generator)
            return (self._low + self._range * uniform).unsqueeze(0).numpy()
        obs = torch.from_numpy(self.observations.astype(np.float32, copy=False))
        with torch.inference_mode():
            return agent.learner.explore(obs.to(agent.device), agent.generator).cpu().numpy()

    def collect(self) -> None:
        """One environment step into the replay buffer."""
        agent = self.agent
        actions = self.behaviour_actions()
        agent.clock.lap("acting")
        next_obs, rewards, terminated, truncated, info = agent.envs.step(actions)
        agent.clock.lap("environment")
        check_finite_step(agent.config.env, agent.global_step + 1, next_obs, rewards)
        self.buffer.add(self.observations, actions, rewards, final_observations(next_obs, info), terminated, truncated)
        agent.episodes.step(rewards, terminated | truncated)
        self.observations = next_obs
        agent.global_step += 1
        agent.clock.lap("storing")

    def sample(self, batch_size: int) -> Transitions:
        """A uniform batch of stored transitions."""
        return self.buffer.sample(batch_size, self.agent.generator)

    def state(self, policy_only: bool) -> tuple[dict[str, torch.Tensor], dict]:
        """The replay buffer, with `save_replay_buffer` (and not for a policy-only checkpoint)."""
        if policy_only or not self.agent.config.save_replay_buffer:
            return {}, {"replay_buffer": None}
        buffer_tensors, buffer_counters = self.buffer.state()
        return buffer_tensors, {"replay_buffer": buffer_counters}

    def load_state(self, tensors: dict[str, torch.Tensor], counters: dict) -> None:
        if counters.get("replay_buffer") is not None:
            self.buffer.load_state(tensors, counters["replay_buffer"])
