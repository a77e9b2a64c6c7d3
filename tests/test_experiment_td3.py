"""td3-overestimation and td3-ablation: the variants' switches, the true value of a rollout, the files written."""

import csv
import dataclasses
import json
import math
import subprocess
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from actorcritic import TD3
from actorcritic.cli.parsing import parse_config
from actorcritic.errors import ActorCriticError
from actorcritic.experiments import td3_ablation as ablation
from actorcritic.experiments import td3_overestimation as overestimation
from actorcritic.experiments.common import run_experiment

RECORDS_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "run_records.sh"
TINY = dict(total_steps=400, learning_starts=100, hidden_sizes=(16, 16), seeds=1)


# ---------------------------------------------------------------- the variants


@pytest.mark.parametrize("module, table", [(overestimation, overestimation.ALGORITHMS), (ablation, ablation.VARIANTS)])
def test_each_variant_builds_an_agent_with_its_switches(module, table):
    config = module.Config(**TINY)
    for name, switches in table.items():
        agent_config = module.agent_config(config, "Pendulum-v1", name, 3)
        assert {k: getattr(agent_config, k) for k in switches} == switches
        assert (
            agent_config.seed,
            agent_config.total_steps,
            agent_config.learning_starts,
            agent_config.hidden_sizes,
        ) == (3, 400, 100, (16, 16))
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
    assert overestimation.ALGORITHMS["ddpg+clipped-double-q"] == dict(
        clipped_double_q=True, target_policy_smoothing=False, policy_delay=1
    )


def test_the_pendulum_preset_sets_the_warm_up_unless_it_is_given():
    config = overestimation.agent_config(overestimation.Config(), "Pendulum-v1", "td3", 0)
    assert (config.learning_starts, config.learning_rate, config.hidden_sizes) == (1000, 1e-3, (64, 64))


# ---------------------------------------------------------------- estimate and true value


def test_discounted_return_hand_computed():
    assert math.isclose(float(overestimation.discounted_return([1.0, 2.0, 3.0], 0.5)), 1 + 0.5 * 2 + 0.25 * 3)
    # two episodes side by side, the shorter one padded with zeros after its end
    rewards = np.array([[1.0, -1.0], [1.0, 0.0], [1.0, 0.0]])
    assert np.allclose(overestimation.discounted_return(rewards, 0.9), [1 + 0.9 + 0.81, -1.0])


class Countdown(gym.Env):
    """Observation [n]: n steps left; reward = the action; the episode terminates at 0."""

    observation_space = gym.spaces.Box(0.0, 10.0, (1,))
    action_space = gym.spaces.Box(0.0, 10.0, (1,))

    def reset(self, *, seed=None, options=None):
        self.left = 5.0
        return np.array([self.left], dtype=np.float32), {}

    def step(self, action):
        reward = float(action[0])
        self.left -= 1
        return np.array([self.left], dtype=np.float32), reward, self.left == 0, False, {}


def test_monte_carlo_values_roll_each_start_state_out_to_its_own_end():
    # the policy plays its observation: from n the rewards are n, n - 1, ..., 1
    starts = np.array([[1.0], [3.0], [2.0]])

    def restore(env, k):
        env.left = float(starts[k, 0])
        return k != 2  # pretend state 2 is only approximately restored

    values, exact = overestimation.monte_carlo_values(lambda obs: obs.copy(), Countdown, starts, 0.9, restore)
    assert np.allclose(values, [1.0, 3 + 0.9 * 2 + 0.81 * 1, 2 + 0.9 * 1])
    assert exact.tolist() == [True, True, False]


@pytest.mark.parametrize("env_id", ["Pendulum-v1", "Hopper-v5", "Walker2d-v5", "HalfCheetah-v5", "Swimmer-v5"])
def test_a_restored_state_continues_as_the_original_would(env_id):
    # the buffer holds observations only: an environment put into one must give the same rewards,
    # observations and ends as the one that produced it, under the same actions (small random actions keep
    # Hopper's and Walker2d's velocities inside the observation's clip, where the restoration is exact)
    original, restored = gym.make(env_id), gym.make(env_id)
    original.reset(seed=1)
    draws = np.random.default_rng(0)
    act = lambda: (0.2 * draws.uniform(original.action_space.low, original.action_space.high)).astype(np.float32)  # noqa: E731
    for _ in range(15):
        observation, *_ = original.step(act())
    restored.reset(seed=99)
    assert overestimation.restore_state(restored, observation)
    for _ in range(40):
        action = act()
        a, b = original.step(action), restored.step(action)
        assert np.allclose(a[0], b[0], atol=1e-4) and math.isclose(a[1], b[1], abs_tol=1e-4) and a[2] == b[2]
        if a[2]:
            break


