"""CrossQ: batch renormalisation, the joint critic pass and the target without target networks, by hand."""

import copy

import pytest
import torch

from actorcritic import CrossQ, CrossQConfig
from actorcritic.core.normalization import batch_renormalize
from actorcritic.errors import ActorCriticError
from actorcritic.nets.batch_renorm import BatchRenorm, RenormSettings


def test_with_r_1_and_d_0_batch_renormalisation_is_batch_normalisation():
    x = torch.randn(16, 3, requires_grad=True)
    ours, mean, var = batch_renormalize(x, torch.zeros(1, 3), torch.ones(1, 3), 1.0, 0.0, 1e-3)
    torch_bn = torch.nn.functional.batch_norm(x, None, None, training=True, eps=1e-3)
    assert torch.allclose(ours, torch_bn, atol=1e-6)
    assert torch.allclose(mean, x.mean(0, keepdim=True)) and torch.allclose(var, x.var(0, unbiased=False)[None])
    grad_ours, grad_bn = (
        torch.autograd.grad((y * torch.arange(48.0).view(16, 3)).sum(), x)[0] for y in (ours, torch_bn)
    )
    assert torch.allclose(grad_ours, grad_bn, atol=1e-5)  # the gradient runs through the batch's statistics


def test_r_and_d_by_hand_and_clipped_and_without_gradient():
    x = torch.tensor([[0.0, 10.0], [2.0, 30.0]], requires_grad=True)  # batch mean (1, 20), std (1, 10) (ε = 0)
    running_mean, running_var = torch.tensor([[0.0, 0.0]]), torch.tensor([[4.0, 1.0]])  # running std (2, 1)
    y, _, _ = batch_renormalize(x, running_mean, running_var, r_max=3.0, d_max=5.0, eps=0.0)
    # feature 0: r = 1/2, d = (1 - 0)/2 = 1/2;  feature 1: r = 10 clipped to 3, d = 20 clipped to 5
    expected = torch.tensor([[-1 * 0.5 + 0.5, -1 * 3.0 + 5.0], [1 * 0.5 + 0.5, 1 * 3.0 + 5.0]])
    assert torch.allclose(y, expected)
    plain, _, _ = batch_renormalize(x, running_mean, running_var, 1.0, 0.0, 0.0)
    (grad_y,) = torch.autograd.grad(y[0, 0] - y[1, 0], x)
    (grad_plain,) = torch.autograd.grad(plain[0, 0] - plain[1, 0], x)
    assert torch.allclose(grad_y, 0.5 * grad_plain)  # r scales the gradient, but is itself held constant


def test_the_layer_warms_up_moves_its_statistics_and_normalises_with_them_in_evaluation():
    layer = BatchRenorm(2, RenormSettings(momentum=0.5, warmup_steps=1, eps=0.0))
    x = torch.tensor([[0.0, 10.0], [2.0, 30.0]])
    assert not layer.training  # evaluation by default: acting never touches the statistics
    assert torch.equal(layer(x), x)  # running mean 0, var 1, γ = 1, β = 0
    layer.train()
    warm = layer(x)  # the warm-up batch: plain batch normalisation
    assert torch.allclose(warm, torch.tensor([[-1.0, -1.0], [1.0, 1.0]]))
    assert torch.allclose(layer.running_mean, torch.tensor([[0.5, 10.0]]))  # 0 + 0.5 (1 - 0), 0 + 0.5 (20 - 0)
    assert torch.allclose(layer.running_var, torch.tensor([[1.0, 50.5]]))  # 1 + 0.5 (1 - 1), 1 + 0.5 (100 - 1)
    renormalised, _, _ = batch_renormalize(x, layer.running_mean, layer.running_var, 3.0, 5.0, 0.0)
    assert torch.allclose(layer(x), renormalised)  # past the warm-up, r and d apply
    assert int(layer.steps) == 2
    layer.eval()
    expected = (x - layer.running_mean) / layer.running_var.sqrt()
    assert torch.allclose(layer(x), expected)


def small_agent(**overrides) -> CrossQ:
    settings = dict(env="Pendulum-v1", total_steps=400, learning_starts=50, batch_size=8, hidden_sizes=(16,),
                    critic_hidden_sizes=(32,), renorm_warmup_steps=5, num_threads=1)  # fmt: skip
    return CrossQ(CrossQConfig(**{**settings, **overrides}))


def test_the_defaults_are_sb3_contribs_and_the_papers():
    config = CrossQConfig(env="Pendulum-v1", total_steps=10_000)
    assert (config.learning_rate, config.adam_betas, config.policy_delay) == (1e-3, (0.5, 0.999), 3)
    assert (config.hidden_sizes, config.critic_hidden_sizes, config.num_critics) == ((256, 256), (1024, 1024), 2)
    assert (config.renorm_momentum, config.renorm_warmup_steps) == (0.01, 100_000)
    agent = small_agent()
    assert "critic_target" not in agent.learner.modules() and agent.learner.critics.target is None
    assert agent.learner.critics.online.weights[0].shape == (2, 3 + 1, 32)  # the critics' own widths
    assert agent.learner.actor_optimizer.param_groups[0]["betas"] == (0.5, 0.999)


