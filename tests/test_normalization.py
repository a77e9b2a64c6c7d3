"""Running statistics, observation normalisation and reward scaling."""

import numpy as np
import pytest

from actorcritic.core.normalization import (
    ObservationNormalizer,
    RewardScaler,
    RunningMeanStd,
)


def test_running_mean_std_matches_numpy_over_all_batches():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 4)) for n in (1, 5, 17, 2)]
    stats = RunningMeanStd((4,))
    for batch in batches:
        stats.update(batch)
    everything = np.concatenate(batches)
    assert np.allclose(stats.mean, everything.mean(0), atol=1e-4)
    assert np.allclose(stats.var, everything.var(0), atol=1e-3)


@pytest.mark.parametrize("shape", [(3,), ()])
def test_running_mean_std_shapes(shape):
    stats = RunningMeanStd(shape)
    stats.update(np.ones((4, *shape)))
    assert stats.mean.shape == shape


def test_reward_scaler_divides_by_the_std_of_the_discounted_return_and_restarts_it_at_episode_ends():
    scaler = RewardScaler(num_envs=2, gamma=0.5, enabled=True)
    reference = RunningMeanStd(())
    returns = np.zeros(2)
    for rewards, dones in [([1.0, 2.0], [False, True]), ([3.0, -1.0], [False, False]), ([0.5, 4.0], [True, False])]:
        rewards, dones = np.array(rewards), np.array(dones)
        returns = returns * 0.5 + rewards
        reference.update(returns)
        returns[dones] = 0.0
        scaled = scaler(rewards, dones)
        assert np.allclose(scaled, rewards / np.sqrt(reference.var + 1e-8))
    assert np.array_equal(scaler.returns, returns)


def test_reward_scaler_keeps_the_sign_clips_and_can_be_off():
    scaler = RewardScaler(num_envs=1, gamma=0.99, enabled=True, clip=2.0)
    for _ in range(1000):  # one-step episodes of reward 0.01: the return's variance shrinks towards 0
        assert scaler(np.array([0.01]), np.array([True]))[0] > 0
    assert scaler(np.array([-100.0]), np.array([False]))[0] == -2.0
    off = RewardScaler(num_envs=1, gamma=0.99, enabled=False)
    rewards = np.array([3.0])
    assert off(rewards, np.array([False])) is rewards


def test_observation_normalizer_is_frozen_without_update_and_clips():
    normalizer = ObservationNormalizer((2,), enabled=True, clip=3.0)
    normalizer(np.array([[0.0, 0.0], [2.0, 4.0]]), update=True)
    mean, var = normalizer.stats.mean.copy(), normalizer.stats.var.copy()
    out = normalizer(np.array([[1.0, 1000.0]]), update=False)
    assert np.array_equal(normalizer.stats.mean, mean) and np.array_equal(normalizer.stats.var, var)
    assert out.dtype == np.float32 and out[0, 1] == 3.0 and abs(out[0, 0]) < 1e-3