def test_a_state_at_the_velocity_clip_is_restored_but_reported_approximate():
    env = gym.make("Walker2d-v5")
    observation, _ = env.reset(seed=0)
    observation[-1] = overestimation.VELOCITY_CLIP
    assert overestimation.restore_state(env, observation) is False
    assert np.allclose(env.unwrapped._get_obs(), observation, atol=1e-6)


def test_episode_starts_follow_ends_and_restarts():
    obs = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [20.0], [21.0]])
    successors = np.array([[1.0], [2.0], [3.0], [11.0], [12.0], [21.0], [22.0]])
    ended = np.array([False, False, True, False, False, False, False])  # row 5 restarts without an end (a resume)
    assert overestimation.episode_starts(obs, successors, ended).tolist() == [0, 0, 0, 3, 3, 5, 5]


def walker_trajectory(steps: int, seed: int = 0):
    """A Walker2d episode under full-range random actions, stored as the replay buffer stores it (float32),
    with the simulator's true velocities beside it."""
    env = gym.make("Walker2d-v5")
    observation, _ = env.reset(seed=seed)
    draws = np.random.default_rng(seed)
    observations, actions, velocities = [], [], []
    for _ in range(steps):
        action = draws.uniform(-1, 1, size=6).astype(np.float32)
        (
            observations.append(observation.astype(np.float32)),
            actions.append(action),
            velocities.append(env.unwrapped.data.qvel.copy()),
        )
        observation, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            break
    return np.array(observations), np.array(actions), np.array(velocities)


def test_a_state_with_a_clipped_velocity_is_replayed_from_its_episode_start():
    observations, actions, velocities = walker_trajectory(200)
    clipped = [row for row in range(len(observations)) if np.abs(velocities[row]).max() > overestimation.VELOCITY_CLIP]
    assert clipped, "random actions should swing some joint faster than the observation's clip"
    row = clipped[0]
    direct, replayed = gym.make("Walker2d-v5"), gym.make("Walker2d-v5")
    direct.reset(seed=5), replayed.reset(seed=5)
    assert (
        overestimation.restore_state(direct, observations[row]) is False
    )  # the observation shows the clip, not the state
    assert overestimation.replay_state(replayed, observations, actions, 0, row) is True
    assert np.allclose(replayed.unwrapped.data.qvel, velocities[row], atol=1e-3)  # the true velocities, beyond the clip
    assert not np.allclose(direct.unwrapped.data.qvel, velocities[row], atol=1e-3)


def test_measured_states_are_replayed_where_their_observation_is_clipped():
    agent = TD3(
        overestimation.agent_config(
            overestimation.Config(**{**TINY, "total_steps": 2000, "learning_starts": 1000}), "Walker2d-v5", "ddpg", 0
        )
    ).learn(300)
    rows = np.arange(agent.buffer.size)
    restore, replayed = overestimation.buffer_restorer(agent, rows)
    env, exact = gym.make("Walker2d-v5"), []
    env.reset(seed=0)
    for k in rows:
        exact.append(restore(env, k))
        if exact[-1]:  # the state shows the stored observation (to the replay's tolerance)
            assert (
                np.abs(env.unwrapped._get_obs() - agent.buffer.stored("obs")[k]).max()
                <= overestimation.REPLAY_TOLERANCE
            )
    clipped = np.abs(agent.buffer.stored("obs")[:, 8:]).max(1) == overestimation.VELOCITY_CLIP
    assert clipped.any() and replayed.tolist() == clipped.tolist()  # replayed exactly where a velocity is at the clip
    assert np.mean(exact) > 0.9
    # a replay that goes astray (here: its episode's actions overwritten) falls back to the clipped observation
    row = int(np.flatnonzero(clipped & np.array(exact))[0])
    starts = overestimation.episode_starts(
        agent.buffer.stored("obs"),
        agent.buffer.stored("next_obs"),
        agent.buffer.stored("terminated") + agent.buffer.stored("truncated") > 0,
    )
    agent.buffer.table[starts[row] : row, agent.buffer._columns["action"]] *= -1
    restore, replayed = overestimation.buffer_restorer(agent, np.array([row]))
    assert restore(env, 0) is False and replayed[0]
    assert np.allclose(env.unwrapped._get_obs(), agent.buffer.stored("obs")[row], atol=1e-4)


