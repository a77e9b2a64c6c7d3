"""Environments: ids, same-step autoreset with the final observation, episode statistics, evaluation."""

import gymnasium as gym
import numpy as np
import pytest

from actorcritic.envs import (
    EpisodeStatistics,
    check_env_id,
    evaluate_policy,
    final_observations,
    make_vector_env,
    space_signature,
)
from actorcritic.errors import ActorCriticError


def test_unknown_id_is_refused_with_the_closest_registered_ones():
    check_env_id("Pendulum-v1")
    with pytest.raises(ActorCriticError, match="unknown environment id 'Pendulm-v1': did you mean Pendulum-v1"):
        check_env_id("Pendulm-v1")


def test_vector_env_autoresets_in_the_same_step_and_keeps_the_final_observation():
    envs = make_vector_env("CartPole-v1", 2, seed=0)
    obs, _ = envs.reset(seed=0)
    for _ in range(500):
        next_obs, _, terminated, truncated, info = envs.step(np.zeros(2, dtype=np.int64))  # always left: falls within ~10 steps
        ended = terminated | truncated
        if ended.any():
            successors = final_observations(next_obs, info)
            index = int(np.flatnonzero(ended)[0])
            assert not np.array_equal(successors[index], next_obs[index])  # the last state, not the reset one
            assert np.abs(next_obs[index]).max() <= 0.05  # the reset observation arrived in the same step
            assert np.array_equal(successors[~ended], next_obs[~ended])
            return
    pytest.fail("no episode ended")


def test_final_observations_without_an_ending_is_the_observation_itself():
    obs = np.arange(6.0).reshape(2, 3)
    assert final_observations(obs, {}) is obs


def test_episode_statistics_sum_rewards_per_actor_until_done():
    stats = EpisodeStatistics(2)
    stats.step(np.array([1.0, 2.0]), np.array([False, False]))
    stats.step(np.array([1.0, 2.0]), np.array([True, False]))
    stats.step(np.array([5.0, 2.0]), np.array([False, True]))
    assert stats.pop() == ([2.0, 6.0], [2, 3])
    assert stats.pop() == ([], [])
    stats.step(np.array([0.5, 0.0]), np.array([True, False]))
    assert stats.pop() == ([5.5], [2])  # actor 0's next episode started after its first ended


def test_evaluation_episodes_are_reproducible_from_their_seed():
    def act(obs):
        return (obs[:, 2] > 0).astype(np.int64)  # push towards the pole's lean

    first = evaluate_policy(act, "CartPole-v1", episodes=3, seed=7)
    assert first == evaluate_policy(act, "CartPole-v1", episodes=3, seed=7)
    assert len(first) == 3 and all(r >= 1 for r in first)


def test_space_signatures_describe_what_a_checkpoint_needs():
    assert space_signature(gym.spaces.Discrete(3)) == {"type": "Discrete", "n": 3}
    assert space_signature(gym.spaces.Box(-1, 1, (2, 3))) == {"type": "Box", "shape": [2, 3]}
    assert space_signature(gym.spaces.MultiBinary(4)) == {"type": "MultiBinary"}
