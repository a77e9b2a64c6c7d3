"""Configs: validation messages, choices from the Literal annotations, presets, renamed fields, what each
algorithm's --help lists."""

import dataclasses
import re
import types
import typing

import pytest

from actorcritic import (
    GRPO,
    SAC,
    GRPOConfig,
    PPOConfig,
    REINFORCEConfig,
    SACConfig,
    TD3Config,
    TRPOConfig,
)
from actorcritic.algorithms.onpolicy import (
    ADVANTAGE_ESTIMATORS,
    RolloutConfig,
    estimate_advantages,
)
from actorcritic.algorithms.td3 import DDPGConfig
from actorcritic.cli.parsing import parse_config
from actorcritic.config import check_range, config_from_dict, config_to_dict
from actorcritic.errors import ActorCriticError

ESTIMATOR_FIELDS = {"num_envs", "num_steps", "advantage", "gae_lambda", "k", "normalize_rewards"}


def test_range_message_names_the_flag_the_value_and_the_interval():
    with pytest.raises(ActorCriticError, match=r"--clip-eps 0 is out of range: clip_eps must be in \(0, inf\]"):
        check_range("clip_eps", 0, 0, float("inf"), low_inclusive=False)
    with pytest.raises(ActorCriticError, match="--gamma nan is out of range"):
        check_range("gamma", float("nan"), 0, 1)


@pytest.mark.parametrize(
    "config_class, field, allowed",
    [
        (REINFORCEConfig, "baseline", "none, mean, value, optimal"),
        (PPOConfig, "advantage", "gae, kstep, mc"),
    ],
)
def test_choices_come_from_the_literal_annotation(config_class, field, allowed):
    with pytest.raises(ActorCriticError, match=f"--{field} 'foo' is not allowed: choose one of {allowed}"):
        config_class(**{field: "foo"})


def test_the_advantage_registry_is_the_literal_and_refuses_unknown_names():
    assert typing.get_args(typing.get_type_hints(RolloutConfig)["advantage"]) == tuple(ADVANTAGE_ESTIMATORS)
    with pytest.raises(ActorCriticError, match="not an estimator"):
        estimate_advantages(None, types.SimpleNamespace(advantage="montecarlo"))


def test_presets_sit_under_overrides_and_td3_ddpg_sac_share_one():
    config = PPOConfig.for_env("CartPole-v1", learning_rate=5e-4)
    assert config.num_envs == 8 and config.learning_rate == 5e-4
    assert PPOConfig.for_env("Acrobot-v1") == PPOConfig(env="Acrobot-v1")
    assert TD3Config.PRESETS is SACConfig.PRESETS is DDPGConfig.PRESETS
    assert SACConfig.for_env("Pendulum-v1").learning_starts == TD3Config.for_env("Pendulum-v1").learning_starts == 1_000


def test_each_algorithm_lists_only_the_fields_it_reads():
    grpo_fields = {f.name for f in dataclasses.fields(GRPOConfig)}
    assert not grpo_fields & ESTIMATOR_FIELDS
    for config_class in (PPOConfig, REINFORCEConfig, TRPOConfig):
        assert ESTIMATOR_FIELDS <= {f.name for f in dataclasses.fields(config_class)}
    assert GRPOConfig(group_size=6).num_envs == 6


def test_saved_configs_round_trip_and_old_names_still_read():
    config = PPOConfig(entropy_coef=0.01, hidden_sizes=(32, 32))
    assert config_from_dict(PPOConfig, config_to_dict(config)) == config
    old = {**config_to_dict(config), "ent_coef": 0.02, "vf_coef": 0.25}
    del old["entropy_coef"], old["value_coef"]
    assert config_from_dict(PPOConfig, old) == dataclasses.replace(config, entropy_coef=0.02, value_coef=0.25)
    with pytest.raises(ActorCriticError, match="unknown fields gae_lambda"):
        config_from_dict(GRPOConfig, {"gae_lambda": 0.9})


def test_old_flag_spellings_are_read_as_the_new_ones():
    config = parse_config(
        PPOConfig, ["--env", "Pendulum-v1", "--ent-coef", "0.01", "--vf-coef=0.25"], prog="actorcritic train ppo"
    )
    assert config.entropy_coef == 0.01 and config.value_coef == 0.25


def test_sac_target_entropy_defaults_to_minus_the_action_dimension_and_zero_means_zero():
    tiny = dict(env="Pendulum-v1", hidden_sizes=(8,), num_threads=1, buffer_size=1000)
    assert SACConfig().target_entropy is None
    assert SAC(SACConfig(**tiny)).learner.target_entropy == -1.0
    assert SAC(SACConfig(**tiny, target_entropy=0.0)).learner.target_entropy == 0.0
    config = parse_config(SACConfig, ["--target-entropy", "-2.5"], prog="actorcritic train sac")
    assert config.target_entropy == -2.5


@pytest.mark.parametrize(
    "config_class, field, value",
    [
        (PPOConfig, "checkpoint_every", -1),
        (TD3Config, "eval_every", -5),
        (GRPOConfig, "total_steps", 0),
        (SACConfig, "learning_rate", 0.0),
        (TRPOConfig, "hidden_sizes", (64, 0)),
        (PPOConfig, "device", "tpu"),
    ],
)
def test_every_algorithm_validates_the_shared_fields(config_class, field, value):
    with pytest.raises(ActorCriticError, match="--" + field.replace("_", "-")):
        config_class(**{field: value})


def test_grpo_no_longer_rewrites_its_frozen_config():
    config = GRPOConfig(env="CartPole-v1", group_size=3, hidden_sizes=(8,))
    assert GRPO(config).envs.num_envs == 3 and "num_envs" not in config_to_dict(config)


@pytest.mark.parametrize(
    "config_class, field, value, expected",
    [
        (PPOConfig, "num_envs", 2.5, "(int)"),
        (PPOConfig, "num_envs", True, "(int)"),
        (TD3Config, "tau", "5e-3", "(float)"),  # (learning_rate takes text: a schedule)
        (SACConfig, "hidden_sizes", "64", "(tuple[int, ...])"),
        (TRPOConfig, "hidden_sizes", (64.0, 64.0), "(tuple[int, ...])"),
        (TD3Config, "stop_at_return", "high", "(float | None)"),
        (PPOConfig, "env_kwargs", "max_episode_steps=9", "(tuple[str, ...])"),
    ],
)
def test_a_value_of_the_wrong_type_is_named_with_the_type(config_class, field, value, expected):
    with pytest.raises(
        ActorCriticError, match=re.escape(f"--{field.replace('_', '-')} {value!r} does not fit the field {expected}")
    ):
        config_class(**{field: value})


def test_lists_and_numpy_scalars_are_taken_as_the_tuples_and_numbers_they_stand_for():
    import json

    import numpy as np

    config = TD3Config(
        env="Pendulum-v1",
        hidden_sizes=[np.int64(32), 32],
        learning_rate=np.float32(0.5),
        total_steps=np.int64(100),
        learning_starts=10,
    )
    assert config.hidden_sizes == (32, 32) and type(config.hidden_sizes[0]) is int
    assert type(config.learning_rate) is float and type(config.total_steps) is int
    json.dumps(config_to_dict(config))  # JSON-able, as a run directory needs
