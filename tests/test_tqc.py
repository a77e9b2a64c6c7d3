"""TQC: the truncated mixture, the quantile Huber loss and the target, against hand computations."""

import dataclasses

import pytest
import torch

from actorcritic import TQC, TQCConfig
from actorcritic.core.losses import quantile_huber_loss, truncated_quantile_target
from actorcritic.errors import ActorCriticError


def test_the_target_pools_sorts_and_drops_the_largest_atoms_of_every_critic():
    quantiles = torch.tensor(
        [[[1.0, 5.0, 3.0], [0.0, 0.0, 9.0]], [[4.0, 2.0, 6.0], [7.0, 8.0, 1.0]]]
    )  # [M=2, B=2, Q=3]
    assert truncated_quantile_target(quantiles, 1).tolist() == [[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 1.0, 7.0]]
    assert truncated_quantile_target(quantiles, 0).tolist() == [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [0, 0, 1, 7, 8, 9]]


def test_the_quantile_huber_loss_by_hand():
    # one critic, quantiles 0 and 2 at τ = 1/4, 3/4, one target atom y = 1: u = 1, -1; H = 1/2 each;
    # weights |1/4 - 0| and |3/4 - 1| = 1/4: the loss is the mean of 1/8 and 1/8
    loss, info = quantile_huber_loss(torch.tensor([[[0.0, 2.0]]]), torch.tensor([[1.0]]))
    assert loss.item() == pytest.approx(0.125)
    assert info["q_mean"].item() == 1.0 and info["target_q_mean"].item() == 1.0
    # beyond κ the loss is linear: u = 3 at τ = 1/2 gives 1/2 · κ (3 - κ/2) / κ = 1.25
    loss, _ = quantile_huber_loss(torch.tensor([[[0.0]]]), torch.tensor([[3.0]]))
    assert loss.item() == pytest.approx(1.25)
    # two critics: summed
    loss, _ = quantile_huber_loss(torch.tensor([[[0.0]], [[0.0]]]), torch.tensor([[3.0]]))
    assert loss.item() == pytest.approx(2.5)


def test_the_quantile_huber_gradient_is_autograds_of_the_formula():
    """The loss's hand-written gradient against autograd through the docstring's formula, written out pair by pair,
    on both sides of κ; and gradcheck's finite differences."""

    def by_formula(quantiles, targets, kappa):
        taus = (torch.arange(quantiles.shape[-1], dtype=quantiles.dtype) + 0.5) / quantiles.shape[-1]
        u = targets[None, :, None, :] - quantiles[..., None]
        huber = torch.where(u.abs() <= kappa, 0.5 * u**2, kappa * (u.abs() - 0.5 * kappa))
        return ((taus[:, None] - (u < 0).double()).abs() * huber / kappa).mean(dim=(1, 2, 3)).sum()

    generator = torch.Generator().manual_seed(0)
    for kappa in (0.3, 1.0, 4.0):
        quantiles = (3 * torch.randn(3, 7, 5, generator=generator, dtype=torch.float64)).requires_grad_()
        targets = 3 * torch.randn(7, 11, generator=generator, dtype=torch.float64)
        loss, _ = quantile_huber_loss(quantiles, targets, kappa)
        expected = by_formula(quantiles, targets, kappa)
        assert torch.allclose(loss, expected, rtol=1e-12)
        gradient, expected_gradient = (torch.autograd.grad(value, quantiles)[0] for value in (loss, expected))
        assert torch.allclose(gradient, expected_gradient, rtol=1e-10, atol=1e-14)
        assert torch.autograd.gradcheck(lambda q: quantile_huber_loss(q, targets, kappa)[0], (quantiles,))


def test_the_quantile_huber_loss_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match=r"quantiles \[M, B, Q\] and targets \[B, K\]"):
        quantile_huber_loss(torch.zeros(2, 4, 3), torch.zeros(5, 6))
    with pytest.raises(ValueError, match="got \\(4, 3\\)"):
        quantile_huber_loss(torch.zeros(4, 3), torch.zeros(4, 6))


def test_each_quantile_settles_at_its_level_of_the_target_distribution():
    """Fitting Q = 4 quantiles to the atoms 0..99 with a small κ puts θ_i near the (2i + 1)/8 quantile."""
    targets = torch.arange(100.0)[None]
    theta = torch.zeros(1, 1, 4, requires_grad=True)
    optimizer = torch.optim.Adam([theta], lr=1.0)
    for _ in range(600):
        loss, _ = quantile_huber_loss(theta, targets, kappa=0.01)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert theta.detach()[0, 0].tolist() == pytest.approx([12.5, 37.5, 62.5, 87.5], abs=1.5)


def tiny_agent(**overrides):
    config = TQCConfig(env="Pendulum-v1", total_steps=300, learning_starts=50, batch_size=8, hidden_sizes=(16,),
                       n_quantiles=5, num_threads=1, **overrides)  # fmt: skip
    return TQC(config).learn(60)


def test_the_target_and_the_update_by_hand():
    agent = tiny_agent()
    learner, batch = agent.learner, agent.buffer.sample(8, agent.generator)
    replay = torch.Generator().manual_seed(5)
    with torch.no_grad():
        next_actions, next_log_probs = learner.actor(batch.next_observations, replay)
        quantiles = learner.critics.target(torch.cat([batch.next_observations, next_actions], 1))  # [2, 8, 5]
        pooled = torch.sort(torch.cat([quantiles[0], quantiles[1]], 1), 1).values[:, : 2 * (5 - 2)]
        alpha = learner.temperature.log_alpha.exp()
        future = pooled - alpha * next_log_probs[:, None]
        targets = batch.rewards[:, None] + learner.config.gamma * (1 - batch.terminated[:, None]) * future
        current = learner.critics.online(torch.cat([batch.observations, batch.actions], 1))
        expected_loss, _ = quantile_huber_loss(current, targets)
    info = learner.update(batch, 1, torch.Generator().manual_seed(5))
    assert torch.allclose(info["target_q_mean"], targets.mean(), atol=1e-5)
    assert torch.allclose(info["critic_loss"], expected_loss, atol=1e-5)
    assert learner.critics.online.weights[-1].shape[-1] == 5


def test_more_atoms_dropped_give_a_lower_target():
    """d is the overestimation knob: on the same networks and batch, the target falls as d grows."""
    agent = tiny_agent()
    batch = agent.buffer.sample(8, agent.generator)
    means = []
    for drop in (0, 2, 4):
        learner = agent.learner
        learner.config = dataclasses.replace(agent.config, top_quantiles_to_drop=drop)
        saved = {name: module.state_dict() for name, module in learner.modules().items()}
        means.append(learner.fit_critics(batch, torch.tensor(0.1), torch.Generator().manual_seed(0))["target_q_mean"])
        for name, module in learner.modules().items():
            module.load_state_dict(saved[name])
    assert means[0] > means[1] > means[2]


def test_settings_that_do_not_apply_are_refused():
    with pytest.raises(ActorCriticError, match="pools its critics"):
        TQCConfig(env="Pendulum-v1", target_critics=1)
    with pytest.raises(ActorCriticError, match="top_quantiles_to_drop"):
        TQCConfig(env="Pendulum-v1", n_quantiles=3, top_quantiles_to_drop=3)
    assert TQCConfig.for_env("Hopper-v5").top_quantiles_to_drop == 5 and TQCConfig.for_env("Hopper-v5").num_critics == 5