def test_an_environment_whose_observation_is_not_its_state_is_refused():
    with pytest.raises(ActorCriticError, match="cannot restore those of Ant-v5"):
        overestimation.Config(env=("Ant-v5",))


def test_measurement_states_come_from_the_filled_buffer_and_leave_training_untouched():
    agent = TD3(overestimation.agent_config(overestimation.Config(**TINY), "Pendulum-v1", "td3", 0)).learn(150)
    generator_before = agent.generator.get_state()
    rows = overestimation.buffer_rows(agent, 20, 150)
    assert rows.shape == (20,) and len(set(rows.tolist())) == 20 and rows.max() < agent.buffer.size
    assert np.array_equal(rows, overestimation.buffer_rows(agent, 20, 150))  # the same at the same step
    assert not np.array_equal(rows, overestimation.buffer_rows(agent, 20, 160))
    assert torch.equal(agent.generator.get_state(), generator_before)
    assert len(overestimation.buffer_rows(agent, 500, 150)) == agent.buffer.size == 150


def test_the_estimate_is_the_first_critic_at_the_deterministic_action():
    agent = TD3(overestimation.agent_config(overestimation.Config(**TINY), "Pendulum-v1", "td3", 0))
    obs = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    with torch.no_grad():
        obs_t = torch.from_numpy(obs)
        q_all = agent.learner.critics.q(obs_t, agent.learner.actor(obs_t))  # [2, 4]
    assert np.allclose(overestimation.q_estimates(agent, obs), q_all[0].numpy(), atol=1e-6)


def test_measurement_steps_end_at_the_total():
    assert overestimation.measurement_steps(overestimation.Config(total_steps=2500, measure_every=1000)) == [
        1000,
        2000,
        2500,
    ]
    assert overestimation.measurement_steps(overestimation.Config(total_steps=2000, measure_every=1000)) == [1000, 2000]


# ---------------------------------------------------------------- configs and files


@pytest.mark.parametrize(
    "module, field, value, flag",
    [
        (overestimation, "measure_every", 0, "--measure-every"),
        (overestimation, "states", 0, "--states"),
        (overestimation, "learning_starts", -1, "--learning-starts"),
        (overestimation, "algorithms", ("dqn",), "--algorithms"),
        (overestimation, "env", (), "--env is empty"),
        (ablation, "seeds", 0, "--seeds"),
        (ablation, "env", ("Pendulum-v9",), "Pendulum-v9"),
        (ablation, "hidden_sizes", (0,), "--hidden-sizes"),
    ],
)
def test_bad_options_are_refused_by_name(module, field, value, flag):
    with pytest.raises(ActorCriticError, match=flag):
        module.Config(**{field: value})


def test_flags_parse_into_the_configs():
    config = parse_config(
        ablation.Config,
        ["--env", "Pendulum-v1", "MountainCarContinuous-v0", "--learning-starts", "100", "--hidden-sizes", "16", "16"],
        prog="t",
    )
    assert (config.env, config.learning_starts, config.hidden_sizes) == (
        ("Pendulum-v1", "MountainCarContinuous-v0"),
        100,
        (16, 16),
    )
    config = parse_config(
        overestimation.Config, ["--env", "Hopper-v5", "--states", "3", "--algorithms", "ddpg", "td3"], prog="t"
    )
    assert (config.env, config.states, config.learning_starts, config.algorithms) == (
        ("Hopper-v5",),
        3,
        None,
        ("ddpg", "td3"),
    )


