"""Networks: initialisation, stacked MLPs, NumPy acting copies, policy distributions, gradient isolation."""

import math

import numpy as np
import torch
from conftest import make_actor_critic

from actorcritic.core.distributions import (
    categorical_kl,
    gaussian_kl,
    multi_categorical_kl,
    multi_categorical_log_prob_and_entropy,
    tanh_gaussian_log_prob,
)
from actorcritic.core.losses import clipped_surrogate, value_loss
from actorcritic.nets.actor_critic import ActorCritic
from actorcritic.nets.critics import Critics
from actorcritic.nets.mlp import StackedMLP, mlp


def test_mlp_orthogonal_init_and_zero_bias():
    net = mlp(5, (16, 16), 3, output_gain=0.01)
    first = net[0].weight
    assert torch.allclose(first.T @ first, 2.0 * torch.eye(5), atol=1e-5)  # [16, 5]: columns orthogonal, gain √2
    assert all(torch.equal(m.bias, torch.zeros_like(m.bias)) for m in net if isinstance(m, torch.nn.Linear))


def test_stacked_mlp_members_are_independent_mlps():
    torch.manual_seed(0)
    stacked = StackedMLP(3, 5, (8, 8), 2, output_gains=(1.0, 1.0, 1.0))
    with torch.no_grad():
        for b in stacked.biases:
            b.normal_()
    x = torch.randn(4, 5)
    out = stacked(x)
    assert out.shape == (3, 4, 2)
    for m in range(3):
        h = x
        for i, (w, b) in enumerate(zip(stacked.weights, stacked.biases)):
            h = h @ w[m] + b[m]
            h = torch.tanh(h) if i < 2 else h
        assert torch.allclose(out[m], h, atol=1e-6)
    assert np.allclose(stacked.numpy_copy()(x.numpy()), out.detach().numpy(), atol=1e-5)


def test_stacked_mlp_initialisation_and_unused_columns():
    stacked = StackedMLP(2, 6, (16,), 3, output_gains=(0.01, 1.0), output_widths=(3, 1))
    hidden, output = stacked.weights
    assert torch.allclose(hidden[1] @ hidden[1].T, 2.0 * torch.eye(6), atol=1e-5)  # [6, 16]: rows orthogonal, gain √2
    assert torch.allclose(output[1][:, 0].norm(), torch.tensor(1.0), atol=1e-5)
    assert torch.equal(output[1][:, 1:], torch.zeros(16, 2))
    assert torch.allclose(output[0].T @ output[0], 1e-4 * torch.eye(3), atol=1e-8)


def test_gaussian_acting_log_prob_and_value_match_the_training_pass():
    model = make_actor_critic()
    acting = model.acting_copy()
    obs = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    noise = acting.draw_noise((6,), torch.Generator().manual_seed(1))
    actions, log_probs, values = acting.sample(obs, noise)
    torch_log_probs, entropy, torch_values = model.evaluate_actions(
        torch.from_numpy(obs), torch.from_numpy(actions.astype(np.float32))
    )
    assert np.allclose(log_probs, torch_log_probs.detach().numpy(), atol=1e-4)
    assert np.allclose(values, torch_values.detach().numpy(), atol=1e-5)
    assert math.isclose(entropy.item(), (0.5 + 0.5 * math.log(2 * math.pi) - 0.5) * 2, rel_tol=1e-6)
    mean = model(torch.from_numpy(obs))[0].detach().numpy()
    assert np.allclose(acting.mode(obs), mean, atol=1e-5)
    assert np.allclose((actions - mean) / np.exp(-0.5), noise, atol=1e-4)


def test_categorical_acting_samples_with_the_policy_probabilities():
    model = make_actor_critic(continuous=False)
    with torch.no_grad():
        model.body.biases[-1][0, 0].copy_(torch.tensor([0.0, 1.0, -1.0]))
    acting = model.acting_copy()
    obs = np.zeros((20_000, 2), dtype=np.float32)
    uniform = acting.draw_noise((20_000,), torch.Generator().manual_seed(0))
    actions, log_probs, _ = acting.sample(obs, uniform)
    probs = torch.softmax(model(torch.zeros(1, 2))[0], -1)[0].detach().numpy()
    frequencies = np.bincount(actions, minlength=3) / len(actions)
    assert np.allclose(frequencies, probs, atol=0.015)
    torch_log_probs, entropy, _ = model.evaluate_actions(torch.from_numpy(obs[:5]), torch.from_numpy(actions[:5]))
    assert np.allclose(log_probs[:5], torch_log_probs.detach().numpy(), atol=1e-5)
    assert torch.allclose(
        entropy, torch.full((5,), -(torch.tensor(probs) * torch.tensor(probs).log()).sum().item()), atol=1e-5
    )
    assert (acting.mode(obs[:1]) == probs.argmax()).all()


def test_policy_loss_leaves_the_critic_untouched_and_the_reverse():
    """The two members of the stack share no parameters: each loss only reaches its own member."""
    model = make_actor_critic()
    obs, actions = torch.randn(5, 3), torch.randn(5, 2)
    log_probs, _, values = model.evaluate_actions(obs, actions)
    loss, _ = clipped_surrogate(log_probs, log_probs.detach() - 0.1, torch.randn(5), 0.2)
    loss.backward(retain_graph=True)
    assert all(w.grad[1].abs().sum() == 0 and w.grad[0].abs().sum() > 0 for w in model.body.weights)
    model.zero_grad(set_to_none=True)
    value_loss(values, torch.randn(5))[0].backward()
    assert all(w.grad[0].abs().sum() == 0 and w.grad[1].abs().sum() > 0 for w in model.body.weights)
    assert model.log_std.grad is None or model.log_std.grad.abs().sum() == 0


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


