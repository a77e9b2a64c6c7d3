"""DDPG / TD3 / SAC: losses, the replay buffer, TD3's three switches, DDPG = TD3 with them off, round trips."""

import csv
import math

import numpy as np
import pytest
from conftest import Recorder
import torch

from actorcritic import DDPG, SAC, TD3, DDPGConfig, SACConfig, TD3Config
from actorcritic.buffers import ReplayBuffer
from actorcritic.checkpoint import load_checkpoint
from actorcritic.cli import main
from actorcritic.errors import ActorCriticError
from actorcritic.losses import bellman_target, critic_loss, deterministic_policy_gradient_loss, temperature_loss
from actorcritic.networks import StackedMLP, tanh_gaussian_log_prob

TINY = dict(total_steps=300, learning_starts=100, batch_size=32, hidden_sizes=(32, 32), log_every=100, eval_episodes=1, num_threads=1)
AGENTS = {"td3": (TD3, TD3Config), "ddpg": (DDPG, DDPGConfig), "sac": (SAC, SACConfig)}


def tiny(algo, env="Pendulum-v1", **overrides):
    agent_class, config_class = AGENTS[algo]
    return agent_class(config_class(**{**TINY, "env": env, **overrides}))


# ---------------------------------------------------------------- losses and networks

def test_bellman_target_hand_computed():
    targets = bellman_target(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 1.0]), torch.tensor([10.0, 10.0]), 0.9)
    assert torch.allclose(targets, torch.tensor([10.0, 2.0]))  # a termination stops the bootstrap


def test_critic_loss_sums_the_mse_of_each_critic():
    q = torch.tensor([[1.0, 2.0], [0.0, 4.0]])
    loss, info = critic_loss(q, torch.tensor([1.0, 3.0]))
    assert math.isclose(loss.item(), (0 + 1) / 2 + (1 + 1) / 2)
    assert math.isclose(info["q_mean"].item(), 7 / 4) and math.isclose(info["target_q_mean"].item(), 2.0)


def test_deterministic_policy_gradient_is_the_chain_rule_through_the_action():
    """Eq. 39: ∇θ E[Q(s, μθ(s))] = E[∇a Q(s, a)|a=μθ(s) ∇θ μθ(s)], with the critic's weights untouched."""
    torch.manual_seed(0)
    critic = StackedMLP(1, 3 + 2, (8,), 1, activation=torch.nn.ReLU)
    actor = torch.nn.Linear(3, 2)
    obs = torch.randn(4, 3)
    actions = actor(obs)
    q = critic.member(torch.cat([obs, actions], 1), 0, detach_weights=True).squeeze(-1)
    loss, _ = deterministic_policy_gradient_loss(q)
    loss.backward()
    assert all(p.grad is None for p in critic.parameters())
    # the same gradient by hand: dQ/da per sample, then through the linear actor
    a = actor(obs).detach().requires_grad_()
    critic.member(torch.cat([obs, a], 1), 0).sum().backward()
    expected_weight_grad = -(a.grad.T @ obs) / 4
    assert torch.allclose(actor.weight.grad, expected_weight_grad, atol=1e-6)


def test_tanh_gaussian_log_prob_matches_a_change_of_variables():
    torch.manual_seed(0)
    mean, log_std = torch.randn(5, 2), torch.randn(5, 2) * 0.3
    scale, bias = torch.tensor([2.0, 0.5]), torch.tensor([0.0, 1.0])
    noise = torch.randn(5, 2)
    u = mean + log_std.exp() * noise
    reference = torch.distributions.TransformedDistribution(
        torch.distributions.Normal(mean, log_std.exp()),
        [torch.distributions.TanhTransform(), torch.distributions.AffineTransform(bias, scale)],
    )
    actions = bias + scale * torch.tanh(u)
    expected = reference.log_prob(actions).sum(-1)
    assert torch.allclose(tanh_gaussian_log_prob(noise, log_std, u, scale), expected, atol=1e-4)
    # where tanh saturates the stable form stays finite
    huge = torch.full((1, 2), 40.0)
    assert torch.isfinite(tanh_gaussian_log_prob(torch.zeros(1, 2), torch.zeros(1, 2), huge, scale)).all()


def test_temperature_rises_when_entropy_is_below_target():
    log_alpha = torch.zeros((), requires_grad=True)
    log_probs = torch.full((8,), 3.0)  # entropy -3, below a target of -1
    loss, _ = temperature_loss(log_alpha, log_probs, target_entropy=-1.0)
    loss.backward()
    assert log_alpha.grad < 0  # gradient descent increases log α


# ---------------------------------------------------------------- replay buffer

