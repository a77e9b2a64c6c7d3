"""POPGym's memory tasks (`popgym`, in the test extra): their ids work without a `module:` prefix, their Discrete,
Tuple and MultiDiscrete observations reach a recurrent policy flattened, a machine without the package is told
which to install, and (slow) an LSTM learns one where a feed-forward policy cannot."""

import json
import sys

import gymnasium as gym
import numpy as np
import pytest
from conftest import assert_one_line_error
from contract.smoke import smoke_flags

from actorcritic import A2C, A2CConfig, RecurrentPPO, RecurrentPPOConfig
from actorcritic.cli.commands import main

REPEAT_PREVIOUS = "popgym-RepeatPreviousEasy-v0"
A2C_IQM = 0.5
"""The recurrent A2C check's bound. Measured (scripts/memory_tasks.py, a2c-lstm-4x, 2026-12-05): 0.85, 0.97, 0.68,
0.52 (IQM 0.76); at PPO's 50k steps 0.20, -0.06, -0.08, -0.15, the feed-forward A2C -0.48 to -0.51."""


@pytest.mark.parametrize(
    "env_id, cell",
    [
        (REPEAT_PREVIOUS, "lstm"),  # Discrete(4) observations
        ("popgym-AutoencodeEasy-v0", "gru"),  # Tuple(Discrete(2), Discrete(4))
        ("popgym-CountRecallEasy-v0", "lstm"),  # MultiDiscrete([2, 2]), 27 actions
    ],
)
def test_popgym_ids_train_without_a_module_prefix(env_id, cell, tmp_path):
    run_dir = tmp_path / "run"
    code = main(
        ["train", "recurrent-ppo", *smoke_flags("recurrent-ppo", env=env_id, recurrent=cell), "--run-dir", str(run_dir)]
    )
    assert code == 0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["env"] == env_id and config["recurrent"] == cell
    assert (run_dir / "metrics.csv").read_text().count("\n") >= 2


def test_popgym_ids_without_the_package_say_which(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "popgym", None)
    for name in [k for k in gym.registry if k.startswith("popgym-")]:  # as on a machine without popgym
        monkeypatch.delitem(gym.registry, name)
    assert_one_line_error(
        capsys,
        main(["train", "recurrent-ppo", "--env", REPEAT_PREVIOUS, "--run-dir", str(tmp_path / "r")]),
        f"{REPEAT_PREVIOUS} needs the popgym package, which is not installed: pip install popgym",
    )
    assert not (tmp_path / "r").exists()


def test_the_popgym_presets_are_the_zoos_no_velocity_set_with_a_budget_of_their_own():
    """Not tuned for POPGym: the settings of rl-baselines3-zoo's CartPoleNoVel-v1, only the budget differs."""
    zoo = RecurrentPPOConfig.for_env("actorcritic.envs.memory:CartPoleNoVel-v1")
    for env_id, steps in [(REPEAT_PREVIOUS, 50_000), ("popgym-PositionOnlyCartPoleEasy-v0", 100_000)]:
        preset = RecurrentPPOConfig.for_env(env_id)
        assert preset.total_steps == steps
        assert {**vars(preset), "env": zoo.env, "total_steps": zoo.total_steps} == vars(zoo)


def final_scores(make_agent, seeds=range(4)) -> list[float]:
    """Each seed's mean return over 20 deterministic evaluation episodes after training."""
    return [float(np.mean(make_agent(seed).learn().evaluate(episodes=20))) for seed in seeds]


@pytest.mark.slow
def test_an_lstm_repeats_the_card_three_back_where_a_feed_forward_policy_cannot():
    """POPGym's RepeatPreviousEasy (name the suit of the card dealt 3 observations ago; returns in [-1, 1], a
    random policy about -0.5), the recurrent-ppo preset (50k steps), 4 seeds: the IQM of the final evaluations is
    at least 0.9 with an LSTM and at most -0.3 without one (one card says nothing of the one 3 back, but that
    the deck holds one fewer of its suit). Measured (scripts/memory_tasks.py, 2026-12-05): LSTM 1.00 for all 4
    seeds, feed-forward -0.49, -0.50, -0.46, -0.49. About 12 minutes on 2 cores."""
    from actorcritic.analysis.statistics import aggregate_scores

    def recurrent_ppo(**overrides):
        return lambda seed: RecurrentPPO(RecurrentPPOConfig.for_env(REPEAT_PREVIOUS, seed=seed, **overrides))

    lstm, feed_forward = final_scores(recurrent_ppo()), final_scores(recurrent_ppo(recurrent="none"))
    assert aggregate_scores(lstm)["iqm"] >= 0.9 and aggregate_scores(feed_forward)["iqm"] <= -0.3, (lstm, feed_forward)


@pytest.mark.slow
def test_a_recurrent_a2c_learns_the_same_task():
    """A2C's own defaults (5 steps per copy, RMSprop 7e-4, one gradient step per rollout) on 8 copies with an
    LSTM and layer normalisation, 4 seeds: the IQM of the final evaluations is at least A2C_IQM after 200k steps,
    4 times PPO's budget (one gradient step per 40 steps learns slower than PPO's 20 epochs). About 9 minutes
    (2026-12-05, AMD EPYC, passed)."""
    from actorcritic.analysis.statistics import aggregate_scores

    def a2c(seed):
        overrides = dict(total_steps=200_000, num_envs=8, recurrent="lstm", layer_norm=True)
        return A2C(A2CConfig.for_env(REPEAT_PREVIOUS, seed=seed, **overrides))

    scores = final_scores(a2c)
    assert aggregate_scores(scores)["iqm"] >= A2C_IQM, scores


def test_act_takes_what_the_environment_returns():
    """A Discrete card index (one, or a vector environment's batch) is acted on as its one-hot row, as
    Stable-Baselines3's predict takes it; the one-hot rows themselves still work, and where both readings fit (4
    integers for 4 suits) the one-hot row wins unless flat=False."""
    from contract.smoke import smoke_config

    agent = RecurrentPPO(smoke_config("recurrent-ppo", env=REPEAT_PREVIOUS)).learn()
    action, state = agent.act(2)
    assert np.shape(action) == () and state.shape[1] == 1
    one_hot, _ = agent.act(np.eye(4, dtype=np.int64))
    assert one_hot.shape == (4,) and np.array_equal(one_hot, [agent.act(card)[0] for card in range(4)])
    assert np.array_equal(agent.act(np.array([0, 1, 2]))[0], one_hot[:3])
    assert np.array_equal(agent.act(np.array([0, 1, 2, 3]), flat=False)[0], one_hot)
    assert np.array_equal(agent.act(np.array([0, 0, 1, 0]))[0], agent.act(2)[0])  # one one-hot row


def test_an_off_policy_agent_acts_on_the_goal_dict():
    from contract.smoke import smoke_config

    from actorcritic import SAC

    agent = SAC(smoke_config("sac", env="actorcritic.envs.goals:BitFlipping-v0")).learn()
    env = gym.make("actorcritic.envs.goals:BitFlipping-v0")
    obs, _ = env.reset(seed=0)
    flat = gym.spaces.flatten(env.observation_space, obs)
    assert np.array_equal(agent.act(obs), agent.act(flat))
