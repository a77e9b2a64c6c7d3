"""Losses (lecture Eqs. 3-4, 19-20, 36, 39-40, SAC): hand-computed cases and identities."""

import math

import torch

from actorcritic.core.distributions import categorical_log_prob_and_entropy
from actorcritic.core.losses import (
    bellman_target,
    clipped_surrogate,
    critic_loss,
    deterministic_policy_gradient_loss,
    importance_weighted_surrogate,
    kl_k3,
    policy_gradient_loss,
    soft_actor_loss,
    temperature_loss,
    value_loss,
)
from actorcritic.nets.mlp import StackedMLP


def test_clipped_surrogate_hand_computed():
    old = torch.zeros(4)
    new = torch.log(torch.tensor([1.5, 1.5, 0.5, 1.1]))
    adv = torch.tensor([1.0, -1.0, -1.0, 2.0])
    loss, info = clipped_surrogate(new, old, adv, clip_eps=0.2)
    # min(r A, clip(r) A): 1.2·1 = 1.2 ; 1.5·-1 = -1.5 ; 0.8·-1 = -0.8 ; 1.1·2 = 2.2
    assert math.isclose(loss.item(), -(1.2 - 1.5 - 0.8 + 2.2) / 4, rel_tol=1e-6)
    assert math.isclose(info["clip_fraction"].item(), 0.75)
    expected_kl = ((torch.exp(new) - 1) - new).mean()
    assert torch.isclose(info["approx_kl"], expected_kl)


def test_clipped_surrogate_gradient_vanishes_outside_the_clip_range():
    new = torch.log(torch.tensor([1.5, 0.5])).requires_grad_()
    loss, _ = clipped_surrogate(new, torch.zeros(2), torch.tensor([1.0, -1.0]), 0.2)
    loss.backward()
    assert torch.equal(new.grad, torch.zeros(2))  # ratio past 1+ε with A > 0 and past 1-ε with A < 0


def test_value_loss_plain_and_clipped():
    values, returns, old = torch.tensor([1.0, 3.0]), torch.tensor([2.0, 0.0]), torch.tensor([0.0, 2.5])
    loss, _ = value_loss(values, returns)
    assert math.isclose(loss.item(), 0.5 * (1 + 9) / 2)
    clipped, _ = value_loss(values, returns, old, clip_eps=0.2)
    # clipped values (0.2, 2.7): squared errors max((1, 3.24), (9, 7.29)) = (3.24, 9)
    assert math.isclose(clipped.item(), 0.5 * (3.24 + 9) / 2, rel_tol=1e-6)


def test_importance_weighted_surrogate_has_the_policy_gradient_at_theta_old():
    logits = torch.randn(6, 3, requires_grad=True)
    actions = torch.randint(0, 3, (6,))
    advantages = torch.randn(6)
    log_probs = categorical_log_prob_and_entropy(logits, actions)[0]
    (g1,) = torch.autograd.grad(policy_gradient_loss(log_probs, advantages)[0], logits, retain_graph=True)
    (g2,) = torch.autograd.grad(importance_weighted_surrogate(log_probs, log_probs.detach(), advantages)[0], logits)
    assert torch.allclose(g1, g2, atol=1e-6)


def test_clipped_surrogate_with_weights_is_a_weighted_sum():
    log_probs, old = torch.zeros(3), torch.zeros(3)
    advantages = torch.tensor([1.0, 2.0, 3.0])
    loss, _ = clipped_surrogate(log_probs, old, advantages, 0.2, weights=torch.tensor([0.5, 0.25, 0.25]))
    assert math.isclose(loss.item(), -(0.5 + 0.5 + 0.75))


def test_kl_k3_is_nonnegative_and_unbiased():
    p = torch.tensor([0.5, 0.3, 0.2])
    q = torch.tensor([0.2, 0.5, 0.3])
    samples = torch.multinomial(p, 200_000, replacement=True, generator=torch.Generator().manual_seed(0))
    estimates = kl_k3(p.log()[samples], q.log()[samples])
    exact = (p * (p / q).log()).sum()
    assert (estimates >= 0).all()
    assert abs(estimates.mean() - exact) < 4 * estimates.std() / math.sqrt(len(samples))
    assert torch.allclose(kl_k3(p.log(), p.log()), torch.zeros(3))


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


def test_temperature_rises_when_entropy_is_below_target():
    log_alpha = torch.zeros((), requires_grad=True)
    log_probs = torch.full((8,), 3.0)  # entropy -3, below a target of -1
    loss, _ = temperature_loss(log_alpha, log_probs, target_entropy=-1.0)
    loss.backward()
    assert log_alpha.grad < 0  # gradient descent increases log α


def test_soft_actor_loss_hand_computed_and_its_gradient():
    q = torch.tensor([1.0, -2.0], requires_grad=True)
    log_probs = torch.tensor([-0.5, 0.3], requires_grad=True)
    loss, info = soft_actor_loss(q, log_probs, torch.tensor(0.2))
    assert torch.isclose(loss, torch.tensor(((0.2 * -0.5 - 1.0) + (0.2 * 0.3 + 2.0)) / 2))
    assert torch.isclose(info["entropy"], torch.tensor(0.1))
    loss.backward()
    assert torch.allclose(q.grad, torch.tensor([-0.5, -0.5])) and torch.allclose(
        log_probs.grad, torch.tensor([0.1, 0.1])
    )
