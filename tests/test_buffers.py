"""Storage: the time-major rollout and the replay buffer."""

import numpy as np
import pytest
import torch

from actorcritic.algorithms.buffers import ReplayBuffer, RolloutBuffer


def test_replay_buffer_rows_ring_and_sampling():
    buffer = ReplayBuffer(4, obs_dim=2, action_dim=1)
    for step in range(6):
        buffer.add(
            np.full((1, 2), step),
            np.full((1, 1), -step),
            np.array([step * 10.0]),
            np.full((1, 2), step + 0.5),
            np.array([step == 2]),
            np.array([step == 3]),
        )
    assert buffer.size == 4 and buffer.position == 2
    assert buffer.table[0, 0] == 4 and buffer.table[1, 0] == 5  # the oldest rows were overwritten
    batch = buffer.sample(64, torch.Generator().manual_seed(0))
    assert batch.observations.shape == (64, 2) and batch.actions.shape == (64, 1) and batch.rewards.shape == (64,)
    assert torch.allclose(batch.rewards, batch.observations[:, 0] * 10)
    assert torch.allclose(batch.next_observations, batch.observations + 0.5)
    assert set(batch.observations[:, 0].tolist()) == {2.0, 3.0, 4.0, 5.0}
    assert torch.equal(batch.terminated, (batch.observations[:, 0] == 2).float())  # truncation is not termination


def test_replay_buffer_state_round_trip():
    buffer = ReplayBuffer(10, 3, 2)
    buffer.add(np.ones((2, 3)), np.ones((2, 2)), np.ones(2), np.ones((2, 3)), np.zeros(2), np.ones(2))
    tensors, counters = buffer.state()
    other = ReplayBuffer(10, 3, 2)
    other.load_state(tensors, counters)
    assert np.array_equal(other.table, buffer.table) and (other.size, other.position) == (2, 2)
    with pytest.raises(ValueError):
        ReplayBuffer(10, 4, 2).load_state(tensors, counters)


def test_rollout_buffer_is_time_major_and_its_transitions_keep_the_step_order():
    buffer = RolloutBuffer(num_steps=3, num_envs=2, obs_shape=(4,), action_shape=(), action_dtype=np.int64)
    for t in range(3):
        buffer.observations[t] = np.arange(2)[:, None] * 10 + t  # actor n, step t -> 10 n + t
        buffer.actions[t] = [t, -t]
        buffer.rewards[t] = [t + 0.5, -t - 0.5]
    rollout = buffer.rollout()
    assert rollout.observations.shape == (3, 2, 4) and rollout.rewards.shape == (3, 2)
    assert np.shares_memory(rollout.rewards.numpy(), buffer.rewards)  # zero-copy views of the NumPy arrays
    obs, actions, log_probs, rewards = rollout.transitions(rollout.rewards)
    assert obs.shape == (6, 4) and actions.shape == (6,) and log_probs.shape == (6,)
    assert obs[:, 0].tolist() == [0, 10, 1, 11, 2, 12]  # row t·N + n
    assert torch.equal(rewards, torch.tensor([0.5, -0.5, 1.5, -1.5, 2.5, -2.5]))


def test_replay_buffer_refuses_a_saved_table_of_another_width():
    buffer = ReplayBuffer(10, 3, 2)
    tensors, counters = ReplayBuffer(10, 4, 2).state()
    with pytest.raises(ValueError, match="does not fit"):
        buffer.load_state(tensors, counters)
