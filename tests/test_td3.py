"""TD3 and DDPG: the three switches, DDPG = TD3 with them off, target updates."""

import csv

import pytest
import torch

from actorcritic import DDPG, SAC, TD3, DDPGConfig, SACConfig, TD3Config
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


AGENTS = {"td3": (TD3, TD3Config), "ddpg": (DDPG, DDPGConfig), "sac": (SAC, SACConfig)}


def tiny(algo, env="Pendulum-v1", **overrides):
    agent_class, config_class = AGENTS[algo]
    return agent_class(config_class(**{**TINY, "env": env, **overrides}))


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
        changed = (
            not torch.equal(before[0], learner.actor_flat.parameter),
            not torch.equal(before[1], learner.critics.target_flat.parameter),
        )
        snapshots.append((index, changed, "actor_loss" in info))
    assert snapshots == [(i, (i % 3 == 0, i % 3 == 0), i % 3 == 0) for i in range(1, 7)]


def test_soft_target_update_is_a_lerp():
    agent = tiny("sac", total_steps=150)
    agent.learn()
    learner = agent.learner
    old_target = learner.critics.target_flat.parameter.detach().clone()
    learner.update(agent.buffer.sample(32, agent.generator), 1, agent.generator)
    online = learner.critics.flat.parameter.detach()
    assert torch.allclose(
        learner.critics.target_flat.parameter, old_target + agent.config.tau * (online - old_target), atol=1e-7
    )
    assert torch.equal(
        learner.critics.target.weights[0],
        learner.critics.target_flat.parameter[: learner.critics.target.weights[0].numel()].view_as(
            learner.critics.target.weights[0]
        ),
    )


def test_ddpg_is_td3_with_its_three_changes_off(tmp_path, capsys):
    """`train ddpg` and `train td3 --no-clipped-double-q --no-target-policy-smoothing --policy-delay 1`:
    the same metrics and the same parameters, bit for bit."""
    flags = [
        "--env",
        "Pendulum-v1",
        "--seed",
        "3",
        "--total-steps",
        "300",
        "--learning-starts",
        "100",
        "--batch-size",
        "32",
        "--hidden-sizes",
        "32",
        "32",
        "--log-every",
        "100",
        "--eval-episodes",
        "1",
        "--num-threads",
        "1",
    ]
    assert main(["train", "ddpg", *flags, "--run-dir", str(tmp_path / "ddpg")]) == 0
    assert (
        main(
            [
                "train",
                "td3",
                *flags,
                "--no-clipped-double-q",
                "--no-target-policy-smoothing",
                "--policy-delay",
                "1",
                "--run-dir",
                str(tmp_path / "td3"),
            ]
        )
        == 0
    )

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


@pytest.mark.parametrize(
    "field, value", [("tau", 0.0), ("policy_delay", 0), ("learning_starts", -1), ("batch_size", 0)]
)
def test_config_validation(field, value):
    with pytest.raises(ActorCriticError, match="--" + field.replace("_", "-")):
        TD3Config(**{field: value})
