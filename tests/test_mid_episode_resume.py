"""A MuJoCo run stopped in the middle of its episodes resumes to the uninterrupted run's numbers, bit for bit
(`envs.EpisodeRecorder`); where a checkpoint cannot hold an episode, new episodes start instead."""

import csv
import dataclasses
import json

import pytest
import torch
from conftest import Recorder
from contract.smoke import smoke_config

from actorcritic.algorithms.registry import ALGORITHMS
from actorcritic.errors import ActorCriticError
from actorcritic.storage.checkpoint import load_checkpoint, save_checkpoint

CASES = {  # name -> (algorithm, the environment over its smoke settings from the registry); split at half the steps
    # Hopper: random actions end episodes at irregular steps, so they are in flight at the split
    "td3-hopper": ("td3", dict(env="Hopper-v5")),
    # Ant's step reads the torso position MuJoCo computed in the step before: setting the state alone would
    # not restore it; two copies stepped in worker processes; observation and reward normalisation
    "ppo-ant-async": ("ppo", dict(env="Ant-v5", vectorization="async")),
    "sac-ant": ("sac", dict(env="Ant-v5")),
    "td3-humanoid": ("td3", dict(env="Humanoid-v5")),  # so does Humanoid's
    # four copies, one of which has just been reset at the split (found by trying rollout lengths): a replayed
    # reset beside continued episodes
    "ppo-pendulum-mixed": ("ppo", dict(env="InvertedPendulum-v5", num_envs=4, num_steps=12)),
}


def untimed(rows):
    return [{k: v for k, v in row.items() if k != "steps_per_second"} for row in rows]


def agent_class_and_config(case):
    algo, environment = CASES[case]
    config = smoke_config(algo, **environment)
    return ALGORITHMS[algo].agent_class, config, config.total_steps // 2


def save_and_close(agent, directory):
    agent.save(directory)
    agent.envs.close()
    return agent


@pytest.mark.parametrize("case", list(CASES))
def test_a_mujoco_run_stopped_mid_episode_resumes_bit_for_bit(case, tmp_path):
    agent_class, config, split = agent_class_and_config(case)
    whole, parts = Recorder(), Recorder()
    save_and_close(agent_class(config).learn(callbacks=[whole]), tmp_path / "uninterrupted")
    first_part = agent_class(config).learn(split, callbacks=[parts])
    save_and_close(first_part, tmp_path / "split")
    _, state = load_checkpoint(tmp_path / "split")
    steps = [copy["steps_since_reset"] for copy in state["counters"]["environments"]]
    assert any(steps), "no episode in flight at the split"
    if case.endswith("mixed"):
        assert 0 in steps, "no copy has just been reset at the split"
    resumed = agent_class.load(tmp_path / "split")
    save_and_close(resumed.learn(callbacks=[parts]), tmp_path / "resumed")
    assert untimed(parts.rows) == untimed(whole.rows)
    expected, _ = load_checkpoint(tmp_path / "uninterrupted")
    got, _ = load_checkpoint(tmp_path / "resumed")
    assert sorted(got) == sorted(expected)
    assert [name for name in expected if not torch.equal(expected[name], got[name])] == []


def test_a_checkpoint_holds_the_episodes_in_flight_and_a_loaded_agent_saves_them_unchanged(tmp_path):
    agent_class, config, split = agent_class_and_config("td3-hopper")
    save_and_close(agent_class(config).learn(split), tmp_path / "split")
    tensors, state = load_checkpoint(tmp_path / "split")
    (copy,) = state["counters"]["environments"]
    assert copy["elapsed_steps"] == copy["steps_since_reset"] > 0  # the time limit's count
    assert (
        tensors["episodes.physics"].shape == tensors["episodes.physics_before"].shape == (1, 58)
    )  # Hopper: mj_stateSize
    assert not torch.equal(tensors["episodes.physics"], tensors["episodes.physics_before"])
    assert tensors["episodes.observations"].shape == (1, 11) and tensors["episodes.returns"].shape == (1,)
    agent_class.load(tmp_path / "split").save(tmp_path / "again")
    again, again_state = load_checkpoint(tmp_path / "again")
    assert again_state["counters"]["environments"] == state["counters"]["environments"]
    assert all(torch.equal(again[name], tensors[name]) for name in tensors if name.startswith("episodes."))


