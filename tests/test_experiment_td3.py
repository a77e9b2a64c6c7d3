"""td3-overestimation and td3-ablation: the variants' switches, the true value of a rollout, the files written."""

import csv
import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from actorcritic import TD3
from actorcritic.cli import parse_config
from actorcritic.errors import ActorCriticError
from actorcritic.experiments import td3_ablation as ablation
from actorcritic.experiments import td3_overestimation as overestimation
from actorcritic.experiments.common import run_experiment

TINY = dict(total_steps=400, learning_starts=100, hidden_sizes=(16, 16), seeds=1)


# ---------------------------------------------------------------- the variants

@pytest.mark.parametrize("module, table", [(overestimation, overestimation.ALGORITHMS), (ablation, ablation.VARIANTS)])
def test_each_variant_builds_an_agent_with_its_switches(module, table):
    config = module.Config(**TINY)
    for name, switches in table.items():
        agent_config = module.agent_config(config, "Pendulum-v1", name, 3) if module is ablation else module.agent_config(config, name, 3)
        assert {k: getattr(agent_config, k) for k in switches} == switches
        assert (agent_config.seed, agent_config.total_steps, agent_config.learning_starts, agent_config.hidden_sizes) == (3, 400, 100, (16, 16))
        agent = TD3(agent_config)
        assert agent.learner.critics.members == (2 if switches["clipped_double_q"] else 1)


def test_the_ablation_takes_away_exactly_one_change_per_variant_and_ddpg_all_three():
    td3 = ablation.VARIANTS["td3"]
    assert td3 == dict(clipped_double_q=True, target_policy_smoothing=True, policy_delay=2)
    taken_away = {
        "td3": set(),
        "td3-no-clipped-double-q": {"clipped_double_q"},
        "td3-no-target-smoothing": {"target_policy_smoothing"},
        "td3-no-policy-delay": {"policy_delay"},
        "ddpg": {"clipped_double_q", "target_policy_smoothing", "policy_delay"},
    }
    assert list(ablation.VARIANTS) == list(taken_away)
    for name, switches in ablation.VARIANTS.items():
        assert {k for k in td3 if switches[k] != td3[k]} == taken_away[name], name
    assert overestimation.ALGORITHMS["ddpg"] == ablation.VARIANTS["ddpg"]
    assert overestimation.ALGORITHMS["td3"] == td3
    assert overestimation.ALGORITHMS["ddpg+clipped-double-q"] == dict(clipped_double_q=True, target_policy_smoothing=False, policy_delay=1)


def test_the_pendulum_preset_sets_the_warm_up_unless_it_is_given():
    config = overestimation.agent_config(overestimation.Config(), "td3", 0)
    assert (config.learning_starts, config.learning_rate, config.hidden_sizes) == (1000, 1e-3, (64, 64))


# ---------------------------------------------------------------- estimate and true value

def test_discounted_return_hand_computed():
    assert math.isclose(float(overestimation.discounted_return([1.0, 2.0, 3.0], 0.5)), 1 + 0.5 * 2 + 0.25 * 3)
    # two episodes side by side, the shorter one padded with zeros after its end
    rewards = np.array([[1.0, -1.0], [1.0, 0.0], [1.0, 0.0]])
    assert np.allclose(overestimation.discounted_return(rewards, 0.9), [1 + 0.9 + 0.81, -1.0])


class Countdown(gym.Env):
    """Reset with seed n: observation [n], reward = the action, and the episode terminates after n steps."""

    observation_space = gym.spaces.Box(0.0, 10.0, (1,))
    action_space = gym.spaces.Box(0.0, 10.0, (1,))

    def reset(self, *, seed=None, options=None):
        self.left = float(seed)
        return np.array([self.left], dtype=np.float32), {}

    def step(self, action):
        reward = float(action[0])
        self.left -= 1
        return np.array([self.left], dtype=np.float32), reward, self.left == 0, False, {}


def test_monte_carlo_values_roll_each_start_state_out_to_its_own_end():
    # the policy plays its observation: from n the rewards are n, n - 1, ..., 1
    starts, values = overestimation.monte_carlo_values(lambda obs: obs.copy(), Countdown, [1, 3, 2], gamma=0.9)
    assert np.array_equal(starts, [[1.0], [3.0], [2.0]])
    assert np.allclose(values, [1.0, 3 + 0.9 * 2 + 0.81 * 1, 2 + 0.9 * 1])


