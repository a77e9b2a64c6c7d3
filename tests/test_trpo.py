"""TRPO: the trust-region step and the value regression."""

import numpy as np
import pytest
import torch
from conftest import Recorder

from actorcritic import TRPO, TRPOConfig

SMALL = dict(num_envs=2, num_steps=32, total_steps=128, hidden_sizes=(16, 16), eval_episodes=1)


def test_trpo_step_respects_the_trust_region_and_leaves_the_critic_to_regression():
    agent = TRPO(TRPOConfig(env="CartPole-v1", **SMALL))
    agent._reset_envs()
    rollout = agent.collector.collect()
    mask = agent.model.policy_parameter_mask().bool()
    before = agent.learner.flat_parameters.parameter.detach().clone()
    size = rollout.rewards.numel()
    metrics = agent.learner.policy_step(
        rollout.observations.reshape(size, -1),
        rollout.actions.reshape(size),
        rollout.log_probs.reshape(size),
        torch.randn(size),
    )
    after = agent.learner.flat_parameters.parameter.detach()
    assert torch.equal(after[~mask], before[~mask])  # the value network is untouched by the policy step
    assert metrics["kl"] <= agent.config.max_kl + 1e-6
    for name in ("kl", "surrogate_improvement", "line_search_steps", "cg_residual"):
        assert name in metrics
    if metrics["step_accepted"]:
        assert metrics["surrogate_improvement"] > 0 and not torch.equal(after[mask], before[mask])


def test_trpo_smoke_discrete_and_continuous():
    for env in ("CartPole-v1", "Pendulum-v1"):
        recorder = Recorder()
        TRPO(TRPOConfig(env=env, **SMALL)).learn(callbacks=[recorder])
        assert {"kl", "surrogate_improvement", "line_search_steps", "cg_residual", "value_loss"} <= recorder.rows[
            -1
        ].keys()


@pytest.mark.slow
def test_trpo_solves_cartpole_within_150k_steps():
    agent = TRPO(TRPOConfig.for_env("CartPole-v1", seed=0)).learn()
    assert agent.global_step <= 150_000 + 2048
    assert np.mean(agent.evaluate(episodes=20)) >= 475