def test_categorical_kl_matches_torch_distributions():
    old_logits, logits = torch.randn(5, 4), torch.randn(5, 4)
    expected = torch.distributions.kl_divergence(
        torch.distributions.Categorical(logits=old_logits), torch.distributions.Categorical(logits=logits)
    )
    assert torch.allclose(categorical_kl(old_logits, logits), expected, atol=1e-6)
    assert torch.allclose(categorical_kl(logits, logits), torch.zeros(5), atol=1e-6)


def test_gaussian_kl_matches_torch_distributions():
    old_mean, mean = torch.randn(5, 3), torch.randn(5, 3)
    old_log_std, log_std = torch.randn(3) * 0.3, torch.randn(3) * 0.3
    old = torch.distributions.Normal(old_mean, old_log_std.exp())
    new = torch.distributions.Normal(mean, log_std.exp())
    expected = torch.distributions.kl_divergence(old, new).sum(-1)
    assert torch.allclose(gaussian_kl(old_mean, old_log_std, mean, log_std), expected, atol=1e-5)


def test_critics_evaluate_every_member_fit_towards_one_target_and_soft_update():
    from actorcritic.algorithms.buffers import Transitions
    from actorcritic.algorithms.offpolicy import fit_critics, move_targets

    torch.manual_seed(0)
    critics = Critics(3, obs_dim=4, action_dim=2, hidden_sizes=(16,))
    optimizer = torch.optim.Adam([critics.flat.parameter], lr=1e-2)
    obs, actions, targets = torch.randn(32, 4), torch.randn(32, 2), torch.randn(32)
    batch = Transitions(obs, actions, torch.zeros(32), obs, torch.zeros(32))
    q = critics.q(obs, actions)
    assert q.shape == (3, 32) and torch.allclose(critics.q_member(obs, actions, 1), q[1], atol=1e-6)
    assert torch.equal(critics.target_q(obs, actions), q.detach())  # targets start as copies
    first = fit_critics(critics, optimizer, batch, targets)["critic_loss"]
    for _ in range(20):
        last = fit_critics(critics, optimizer, batch, targets)["critic_loss"]
    assert last < first
    target_before, online = critics.target_flat.parameter.detach().clone(), critics.flat.parameter.detach()
    move_targets(critics, 0.1)
    assert torch.allclose(critics.target_flat.parameter, 0.9 * target_before + 0.1 * online, atol=1e-7)


def test_critics_actor_gradient_reaches_the_actions_only():
    critics = Critics(2, obs_dim=3, action_dim=1, hidden_sizes=(8,))
    actions = torch.randn(5, 1, requires_grad=True)
    critics.q(torch.randn(5, 3), actions, detach_weights=True).min(0).values.sum().backward()
    assert actions.grad is not None and critics.flat.parameter.grad.abs().sum() == 0


def test_several_discrete_choices_are_independent_categoricals():
    torch.manual_seed(0)
    nvec = (3, 2, 4)
    logits, actions = torch.randn(5, sum(nvec)), torch.stack([torch.randint(0, n, (5,)) for n in nvec], -1)
    log_prob, entropy = multi_categorical_log_prob_and_entropy(logits, actions, nvec)
    groups = [torch.distributions.Categorical(logits=g) for g in logits.split(list(nvec), -1)]
    assert torch.allclose(log_prob, sum(d.log_prob(actions[:, i]) for i, d in enumerate(groups)), atol=1e-6)
    assert torch.allclose(entropy, sum(d.entropy() for d in groups), atol=1e-6)
    other = torch.randn(5, sum(nvec))
    expected = sum(
        torch.distributions.kl_divergence(d, torch.distributions.Categorical(logits=o))
        for d, o in zip(groups, other.split(list(nvec), -1))
    )
    assert torch.allclose(multi_categorical_kl(logits, other, nvec), expected, atol=1e-6)


def test_multi_discrete_acting_copy_samples_each_choice_with_its_probabilities():
    torch.manual_seed(1)
    model = ActorCritic(2, (8,), action_nvec=(3, 2))
    obs = np.tile(np.array([[0.3, -0.2]], np.float32), (20_000, 1))
    acting = model.acting_copy()
    actions, log_probs, _ = acting.sample(obs, acting.draw_noise((20_000,), torch.Generator().manual_seed(0)))
    assert actions.shape == (20_000, 2)
    trained_log_probs = model.evaluate_actions(torch.from_numpy(obs[:50]), torch.from_numpy(actions[:50]))[0]
    assert np.allclose(log_probs[:50], trained_log_probs.detach().numpy(), atol=1e-5)
    logits = model(torch.from_numpy(obs[:1]))[0][0].detach()
    for group, (start, n) in enumerate(((0, 3), (3, 2))):
        probabilities = torch.softmax(logits[start : start + n], -1).numpy()
        frequencies = np.bincount(actions[:, group], minlength=n) / len(actions)
        assert np.allclose(frequencies, probabilities, atol=0.015)
    assert acting.mode(obs[:1]).tolist() == [[int(logits[:3].argmax()), int(logits[3:].argmax())]]
