"""A2C: its update against a hand computation, its estimator against SB3's, its kinship with PPO, its logging
windows; and, slow, CartPole solved within rl-baselines3-zoo's budget."""

import copy
import dataclasses

import numpy as np
import pytest
import torch
from conftest import Recorder
from contract.smoke import smoke_config

from actorcritic import A2C, A2CConfig
from actorcritic.algorithms.onpolicy import advantages_and_returns
from actorcritic.core.losses import clipped_surrogate, policy_gradient_loss


def agent_and_rollout(**overrides):
    """An A2C agent (its smoke settings) and one rollout it collected, before any update."""
    agent = A2C(smoke_config("a2c", **overrides))
    agent._reset_envs()
    return agent, agent.collector.collect()


def test_the_defaults_are_sb3s_and_the_optimiser_is_rmsprop():
    config = A2CConfig(env="CartPole-v1")
    assert (config.num_steps, config.learning_rate, config.gamma, config.max_grad_norm) == (5, 7e-4, 0.99, 0.5)
    assert (config.entropy_coef, config.normalize_advantages, config.anneal_lr) == (0.0, False, False)
    optimizer = A2C(config).learner.optimizer
    assert isinstance(optimizer, torch.optim.RMSprop)
    group = optimizer.param_groups[0]
    assert (group["alpha"], group["eps"], group["lr"]) == (0.99, 1e-5, 7e-4)
    assert A2CConfig.for_env("CartPole-v1").num_envs == 8 and A2CConfig.for_env("CartPole-v1").total_steps == 500_000


def test_one_update_is_one_rmsprop_step_on_policy_value_and_entropy_terms():
    """By hand: Â from the k-step estimator, loss = -mean(log π Â) + c_v ½ mean((V - R)²) - c_e mean(H), the
    gradient clipped to norm 0.5, then RMSprop's first step θ - lr g / (sqrt((1 - α) g²) + ε)."""
    agent, rollout = agent_and_rollout(entropy_coef=0.01)
    cfg, learner = agent.config, agent.learner
    model = copy.deepcopy(learner.model)
    before = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    advantages, returns = advantages_and_returns(rollout, cfg, normalize_advantages=False)
    obs, actions, _, advantages, returns = rollout.transitions(advantages, returns)
    log_probs, entropy, values = model.evaluate_actions(obs, actions)
    loss = (
        -(log_probs * advantages).mean()
        + cfg.value_coef * 0.5 * (values - returns).square().mean()
        - cfg.entropy_coef * entropy.mean()
    )
    gradient = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(model.parameters()))])
    gradient = gradient * min(1.0, cfg.max_grad_norm / (gradient.norm().item() + 1e-6))
    expected = before - cfg.learning_rate * gradient / ((1 - 0.99) * gradient.square()).sqrt().add(1e-5)

    metrics = learner.update(rollout, 1, agent.generator)
    after = torch.cat([p.detach().reshape(-1) for p in learner.model.parameters()])
    assert torch.allclose(after, expected, atol=1e-6, rtol=1e-5), (after - expected).abs().max()
    assert not torch.equal(after, before)
    assert set(metrics) == {"policy_loss", "value_loss", "entropy", "explained_variance"}


def test_the_k_step_estimator_with_k_the_rollout_length_is_gae_with_lambda_one():
    """The original's t_max-step returns (k = T) and SB3's A2C advantage (GAE, λ = 1) are the same numbers."""
    agent, rollout = agent_and_rollout(num_steps=32, k=32)
    assert rollout.terminated.any()  # the estimators' handling of an episode's end is compared too
    kstep, _ = advantages_and_returns(rollout, agent.config, normalize_advantages=False)
    gae_one = dataclasses.replace(agent.config, advantage="gae", gae_lambda=1.0)
    gae, _ = advantages_and_returns(rollout, gae_one, normalize_advantages=False)
    assert torch.allclose(kstep, gae, atol=1e-5)


def test_a2cs_policy_gradient_is_ppos_at_the_first_step_of_an_epoch():
    """With one epoch of one minibatch the ratio is 1 and the clip never binds: the clipped surrogate's gradient
    (Eq. 19) is A2C's policy gradient (Eq. 3 with Â)."""
    agent, rollout = agent_and_rollout()
    advantages, _ = advantages_and_returns(rollout, agent.config, normalize_advantages=False)
    obs, actions, _, advantages = rollout.transitions(advantages)
    model = agent.learner.model
    log_probs, _, _ = model.evaluate_actions(obs, actions)
    a2c, _ = policy_gradient_loss(log_probs, advantages)
    ppo, _ = clipped_surrogate(log_probs, log_probs.detach(), advantages, 0.2)
    parameters = [p for p in model.parameters() if p.requires_grad]
    a2c_gradients = torch.autograd.grad(a2c, parameters, retain_graph=True, allow_unused=True)
    ppo_gradients = torch.autograd.grad(ppo, parameters, allow_unused=True)
    compared = 0
    for g_a2c, g_ppo in zip(a2c_gradients, ppo_gradients):
        assert (g_a2c is None) == (g_ppo is None)
        if g_a2c is not None:
            assert torch.allclose(g_a2c, g_ppo, atol=1e-6)
            compared += 1
    assert compared > 0


def test_a_metrics_row_covers_log_every_steps_of_updates():
    config = smoke_config("a2c", log_every=64, total_steps=256)  # 16 transitions an update: 4 updates a row
    recorder = Recorder()
    agent = A2C(config).learn(callbacks=[recorder])
    assert [row["global_step"] for row in recorder.rows] == [64, 128, 192, 256]
    assert [row["updates"] for row in recorder.rows] == [4, 8, 12, 16] and agent.updates == 16
    assert all(np.isfinite(row["value_loss"]) for row in recorder.rows)
    every_update = Recorder()
    A2C(dataclasses.replace(config, log_every=0)).learn(callbacks=[every_update])
    assert len(every_update.rows) == 16


@pytest.mark.slow
def test_cartpole_is_solved_within_the_zoos_budget_on_four_seeds():
    """rl-baselines3-zoo's CartPole-v1 set (8 actors, 500k steps): IQM of the final 10-episode evaluations over 4
    seeds at least 475."""
    from actorcritic.analysis.statistics import aggregate_scores

    scores = []
    for seed in range(4):
        agent = A2C(A2CConfig.for_env("CartPole-v1", seed=seed)).learn()
        scores.append(float(np.mean(agent.evaluate(episodes=10))))
    assert aggregate_scores(scores)["iqm"] >= 475, scores
