"""Our CrossQ's networks against sb3-contrib's: the peer's weights and running statistics copied into ours, the
same inputs, the same outputs. docs/crossq-scores.md compares the two libraries' scores; this says the networks
being compared compute the same functions, so what the table shows comes from the learning, not the layers."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from actorcritic import CrossQ, CrossQConfig
from actorcritic.nets.batch_renorm import training

sb3_contrib = pytest.importorskip("sb3_contrib", reason="the test extra (sb3-contrib) is not installed")

WIDTH, BATCH = 64, 128


def copy_renorm(ours, theirs, member: int | None = None) -> None:
    """sb3-contrib's BatchRenorm (scale, bias, ra_mean, ra_var, steps) into ours, or into one critic's slice."""
    pick = (lambda t: t) if member is None else (lambda t: t[member])
    names = {"gain": "scale", "bias": "bias", "running_mean": "ra_mean", "running_var": "ra_var"}
    with torch.no_grad():
        for mine, their in names.items():
            pick(getattr(ours, mine)).copy_(getattr(theirs, their).view_as(pick(getattr(ours, mine))))
        ours.steps.fill_(int(theirs.steps))


def transplant(peer, learner) -> None:
    """The peer's actor (latent_pi, mu, log_std) and critics (qf0, qf1) into our actor and stacked critics."""
    actor, latent = learner.actor.net, peer.policy.actor.latent_pi
    with torch.no_grad():
        for index in (0, 3, 6):  # BatchRenorm, Linear, ReLU, BatchRenorm, Linear, ReLU, BatchRenorm, Linear
            copy_renorm(actor[index], latent[index])
        for index in (1, 4):
            actor[index].weight.copy_(latent[index].weight)
            actor[index].bias.copy_(latent[index].bias)
        head = peer.policy.actor  # our last layer is the mean's rows then the log std's
        actor[7].weight.copy_(torch.cat([head.mu.weight, head.log_std.weight]))
        actor[7].bias.copy_(torch.cat([head.mu.bias, head.log_std.bias]))
        critics = learner.critics.online
        for member, critic in enumerate((peer.policy.critic.qf0, peer.policy.critic.qf1)):
            for layer, (renorm, linear) in enumerate(((0, 1), (3, 4), (6, 7))):
                copy_renorm(critics.renorms[layer], critic[renorm], member)
                critics.weights[layer][member].copy_(critic[linear].weight.T)
                critics.biases[layer][member].copy_(critic[linear].bias.view_as(critics.biases[layer][member]))


@pytest.fixture(scope="module")
def pair():
    """sb3-contrib's CrossQ with random (not initial) affine parameters and running statistics, and ours with
    the same settings and the peer's numbers; a batch of Pendulum-v1 states and actions."""
    torch.manual_seed(0)
    peer = sb3_contrib.CrossQ(
        "MlpPolicy", gym.make("Pendulum-v1"), device="cpu", seed=0,
        policy_kwargs=dict(net_arch=dict(pi=[WIDTH, WIDTH], qf=[WIDTH, WIDTH]), renorm_warmup_steps=1_000),
    )  # fmt: skip
    with torch.no_grad():
        for module in peer.policy.modules():
            if isinstance(module, sb3_contrib.common.torch_layers.BatchRenorm):
                module.scale.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.3, 0.3)
                module.ra_mean.uniform_(-1, 1)
                module.ra_var.uniform_(0.2, 2)
    ours = CrossQ(
        CrossQConfig(env="Pendulum-v1", seed=0, hidden_sizes=(WIDTH, WIDTH), critic_hidden_sizes=(WIDTH, WIDTH),
                     renorm_warmup_steps=1_000)
    ).learner  # fmt: skip
    transplant(peer, ours)
    generator = np.random.default_rng(0)
    obs = torch.tensor(generator.uniform([-1, -1, -8], [1, 1, 8], (2 * BATCH, 3)), dtype=torch.float32)
    actions = torch.tensor(generator.uniform(-2, 2, (2 * BATCH, 1)), dtype=torch.float32)
    return peer, ours, obs, actions


def peer_actor(peer, obs) -> torch.Tensor:
    """sb3-contrib's actor output laid out as ours: the mean's columns, then the log std's."""
    latent = peer.policy.actor.latent_pi(obs)
    return torch.cat([peer.policy.actor.mu(latent), peer.policy.actor.log_std(latent)], 1)


def peer_q(peer, obs, actions, train: bool) -> torch.Tensor:
    peer.policy.critic.set_bn_training_mode(train)
    with torch.no_grad():
        q = torch.cat(peer.policy.critic(obs, actions), 1).T  # [members, rows], as ours
    peer.policy.critic.set_bn_training_mode(False)
    return q


def test_in_evaluation_the_actor_and_the_critics_are_sb3_contribs(pair):
    peer, ours, obs, actions = pair
    peer.policy.set_training_mode(False)
    with torch.no_grad():
        assert torch.allclose(ours.actor.net(obs), peer_actor(peer, obs), atol=1e-5)
        assert torch.allclose(ours.critics.q(obs, actions), peer_q(peer, obs, actions, False), atol=1e-4)


def test_in_the_warm_up_the_joint_pass_and_its_statistics_are_sb3_contribs(pair, monkeypatch):
    """Plain batch normalisation, with one known difference taken out: sb3-contrib's batch variance divides by
    n - 1, ours by n (as PyTorch's batch normalisation normalises); with the peer's `var` made to divide by n too,
    the joint pass and every layer's running statistics agree to rounding."""
    peer, ours, obs, actions = pair
    biased_var = torch.Tensor.var
    monkeypatch.setattr(torch.Tensor, "var", lambda x, *args, **kwargs: biased_var(x, *args, correction=0, **kwargs))
    theirs = peer_q(peer, obs, actions, True)
    peer.policy.actor.set_bn_training_mode(True)
    with torch.no_grad():
        actor_theirs = peer_actor(peer, obs[:BATCH])  # the actor's own step: the current states only
    peer.policy.actor.set_bn_training_mode(False)
    monkeypatch.undo()
    with torch.no_grad(), training(ours.critics.online):
        mine = ours.critics.q(obs, actions)
    assert torch.allclose(mine, theirs, atol=1e-5)
    with torch.no_grad(), training(ours.actor):
        assert torch.allclose(ours.actor.net(obs[:BATCH]), actor_theirs, atol=1e-5)
    for layer, index in enumerate((0, 3, 6)):
        for member, critic in enumerate((peer.policy.critic.qf0, peer.policy.critic.qf1)):
            renorm = ours.critics.online.renorms[layer]
            assert torch.allclose(renorm.running_mean[member, 0], critic[index].ra_mean, atol=1e-6)
            assert torch.allclose(renorm.running_var[member, 0], critic[index].ra_var, atol=1e-6)
            assert int(renorm.steps) == int(critic[index].steps) == 1