def read_outputs(out):
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    summary = json.loads((out / "summary.json").read_text())
    assert (out / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return rows, summary


def test_td3_overestimation_writes_its_files(tmp_path):
    config = overestimation.Config(
        out=str(tmp_path / "over"), measure_every=200, states=2, rollout_steps=50, jobs=1, **TINY
    )
    run_experiment("td3-overestimation", overestimation, config)
    rows, summary = read_outputs(tmp_path / "over")
    assert [(r["algorithm"], r["step"]) for r in rows] == [
        (a, s) for a in overestimation.ALGORITHMS for s in ("200", "400")
    ]
    for row in rows:
        assert math.isclose(
            float(row["overestimation"]),
            float(row["q_estimate"]) - float(row["true_value"]),
            rel_tol=1e-9,
            abs_tol=1e-9,
        )
        # at most 50 steps of Pendulum's rewards in [-16.3, 0]
        assert -16.3 * 50 <= float(row["true_value"]) <= 0
    assert summary["experiment"] == "td3-overestimation" and summary["config"]["states"] == 2
    results = summary["results"]["Pendulum-v1"]
    assert set(results) == set(overestimation.ALGORITHMS)
    ddpg = results["ddpg"]
    assert math.isclose(ddpg["final_overestimation"], float(rows[1]["overestimation"]), rel_tol=1e-9)
    assert math.isclose(
        ddpg["late_overestimation"], float(rows[1]["overestimation"]), rel_tol=1e-9
    )  # the second half: step 400
    assert summary["claim"]["Pendulum-v1"]["single_critic_overestimates"] == (ddpg["late_overestimation_ci"][0] > 0)


def test_an_interrupted_overestimation_run_resumes_to_the_same_numbers(tmp_path, monkeypatch):
    options = dict(measure_every=100, states=2, rollout_steps=30, jobs=1, algorithms=("ddpg",), **TINY)
    whole = overestimation.measured_run(
        overestimation.Config(out=str(tmp_path / "whole"), **options), "Pendulum-v1", "ddpg", 0
    )
    config = overestimation.Config(out=str(tmp_path / "cut"), **options)
    real, calls = overestimation.monte_carlo_values, []

    def crash_at_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # killed after the checkpoint at step 300, before its row
        return real(*args, **kwargs)

    monkeypatch.setattr(overestimation, "monte_carlo_values", crash_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        overestimation.measured_run(config, "Pendulum-v1", "ddpg", 0)
    monkeypatch.setattr(overestimation, "monte_carlo_values", real)
    assert [
        row["step"] for row in json.loads((tmp_path / "cut/runs/Pendulum-v1/ddpg/seed-0/rows.json").read_text())
    ] == [100, 200]
    assert overestimation.measured_run(config, "Pendulum-v1", "ddpg", 0) == whole
    # another setting in the same --out is refused, naming the directory, before anything runs
    with pytest.raises(ActorCriticError, match="seed-0 holds a run with other options"):
        overestimation.measured_run(dataclasses.replace(config, states=3), "Pendulum-v1", "ddpg", 0)
    with pytest.raises(ActorCriticError, match="seed-0 holds a run with other options"):  # rows at other steps
        overestimation.measured_run(dataclasses.replace(config, measure_every=50), "Pendulum-v1", "ddpg", 0)


def test_runs_in_processes_give_the_numbers_of_runs_here(tmp_path):
    options = dict(measure_every=200, states=2, rollout_steps=20, algorithms=("ddpg", "td3"), **TINY)
    here = overestimation.run(overestimation.Config(out=str(tmp_path / "here"), jobs=1, **options)).rows
    spawned = overestimation.run(overestimation.Config(out=str(tmp_path / "spawned"), jobs=2, **options)).rows
    assert here == spawned


def test_td3_ablation_writes_its_files_and_reads_finished_runs_back(tmp_path):
    config = ablation.Config(out=str(tmp_path / "abl"), eval_episodes=1, jobs=1, **TINY)
    run_experiment("td3-ablation", ablation, config)
    rows, summary = read_outputs(tmp_path / "abl")
    names = list(ablation.VARIANTS)
    assert [(r["variant"], r["seed"]) for r in rows] == [(v, "0") for v in names] + [(v, "iqm") for v in names]
    assert [r["policy_delay"] for r in rows[:5]] == ["2", "2", "2", "1", "1"]
    table = summary["final_eval_return"]["Pendulum-v1"]
    for run_row, iqm_row in zip(rows[:5], rows[5:]):
        run_summary = json.loads(
            (tmp_path / f"abl/runs/Pendulum-v1/{run_row['variant']}/seed-0/run/summary.json").read_text()
        )
        # one seed: its score is the run's final evaluation, and the IQM is that score
        assert (
            float(run_row["eval_return"])
            == run_summary["eval_return_mean"]
            == float(iqm_row["eval_return"])
            == table[run_row["variant"]]["iqm"]
        )
    assert summary["ranking"]["Pendulum-v1"] == sorted(names, key=lambda v: table[v]["iqm"], reverse=True)
    # no periodic evaluation: the late mean is the final evaluation
    assert [row["late_mean_return"] for row in rows] == [row["eval_return"] for row in rows]
    assert summary["late_mean_return"]["Pendulum-v1"] == table and summary["late_mean"]["ranking"] == summary["ranking"]
    written = {path: path.stat().st_mtime_ns for path in (tmp_path / "abl/runs").rglob("*") if path.is_file()}
    again = ablation.run(config)  # every run finished: read back, not trained again
    assert [row["eval_return"] for row in again.rows[:5]] == [float(row["eval_return"]) for row in rows[:5]]
    assert {path: path.stat().st_mtime_ns for path in (tmp_path / "abl/runs").rglob("*") if path.is_file()} == written
    # scripts/run_records.sh: the finished runs' records, without checkpoints, restored under another --out, are
    # read back as finished runs with the same numbers, and nothing is trained
    records, restored = tmp_path / "records", tmp_path / "restored"
    for command in (["save", tmp_path / "abl", records], ["restore", records, restored]):
        subprocess.run(["bash", str(RECORDS_SCRIPT), *map(str, command)], check=True, capture_output=True)
    assert not list(records.rglob("checkpoint*")) and len(list(records.rglob("summary.json"))) == 5
    from_records = ablation.run(dataclasses.replace(config, out=str(restored)))
    assert from_records.rows == again.rows and not list(restored.rglob("checkpoint*"))


def test_the_late_mean_averages_the_last_fifth_of_the_evaluations():
    evaluations = [(step, float(step)) for step in range(10, 110, 10)]  # 10, 20, ..., 100
    assert ablation.late_mean(evaluations, 100, final=-1.0) == 95.0  # the evaluations above step 80: 90 and 100
    assert ablation.late_mean([], 100, final=-1.0) == -1.0


def test_the_ablation_claim_is_read_off_the_scores():
    seeds = [0, 1, 2]
    returns = {
        "td3": [10.0, 11.0, 12.0],
        "td3-no-clipped-double-q": [1.0, 2.0, 3.0],
        "td3-no-target-smoothing": [9.0, 11.5, 13.0],
        "td3-no-policy-delay": [5.0, 6.0, 7.0],
        "ddpg": [0.0, 0.5, 1.0],
    }
    scores = {("E", v, s): r for v, values in returns.items() for s, r in zip(seeds, values)}
    table = {"E": {v: ablation.variant_scores(values) for v, values in returns.items()}}
    claim = ablation.read_claim(table, scores, seeds)
    assert claim["ranking"]["E"] == [
        "td3-no-target-smoothing",
        "td3",
        "td3-no-policy-delay",
        "td3-no-clipped-double-q",
        "ddpg",
    ]
    assert (
        claim["td3_best"]["E"] is claim["td3_best_and_ddpg_worst"]["E"] is False
    )  # without target smoothing ranks first here
    # disjoint CIs: td3 (IQM of 3 seeds within [10, 12]) above no-policy-delay ([5, 7]);
    # td3 and no-target-smoothing overlap
    assert ["td3", "td3-no-policy-delay"] in claim["separated"]["E"]
    assert ["td3-no-target-smoothing", "td3"] not in claim["separated"]["E"]
    assert claim["td3_beats"]["E"]["ddpg"]["probability"] == 1.0
