"""The contract both engines share (algorithms/common.py): the loop's events, checkpoints counted in
environment steps, one metrics layout, the acting copy dropped by the engine, format-1 checkpoints."""

import json

import numpy as np
import pytest
import torch
from conftest import Recorder

from actorcritic import GRPO, PPO, SAC, TD3, GRPOConfig, PPOConfig, SACConfig, TD3Config
from actorcritic.algorithms.engine import MetricMeans, crossed_multiple
from actorcritic.algorithms.onpolicy import OnPolicyAgent, OnPolicyLearner

PPO_TINY = dict(
    env="CartPole-v1",
    num_envs=2,
    num_steps=32,
    minibatch_size=32,
    epochs=1,
    hidden_sizes=(8,),
    eval_episodes=1,
    normalize_observations=False,
    normalize_rewards=False,
)
TD3_TINY = dict(
    env="Pendulum-v1",
    total_steps=300,
    learning_starts=100,
    batch_size=16,
    hidden_sizes=(8,),
    log_every=100,
    eval_episodes=1,
    num_threads=1,
)
COMMON_COLUMNS = [
    "seed",
    "global_step",
    "updates",
    "episode_return_mean",
    "episode_length_mean",
    "episodes",
    "steps_per_second",
]


def test_metric_means_of_tensors_and_of_floats():
    means = MetricMeans()
    means.add({"a": torch.tensor(1.0), "b": torch.tensor(4.0)})
    means.add({"a": torch.tensor(3.0)})
    assert means.means() == {"a": 2.0, "b": 4.0}
    assert means.means() == {}  # each call starts a new window
    means.add({"x": 1.5, "n": 2})
    means.add({"x": 2.5, "n": 4})
    assert means.means() == {"x": 2.0, "n": 3.0}


@pytest.mark.parametrize(
    "before, after, every, expected",
    [
        (0, 64, 100, False),
        (64, 128, 100, True),
        (99, 100, 100, True),
        (100, 101, 100, False),
        (0, 300, 100, True),
        (0, 10, 0, False),
    ],
)
def test_crossed_multiple(before, after, every, expected):
    assert crossed_multiple(before, after, every) is expected


def test_both_engines_write_the_same_leading_columns_and_an_evaluation_column():
    ppo_rows, td3_rows = Recorder(), Recorder()
    PPO(PPOConfig(**PPO_TINY, total_steps=128)).learn(callbacks=[ppo_rows])
    TD3(TD3Config(**TD3_TINY)).learn(callbacks=[td3_rows])
    for rows in (ppo_rows.rows, td3_rows.rows):
        assert list(rows[0])[: len(COMMON_COLUMNS)] == COMMON_COLUMNS
        assert list(rows[0])[-1] == "eval_return_mean" and all(r["eval_return_mean"] is None for r in rows)
    assert [r["updates"] for r in ppo_rows.rows] == [1, 2]
    assert [r["updates"] for r in td3_rows.rows] == [1, 101, 201]  # updates start at learning_starts


@pytest.mark.parametrize(
    "make, every, expected",
    [
        (lambda every: PPO(PPOConfig(**PPO_TINY, total_steps=640, checkpoint_every=every)), 200, [256, 448, 640]),
        (lambda every: TD3(TD3Config(**TD3_TINY, checkpoint_every=every)), 100, [100, 200, 300]),
    ],
)
def test_checkpoints_and_evaluations_are_counted_in_environment_steps(make, every, expected):
    recorder = Recorder()
    agent = make(every)
    agent.config = type(agent.config)(**{**agent.config.__dict__, "eval_every": every})
    agent.learn(callbacks=[recorder])
    assert recorder.checkpoints == expected
    evaluated = [r["global_step"] for r in recorder.rows if r["eval_return_mean"] is not None]
    assert evaluated == expected and recorder.ended == 1