def test_the_target_comes_from_the_online_critics_in_one_joint_pass():
    agent = small_agent().learn(60)
    learner, batch = agent.learner, agent.buffer.sample(8, agent.generator)
    critics_before = copy.deepcopy(learner.critics.online)
    # by hand: a' ~ π(·|s') with the actor's running statistics, then one pass of [s; s'] in training mode
    replay = torch.Generator().manual_seed(5)
    with torch.no_grad():
        next_actions, next_log_probs = learner.actor(batch.next_observations, replay)
        critics_before.train()
        inputs = torch.cat([torch.cat([batch.observations, batch.actions], 1),
                            torch.cat([batch.next_observations, next_actions], 1)])  # fmt: skip
        both = critics_before(inputs).squeeze(-1)  # [2, 16]
        alpha = learner.temperature.log_alpha.exp()
        next_values = both[:, 8:].min(0).values - alpha * next_log_probs
        expected_targets = batch.rewards + learner.config.gamma * (1 - batch.terminated) * next_values
        expected_loss = (both[:, :8] - expected_targets).square().mean(1).sum()
    info = learner.update(batch, 1, torch.Generator().manual_seed(5))  # update 1: no actor step (delay 3)
    assert torch.allclose(info["target_q_mean"], expected_targets.mean(), atol=1e-5)
    assert torch.allclose(info["critic_loss"], expected_loss, atol=1e-5)
    # the joint pass moved the critics' statistics as the hand pass did, by the mixed batch's
    for ours, theirs in zip(learner.critics.online.renorms, critics_before.renorms):
        assert torch.allclose(ours.running_mean, theirs.running_mean) and int(ours.steps) == int(theirs.steps)
    assert not learner.critics.online.training and not learner.actor.training  # back to evaluation mode


def test_acting_and_evaluating_leave_the_statistics_alone():
    agent = small_agent().learn(80)
    before = {name: tensor.clone() for name, tensor in agent.learner.actor.state_dict().items()}
    agent.act(torch.randn(5, 3).numpy(), deterministic=False)
    agent.evaluate(episodes=1)
    after = agent.learner.actor.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)


def test_bad_settings_are_refused():
    with pytest.raises(ActorCriticError, match="renorm_momentum"):
        CrossQConfig(env="Pendulum-v1", renorm_momentum=0.0)
    with pytest.raises(ActorCriticError, match="adam-betas"):
        CrossQConfig(env="Pendulum-v1", adam_betas=(0.5,))
    with pytest.raises(ActorCriticError, match="critic-hidden-sizes"):
        CrossQConfig(env="Pendulum-v1", critic_hidden_sizes=(0,))


def test_the_affine_form_has_the_step_by_step_values_and_gradients():
    """batch_renormalize computes γ x̂ + β as x · s + t (one pass): the same values and the same gradients to x
    (through the batch's statistics), γ and β as the equation written out step by step."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 8, 3, generator=generator).mul(3).add(1).requires_grad_()
    gain = torch.rand(2, 1, 3, generator=generator).add(0.5).requires_grad_()
    bias = torch.randn(2, 1, 3, generator=generator).requires_grad_()
    running_mean, running_var = torch.randn(2, 1, 3, generator=generator), torch.rand(2, 1, 3, generator=generator)
    weights = torch.randn(2, 8, 3, generator=generator)
    ours, _, _ = batch_renormalize(x, running_mean, running_var, 3.0, 5.0, 1e-3, gain, bias)
    mean, var = x.mean(-2, keepdim=True), x.var(-2, unbiased=False, keepdim=True)
    std = (var + 1e-3).sqrt()
    with torch.no_grad():
        r = (std / (running_var + 1e-3).sqrt()).clamp(1 / 3, 3)
        d = ((mean - running_mean) / (running_var + 1e-3).sqrt()).clamp(-5, 5)
    by_hand = ((x - mean) / std * r + d) * gain + bias
    assert torch.allclose(ours, by_hand, atol=1e-5)
    for mine, theirs in zip(
        torch.autograd.grad((ours * weights).sum(), (x, gain, bias)),
        torch.autograd.grad((by_hand * weights).sum(), (x, gain, bias)),
    ):
        assert torch.allclose(mine, theirs, atol=1e-4)


def test_the_batch_statistics_gradients_pass_gradcheck():
    """The batch's mean and variance carry hand-written gradients (`_BatchMoments`): finite differences agree,
    in plain batch normalisation (r and d are held constant, so finite differences would not match them), on a
    stack of two members."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, 6, 3, generator=generator, dtype=torch.float64).mul(2).add(1).requires_grad_()
    gain = torch.rand(2, 1, 3, generator=generator, dtype=torch.float64).add(0.5)
    unused = torch.zeros(2, 1, 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: batch_renormalize(x, unused, unused + 1, 1.0, 0.0, 1e-3, gain)[0], (x,))
