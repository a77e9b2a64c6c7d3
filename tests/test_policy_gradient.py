"""REINFORCE with every baseline, TRPO (CG, Fisher-vector products, line search) and GRPO for control."""

import math

import gymnasium as gym
import numpy as np
import pytest
from conftest import Recorder
import torch

from actorcritic import GRPO, PPO, REINFORCE, TRPO, GRPOConfig, PPOConfig, REINFORCEConfig, TRPOConfig
from actorcritic.cli import main
from actorcritic.errors import ActorCriticError
from actorcritic.losses import clipped_surrogate, importance_weighted_surrogate, kl_k3, policy_gradient_loss
from actorcritic.networks import ActorCritic, categorical_log_prob_and_entropy
from actorcritic.optim import conjugate_gradient, fisher_vector_product

SMALL = dict(num_envs=2, num_steps=32, total_steps=128, hidden_sizes=(16, 16), eval_episodes=1)


# ---------------------------------------------------------------- losses

def test_importance_weighted_surrogate_has_the_policy_gradient_at_theta_old():
    logits = torch.randn(6, 3, requires_grad=True)
    actions = torch.randint(0, 3, (6,))
    advantages = torch.randn(6)
    log_probs = categorical_log_prob_and_entropy(logits, actions)[0]
    (g1,) = torch.autograd.grad(policy_gradient_loss(log_probs, advantages)[0], logits, retain_graph=True)
    (g2,) = torch.autograd.grad(importance_weighted_surrogate(log_probs, log_probs.detach(), advantages)[0], logits)
    assert torch.allclose(g1, g2, atol=1e-6)


def test_clipped_surrogate_with_weights_is_a_weighted_sum():
    log_probs, old = torch.zeros(3), torch.zeros(3)
    advantages = torch.tensor([1.0, 2.0, 3.0])
    loss, _ = clipped_surrogate(log_probs, old, advantages, 0.2, weights=torch.tensor([0.5, 0.25, 0.25]))
    assert math.isclose(loss.item(), -(0.5 + 0.5 + 0.75))


def test_kl_k3_is_nonnegative_and_unbiased():
    p = torch.tensor([0.5, 0.3, 0.2])
    q = torch.tensor([0.2, 0.5, 0.3])
    samples = torch.multinomial(p, 200_000, replacement=True, generator=torch.Generator().manual_seed(0))
    estimates = kl_k3(p.log()[samples], q.log()[samples])
    exact = (p * (p / q).log()).sum()
    assert (estimates >= 0).all()
    assert abs(estimates.mean() - exact) < 4 * estimates.std() / math.sqrt(len(samples))
    assert torch.allclose(kl_k3(p.log(), p.log()), torch.zeros(3))


# ---------------------------------------------------------------- conjugate gradient and Fisher-vector products

def test_conjugate_gradient_matches_a_direct_solve():
    generator = torch.Generator().manual_seed(0)
    m = torch.randn(6, 6, generator=generator, dtype=torch.float64)
    spd = m @ m.T + 0.5 * torch.eye(6, dtype=torch.float64)
    b = torch.randn(6, generator=generator, dtype=torch.float64)
    x, residual = conjugate_gradient(lambda v: spd @ v, b, iterations=20)
    assert torch.allclose(x, torch.linalg.solve(spd, b), atol=1e-8)
    assert residual < 1e-6


def test_fisher_vector_product_matches_the_explicit_fisher_on_a_tiny_policy():
    """F = E_s E_a~π[∇log π ∇log πᵀ] = the Hessian of the mean KL(π_old || π_θ) at θ_old."""
    torch.manual_seed(0)
    model = ActorCritic(2, (3,), num_actions=3)
    obs = torch.randn(4, 2)
    params = list(model.parameters())
    with torch.no_grad():
        old_logits = model(obs)[0]
    mean_kl = lambda: model.kl_from(obs, old_logits, None).mean()
    size = sum(p.numel() for p in params)
    fisher = torch.zeros(size, size)
    for s in range(4):
        probs = torch.softmax(old_logits[s], -1)
        for a in range(3):
            log_prob = categorical_log_prob_and_entropy(model(obs[s:s + 1])[0], torch.tensor([a]))[0].sum()
            score = torch.cat([g.reshape(-1) for g in torch.autograd.grad(log_prob, params)])
            fisher += probs[a] * torch.outer(score, score) / 4
    v = torch.randn(size)
    assert torch.allclose(fisher_vector_product(mean_kl, params, v), fisher @ v, atol=1e-5)
    assert torch.allclose(fisher_vector_product(mean_kl, params, v, damping=0.1), fisher @ v + 0.1 * v, atol=1e-5)


# ---------------------------------------------------------------- REINFORCE

@pytest.mark.parametrize("baseline", ["none", "mean", "value", "optimal"])
def test_reinforce_smoke_every_baseline(baseline):
    recorder = Recorder()
    agent = REINFORCE(REINFORCEConfig(env="CartPole-v1", baseline=baseline, **SMALL)).learn(callbacks=[recorder])
    assert agent.updates == 2 and np.isfinite(recorder.rows[-1]["policy_loss"])
    if baseline == "none":
        assert recorder.rows[-1]["baseline"] == 0.0
    if baseline in ("mean", "optimal"):
        assert recorder.rows[-1]["baseline"] > 0  # CartPole returns are positive


