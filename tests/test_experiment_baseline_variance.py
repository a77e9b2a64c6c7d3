"""baseline-variance: the numbers the theory fixes exactly (Eqs. 11, 12, 15-18), the trajectory gradients
against a plain autograd loop, and the files it writes."""

import json

import numpy as np
import pytest
import torch

from actorcritic import PPO, PPOConfig
from actorcritic.cli.commands import main
from actorcritic.experiments import baseline_variance as experiment
from actorcritic.experiments.bandit_npg import (
    REWARDS,
    THETA0,
    minimum_variance_baseline,
    softmax,
)
from actorcritic.experiments.common import run_experiment

POLICIES = [softmax(THETA0), softmax(np.array([0.3, -0.2, 0.5])), np.full(3, 1 / 3)]


def constant(b):
    return np.full((1, 3), b)


def true_gradient(pi):
    """∇θ J = ∇θ Σ_a π_a r_a = π ⊙ r - π (π·r) for π = softmax(θ), by hand."""
    return pi * REWARDS - pi * (pi @ REWARDS)


def test_exact_moments_match_a_plain_sum_over_arms():
    pi = POLICIES[1]
    b = np.array([0.2, -0.1, 0.4])  # one value per arm
    gradients = [(np.eye(3)[a] - pi) * (REWARDS[a] - b[a]) for a in range(3)]
    mean = sum(pi[a] * gradients[a] for a in range(3))
    variance = sum(pi[a] * np.sum((gradients[a] - mean) ** 2) for a in range(3))
    means, variances = experiment.exact_moments(pi, b[None])
    assert np.allclose(means[0], mean, atol=1e-15) and np.isclose(variances[0], variance, rtol=1e-14)


@pytest.mark.parametrize("pi", POLICIES)
def test_exact_variance_is_the_minimum_plus_a_quadratic_in_b(pi):
    """Var(b) = Var(b*) + E||∇ log π||² (b - b*)²  (Greensmith et al. 2004), to float precision."""
    b_star = float(minimum_variance_baseline(pi))
    minimum = experiment.exact_moments(pi, constant(b_star))[1][0]
    score_sq = experiment.expected_score_sq_norm(pi)
    for b in (-1.0, 0.0, 0.3, b_star, b_star + 1e-3, 2.5):
        exact = experiment.exact_moments(pi, constant(b))[1][0]
        assert exact == pytest.approx(minimum + score_sq * (b - b_star) ** 2, abs=1e-13)
        assert exact == pytest.approx(float(experiment.variance_by_identity(pi, b)), abs=1e-13)


@pytest.mark.parametrize("pi", POLICIES)
def test_b_star_minimises_the_exact_variance(pi):
    b_star = float(minimum_variance_baseline(pi))
    at_b_star = experiment.exact_moments(pi, constant(b_star))[1][0]
    grid = np.linspace(-1, 2, 301)
    on_grid = experiment.exact_moments(pi, np.repeat(grid[:, None], 3, 1))[1]
    assert at_b_star <= on_grid.min() + 1e-15
    for offset in (-0.3, -1e-3, 1e-3, 0.3):
        assert at_b_star < experiment.exact_moments(pi, constant(b_star + offset))[1][0]


@pytest.mark.parametrize("pi", POLICIES)
def test_a_state_dependent_baseline_leaves_the_exact_mean_gradient_unchanged(pi):
    """Eq. 11: E_a[b ∇ log π(a)] = 0, so every constant b gives the b = 0 mean, which is ∇J."""
    mean_without = experiment.exact_moments(pi, constant(0.0))[0][0]
    assert np.allclose(mean_without, true_gradient(pi), atol=1e-15)
    for b in (-2.0, 0.5, float(pi @ REWARDS), float(minimum_variance_baseline(pi)), 7.0):
        assert np.allclose(experiment.exact_moments(pi, constant(b))[0][0], mean_without, atol=1e-14)


def test_action_dependent_baselines_change_the_exact_mean():
    """Eq. 12: b = c·r(a) scales the mean to (1 - c)∇J; b = V + κ(1[a=0] - π0) shifts it by κ∇π0."""
    pi = POLICIES[0]
    gradient = true_gradient(pi)
    for c in (0.5, 1.0):
        mean = experiment.exact_moments(pi, (c * REWARDS)[None])[0][0]
        assert np.allclose(mean, (1 - c) * gradient, atol=1e-15)
        assert np.linalg.norm(mean - gradient) > 1e-3
    kappa = 2.0
    centred = pi @ REWARDS + kappa * (np.eye(3)[0] - pi[0])
    assert np.isclose(pi @ centred, pi @ REWARDS)  # its action-dependent part averages to zero ...
    mean = experiment.exact_moments(pi, centred[None])[0][0]
    assert np.allclose(gradient - mean, kappa * pi[0] * (np.eye(3)[0] - pi), atol=1e-15)  # ... and still biases
    assert np.linalg.norm(gradient - mean) > 1e-3