def test_the_estimate_is_the_first_critic_at_the_deterministic_action():
    agent = TD3(overestimation.agent_config(overestimation.Config(**TINY), "td3", 0))
    obs = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    with torch.no_grad():
        obs_t = torch.from_numpy(obs)
        q_all = agent.learner.critics.q(obs_t, agent.learner.actor(obs_t))  # [2, 4]
    assert np.allclose(overestimation.q_estimates(agent, obs), q_all[0].numpy(), atol=1e-6)


def test_measurement_steps_end_at_the_total():
    assert overestimation.measurement_steps(overestimation.Config(total_steps=2500, measure_every=1000)) == [1000, 2000, 2500]
    assert overestimation.measurement_steps(overestimation.Config(total_steps=2000, measure_every=1000)) == [1000, 2000]


def test_mean_and_standard_error_hand_computed():
    assert ablation.mean_and_stderr([1.0, 3.0]) == (2.0, 1.0)  # s = √2, s / √2 = 1
    mean, stderr = ablation.mean_and_stderr([5.0])
    assert mean == 5.0 and math.isnan(stderr)


# ---------------------------------------------------------------- configs and files

@pytest.mark.parametrize("module, field, value, flag", [
    (overestimation, "measure_every", 0, "--measure-every"),
    (overestimation, "states", 0, "--states"),
    (overestimation, "learning_starts", -1, "--learning-starts"),
    (ablation, "seeds", 0, "--seeds"),
    (ablation, "env", ("Pendulum-v9",), "Pendulum-v9"),
    (ablation, "hidden_sizes", (0,), "--hidden-sizes"),
])
def test_bad_options_are_refused_by_name(module, field, value, flag):
    with pytest.raises(ActorCriticError, match=flag):
        module.Config(**{field: value})


def test_flags_parse_into_the_configs():
    config = parse_config(ablation.Config, ["--env", "Pendulum-v1", "MountainCarContinuous-v0", "--learning-starts", "100", "--hidden-sizes", "16", "16"], prog="t")
    assert (config.env, config.learning_starts, config.hidden_sizes) == (("Pendulum-v1", "MountainCarContinuous-v0"), 100, (16, 16))
    config = parse_config(overestimation.Config, ["--env", "Hopper-v5", "--states", "3"], prog="t")
    assert (config.env, config.states, config.learning_starts) == ("Hopper-v5", 3, None)


def read_outputs(out):
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    summary = json.loads((out / "summary.json").read_text())
    assert (out / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return rows, summary


def test_td3_overestimation_writes_its_files(tmp_path):
    config = overestimation.Config(out=str(tmp_path / "over"), measure_every=200, states=2, rollout_steps=50, **TINY)
    run_experiment("td3-overestimation", overestimation, config)
    rows, summary = read_outputs(tmp_path / "over")
    assert [(r["algorithm"], r["step"]) for r in rows] == [(a, s) for a in overestimation.ALGORITHMS for s in ("200", "400")]
    for row in rows:
        assert math.isclose(float(row["overestimation"]), float(row["q_estimate"]) - float(row["true_value"]), rel_tol=1e-9, abs_tol=1e-9)
        # at most 50 steps of Pendulum's rewards in [-16.3, 0]
        assert -16.3 * 50 <= float(row["true_value"]) <= 0
    assert summary["experiment"] == "td3-overestimation" and summary["config"]["states"] == 2
    assert set(summary["overestimation"]) == set(overestimation.ALGORITHMS)
    ddpg = summary["overestimation"]["ddpg"]
    assert math.isclose(ddpg["final_overestimation"], float(rows[1]["overestimation"]), rel_tol=1e-9)
    assert summary["ddpg_overestimates"]["final_overestimation"] == (ddpg["final_overestimation"] > 0)


def test_td3_ablation_writes_its_files(tmp_path):
    config = ablation.Config(out=str(tmp_path / "abl"), eval_episodes=1, **TINY)
    run_experiment("td3-ablation", ablation, config)
    rows, summary = read_outputs(tmp_path / "abl")
    names = list(ablation.VARIANTS)
    assert [(r["variant"], r["seed"]) for r in rows] == [(v, "0") for v in names] + [(v, "all") for v in names]
    assert [r["policy_delay"] for r in rows[:5]] == ["2", "2", "2", "1", "1"]
    table = summary["final_eval_return"]["Pendulum-v1"]
    for run_row, summary_row in zip(rows[:5], rows[5:]):
        # one seed: the mean is that seed's score, and there is no standard error
        assert float(run_row["eval_return"]) == float(summary_row["eval_return"]) == table[run_row["variant"]]["mean"]
        assert table[run_row["variant"]]["stderr"] is None and table[run_row["variant"]]["seeds"] == 1
    assert summary["ddpg_lowest"]["Pendulum-v1"] == (min(table, key=lambda v: table[v]["mean"]) == "ddpg")
