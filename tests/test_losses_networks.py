"""Losses by hand, networks against their NumPy acting copies, gradient isolation, flat-parameter Adam."""

import math

import numpy as np
import pytest
import torch

from actorcritic.losses import clipped_surrogate, value_loss
from actorcritic.networks import CategoricalPolicy, GaussianPolicy, NumpyMLP, ValueNetwork, mlp
from actorcritic.normalization import RunningMeanStd
from actorcritic.optim import FlatParameters


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


def test_mlp_orthogonal_init_and_zero_bias():
    net = mlp(5, (16, 16), 3, output_gain=0.01)
    first = net[0].weight
    assert torch.allclose(first.T @ first, 2.0 * torch.eye(5), atol=1e-5)  # [16, 5]: columns orthogonal, gain √2
    assert all(torch.equal(m.bias, torch.zeros_like(m.bias)) for m in net if isinstance(m, torch.nn.Linear))


def test_numpy_copy_matches_torch_forward():
    net = mlp(7, (32, 32), 4)
    x = torch.randn(10, 7)
    expected = net(x).detach().numpy()
    assert np.allclose(NumpyMLP(net)(x.numpy()), expected, atol=1e-5)
    relu = mlp(7, (8,), 2, activation=torch.nn.ReLU)
    assert np.allclose(NumpyMLP(relu)(x.numpy()), relu(x).detach().numpy(), atol=1e-5)


def test_gaussian_acting_log_prob_matches_the_training_log_prob():
    torch.manual_seed(0)
    policy = GaussianPolicy(3, 2, (16,), log_std_init=-0.5)
    acting = policy.acting_copy()
    obs = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    noise = acting.draw_noise((6,), torch.Generator().manual_seed(1))
    actions, log_probs = acting.sample(obs, noise)
    torch_log_probs, entropy = policy.log_prob_and_entropy(torch.from_numpy(obs), torch.from_numpy(actions.astype(np.float32)))
    assert np.allclose(log_probs, torch_log_probs.detach().numpy(), atol=1e-4)
    assert torch.allclose(entropy, torch.full((6,), (0.5 + 0.5 * math.log(2 * math.pi) - 0.5) * 2))
    assert np.allclose(acting.mode(obs), policy.net(torch.from_numpy(obs)).detach().numpy(), atol=1e-5)


def test_categorical_acting_samples_with_the_policy_probabilities():
    torch.manual_seed(0)
    policy = CategoricalPolicy(2, 3, (8,))
    with torch.no_grad():
        policy.net[-1].bias.copy_(torch.tensor([0.0, 1.0, -1.0]))
    acting = policy.acting_copy()
    obs = np.zeros((20_000, 2), dtype=np.float32)
    uniform = acting.draw_noise((20_000,), torch.Generator().manual_seed(0))
    actions, log_probs = acting.sample(obs, uniform)
    probs = torch.softmax(policy.net(torch.zeros(1, 2)), -1)[0].detach().numpy()
    frequencies = np.bincount(actions, minlength=3) / len(actions)
    assert np.allclose(frequencies, probs, atol=0.015)
    torch_log_probs, _ = policy.log_prob_and_entropy(torch.from_numpy(obs[:5]), torch.from_numpy(actions[:5]))
    assert np.allclose(log_probs[:5], torch_log_probs.detach().numpy(), atol=1e-5)
    assert (acting.mode(obs[:1]) == probs.argmax()).all()


def test_policy_loss_leaves_the_critic_untouched_and_the_reverse():
    policy, value = GaussianPolicy(3, 2, (8,)), ValueNetwork(3, (8,))
    obs, actions = torch.randn(5, 3), torch.randn(5, 2)
    log_probs, _ = policy.log_prob_and_entropy(obs, actions)
    loss, _ = clipped_surrogate(log_probs, log_probs.detach() - 0.1, torch.randn(5), 0.2)
    loss.backward()
    assert all(p.grad is None for p in value.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.parameters())
    policy.zero_grad(set_to_none=True)
    v_loss, _ = value_loss(value(obs), torch.randn(5))
    v_loss.backward()
    assert all(p.grad is None for p in policy.parameters())


def test_flat_parameters_train_exactly_like_separate_parameters():
    def build():
        torch.manual_seed(3)
        return GaussianPolicy(4, 2, (16, 16)), ValueNetwork(4, (16, 16))

    obs, actions, targets = torch.randn(32, 4), torch.randn(32, 2), torch.randn(32)

    def loss_of(policy, value):
        log_probs, _ = policy.log_prob_and_entropy(obs, actions)
        return -log_probs.mean() + value_loss(value(obs), targets)[0]

    policy_a, value_a = build()
    params = [*policy_a.parameters(), *value_a.parameters()]
    adam = torch.optim.Adam(params, lr=1e-2, eps=1e-5)
    policy_b, value_b = build()
    flat = FlatParameters(policy_b, value_b)
    flat_adam = torch.optim.Adam([flat.parameter], lr=1e-2, eps=1e-5, fused=True)
    for _ in range(5):
        adam.zero_grad()
        loss_of(policy_a, value_a).backward()
        norm_a = torch.nn.utils.clip_grad_norm_(params, 0.5)
        adam.step()
        flat.zero_grad()
        loss_of(policy_b, value_b).backward()
        norm_b = flat.clip_grad_norm_(0.5)
        flat_adam.step()
        assert torch.isclose(norm_a, norm_b, rtol=1e-5)
    for a, b in zip(params, [*policy_b.parameters(), *value_b.parameters()]):
        assert torch.allclose(a, b, atol=1e-6)


def test_running_mean_std_matches_numpy_over_all_batches():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 4)) for n in (1, 5, 17, 2)]
    stats = RunningMeanStd((4,))
    for batch in batches:
        stats.update(batch)
    everything = np.concatenate(batches)
    assert np.allclose(stats.mean, everything.mean(0), atol=1e-4)
    assert np.allclose(stats.var, everything.var(0), atol=1e-3)


@pytest.mark.parametrize("shape", [(3,), ()])
def test_running_mean_std_shapes(shape):
    stats = RunningMeanStd(shape)
    stats.update(np.ones((4, *shape)))
    assert stats.mean.shape == shape
