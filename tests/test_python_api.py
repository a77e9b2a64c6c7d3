"""The Python side as complete as the command line (issue 41, item 3): `actorcritic.learn` with a run directory,
verbosity and progress; get/set_parameters of agents and seed groups; reseeding a live agent. (Loading a run
trained on a factory: tests/test_envs.py.)"""

import csv
import json

import numpy as np
import pytest
import torch

import actorcritic
from actorcritic import PPO, SAC, PPOConfig, SACConfig, make_agent
from actorcritic.errors import ActorCriticError
from actorcritic.runs.training import load_agent


def ppo_config(**overrides) -> PPOConfig:
    settings = dict(env="CartPole-v1", total_steps=512, num_envs=2, num_steps=64, minibatch_size=64)
    return PPOConfig(**{**settings, **overrides})


def sac_config(**overrides) -> SACConfig:
    settings = dict(env="Pendulum-v1", total_steps=300, learning_starts=100, batch_size=32, hidden_sizes=(16, 16))
    return SACConfig(**{**settings, **overrides})


def flat_parameters(agent) -> torch.Tensor:
    return torch.cat([p.reshape(-1) for m in agent._modules().values() for p in m.parameters()])


# ---------------------------------------------------------------- learn with a run directory


def test_learn_writes_a_run_directory_that_the_cli_reads(tmp_path, capsys):
    agent = PPO(ppo_config(total_steps=256, eval_every=256, log_every=128))
    summary = actorcritic.learn(agent, 512, run_dir=tmp_path / "run", progress_bar=False)
    run = tmp_path / "run"
    for name in ("config.json", "metrics.csv", "summary.json", "curves.png", "checkpoint", "checkpoint-best"):
        assert (run / name).exists(), name
    assert summary["total_steps"] == agent.global_step == 512
    assert json.loads((run / "config.json").read_text())["total_steps"] == 512  # where this run ends
    with open(run / "metrics.csv") as f:
        assert [int(row["global_step"]) for row in csv.DictReader(f)] == [128, 256, 384, 512]
    assert list((run / "tensorboard").iterdir())
    assert "step       512/512" in capsys.readouterr().out  # verbose=1 off a terminal: progress lines
    assert load_agent(run).global_step == 512
    assert actorcritic.runs.training.resume(run, total_steps=640)["total_steps"] == 640


def test_learn_is_silent_at_verbose_0_and_prints_every_row_at_2(tmp_path, capsys):
    actorcritic.learn(PPO(ppo_config(log_every=128)), run_dir=tmp_path / "quiet", verbose=0, tensorboard=False)
    assert capsys.readouterr().out == ""
    assert not (tmp_path / "quiet" / "tensorboard").exists()
    actorcritic.learn(PPO(ppo_config(log_every=128)), run_dir=tmp_path / "loud", verbose=2, progress_bar=False)
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("seed 0, global_step")]
    assert len(rows) == 4 and "policy_loss" in rows[0]


def test_learn_trains_a_seed_group_into_one_run_directory(tmp_path):
    group = make_agent(PPO, ppo_config(seeds=(0, 1)))
    summary = actorcritic.learn(group, run_dir=tmp_path / "run", verbose=0)
    assert summary["seeds"] == [0, 1]
    assert {p.name for p in (tmp_path / "run" / "checkpoint").iterdir()} >= {"seed-0", "seed-1"}


def test_learn_refuses_a_run_directory_in_use_and_bad_settings(tmp_path):
    actorcritic.learn(PPO(ppo_config()), run_dir=tmp_path / "run", verbose=0)
    before = (tmp_path / "run" / "metrics.csv").read_bytes()
    with pytest.raises(ActorCriticError, match="already holds a run"):
        actorcritic.learn(PPO(ppo_config()), run_dir=tmp_path / "run", verbose=0)
    assert (tmp_path / "run" / "metrics.csv").read_bytes() == before
    with pytest.raises(ActorCriticError, match="verbose=3 is not a level"):
        actorcritic.learn(PPO(ppo_config()), run_dir=tmp_path / "other", verbose=3)
    with pytest.raises(ActorCriticError, match="steps=0 is out of range"):
        actorcritic.learn(PPO(ppo_config()), 0, run_dir=tmp_path / "other")
    assert not (tmp_path / "other").exists()


# ---------------------------------------------------------------- parameters