def test_replay_buffer_rows_ring_and_sampling():
    buffer = ReplayBuffer(4, obs_dim=2, action_dim=1)
    for step in range(6):
        buffer.add(np.full((1, 2), step), np.full((1, 1), -step), np.array([step * 10.0]), np.full((1, 2), step + 0.5),
                   np.array([step == 2]), np.array([step == 3]))
    assert buffer.size == 4 and buffer.position == 2
    assert buffer.table[0, 0] == 4 and buffer.table[1, 0] == 5  # the oldest rows were overwritten
    batch = buffer.sample(64, torch.Generator().manual_seed(0))
    assert batch.observations.shape == (64, 2) and batch.actions.shape == (64, 1) and batch.rewards.shape == (64,)
    assert torch.allclose(batch.rewards, batch.observations[:, 0] * 10)
    assert torch.allclose(batch.next_observations, batch.observations + 0.5)
    assert set(batch.observations[:, 0].tolist()) == {2.0, 3.0, 4.0, 5.0}
    assert torch.equal(batch.terminated, (batch.observations[:, 0] == 2).float())  # truncation is not termination


def test_replay_buffer_state_round_trip():
    buffer = ReplayBuffer(10, 3, 2)
    buffer.add(np.ones((2, 3)), np.ones((2, 2)), np.ones(2), np.ones((2, 3)), np.zeros(2), np.ones(2))
    tensors, counters = buffer.state()
    other = ReplayBuffer(10, 3, 2)
    other.load_state(tensors, counters)
    assert np.array_equal(other.table, buffer.table) and (other.size, other.position) == (2, 2)
    with pytest.raises(ValueError):
        ReplayBuffer(10, 4, 2).load_state(tensors, counters)


# ---------------------------------------------------------------- the algorithms

@pytest.mark.parametrize("algo", ["td3", "ddpg", "sac"])
@pytest.mark.parametrize("env", ["Pendulum-v1", "HalfCheetah-v5"])
def test_smoke_run_logs_the_diagnostics(algo, env):
    recorder = Recorder()
    agent = tiny(algo, env, log_every=50).learn(callbacks=[recorder])
    assert agent.global_step == 300 and agent.updates == 201  # one update per step from step 100 on
    last = recorder.rows[-1]
    names = ["critic_loss", "actor_loss", "q_mean", "target_q_mean"] + (["alpha", "entropy"] if algo == "sac" else [])
    assert all(np.isfinite(last[name]) for name in names), last
    assert math.isnan(recorder.rows[0]["critic_loss"])  # steps 1-50: warm-up, no update yet
    assert [row["global_step"] for row in recorder.rows] == [50, 100, 150, 200, 250, 300]
    assert np.isfinite(agent.evaluate(episodes=1)[0])


def test_td3_switches_shape_the_learner():
    assert tiny("td3").learner.critics.members == 2
    assert tiny("td3", clipped_double_q=False).learner.critics.members == 1
    assert tiny("ddpg").learner.critics.members == 1 and tiny("ddpg").config.policy_delay == 1


def test_policy_delay_updates_actor_and_targets_every_d_critic_updates():
    agent = tiny("td3", policy_delay=3, total_steps=150)
    agent.learn()
    learner = agent.learner
    batch = agent.buffer.sample(32, agent.generator)
    snapshots = []
    for index in range(1, 7):
        before = (learner.actor_flat.parameter.detach().clone(), learner.critics.target_flat.parameter.detach().clone())
        info = learner.update(batch, index, agent.generator)
        changed = (not torch.equal(before[0], learner.actor_flat.parameter), not torch.equal(before[1], learner.critics.target_flat.parameter))
        snapshots.append((index, changed, "actor_loss" in info))
    assert snapshots == [(i, (i % 3 == 0, i % 3 == 0), i % 3 == 0) for i in range(1, 7)]


def test_soft_target_update_is_a_lerp():
    agent = tiny("sac", total_steps=150)
    agent.learn()
    learner = agent.learner
    old_target = learner.critics.target_flat.parameter.detach().clone()
    learner.update(agent.buffer.sample(32, agent.generator), 1, agent.generator)
    online = learner.critics.flat.parameter.detach()
    assert torch.allclose(learner.critics.target_flat.parameter, old_target + agent.config.tau * (online - old_target), atol=1e-7)
    assert torch.equal(learner.critics.target.weights[0], learner.critics.target_flat.parameter[:learner.critics.target.weights[0].numel()].view_as(learner.critics.target.weights[0]))


def test_same_seed_same_numbers():
    a, b = tiny("sac", seed=4).learn(), tiny("sac", seed=4).learn()
    assert all(torch.equal(x, y) for x, y in zip(a.learner.actor.parameters(), b.learner.actor.parameters()))


