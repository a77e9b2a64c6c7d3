"""The off-policy engine with DDPG, TD3 and SAC: smoke runs, determinism, save/load/resume with the replay buffer."""

import csv

import numpy as np
import pytest
import torch
from conftest import Recorder
from contract.smoke import has_field, names_where, smoke_config

from actorcritic import SAC, TD3, make_agent
from actorcritic.algorithms.registry import ALGORITHMS
from actorcritic.analysis.statistics import interquartile_mean
from actorcritic.cli.commands import main
from actorcritic.errors import ActorCriticError
from actorcritic.storage.checkpoint import load_checkpoint

TINY = dict(
    total_steps=300,
    learning_starts=100,
    batch_size=32,
    hidden_sizes=(32, 32),
    log_every=100,
    eval_episodes=1,
    num_threads=1,
)


REPLAY = names_where(lambda registration: has_field(registration, "learning_starts"))
"""The algorithms that learn from a replay buffer."""


def tiny(algo, env="Pendulum-v1", **overrides):
    registration = ALGORITHMS[algo]
    return registration.agent_class(registration.config_class(**{**TINY, "env": env, **overrides}))


@pytest.mark.parametrize("algo", REPLAY)
@pytest.mark.parametrize("env", ["Pendulum-v1", "HalfCheetah-v5"])
def test_smoke_run_logs_the_diagnostics(algo, env):
    """Every algorithm with a replay buffer, from its smoke settings on two environments, logging twice per
    warm-up: no update during the warm-up, then updates_per_step updates per step, every diagnostic finite."""
    log_every = ALGORITHMS[algo].smoke["learning_starts"] // 2
    config = smoke_config(algo, env=env, log_every=log_every)
    recorder = Recorder()
    agent = ALGORITHMS[algo].agent_class(config).learn(callbacks=[recorder])
    assert agent.global_step == config.total_steps
    assert agent.updates == (config.total_steps - config.learning_starts + 1) * config.updates_per_step
    last = recorder.rows[-1]
    assert all(np.isfinite(last[name]) for name in ("critic_loss", "actor_loss", "q_mean", "target_q_mean")), last
    assert all(np.isfinite(v) for v in last.values() if isinstance(v, float)), last
    assert recorder.rows[0]["critic_loss"] is None  # the first window: warm-up, no update yet
    assert [row["global_step"] for row in recorder.rows] == list(range(log_every, config.total_steps + 1, log_every))
    assert np.isfinite(agent.evaluate(episodes=1)[0])


def test_same_seed_same_numbers():
    a, b = tiny("sac", seed=4).learn(), tiny("sac", seed=4).learn()
    assert all(torch.equal(x, y) for x, y in zip(a.learner.actor.parameters(), b.learner.actor.parameters()))


def test_discrete_action_space_is_refused_naming_algorithm_and_space():
    with pytest.raises(
        ActorCriticError,
        match=r"td3 needs a continuous \(Box\) action space, but CartPole-v1 has Discrete\(2\): use ppo",
    ):
        tiny("td3", "CartPole-v1")


def test_save_load_gives_the_same_actions_and_resume_restores_the_buffer(tmp_path):
    agent = tiny("td3").learn()
    agent.save(tmp_path / "ckpt")
    loaded = TD3.load(tmp_path / "ckpt")
    obs = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    assert np.array_equal(agent.act(obs), loaded.act(obs))
    assert np.array_equal(agent.buffer.table[: agent.buffer.size], loaded.buffer.table[: loaded.buffer.size])
    assert (loaded.buffer.size, loaded.buffer.position, loaded.global_step, loaded.updates) == (300, 300, 300, 201)
    assert torch.equal(agent.generator.get_state(), loaded.generator.get_state())
    loaded.save(tmp_path / "again")
    tensors_a, state_a = load_checkpoint(tmp_path / "ckpt")
    tensors_b, state_b = load_checkpoint(tmp_path / "again")
    assert state_a == state_b and all(torch.equal(tensors_a[k], tensors_b[k]) for k in tensors_a)
    loaded.learn(100)  # 100 more steps
    assert loaded.global_step == 400 and loaded.updates == 301 and loaded.buffer.size == 400


def test_checkpoint_without_replay_buffer(tmp_path):
    agent = tiny("sac", save_replay_buffer=False).learn()
    agent.save(tmp_path / "ckpt")
    tensors, _ = load_checkpoint(tmp_path / "ckpt")
    assert "replay_buffer" not in tensors
    assert SAC.load(tmp_path / "ckpt").buffer.size == 0


def test_cli_refuses_discrete_env_for_sac(tmp_path, capsys):
    code = main(["train", "sac", "--env", "CartPole-v1", "--run-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "sac needs a continuous (Box) action space" in err[0]


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_pendulum_is_learned_within_20k_steps(algo):
    registration = ALGORITHMS[algo]
    agent = registration.agent_class(registration.config_class.for_env("Pendulum-v1", seed=0)).learn()
    assert agent.global_step <= 20_000
    assert np.mean(agent.evaluate(episodes=10)) > -250


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["crossq", "tqc", "droq", "redq"])
def test_pendulum_is_learned_within_20k_steps_by_four_seeds(algo):
    """Issue 39's learning check: the IQM of 4 seeds' final evaluations above -250 within 20k steps (the preset).
    DroQ's and REDQ's 20 updates per step make theirs the long ones: 3k steps, 40k updates a seed, about 35 and
    75 minutes for the 4 seeds on one thread of an AMD EPYC Zen 4."""
    registration = ALGORITHMS[algo]
    config = registration.config_class.for_env("Pendulum-v1", seeds=(0, 1, 2, 3))
    assert config.total_steps <= 20_000
    group = make_agent(registration.agent_class, config).learn()
    finals = [np.mean(group.seed_agent(index).evaluate(episodes=10)) for index in range(4)]
    assert interquartile_mean(np.array(finals)[:, None]) > -250, finals


def test_cli_resume_continues_an_off_policy_run_with_its_buffer(tmp_path, capsys):
    flags = [
        "--env",
        "Pendulum-v1",
        "--total-steps",
        "200",
        "--learning-starts",
        "100",
        "--batch-size",
        "32",
        "--hidden-sizes",
        "16",
        "16",
        "--log-every",
        "100",
        "--eval-episodes",
        "1",
        "--num-threads",
        "1",
    ]
    run_dir = tmp_path / "sac"
    assert main(["train", "sac", *flags, "--run-dir", str(run_dir)]) == 0
    assert main(["resume", str(run_dir), "--total-steps", "300"]) == 0
    with open(run_dir / "metrics.csv") as f:
        steps = [int(row["global_step"]) for row in csv.DictReader(f)]
    assert steps == [100, 200, 300]
    agent = SAC.load(run_dir / "checkpoint")
    assert agent.global_step == 300 and agent.buffer.size == 300 and agent.updates == 201
    assert main(["evaluate", str(run_dir), "--episodes", "1"]) == 0
    assert "sac on Pendulum-v1 after 300 steps" in capsys.readouterr().out