def test_wrappers_with_state_of_their_own_make_a_resume_start_new_episodes(tmp_path):
    """NormalizeObservation keeps running statistics no checkpoint holds: no episode state is saved, and the
    resumed run starts new episodes (from seeds derived from its step: the same on every resume)."""
    agent_class, config, split = agent_class_and_config("td3-hopper")
    config = dataclasses.replace(config, wrappers=("gymnasium.wrappers:NormalizeObservation",))
    save_and_close(agent_class(config).learn(split), tmp_path / "split")
    tensors, state = load_checkpoint(tmp_path / "split")
    assert state["counters"]["environments"][0]["steps_since_reset"] > 0
    assert not [name for name in tensors if name.startswith("episodes.")]
    save_and_close(agent_class.load(tmp_path / "split").learn(), tmp_path / "one")
    save_and_close(agent_class.load(tmp_path / "split").learn(), tmp_path / "two")
    one, _ = load_checkpoint(tmp_path / "one")
    two, _ = load_checkpoint(tmp_path / "two")
    assert all(torch.equal(one[name], two[name]) for name in one)


def _rewrite(directory, edit):
    tensors, state = load_checkpoint(directory)
    edit(tensors, state)
    state = {k: v for k, v in state.items() if k not in ("format_version", "tensors_sha256")}
    save_checkpoint(directory, tensors, state)


def _in_flight(state):
    return state["counters"]["environments"][0]


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(
            lambda tensors, state: tensors.update({"episodes.physics": tensors["episodes.physics"][:, :-1].clone()}),
            id="physics-shape",
        ),
        pytest.param(lambda tensors, state: tensors.pop("episodes.returns"), id="missing-tensor"),
        pytest.param(
            lambda tensors, state: tensors.update({"episodes.returns": tensors["episodes.returns"].bfloat16()}),
            id="bf16-tensor",
        ),
        pytest.param(lambda tensors, state: _in_flight(state).update(rng="none"), id="rng-not-a-state"),
        pytest.param(
            lambda tensors, state: _in_flight(state).update(rng={"bit_generator": "PCG64"}), id="rng-without-state"
        ),
        pytest.param(lambda tensors, state: _in_flight(state).update(elapsed_steps=1.5), id="elapsed-not-a-count"),
        pytest.param(lambda tensors, state: _in_flight(state).pop("elapsed_steps"), id="elapsed-missing"),
        pytest.param(lambda tensors, state: _in_flight(state).update(steps_since_reset=-3), id="negative-steps"),
        pytest.param(
            lambda tensors, state: _in_flight(state).update(reset_seed=None, pre_reset_rng=None),
            id="reset-without-seed-or-rng",
        ),
        pytest.param(
            lambda tensors, state: state["counters"].update(environments=[7]), id="record-entry-not-an-object"
        ),
        pytest.param(lambda tensors, state: state["counters"].update(environments={"a": 1}), id="record-not-a-list"),
    ],
)
def test_a_garbled_episode_record_is_a_corrupt_checkpoint(edit, tmp_path):
    agent_class, config, split = agent_class_and_config("td3-hopper")
    save_and_close(agent_class(config).learn(split), tmp_path / "split")
    _rewrite(tmp_path / "split", edit)
    with pytest.raises(ActorCriticError, match="corrupt checkpoint .* episodes in flight is malformed"):
        agent_class.load(tmp_path / "split")


def _narrower_states(tensors, state):
    for name in ("episodes.physics", "episodes.physics_before"):
        tensors[name] = tensors[name][:, :-1].clone()


