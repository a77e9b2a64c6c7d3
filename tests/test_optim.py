"""Optimisation helpers: flat parameters, conjugate gradient, Fisher-vector products."""

import torch
from conftest import make_actor_critic

from actorcritic.core.distributions import categorical_log_prob_and_entropy
from actorcritic.core.losses import value_loss
from actorcritic.core.optim import (
    FlatParameters,
    conjugate_gradient,
    fisher_vector_product,
    gradient_step,
    polyak_update,
)
from actorcritic.nets.actor_critic import ActorCritic


def test_flat_parameters_train_exactly_like_separate_parameters():
    obs, actions, targets = torch.randn(32, 3), torch.randn(32, 2), torch.randn(32)

    def loss_of(model):
        log_probs, _, values = model.evaluate_actions(obs, actions)
        return -log_probs.mean() + value_loss(values, targets)[0]

    model_a = make_actor_critic(seed=3)
    adam = torch.optim.Adam(model_a.parameters(), lr=1e-2, eps=1e-5)
    model_b = make_actor_critic(seed=3)
    flat = FlatParameters(model_b)
    flat_adam = torch.optim.Adam([flat.parameter], lr=1e-2, eps=1e-5, fused=True)
    for _ in range(5):
        adam.zero_grad()
        loss_of(model_a).backward()
        norm_a = torch.nn.utils.clip_grad_norm_(model_a.parameters(), 0.5)
        adam.step()
        flat.zero_grad()
        loss_of(model_b).backward()
        norm_b = flat.clip_grad_norm_(0.5)
        flat_adam.step()
        assert torch.isclose(norm_a, norm_b, rtol=1e-5)
    for a, b in zip(model_a.parameters(), model_b.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    assert torch.equal(model_b.body.weights[-1][1][:, 1:], torch.zeros(16, 1))  # unused value columns stay zero


def test_conjugate_gradient_matches_a_direct_solve():
    generator = torch.Generator().manual_seed(0)
    m = torch.randn(6, 6, generator=generator, dtype=torch.float64)
    spd = m @ m.T + 0.5 * torch.eye(6, dtype=torch.float64)
    b = torch.randn(6, generator=generator, dtype=torch.float64)
    x, residual = conjugate_gradient(lambda v: spd @ v, b, iterations=20)
    assert torch.allclose(x, torch.linalg.solve(spd, b), atol=1e-8)
    assert residual < 1e-6


def test_fisher_vector_product_matches_the_explicit_fisher_on_a_tiny_policy():
    """F = E_s E_a~π[∇log π ∇log πᵀ] = the Hessian of the mean KL(π_old || π_θ) at θ_old."""
    torch.manual_seed(0)
    model = ActorCritic(2, (3,), num_actions=3)
    obs = torch.randn(4, 2)
    params = list(model.parameters())
    with torch.no_grad():
        old_logits = model(obs)[0]

    def mean_kl():
        return model.kl_from(obs, old_logits, None).mean()

    size = sum(p.numel() for p in params)
    fisher = torch.zeros(size, size)
    for s in range(4):
        probs = torch.softmax(old_logits[s], -1)
        for a in range(3):
            log_prob = categorical_log_prob_and_entropy(model(obs[s : s + 1])[0], torch.tensor([a]))[0].sum()
            score = torch.cat([g.reshape(-1) for g in torch.autograd.grad(log_prob, params)])
            fisher += probs[a] * torch.outer(score, score) / 4
    v = torch.randn(size)
    assert torch.allclose(fisher_vector_product(mean_kl, params, v), fisher @ v, atol=1e-5)
    assert torch.allclose(fisher_vector_product(mean_kl, params, v, damping=0.1), fisher @ v + 0.1 * v, atol=1e-5)


def test_gradient_step_is_zero_backward_clip_step():
    model_a, model_b = make_actor_critic(seed=1), make_actor_critic(seed=1)
    flat_a, flat_b = FlatParameters(model_a), FlatParameters(model_b)
    adam_a = torch.optim.Adam([flat_a.parameter], lr=1e-2)
    adam_b = torch.optim.Adam([flat_b.parameter], lr=1e-2)
    obs = torch.randn(8, 3)
    for _ in range(3):
        flat_a.zero_grad()
        model_a(obs)[0].square().sum().backward()
        flat_a.clip_grad_norm_(0.1)
        adam_a.step()
        gradient_step(model_b(obs)[0].square().sum(), adam_b, flat_b, max_grad_norm=0.1)
    assert torch.equal(flat_a.parameter, flat_b.parameter)


def test_gradient_step_without_flat_parameters_starts_from_no_gradient():
    weight = torch.nn.Parameter(torch.tensor([1.0]))
    optimizer = torch.optim.SGD([weight], lr=0.5)
    for _ in range(2):
        gradient_step((weight * 2).sum(), optimizer)
    assert torch.equal(weight.detach(), torch.tensor([-1.0]))  # two steps of 0.5 · 2, gradients not accumulated


def test_polyak_update_moves_the_target_a_fraction_tau_towards_the_online_network():
    online, target = FlatParameters(torch.nn.Linear(2, 2)), FlatParameters(torch.nn.Linear(2, 2))
    before = target.parameter.detach().clone()
    polyak_update(target, online, 0.25)
    assert torch.allclose(target.parameter, before + 0.25 * (online.parameter - before))
