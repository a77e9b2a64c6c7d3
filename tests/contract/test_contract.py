"""The algorithm contract: every registration in `actorcritic.algorithms.registry.ALGORITHMS` passes these
checks with its smoke settings, so a new algorithm gets them all by registering. A check that does not
apply to an algorithm is not generated for it (the reason is in the list's definition in conftest.py)."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from conftest import Recorder, assert_one_line_error

from actorcritic.algorithms.registry import ALGORITHMS
from actorcritic.cli.commands import main
from actorcritic.cli.flags import flag_of
from actorcritic.errors import ActorCriticError
from actorcritic.runs.training import load_agent
from actorcritic.storage.checkpoint import load_checkpoint

from .smoke import (
    ALL,
    EXPORTABLE,
    ON_ENVIRONMENTS,
    WITH_PRECISION,
    WITH_SEEDS,
    NaNRewardAt,
    close,
    csv_rows,
    differing_tensors,
    nan_env_id,
    nan_step,
    observations,
    smoke_config,
    smoke_flags,
    untimed,
)


@pytest.mark.parametrize("name", ALL)
def test_a_smoke_run_through_the_cli_writes_a_whole_run_directory(name, runs, capsys):
    """config.json with the smoke settings, metrics rows, summary.json, a checkpoint at the end that trained
    what the API trains from the same config, and `evaluate` reads it."""
    run = runs.cli(name)
    config = json.loads((run / "config.json").read_text())
    assert config["algo"] == name
    for field, value in ALGORITHMS[name].smoke.items():
        assert config[field] == (list(value) if isinstance(value, tuple) else value), field
    rows = csv_rows(run)
    assert rows and "global_step" in rows[0]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["algo"] == name
    agent = load_agent(run)
    assert agent.global_step >= ALGORITHMS[name].smoke["total_steps"] and agent.config == smoke_config(name)
    _, _, uninterrupted = runs.uninterrupted(name)
    assert differing_tensors(uninterrupted, run / "checkpoint") == []
    capsys.readouterr()
    assert main(["evaluate", str(run), "--episodes", "1"]) == 0
    assert f"{name} on {agent.config.env}" in capsys.readouterr().out


def actions_of(agent) -> list:
    """What the agent does, deterministically: its actions on fixed observations (a recurrent policy's over two
    steps, the second from the state the first returned), or a language model's greedy answers to its held-out
    prompts."""
    if hasattr(agent, "act") and agent.recurrent:
        first, state = agent.act(observations(agent))
        return [first.tolist(), agent.act(observations(agent), state=state)[0].tolist()]
    if hasattr(agent, "act"):
        return agent.act(observations(agent)).tolist()
    return [agent.answer(prompt) for prompt in agent.heldout]


@pytest.mark.parametrize("name", ALL)
def test_save_then_load_acts_the_same(name, runs, tmp_path):
    registration = ALGORITHMS[name]
    agent, _, _ = runs.uninterrupted(name)
    agent.save(tmp_path / "saved")
    loaded = registration.agent_class.load(tmp_path / "saved")
    expected = actions_of(agent)
    assert actions_of(loaded) == expected and loaded.evaluate(1) == agent.evaluate(1)
    assert loaded.global_step == agent.global_step
    fresh = registration.agent_class(smoke_config(name))
    assert actions_of(fresh) != expected  # the check can fail: without the trained parameters it acts otherwise
    close(fresh)
    close(loaded)


@pytest.mark.parametrize("name", ALL)
def test_set_parameters_makes_a_fresh_agent_act_like_the_trained_one(name, runs):
    """`get_parameters()` of the trained agent into a fresh one (another seed): the same actions; a refused
    input (a tensor of another shape) changes nothing."""
    registration = ALGORITHMS[name]
    agent, _, _ = runs.uninterrupted(name)
    expected = actions_of(agent)
    fresh = registration.agent_class(dataclasses.replace(smoke_config(name), seed=1))
    before = actions_of(fresh)
    assert before != expected  # the check can fail: without the trained parameters it acts otherwise
    parameters = agent.get_parameters()
    entry = next(iter(parameters))
    key = next(iter(parameters[entry]))
    damaged = {**parameters, entry: {**parameters[entry], key: torch.zeros(3, 1, 4)}}
    with pytest.raises(ActorCriticError, match=f"set_parameters: {entry}.{key} has shape"):
        fresh.set_parameters(damaged)
    assert actions_of(fresh) == before
    fresh.set_parameters(parameters)
    assert actions_of(fresh) == expected
    close(fresh)


@pytest.mark.parametrize("name", ALL)
def test_resume_equals_the_uninterrupted_run_bit_for_bit(name, runs, tmp_path):
    """Train half the steps, save, load, train the rest: every tensor of the checkpoint and every metrics row
    (but the timings) as in one uninterrupted run. The smoke environments' episodes are in flight at the
    split, and a resume continues them."""
    registration = ALGORITHMS[name]
    config = smoke_config(name)
    _, whole_rows, uninterrupted = runs.uninterrupted(name)
    parts = Recorder()
    first_part = registration.agent_class(config).learn(config.total_steps // 2, callbacks=[parts])
    assert 0 < first_part.global_step < config.total_steps
    first_part.save(tmp_path / "split")
    close(first_part)
    resumed = registration.agent_class.load(tmp_path / "split").learn(callbacks=[parts])
    resumed.save(tmp_path / "resumed")
    close(resumed)
    assert differing_tensors(uninterrupted, tmp_path / "resumed") == []
    assert untimed(parts.rows) == untimed(whole_rows)


@pytest.mark.parametrize("name", WITH_SEEDS)
def test_a_seed_trains_the_same_alone_or_beside_any_other_seeds(name, runs, tmp_path):
    """`--seeds 0 1`, `--seeds 2 0` (seed 0 second) and `--seed 0` (the smoke run): seed 0's metrics rows and
    checkpoint tensors are identical in all three."""
    alone = runs.cli(name)
    assert json.loads((alone / "config.json").read_text())["seed"] == 0
    for run, seeds in ((tmp_path / "first", ["0", "1"]), (tmp_path / "second", ["2", "0"])):
        assert main(["train", name, *smoke_flags(name), "--seeds", *seeds, "--run-dir", str(run)]) == 0
        assert {row["seed"] for row in csv_rows(run)} == set(seeds)
        assert csv_rows(run, seed=0) == csv_rows(alone, seed=0) != []
        assert differing_tensors(alone / "checkpoint", run / "checkpoint" / "seed-0") == []
    assert csv_rows(tmp_path / "first", seed=1) != csv_rows(tmp_path / "first", seed=0)  # the other seed is another run


@pytest.mark.parametrize("name", ON_ENVIRONMENTS)
def test_a_nan_reward_is_refused_at_the_step_it_appears(name, tmp_path, capsys):
    """The smoke environment with reward NaN at one step: exit code 2, one line naming the step, no checkpoint."""
    env_id, run = nan_env_id(name), tmp_path / "run"
    NaNRewardAt.steps = 0
    code = main(["train", name, *smoke_flags(name, env=env_id), "--run-dir", str(run)])
    assert NaNRewardAt.steps >= nan_step(name)
    assert_one_line_error(
        capsys, code, f"{env_id} returned a non-finite reward (nan) at environment step {NaNRewardAt.steps}"
    )
    assert not (run / "checkpoint").exists()


@pytest.mark.parametrize("name", ALL)
def test_help_names_the_fields(name, capsys):
    assert main(["train", name, "--help"]) == 0
    out = capsys.readouterr().out
    fields = {f.name: f for f in dataclasses.fields(ALGORITHMS[name].config_class)}
    assert "--run-dir" in out and f"actorcritic train {name}" in out
    assert all(flag_of(fields[field]) in out for field in ALGORITHMS[name].smoke)


@pytest.mark.parametrize("name", EXPORTABLE)
def test_the_exported_policy_acts_like_the_agent(name, runs, tmp_path):
    run, path = runs.cli(name), tmp_path / "policy.pt"
    assert main(["export", str(run), "--format", "torchscript", "--out", str(path)]) == 0
    agent = load_agent(run, best=(run / "checkpoint-best").exists())
    obs = observations(agent)
    policy = torch.jit.load(str(path))
    if agent.recurrent:  # two steps, the second from the state the first returned
        actions, state = policy(torch.from_numpy(obs), torch.zeros(agent.act(obs)[1].shape))
        exported = policy(torch.from_numpy(obs), state)[0].numpy()
        expected = agent.act(obs, state=agent.act(obs)[1])[0]
    else:
        exported = policy(torch.from_numpy(obs)).numpy()
        expected = agent.act(obs)
    assert exported.shape == expected.shape
    assert np.allclose(exported, expected, atol=1e-5, rtol=0), np.abs(exported - expected).max()


@pytest.mark.parametrize("name", WITH_PRECISION)
def test_a_bf16_smoke_run_finishes(name, runs):
    """`--precision bf16` trains to the end, and the numbers are bf16's: not those of the fp32 run."""
    run = runs.cli(name, "--precision", "bf16", "--force")  # --force: also where this CPU emulates bf16
    assert json.loads((run / "config.json").read_text())["precision"] == "bf16"
    assert (run / "summary.json").exists()
    tensors, _ = load_checkpoint(run / "checkpoint")
    assert all(torch.isfinite(t).all() for t in tensors.values() if t.is_floating_point())
    assert differing_tensors(runs.cli(name) / "checkpoint", run / "checkpoint") != []