def test_monte_carlo_statistics_on_a_hand_computed_case():
    gradients = np.array([[1.0, 0.0], [3.0, 0.0]])
    stats = experiment.monte_carlo_statistics(gradients, np.zeros_like(gradients))
    # mean (2, 0); tr Cov = ((1-2)² + (3-2)²) / (n - 1) = 2; se of the mean = sqrt(2 / 2)
    assert stats["shift"] == pytest.approx(2.0) and stats["shift_se"] == pytest.approx(1.0)
    assert stats["total_variance"] == pytest.approx(2.0) and stats["total_variance_se"] == pytest.approx(0.0)
    same = experiment.monte_carlo_statistics(gradients, gradients)
    assert same["shift"] == 0.0 and same["shift_se"] == 0.0


def test_cross_fitting_gives_each_half_the_other_halfs_estimate():
    returns = torch.tensor([1.0, 10.0, 3.0, 20.0, 5.0])  # even episodes 1, 3, 5; odd 10, 20
    per_episode = experiment.cross_fitted(lambda mask: returns[mask].mean(), 5)
    assert np.allclose(per_episode, [15.0, 3.0, 15.0, 3.0, 15.0])


def test_bandit_measurements_match_the_exact_numbers_and_repeat_with_the_seed():
    config = experiment.Config(samples=20_000, seed=3)
    rows, summary = experiment.bandit_experiment(config)
    again, _ = experiment.bandit_experiment(config)
    assert rows == again
    assert summary["checks"]["exact_variance_identity_holds"] and summary["checks"]["b_star_minimises_exact_variance"]
    assert (
        summary["checks"]["exact_mean_unchanged_by_state_baselines"]
        and summary["checks"]["exact_mean_biased_by_action_baselines"]
    )
    by_name = {r["baseline"]: r for r in rows}
    assert by_name["zero"]["total_variance_exact"] == pytest.approx(
        by_name["b*"]["total_variance_exact"] + summary["expected_score_sq_norm"] * summary["b_star"] ** 2
    )
    assert by_name["c·Q(s,a)"]["total_variance_exact"] == 0.0  # b = r(a): g = 0 for every action
    for row in rows:
        assert abs(row["total_variance"] - row["total_variance_exact"]) <= 4 * row["total_variance_se"] + 1e-12


def test_trajectory_sums_match_an_autograd_loop_over_episodes():
    agent = PPO(PPOConfig.for_env("CartPole-v1", seed=0, total_steps=256))  # untrained: short episodes
    batch = experiment.sample_episodes(agent, 3, seed=5)
    gamma = 0.9
    sums = experiment.trajectory_sums(agent, batch, gamma)
    params = list(agent.model.parameters())
    policy = agent.model.policy_parameter_mask().bool()
    for episode in range(3):
        steps = np.flatnonzero(batch["episode"] == episode)
        obs = torch.as_tensor(batch["obs"][steps], dtype=torch.float32)
        actions = torch.as_tensor(batch["actions"][steps])
        rewards = batch["rewards"][steps]
        returns = torch.tensor([sum(gamma**k * r for k, r in enumerate(rewards[t:])) for t in range(len(steps))])
        log_probs, _, values = agent.model.evaluate_actions(obs, actions)
        with torch.no_grad():
            next_values = agent.model(torch.as_tensor(batch["next_obs"][steps], dtype=torch.float32))[1].double()
            first_probability = torch.softmax(agent.model(obs)[0].double(), -1)[:, 0]
        q = (
            torch.as_tensor(rewards)
            + gamma * (1.0 - torch.as_tensor(batch["terminated"][steps]).double()) * next_values
        )
        first_action = (actions == 0).double() - first_probability
        weights_by_name = {
            "returns": returns,
            "scores": torch.ones(len(steps)),
            "values": values.detach().double(),
            "q": q,
            "first_action": first_action,
        }
        for name, weights in weights_by_name.items():
            grads = torch.autograd.grad((log_probs.double() * weights).sum(), params, retain_graph=True)
            expected = torch.cat([g.reshape(-1) for g in grads])[policy]
            assert torch.allclose(sums[name][episode].float(), expected.float(), rtol=1e-4, atol=1e-5), name
        assert torch.allclose(sums["step_returns"][steps], returns.double())


def test_run_writes_the_three_files(tmp_path):
    config = experiment.Config(out=str(tmp_path / "out"), samples=2000, episodes=8, train_steps=2048, seed=1)
    result = run_experiment("baseline-variance", experiment, config)
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"results.csv", "figure.png", "summary.json"}
    assert [r["setting"] for r in result.rows] == ["bandit"] * 7 + ["cartpole"] * 9
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["experiment"] == "baseline-variance" and summary["config"]["episodes"] == 8
    assert summary["cartpole"]["episodes"] == 8
    assert all(
        summary["bandit"]["checks"][name]
        for name in (
            "exact_variance_identity_holds",
            "b_star_minimises_exact_variance",
            "exact_mean_unchanged_by_state_baselines",
            "exact_mean_biased_by_action_baselines",
        )
    )


def test_cli_refuses_a_bad_option(capsys, tmp_path):
    assert main(["experiment", "baseline-variance", "--episodes", "2", "--out", str(tmp_path)]) == 2
    assert "--episodes 2 is out of range" in capsys.readouterr().err