def test_discrete_action_space_is_refused_naming_algorithm_and_space():
    with pytest.raises(ActorCriticError, match=r"td3 needs a continuous \(Box\) action space, but CartPole-v1 has Discrete\(2\): use ppo"):
        tiny("td3", "CartPole-v1")


def test_save_load_gives_the_same_actions_and_resume_restores_the_buffer(tmp_path):
    agent = tiny("td3").learn()
    agent.save(tmp_path / "ckpt")
    loaded = TD3.load(tmp_path / "ckpt")
    obs = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    assert np.array_equal(agent.act(obs), loaded.act(obs))
    assert np.array_equal(agent.buffer.table[:agent.buffer.size], loaded.buffer.table[:loaded.buffer.size])
    assert (loaded.buffer.size, loaded.buffer.position, loaded.global_step, loaded.updates) == (300, 300, 300, 201)
    assert torch.equal(agent.generator.get_state(), loaded.generator.get_state())
    loaded.save(tmp_path / "again")
    tensors_a, state_a = load_checkpoint(tmp_path / "ckpt")
    tensors_b, state_b = load_checkpoint(tmp_path / "again")
    assert state_a == state_b and all(torch.equal(tensors_a[k], tensors_b[k]) for k in tensors_a)
    loaded.learn(400)
    assert loaded.global_step == 400 and loaded.updates == 301 and loaded.buffer.size == 400


def test_checkpoint_without_replay_buffer(tmp_path):
    agent = tiny("sac", save_replay_buffer=False).learn()
    agent.save(tmp_path / "ckpt")
    tensors, _ = load_checkpoint(tmp_path / "ckpt")
    assert "replay_buffer" not in tensors
    assert SAC.load(tmp_path / "ckpt").buffer.size == 0


def test_ddpg_is_td3_with_its_three_changes_off(tmp_path, capsys):
    """`train ddpg` and `train td3 --no-clipped-double-q --no-target-policy-smoothing --policy-delay 1`:
    the same metrics and the same parameters, bit for bit."""
    flags = ["--env", "Pendulum-v1", "--seed", "3", "--total-steps", "300", "--learning-starts", "100", "--batch-size", "32",
             "--hidden-sizes", "32", "32", "--log-every", "100", "--eval-episodes", "1", "--num-threads", "1"]
    assert main(["train", "ddpg", *flags, "--run-dir", str(tmp_path / "ddpg")]) == 0
    assert main(["train", "td3", *flags, "--no-clipped-double-q", "--no-target-policy-smoothing", "--policy-delay", "1",
                 "--run-dir", str(tmp_path / "td3")]) == 0

    def metrics(run):
        with open(tmp_path / run / "metrics.csv") as f:
            return [{k: v for k, v in row.items() if k != "steps_per_second"} for row in csv.DictReader(f)]

    assert metrics("ddpg") == metrics("td3")
    tensors_ddpg, _ = load_checkpoint(tmp_path / "ddpg" / "checkpoint")
    tensors_td3, _ = load_checkpoint(tmp_path / "td3" / "checkpoint")
    assert tensors_ddpg.keys() == tensors_td3.keys()
    assert all(torch.equal(tensors_ddpg[k], tensors_td3[k]) for k in tensors_ddpg)
    different = tmp_path / "td3-default"
    assert main(["train", "td3", *flags, "--run-dir", str(different)]) == 0
    tensors_default, _ = load_checkpoint(different / "checkpoint")
    assert not torch.equal(tensors_default["actor.net.0.weight"], tensors_ddpg["actor.net.0.weight"])


def test_cli_refuses_discrete_env_for_sac(tmp_path, capsys):
    code = main(["train", "sac", "--env", "CartPole-v1", "--run-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "sac needs a continuous (Box) action space" in err[0]


@pytest.mark.parametrize("field, value", [("tau", 0.0), ("policy_delay", 0), ("learning_starts", -1), ("batch_size", 0)])
def test_config_validation(field, value):
    with pytest.raises(ActorCriticError, match="--" + field.replace("_", "-")):
        TD3Config(**{field: value})


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_pendulum_is_learned_within_20k_steps(algo):
    agent_class, config_class = AGENTS[algo]
    agent = agent_class(config_class.for_env("Pendulum-v1", seed=0)).learn()
    assert agent.global_step <= 20_000
    assert np.mean(agent.evaluate(episodes=10)) > -250


def test_cli_resume_continues_an_off_policy_run_with_its_buffer(tmp_path, capsys):
    flags = ["--env", "Pendulum-v1", "--total-steps", "200", "--learning-starts", "100", "--batch-size", "32",
             "--hidden-sizes", "16", "16", "--log-every", "100", "--eval-episodes", "1", "--num-threads", "1"]
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
