"""GRPO for control environments: groups from one start state, group-relative advantages, KL to a reference."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import Recorder

from actorcritic import GRPO, GRPOConfig
from actorcritic.errors import ActorCriticError

SMALL = dict(num_envs=2, num_steps=32, total_steps=128, hidden_sizes=(16, 16), eval_episodes=1)


def test_grpo_groups_share_their_start_state_and_advantages_are_group_relative():
    agent = GRPO(GRPOConfig(env="CartPole-v1", group_size=4, groups_per_update=2, total_steps=200, hidden_sizes=(16,)))
    batch = agent.collector.collect()
    assert batch.returns.shape == (2, 4)
    assert agent.model.body.members == 1  # no value network
    assert torch.isclose(batch.weights.sum(), torch.tensor(1.0))  # 1/G Σ_i 1/|o_i| Σ_t over all episodes
    lengths = batch.returns  # CartPole pays 1 per step: the return is the episode length
    first_rows = torch.cat([torch.tensor([0]), lengths.reshape(-1).long().cumsum(0)[:-1]])
    starts = batch.observations[first_rows].reshape(2, 4, -1)
    assert torch.allclose(starts, starts[:, :1].expand_as(starts))  # same reset within a group
    assert not torch.allclose(starts[0, 0], starts[1, 0])  # a new start state per group
    per_episode = batch.advantages[first_rows].reshape(2, 4)
    assert torch.allclose(per_episode.mean(-1), torch.zeros(2), atol=1e-5)


def test_grpo_with_kl_to_reference_saves_the_reference(tmp_path):
    agent = GRPO(
        GRPOConfig(env="CartPole-v1", group_size=2, groups_per_update=1, total_steps=60, beta=0.1, hidden_sizes=(16,))
    )
    recorder = Recorder()
    agent.learn(callbacks=[recorder])
    assert recorder.rows[-1]["kl_to_reference"] >= 0
    agent.save(tmp_path / "ckpt")
    loaded = GRPO.load(tmp_path / "ckpt")
    assert all(
        torch.equal(a, b) for a, b in zip(agent.learner.reference.parameters(), loaded.learner.reference.parameters())
    )


class _UnseededReset(gym.Env):
    """Ignores the reset seed: copies of it start in different states."""

    observation_space = gym.spaces.Box(-1, 1, (2,))
    action_space = gym.spaces.Discrete(2)
    _counter = 0

    def reset(self, *, seed=None, options=None):
        _UnseededReset._counter += 1
        return np.full(2, (_UnseededReset._counter % 7) / 10, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(2, dtype=np.float32), 1.0, True, False, {}


def test_grpo_refuses_environments_without_reproducible_resets():
    gym.register("UnseededReset-v0", entry_point=_UnseededReset)
    with pytest.raises(ActorCriticError, match="reset\\(seed\\) is reproducible"):
        GRPO(GRPOConfig(env="UnseededReset-v0", group_size=3, total_steps=10)).learn()


@pytest.mark.slow
def test_grpo_learns_cartpole():
    agent = GRPO(GRPOConfig.for_env("CartPole-v1", seed=0, total_steps=200_000)).learn()
    assert np.mean(agent.evaluate(episodes=20)) > 200
