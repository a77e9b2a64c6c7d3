"""bandit-npg: the numbers the theory fixes, and the files it writes."""

import json

import numpy as np

from actorcritic.cli.commands import main
from actorcritic.experiments import bandit_npg as experiment
from actorcritic.experiments.common import run_experiment


def test_minimum_variance_baseline_at_the_uniform_policy_is_the_mean_reward():
    # every ||e_a - π||² is 2/3 at π = 1/3: b* is the plain average of the rewards
    uniform = np.full(3, 1 / 3)
    assert np.isclose(experiment.minimum_variance_baseline(uniform), experiment.REWARDS.mean())


def test_minimum_variance_baseline_minimises_the_variance_of_the_update():
    pi = experiment.softmax(experiment.THETA0)
    scores = np.eye(3) - pi  # ∇θ log π(a) for a softmax

    def total_variance(b):
        g = scores * (experiment.REWARDS - b)[:, None]
        mean = pi @ g
        return pi @ np.square(g - mean).sum(1)

    b_star = experiment.minimum_variance_baseline(pi)
    assert all(total_variance(b_star) < total_variance(b_star + d) for d in (-0.3, -0.01, 0.01, 0.3))


def test_npg_score_weights_by_inverse_squared_probabilities():
    pi = np.array([0.5, 0.25, 0.25])
    expected = (1 / 0.5 * 1 + 1 / 0.25 * 0.7 + 0) / (1 / 0.5 + 2 / 0.25)
    assert np.isclose(experiment.minimum_variance_baseline(pi, "npg"), expected)


def test_the_true_gradient_path_ignores_the_baseline_and_ends_where_theory_says():
    config = experiment.Config(steps=200)
    path = experiment.true_gradient_path(config)
    assert np.allclose(path[-1], experiment.softmax(experiment.THETA0 + 0.025 * 200 * experiment.REWARDS))
    assert np.allclose(path.sum(1), 1.0)


def test_the_expected_stochastic_update_is_alpha_times_r_minus_b():
    """E_a~π[(r(a) - b)/π(a) e_a] = r - b·1: the sampled update is an unbiased NPG step."""
    pi = experiment.softmax(np.array([0.3, -0.2, 0.5]))
    b = 0.4
    expected_step = sum(pi[a] * (experiment.REWARDS[a] - b) / pi[a] * np.eye(3)[a] for a in range(3))
    assert np.allclose(expected_step, experiment.REWARDS - b)


def test_run_writes_the_three_files_and_a_consistent_table(tmp_path):
    config = experiment.Config(out=str(tmp_path / "out"), runs=6, steps=50, seed=1)
    result = run_experiment("bandit-npg", experiment, config)
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"results.csv", "figure.png", "summary.json"}
    assert len(result.rows) == 4
    for row in result.rows:
        arms = row["fraction_arm1_above_0.9"] + row["fraction_arm2_above_0.9"] + row["fraction_arm3_above_0.9"]
        assert 0 <= arms <= 1 and row["runs"] == 6 and row["steps"] == 50
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["experiment"] == "bandit-npg" and summary["config"]["runs"] == 6


def test_same_seed_same_trajectories():
    config = experiment.Config(runs=3, steps=20, seed=5)
    a = experiment.simulate("minvar", 0.0, config, np.random.default_rng(5))
    b = experiment.simulate("minvar", 0.0, config, np.random.default_rng(5))
    assert np.array_equal(a, b) and np.allclose(a.sum(-1), 1.0)


def test_cli_lists_and_refuses(capsys, tmp_path):
    assert main(["experiment", "--list"]) == 0
    assert "bandit-npg" in capsys.readouterr().out
    assert main(["experiment", "bandit-npg", "--runs", "0", "--out", str(tmp_path)]) == 2
    assert "--runs 0 is out of range" in capsys.readouterr().err
    assert main(["experiment", "no-such"]) == 2
    assert "unknown experiment" in capsys.readouterr().err
