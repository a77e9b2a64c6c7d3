"""Schedules (issue 41, item 2): the schedule language, scheduled config fields, their refusals, and runs that
follow them and resume them exactly."""

import json
import math

import numpy as np
import pytest
import torch
from conftest import assert_one_line_error

from actorcritic import PPO, SAC, PPOConfig, SACConfig
from actorcritic.cli.commands import main
from actorcritic.config import config_to_dict, scheduled_fields
from actorcritic.errors import ActorCriticError
from actorcritic.schedules import Schedule, parse_schedule

# ---------------------------------------------------------------- the language


@pytest.mark.parametrize(
    "text,progress,expected",
    [
        ("3e-4", 0.7, 3e-4),
        ("constant:2.5", 0.3, 2.5),
        ("linear:1.0:0.2", 0.0, 1.0),
        ("linear:1.0:0.2", 0.5, 0.6),
        ("linear:1.0:0.2", 1.0, 0.2),
        ("cosine:1.0:0.2", 0.5, 0.6),  # the cosine's midpoint is the mean of its ends
        ("cosine:1.0:0.2", 0.25, 0.2 + 0.8 * (1 + math.cos(math.pi / 4)) / 2),
        ("cosine:1.0:0.2", 1.0, 0.2),
        ("lin_3e-4", 0.25, 2.25e-4),  # rl-baselines3-zoo: 3e-4 times the remaining progress
        ("linear:1.0:0.2", 1.5, 0.2),  # past the end: the end
    ],
)
def test_schedules_take_their_values_by_hand(text, progress, expected):
    assert parse_schedule(text).at(progress) == pytest.approx(expected, rel=1e-12)


def test_a_linear_schedule_to_zero_is_the_anneals_arithmetic_exactly():
    """linear:a:0 at p is a·(1 - p) to the last bit, so the on-policy anneal could become a schedule unchanged."""
    for start in (3e-4, 2.5e-4, 1e-3, 0.1):
        for step in range(0, 1_000_000, 9_973):
            progress = step / 1_000_000
            assert Schedule("linear", start, 0.0).at(progress) == start * (1.0 - progress)


@pytest.mark.parametrize("text", ["linear:1e-3", "cosine:a:b", "step:1:2", "lin_", "linear:1:nan", ""])
def test_malformed_schedules_are_refused_naming_the_forms(text):
    with pytest.raises(ValueError, match="is not a schedule: write a number, constant:V, linear:START:END"):
        parse_schedule(text)


# ---------------------------------------------------------------- scheduled fields


def test_the_scheduled_fields_are_those_annotated_float_or_str():
    assert scheduled_fields(PPOConfig) == ("learning_rate", "clip_eps", "entropy_coef")
    assert scheduled_fields(SACConfig) == ("learning_rate",)


def test_a_config_refuses_a_schedule_out_of_range_and_a_failing_callable():
    with pytest.raises(ActorCriticError, match="--learning-rate 'linear:1e-3' is not a schedule"):
        PPOConfig(learning_rate="linear:1e-3")
    with pytest.raises(ActorCriticError, match="--learning-rate 0.0 is out of range"):
        PPOConfig(learning_rate="linear:0:1e-3")  # a rate that starts at 0 never learns
    with pytest.raises(ActorCriticError, match="--clip-eps -0.1 is out of range"):
        PPOConfig(clip_eps="linear:0.2:-0.1")  # the end may be 0, never negative
    with pytest.raises(ActorCriticError, match="learning_rate: the callable failed at remaining progress 1.0"):
        PPOConfig(learning_rate=lambda remaining: 1 / 0)
    with pytest.raises(ActorCriticError, match="returned nan at the start"):
        PPOConfig(learning_rate=lambda remaining: float("nan"))


def test_a_callable_schedule_is_refused_on_save_in_one_line(tmp_path):
    config = PPOConfig(env="CartPole-v1", total_steps=128, num_envs=2, num_steps=64, minibatch_size=64)
    agent = PPO(PPOConfig(**{**config_to_dict(config), "hidden_sizes": (8,), "learning_rate": lambda r: 1e-3 * r}))
    agent.learn()
    with pytest.raises(ActorCriticError, match="learning_rate is a Python object, which config.json and checkpoints"):
        agent.save(tmp_path / "ckpt")
    assert not (tmp_path / "ckpt").exists()


