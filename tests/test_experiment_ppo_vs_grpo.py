"""ppo-vs-grpo at a tiny size: equal budgets, the evaluation schedule, determinism, and the files it writes."""

import csv
import json

import pytest

from actorcritic.errors import ActorCriticError
from actorcritic.experiments import ppo_vs_grpo as experiment
from actorcritic.experiments.common import run_experiment

BUDGET, EVERY = 600, 300
TINY = dict(
    total_steps=BUDGET,
    eval_every=EVERY,
    seeds=1,
    eval_episodes=1,
    hidden_sizes=(16, 16),
    group_size=4,
    groups_per_update=1,
)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """One tiny run of the whole experiment through `run_experiment`: (output directory, result)."""
    out = tmp_path_factory.mktemp("ppo-vs-grpo")
    result = run_experiment("ppo-vs-grpo", experiment, experiment.Config(out=str(out), **TINY))
    return out, result


def curve(rows, env, algorithm, seed=0):
    return [r for r in rows if r["env"] == env and r["algorithm"] == algorithm and r["seed"] == seed]


def test_checkpoints_start_at_zero_and_end_at_the_budget():
    assert experiment.checkpoints(600, 300) == [0, 300, 600]
    assert experiment.checkpoints(700, 300) == [0, 300, 600, 700]
    assert experiment.checkpoints(100, 300) == [0, 100]


def test_an_update_past_several_checkpoints_gives_them_one_evaluation():
    class Agent:
        global_step = 0
        calls = 0

        def evaluate(self, episodes):
            self.calls += 1
            return [float(self.global_step)] * episodes

    agent, curve_ = Agent(), experiment.LearningCurve([0, 100, 200, 300], episodes=2)
    for step in (0, 50, 250, 320):
        agent.global_step = step
        curve_.on_log(agent)
    assert curve_.points == [(0, 0, 0.0), (100, 250, 250.0), (200, 250, 250.0), (300, 320, 320.0)]
    assert agent.calls == 3  # nothing is evaluated between checkpoints


def test_both_algorithms_run_on_both_envs_with_the_same_budget(written):
    _, result = written
    for env in ("CartPole-v1", "Pendulum-v1"):
        for algorithm in ("ppo", "grpo"):
            rows = curve(result.rows, env, algorithm)
            assert [r["step"] for r in rows] == [0, EVERY, BUDGET]
            used = [r["env_steps"] for r in rows]
            assert used[0] == 0 and used[-1] >= BUDGET
            assert all(u >= r["step"] for u, r in zip(used, rows)) and used == sorted(used)


def test_the_three_files_are_written(written):
    out, result = written
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["env", "algorithm", "seed", "step", "env_steps", "eval_return"]
    assert len(rows) == 2 * 2 * 3  # envs x algorithms x checkpoints, one seed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["experiment"] == "ppo-vs-grpo" and summary["budgets"] == {
        "CartPole-v1": BUDGET,
        "Pendulum-v1": BUDGET,
    }
    for env in ("CartPole-v1", "Pendulum-v1"):
        for algorithm in ("ppo", "grpo"):
            final = summary["final_scores"][env][algorithm]
            assert final["per_seed"] == [curve(result.rows, env, algorithm)[-1]["eval_return"]]
            assert final["stderr"] is None  # one seed
            assert summary["agent_configs"][env][algorithm]["total_steps"] == BUDGET
    assert summary["agent_configs"]["Pendulum-v1"]["grpo"]["group_size"] == 4
    assert (out / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("algorithm", ["ppo", "grpo"])
def test_curves_are_deterministic_and_do_not_depend_on_the_evaluation_schedule(algorithm):
    config = experiment.Config(**TINY)
    first = experiment.learning_curve(algorithm, "CartPole-v1", 0, config)
    assert experiment.learning_curve(algorithm, "CartPole-v1", 0, config) == first
    # evaluating only reads the policy: the final point is the same with fewer evaluations
    sparse = experiment.learning_curve(algorithm, "CartPole-v1", 0, experiment.Config(**{**TINY, "eval_every": BUDGET}))
    assert sparse[-1] == first[-1]


def test_budgets_default_per_environment_and_a_total_overrides_them():
    assert experiment.Config().budget("CartPole-v1") == 50_000
    assert experiment.Config().budget("Pendulum-v1") == 100_000
    assert experiment.Config(total_steps=2_000).budget("Pendulum-v1") == 2_000


@pytest.mark.parametrize(
    "bad",
    [
        dict(envs=("Acrobot-v1",)),
        dict(envs=()),
        dict(envs=("CartPole-v1", "CartPole-v1")),
        dict(total_steps=-1),
        dict(seeds=0),
        dict(eval_every=0),
        dict(eval_episodes=0),
        dict(group_size=1),
        dict(hidden_sizes=(0,)),
    ],
)
def test_bad_options_are_refused(bad):
    with pytest.raises(ActorCriticError):
        experiment.Config(**bad)
