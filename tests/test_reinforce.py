"""REINFORCE with every baseline of the lecture's section 3."""

import numpy as np
import pytest
import torch
from conftest import Recorder

from actorcritic import REINFORCE, REINFORCEConfig
from actorcritic.errors import ActorCriticError

SMALL = dict(num_envs=2, num_steps=32, total_steps=128, hidden_sizes=(16, 16), eval_episodes=1)


@pytest.mark.parametrize("baseline", ["none", "mean", "value", "optimal"])
def test_reinforce_smoke_every_baseline(baseline):
    recorder = Recorder()
    agent = REINFORCE(REINFORCEConfig(env="CartPole-v1", baseline=baseline, **SMALL)).learn(callbacks=[recorder])
    assert agent.updates == 2 and np.isfinite(recorder.rows[-1]["policy_loss"])
    if baseline == "none":
        assert recorder.rows[-1]["baseline"] == 0.0
    if baseline in ("mean", "optimal"):
        assert recorder.rows[-1]["baseline"] > 0  # CartPole returns are positive


@pytest.mark.parametrize(
    "overrides", [dict(advantage="gae", gae_lambda=0.9), dict(advantage="kstep", k=3), dict(epochs=3)]
)
def test_reinforce_with_a_value_function_takes_any_estimator_and_reuses_batches(overrides):
    agent = REINFORCE(REINFORCEConfig(env="Pendulum-v1", baseline="value", **{**SMALL, **overrides})).learn()
    assert agent.updates == 2


def test_reinforce_refuses_an_estimator_without_a_value_function():
    with pytest.raises(ActorCriticError, match="--advantage gae needs a value function"):
        REINFORCEConfig(baseline="mean", advantage="gae")


def test_score_squared_norms_match_a_per_sample_loop():
    agent = REINFORCE(REINFORCEConfig(env="Pendulum-v1", baseline="optimal", **SMALL))
    obs, actions = torch.randn(5, 3), torch.randn(5, 1)
    norms = agent.learner.score_squared_norms(obs, actions)
    for i in range(5):
        log_prob = agent.model.evaluate_actions(obs[i : i + 1], actions[i : i + 1])[0].sum()
        grads = torch.autograd.grad(log_prob, list(agent.model.parameters()))
        assert torch.isclose(norms[i], sum(g.square().sum() for g in grads), rtol=1e-4)


@pytest.mark.slow
def test_reinforce_with_value_baseline_learns_cartpole():
    agent = REINFORCE(REINFORCEConfig.for_env("CartPole-v1", seed=0, baseline="value")).learn()
    assert np.mean(agent.evaluate(episodes=20)) > 200