def test_parameters_carry_the_observation_statistics_with_the_networks():
    trained = PPO(ppo_config()).learn()
    fresh = PPO(ppo_config(seed=3))
    parameters = trained.get_parameters()
    assert set(parameters) == {"model", "obs_normalizer", "reward_scaler"}
    assert parameters["obs_normalizer"]["count"] > 500  # the statistics of 512 observations
    fresh.set_parameters(parameters)
    obs = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    assert np.array_equal(fresh.act(obs), trained.act(obs))
    assert fresh.evaluate(2, seed=5) == trained.evaluate(2, seed=5)
    parameters["model"]["body.weights.0"].add_(1.0)  # a copy: the agent is untouched
    assert np.array_equal(fresh.act(obs), trained.act(obs))


def test_set_parameters_keeps_an_off_policy_agent_training_on_its_flat_buffers():
    trained = SAC(sac_config()).learn()
    twin = SAC(sac_config(seed=4))
    twin.set_parameters(trained.get_parameters())
    obs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    assert np.array_equal(twin.act(obs), trained.act(obs))
    twin.learn(150)
    # the optimiser steps the flat buffer that backs the actor's parameters: they moved together
    assert torch.equal(
        twin.learner.actor_flat.parameter, torch.cat([p.reshape(-1) for p in twin.learner.actor.parameters()])
    )
    assert not np.array_equal(twin.act(obs), trained.act(obs))


def test_set_parameters_refuses_what_does_not_fit_and_changes_nothing():
    agent = SAC(sac_config())
    parameters = agent.get_parameters()
    before = flat_parameters(agent).clone()
    with pytest.raises(ActorCriticError, match="got no critic, critic_target, temperature: sac's are actor"):
        agent.set_parameters({"actor": parameters["actor"]})
    with pytest.raises(ActorCriticError, match="unknown entries policy"):
        agent.set_parameters({**parameters, "policy": {}})
    poisoned = {
        **parameters,
        "critic": {**parameters["critic"], "weights.0": parameters["critic"]["weights.0"] * np.nan},
    }
    with pytest.raises(ActorCriticError, match="critic.weights.0 holds non-finite values"):
        agent.set_parameters(poisoned)
    assert torch.equal(flat_parameters(agent), before)
    agent.set_parameters({"temperature": {"log_alpha": torch.tensor(0.5)}}, exact=False)  # only some
    assert agent.learner.temperature.log_alpha.item() == 0.5
    assert torch.equal(flat_parameters(agent)[:-1], before[:-1])


def test_a_seed_group_gets_and_sets_parameters_by_seed():
    group = make_agent(PPO, ppo_config(seeds=(0, 1))).learn()
    parameters = group.get_parameters()
    assert set(parameters) == {0, 1}
    obs = np.random.default_rng(0).normal(size=(2, 50, 4)).astype(np.float32)
    assert not np.array_equal(group.act(obs)[0], group.seed_agent(1).act(obs[0]))  # two seeds, two policies
    group.set_parameters({0: parameters[1]}, exact=False)
    assert np.array_equal(group.act(obs)[0], group.seed_agent(1).act(obs[0]))  # seed 0 now acts as seed 1
    with pytest.raises(ActorCriticError, match=r"no parameters for seeds \[1\]"):
        group.set_parameters({0: parameters[0]})
    with pytest.raises(ActorCriticError, match=r"seeds \[7\] it does not have"):
        group.set_parameters({7: parameters[0]}, exact=False)


# ---------------------------------------------------------------- reseeding


@pytest.mark.parametrize("agent_class,config", [(PPO, ppo_config()), (SAC, sac_config())])
def test_reseeded_copies_train_alike_and_unlike_the_unreseeded_run(agent_class, config):
    def train(reseed):
        agent = agent_class(config)
        agent.learn(config.total_steps // 2)
        if reseed is not None:
            agent.reseed(reseed)
        return flat_parameters(agent.learn()), agent

    first, agent = train(7)
    second, _ = train(7)
    unreseeded, _ = train(None)
    assert torch.equal(first, second) and not torch.equal(first, unreseeded)
    assert agent.config.seed == 7


def test_reseed_refuses_a_bad_seed_and_a_group_repeated_seeds():
    with pytest.raises(ActorCriticError, match="--seed -1 is out of range"):
        PPO(ppo_config()).reseed(-1)
    group = make_agent(PPO, ppo_config(seeds=(0, 1)))
    with pytest.raises(ActorCriticError, match="lists seed 5 twice"):
        group.reseed([5, 5])
    group.reseed([5, 6])
    assert group.seeds == [5, 6] and group.config.seeds == (5, 6)