@pytest.mark.parametrize(
    "make", [lambda: PPO(PPOConfig(**PPO_TINY, total_steps=640)), lambda: TD3(TD3Config(**TD3_TINY))]
)
def test_a_callback_returning_false_stops_training_after_that_window(make):
    recorder = Recorder(stop_after=2)
    agent = make().learn(callbacks=[recorder])
    assert len(recorder.rows) == 2 and agent.global_step == recorder.rows[-1]["global_step"] < agent.config.total_steps
    assert recorder.ended == 1


class _NudgeLearner(OnPolicyLearner):
    """An update that moves every parameter and says nothing about any cache."""

    def update(self, batch, update_index, generator):
        with torch.no_grad():
            self.flat_parameters.parameter.add_(0.1)
        return {}


class _Nudge(OnPolicyAgent):
    algo = "nudge"
    config_class = PPOConfig
    learner_class = _NudgeLearner


def test_the_engine_drops_the_acting_copy_after_every_update_and_after_load(tmp_path):
    agent = _Nudge(PPOConfig(**{**PPO_TINY, "env": "Pendulum-v1"}, total_steps=64))
    obs = np.random.default_rng(0).standard_normal((5, 3))
    before = agent.act(obs)
    agent.learn()
    after = agent.act(obs)
    fresh = agent.model.acting_copy().mode(obs.astype(np.float32))
    assert not np.allclose(before, after) and np.allclose(after, np.clip(fresh, -2, 2))
    agent.save(tmp_path / "ckpt")
    assert np.array_equal(_Nudge.load(tmp_path / "ckpt").act(obs), after)


def _as_format_1(directory, edit_config, bare_param_groups: bool):
    """Rewrite a checkpoint's state.json as the previous release wrote it."""
    path = directory / "state.json"
    state = json.loads(path.read_text())
    state["format_version"] = 1
    if bare_param_groups:
        state["optimizer_param_groups"] = state["optimizer_param_groups"]["optimizer"]
    edit_config(state["config"])
    path.write_text(json.dumps(state))


def test_a_format_1_on_policy_checkpoint_loads_with_renamed_fields_and_checkpoint_every_in_steps(tmp_path):
    agent = PPO(PPOConfig(**PPO_TINY, total_steps=64, entropy_coef=0.01)).learn()
    agent.save(tmp_path / "ckpt")

    def old_config(config):
        config["ent_coef"], config["vf_coef"], config["checkpoint_every"] = (
            config.pop("entropy_coef"),
            config.pop("value_coef"),
            10,
        )
        del config["eval_every"]

    _as_format_1(tmp_path / "ckpt", old_config, bare_param_groups=True)
    loaded = PPO.load(tmp_path / "ckpt")
    assert loaded.config.entropy_coef == 0.01 and loaded.config.checkpoint_every == 10 * 2 * 32
    assert loaded.updates == agent.updates and torch.equal(
        loaded.learner.flat_parameters.parameter, agent.learner.flat_parameters.parameter
    )


def test_a_format_1_grpo_checkpoint_drops_the_rollout_fields_it_never_read(tmp_path):
    GRPO(GRPOConfig(env="CartPole-v1", group_size=2, groups_per_update=1, total_steps=50, hidden_sizes=(8,))).save(
        tmp_path / "ckpt"
    )
    _as_format_1(
        tmp_path / "ckpt",
        lambda c: c.update(
            num_envs=2, num_steps=2048, advantage="gae", gae_lambda=0.95, k=5, normalize_rewards=False, eval_every=0
        ),
        bare_param_groups=True,
    )
    assert GRPO.load(tmp_path / "ckpt").config.group_size == 2


def test_a_format_1_sac_checkpoint_reads_target_entropy_zero_as_minus_the_action_dimension(tmp_path):
    SAC(SACConfig(**TD3_TINY)).save(tmp_path / "ckpt")
    _as_format_1(tmp_path / "ckpt", lambda c: c.update(target_entropy=0.0), bare_param_groups=False)
    loaded = SAC.load(tmp_path / "ckpt")
    assert loaded.config.target_entropy is None and loaded.learner.target_entropy == -1.0
