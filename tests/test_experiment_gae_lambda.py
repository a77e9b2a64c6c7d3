"""gae-lambda at a tiny size: the numbers the theory fixes exactly (lecture Eqs. 25-34)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from actorcritic.errors import ActorCriticError
from actorcritic.experiments import gae_lambda
from actorcritic.experiments.common import run_experiment

TINY = dict(states=5, episodes=400, seed=3)


def test_exact_values_are_the_random_walk_solution():
    # Without slip and discount the uniform walk's V^π(s) is the chance of leaving on the right: s / (n + 1).
    mdp = gae_lambda.random_walk(states=5, slip=0.0)
    values, q_values = gae_lambda.exact_values(mdp, gamma=1.0)
    np.testing.assert_allclose(values, np.arange(7) / 6 * (~mdp.terminal), atol=1e-12)
    np.testing.assert_allclose(q_values[1:6, gae_lambda.RIGHT], values[2:7] + mdp.terminal[2:7], atol=1e-12)
    np.testing.assert_allclose(q_values[1:6, gae_lambda.LEFT], values[0:5], atol=1e-12)


def test_exact_values_satisfy_the_bellman_equations():
    mdp = gae_lambda.random_walk(states=6, slip=0.3)
    gamma = 0.9
    values, q_values = gae_lambda.exact_values(mdp, gamma)
    live = ~mdp.terminal
    expected_reward = (mdp.transitions * mdp.rewards).sum(-1)
    np.testing.assert_allclose(q_values[live], (expected_reward + gamma * mdp.transitions @ values)[live], atol=1e-12)
    np.testing.assert_allclose(values[live], (mdp.policy * q_values).sum(-1)[live], atol=1e-12)
    assert np.all(values[mdp.terminal] == 0)


def test_gae_endpoints_are_the_one_step_and_monte_carlo_estimates():
    mdp = gae_lambda.random_walk(states=5, slip=0.2)
    values, _ = gae_lambda.exact_values(mdp, gamma=0.95)
    critic = gae_lambda.perturbed_critic(values, mdp.terminal, critic_error=0.3, seed=0)
    batch = gae_lambda.sample_episodes(mdp, episodes=50, horizon=1000, rng=np.random.default_rng(0))
    estimates = gae_lambda.all_estimates(batch, critic, gamma=0.95)
    real = batch.real
    np.testing.assert_allclose(estimates[("gae", 0.0)][real], estimates[("kstep", 1)][real], rtol=0, atol=1e-12)
    np.testing.assert_allclose(estimates[("gae", 1.0)][real], estimates[("kstep", None)][real], rtol=0, atol=1e-12)
    # Monte Carlo by hand: the only reward is 1 on entering the right end, at an episode's last step.
    for column in range(10):
        length = int(real[:, column].sum())
        paid = batch.rewards[length - 1, column]
        for t in range(length):
            expected = 0.95 ** (length - 1 - t) * paid - critic[batch.states[t, column]]
            assert estimates[("kstep", None)][t, column] == pytest.approx(expected, abs=1e-12)


def test_experiment_writes_its_files_and_confirms_the_claims(tmp_path):
    config = gae_lambda.Config(out=str(tmp_path / "gae-lambda"), **TINY)
    result = run_experiment("gae-lambda", gae_lambda, config)
    for name in ("results.csv", "figure.png", "summary.json"):
        assert (tmp_path / "gae-lambda" / name).stat().st_size > 0
    with open(tmp_path / "gae-lambda" / "results.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 2 * (len(gae_lambda.LAMBDAS) + len(gae_lambda.STEPS))
    summary = json.loads((tmp_path / "gae-lambda" / "summary.json").read_text())
    assert summary["exact_values_satisfy_bellman"]
    assert summary["gae_lambda0_equals_one_step"] and summary["gae_lambda1_equals_monte_carlo"]
    assert summary["exact_critic_unbiased"] and summary["perturbed_monte_carlo_unbiased"]
    assert summary["episodes_cut_at_horizon"] == 0
    for row in result.rows:
        assert row["mse"] == pytest.approx(row["bias_sq"] + row["variance"], rel=1e-9)
        if row["critic"] == "exact":  # unbiased: bias² is Monte-Carlo noise
            assert row["bias_sq"] < 5 * row["bias_sq_floor"]
    one_step = next(
        r for r in result.rows if r["critic"] == "perturbed" and r["estimator"] == "kstep" and r["parameter"] == 1
    )
    assert one_step["bias_sq"] > 20 * one_step["bias_sq_floor"]  # a wrong critic biases the 1-step estimate


def test_experiment_is_deterministic():
    first = gae_lambda.run(gae_lambda.Config(**TINY)).rows
    second = gae_lambda.run(gae_lambda.Config(**TINY)).rows
    assert first == second


@pytest.mark.parametrize(
    "field, value", [("gamma", 0.0), ("slip", 1.0), ("episodes", 1), ("critic_error", -0.1), ("states", 0)]
)
def test_config_names_the_bad_field(field, value):
    with pytest.raises(ActorCriticError, match=f"--{field.replace('_', '-')}"):
        gae_lambda.Config(**{field: value})