@pytest.mark.parametrize("change", ["other-state-size", "stateful-wrapper-on-load"])
def test_a_well_formed_record_of_other_environments_loads_and_the_resume_starts_new_episodes(change, tmp_path):
    """A MuJoCo version with another state size, or a wrapper with state given on loading: the checkpoint
    is fine (evaluate and export read it), only its episodes cannot be continued."""
    agent_class, config, split = agent_class_and_config("td3-hopper")
    save_and_close(agent_class(config).learn(split), tmp_path / "split")
    overrides = {}
    if change == "other-state-size":
        _rewrite(tmp_path / "split", _narrower_states)
    else:
        overrides = dict(wrappers=("gymnasium.wrappers:NormalizeObservation",))
    resumed = agent_class.load(tmp_path / "split", **overrides)
    resumed.learn()
    assert resumed.resumed_episodes == "restarted" and resumed.global_step == config.total_steps


def test_a_snapshot_the_replayed_step_does_not_reach_starts_new_episodes_with_a_warning(tmp_path, capsys):
    agent_class, config, split = agent_class_and_config("td3-hopper")
    save_and_close(agent_class(config).learn(split), tmp_path / "split")
    _rewrite(tmp_path / "split", lambda tensors, state: tensors["episodes.physics"].__setitem__((0, 3), 0.123))
    resumed = agent_class.load(tmp_path / "split")
    resumed.learn()
    assert "did not reach its saved MuJoCo state" in capsys.readouterr().err
    assert resumed.global_step == config.total_steps


def test_a_checkpoint_of_the_earlier_format_resumes_mid_episode_with_new_episodes(tmp_path):
    """Checkpoints written before episode states were saved (no episodes.* tensors) still resume."""
    agent_class, config, split = agent_class_and_config("td3-hopper")
    save_and_close(agent_class(config).learn(split), tmp_path / "split")

    def drop_episode_state(tensors, state):
        for name in [n for n in tensors if n.startswith("episodes.")]:
            del tensors[name]
        for copy in state["counters"]["environments"]:
            copy.pop("rng"), copy.pop("elapsed_steps")

    _rewrite(tmp_path / "split", drop_episode_state)
    once, twice = agent_class.load(tmp_path / "split"), agent_class.load(tmp_path / "split")
    save_and_close(once.learn(), tmp_path / "once")
    save_and_close(twice.learn(), tmp_path / "twice")
    assert once.resumed_episodes == twice.resumed_episodes == "restarted"
    one, _ = load_checkpoint(tmp_path / "once")
    two, _ = load_checkpoint(tmp_path / "twice")
    assert all(torch.equal(one[name], two[name]) for name in one)  # new episodes from seeds derived from the step


TD3_HOPPER_CLI = [
    "train",
    "td3",
    "--env",
    "Hopper-v5",
    "--learning-starts",
    "40",
    "--batch-size",
    "16",
    "--hidden-sizes",
    "8",
    "--log-every",
    "20",
    "--eval-episodes",
    "1",
    "--num-threads",
    "1",
]


def metrics_rows(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return untimed(csv.DictReader(f))


@pytest.mark.parametrize(
    "wrapper, how", [([], "continued"), (["--wrapper", "gymnasium.wrappers:NormalizeObservation"], "restarted")]
)
def test_the_cli_resumes_a_mujoco_run_mid_episode_and_its_summary_says_how(wrapper, how, tmp_path):
    from actorcritic.cli.commands import main

    assert main([*TD3_HOPPER_CLI, *wrapper, "--total-steps", "240", "--run-dir", str(tmp_path / "whole")]) == 0
    assert main([*TD3_HOPPER_CLI, *wrapper, "--total-steps", "120", "--run-dir", str(tmp_path / "parts")]) == 0
    assert main(["resume", str(tmp_path / "parts"), "--total-steps", "240"]) == 0
    summary = json.loads((tmp_path / "parts" / "summary.json").read_text())
    assert (summary["resumed_from_step"], summary["resumed_episodes"]) == (120, how)
    assert json.loads((tmp_path / "whole" / "summary.json").read_text())["resumed_episodes"] is None
    assert (metrics_rows(tmp_path / "parts") == metrics_rows(tmp_path / "whole")) == (how == "continued")