@pytest.mark.parametrize("overrides", [dict(advantage="gae", gae_lambda=0.9), dict(advantage="kstep", k=3), dict(epochs=3)])
def test_reinforce_with_a_value_function_takes_any_estimator_and_reuses_batches(overrides):
    agent = REINFORCE(REINFORCEConfig(env="Pendulum-v1", baseline="value", **{**SMALL, **overrides})).learn()
    assert agent.updates == 2


def test_reinforce_refuses_an_estimator_without_a_value_function():
    with pytest.raises(ActorCriticError, match="--advantage gae needs a value function"):
        REINFORCEConfig(baseline="mean", advantage="gae")


def test_score_squared_norms_match_a_per_sample_loop():
    agent = REINFORCE(REINFORCEConfig(env="Pendulum-v1", baseline="optimal", **SMALL))
    obs, actions = torch.randn(5, 3), torch.randn(5, 1)
    norms = agent.score_squared_norms(obs, actions)
    for i in range(5):
        log_prob = agent.model.evaluate_actions(obs[i:i + 1], actions[i:i + 1])[0].sum()
        grads = torch.autograd.grad(log_prob, list(agent.model.parameters()))
        assert torch.isclose(norms[i], sum(g.square().sum() for g in grads), rtol=1e-4)


@pytest.mark.parametrize("advantage", ["kstep", "mc"])
def test_ppo_takes_every_advantage_estimator(advantage):
    agent = PPO(PPOConfig(env="CartPole-v1", advantage=advantage, minibatch_size=32, epochs=1, **SMALL)).learn()
    assert agent.updates == 2


# ---------------------------------------------------------------- TRPO

def test_trpo_step_respects_the_trust_region_and_leaves_the_critic_to_regression():
    agent = TRPO(TRPOConfig(env="CartPole-v1", **SMALL))
    agent._reset_envs()
    rollout = agent._collect_rollout()
    mask = agent.model.policy_parameter_mask().bool()
    before = agent.flat_parameters.parameter.detach().clone()
    size = rollout.rewards.numel()
    metrics = agent._policy_step(rollout.observations.reshape(size, -1), rollout.actions.reshape(size),
                                 rollout.log_probs.reshape(size), torch.randn(size))
    after = agent.flat_parameters.parameter.detach()
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
        assert {"kl", "surrogate_improvement", "line_search_steps", "cg_residual", "value_loss"} <= recorder.rows[-1].keys()


# ---------------------------------------------------------------- GRPO

def test_grpo_groups_share_their_start_state_and_advantages_are_group_relative():
    agent = GRPO(GRPOConfig(env="CartPole-v1", group_size=4, groups_per_update=2, total_steps=200, hidden_sizes=(16,)))
    batch = agent._collect_rollout()
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
    agent = GRPO(GRPOConfig(env="CartPole-v1", group_size=2, groups_per_update=1, total_steps=60, beta=0.1, hidden_sizes=(16,)))
    recorder = Recorder()
    agent.learn(callbacks=[recorder])
    assert recorder.rows[-1]["kl_to_reference"] >= 0
    agent.save(tmp_path / "ckpt")
    loaded = GRPO.load(tmp_path / "ckpt")
    assert all(torch.equal(a, b) for a, b in zip(agent.reference.parameters(), loaded.reference.parameters()))


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


@pytest.mark.parametrize("algo", ["reinforce", "trpo", "grpo"])
def test_cli_trains_every_policy_gradient_algorithm(algo, tmp_path, capsys):
    flags = ["--total-steps", "64", "--num-steps", "32", "--num-envs", "2", "--hidden-sizes", "16", "--eval-episodes", "1"]
    if algo == "grpo":
        flags = ["--total-steps", "40", "--group-size", "2", "--groups-per-update", "1", "--hidden-sizes", "16", "--eval-episodes", "1"]
    assert main(["train", algo, "--env", "CartPole-v1", "--run-dir", str(tmp_path / algo), *flags]) == 0
    assert main(["evaluate", str(tmp_path / algo), "--episodes", "1"]) == 0
    assert f"{algo} on CartPole-v1" in capsys.readouterr().out


# ---------------------------------------------------------------- learning checks

@pytest.mark.slow
def test_trpo_solves_cartpole_within_150k_steps():
    agent = TRPO(TRPOConfig.for_env("CartPole-v1", seed=0)).learn()
    assert agent.global_step <= 150_000 + 2048
    assert np.mean(agent.evaluate(episodes=20)) >= 475


@pytest.mark.slow
def test_reinforce_with_value_baseline_learns_cartpole():
    agent = REINFORCE(REINFORCEConfig.for_env("CartPole-v1", seed=0, baseline="value")).learn()
    assert np.mean(agent.evaluate(episodes=20)) > 200


@pytest.mark.slow
def test_grpo_learns_cartpole():
    agent = GRPO(GRPOConfig.for_env("CartPole-v1", seed=0, total_steps=200_000)).learn()
    assert np.mean(agent.evaluate(episodes=20)) > 200