def test_the_cli_takes_schedules_and_keeps_numbers_numbers(tmp_path, capsys):
    flags = ["--env", "CartPole-v1", "--total-steps", "256", "--num-envs", "2", "--num-steps", "64"]
    flags += ["--minibatch-size", "64", "--hidden-sizes", "8", "--eval-episodes", "1"]
    assert main(["train", "ppo", *flags, "--learning-rate", "lin_1e-3", "--run-dir", str(tmp_path / "a")]) == 0
    assert main(["train", "ppo", *flags, "--learning-rate", "0.001", "--run-dir", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "a" / "config.json").read_text())["learning_rate"] == "lin_1e-3"
    assert json.loads((tmp_path / "b" / "config.json").read_text())["learning_rate"] == 0.001
    capsys.readouterr()
    code = main(["train", "ppo", *flags, "--clip-eps", "cosine:0.2", "--run-dir", str(tmp_path / "c")])
    assert_one_line_error(capsys, code, "--clip-eps 'cosine:0.2' is not a schedule")
    assert not (tmp_path / "c").exists()


# ---------------------------------------------------------------- runs that follow schedules


class Rows:
    def __init__(self):
        self.rows = []

    def on_log(self, agent, metrics):
        config = agent.learner.config
        self.rows.append((metrics["global_step"], metrics["learning_rate"], config.clip_eps, config.entropy_coef))


def ppo_config(**overrides) -> PPOConfig:
    settings = dict(env="CartPole-v1", total_steps=512, num_envs=2, num_steps=64, minibatch_size=64, hidden_sizes=(8,))
    return PPOConfig(**{**settings, **overrides})


def test_ppo_moves_its_rate_clip_and_entropy_weight_along_their_schedules_before_each_update():
    rows = Rows()
    config = ppo_config(learning_rate="cosine:1e-3:1e-4", clip_eps="linear:0.3:0.1", entropy_coef="lin_0.01")
    PPO(config).learn(callbacks=[rows])
    for step, learning_rate, clip_eps, entropy_coef in rows.rows:
        progress = (step - 128) / 512  # each update's rollout began 128 steps before its row
        assert learning_rate == pytest.approx(1e-4 + 9e-4 * (1 + math.cos(math.pi * progress)) / 2)
        assert clip_eps == pytest.approx(0.3 - 0.2 * progress) and entropy_coef == pytest.approx(0.01 * (1 - progress))
    assert len(rows.rows) == 4


def test_anneal_lr_and_its_schedule_train_the_same_numbers():
    annealed = PPO(ppo_config(learning_rate=1e-3, anneal_lr=True)).learn()
    scheduled = PPO(ppo_config(learning_rate="linear:1e-3:0", anneal_lr=False)).learn()
    assert torch.equal(annealed.learner.flat_parameters.parameter, scheduled.learner.flat_parameters.parameter)


@pytest.mark.parametrize(
    "agent_class,config",
    [
        # a MuJoCo task, whose episodes in flight a checkpoint continues exactly
        (PPO, ppo_config(env="InvertedPendulum-v5", learning_rate="cosine:1e-3:1e-4", clip_eps="linear:0.3:0.1")),
        (SAC, SACConfig(env="Pendulum-v1", total_steps=400, learning_starts=100, batch_size=32, hidden_sizes=(16,),
                        learning_rate="linear:1e-3:1e-4", log_every=100)),
    ],
)  # fmt: skip
def test_a_scheduled_run_resumes_exactly(agent_class, config, tmp_path):
    whole = agent_class(config).learn()
    first = agent_class(config).learn(config.total_steps // 2)
    first.save(tmp_path / "half")
    resumed = agent_class.load(tmp_path / "half").learn()
    for name, module in whole._modules().items():
        for mine, theirs in zip(module.parameters(), resumed._modules()[name].parameters()):
            assert torch.equal(mine, theirs), name
    obs = np.zeros((1, *whole.observation_space.shape), dtype=np.float32)
    assert np.array_equal(whole.act(obs), resumed.act(obs))


def test_an_off_policy_run_logs_its_scheduled_rate():
    rows = []
    config = SACConfig(env="Pendulum-v1", total_steps=300, learning_starts=100, batch_size=32, hidden_sizes=(16,))
    scheduled = SACConfig(
        **{**config_to_dict(config), "hidden_sizes": (16,), "learning_rate": "linear:1e-3:0", "log_every": 100}
    )
    agent = SAC(scheduled)
    agent.learn(callbacks=[type("R", (), {"on_log": lambda self, a, m: rows.append(m["learning_rate"])})()])
    # the first update at step 100; then the means over each window's updates, one per step
    assert rows == pytest.approx([1e-3 * (1 - 100 / 300), 1e-3 * (1 - 150.5 / 300), 1e-3 * (1 - 250.5 / 300)])
    assert agent.learner.actor_optimizer.param_groups[0]["lr"] == 0.0
    assert "learning_rate" not in [*SAC(config).metric_names]  # a constant rate adds no column
