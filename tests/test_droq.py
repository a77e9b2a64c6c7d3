"""DroQ as a configuration of SAC's learner: critics with dropout and layer normalisation, checked by hand."""

import torch
from torch import nn

from actorcritic import DroQ, DroQConfig
from actorcritic.algorithms.sac import SACLearner
from actorcritic.nets.mlp import StackedMLP


def hand_member(net: StackedMLP, x: torch.Tensor, member: int, keep_masks=None) -> torch.Tensor:
    """Member `member` of `net` by hand: Linear -> (dropout with the given keep masks) -> LayerNorm -> ReLU per
    hidden layer, then the output Linear."""
    for layer, (weight, bias) in enumerate(zip(net.weights, net.biases)):
        x = x @ weight[member] + bias[member, 0]
        if layer < len(net.weights) - 1:
            if keep_masks is not None:
                x = x * keep_masks[layer] / (1 - net.dropout)
            mean, var = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True)
            x = (x - mean) / torch.sqrt(var + 1e-5) * net.norm_gains[layer][member, 0] + net.norm_biases[layer][
                member, 0
            ]
            x = torch.relu(x)
    return x


def test_a_critic_layer_is_linear_dropout_layer_norm_relu():
    torch.manual_seed(0)
    net = StackedMLP(2, 5, (8, 6), 1, activation=nn.ReLU, dropout=0.25, layer_norm=True)
    with torch.no_grad():  # gains and biases away from 1 and 0, so that they are seen to act
        for gain, bias in zip(net.norm_gains, net.norm_biases):
            gain.uniform_(0.5, 1.5)
            bias.uniform_(-0.2, 0.2)
    x = torch.randn(4, 5)
    no_dropout = net(x)
    for member in range(2):
        assert torch.allclose(no_dropout[member], hand_member(net, x, member), atol=1e-5)
    generator = torch.Generator().manual_seed(3)
    dropped = net(x, generator=generator)
    replay = torch.Generator().manual_seed(3)
    keep = [torch.rand((2, 4, width), generator=replay) >= 0.25 for width in (8, 6)]
    for member in range(2):
        expected = hand_member(net, x, member, [mask[member] for mask in keep])
        assert torch.allclose(dropped[member], expected, atol=1e-5)
    assert not torch.allclose(dropped, no_dropout)


def test_without_dropout_a_generator_is_left_untouched():
    """SAC's critics (dropout 0) draw nothing, so SAC's numbers are those it had before dropout existed."""
    net = StackedMLP(2, 5, (8,), 1, activation=nn.ReLU)
    generator = torch.Generator().manual_seed(1)
    state = generator.get_state()
    net(torch.randn(3, 5), generator=generator)
    assert torch.equal(generator.get_state(), state)
    assert len(list(net.parameters())) == 4  # no layer-norm parameters where there is no layer normalisation


def test_droq_is_sacs_learner_with_the_papers_settings_and_its_target_is_sacs():
    config = DroQConfig(env="Pendulum-v1", total_steps=300, learning_starts=50, batch_size=8, hidden_sizes=(16,),
                        updates_per_step=1, policy_delay=1, num_threads=1)  # fmt: skip
    assert DroQ.learner_class is SACLearner
    defaults = DroQConfig(env="Pendulum-v1")
    assert (defaults.critic_dropout, defaults.critic_layer_norm, defaults.num_critics) == (0.01, True, 2)
    assert (defaults.updates_per_step, defaults.policy_delay, defaults.target_critics) == (20, 20, None)
    agent = DroQ(config).learn(60)
    learner, batch = agent.learner, agent.buffer.sample(8, agent.generator)
    generator = torch.Generator().manual_seed(11)
    # by hand, with the learner's draws in its order: a' ~ π(·|s'), then the target critics' dropout masks
    replay = torch.Generator().manual_seed(11)
    with torch.no_grad():
        next_actions, next_log_probs = learner.actor(batch.next_observations, replay)
        inputs = torch.cat([batch.next_observations, next_actions], 1)
        keep = [torch.rand((2, 8, 16), generator=replay) >= 0.01]
        target = learner.critics.target
        next_q = torch.stack([hand_member(target, inputs, m, [keep[0][m]])[:, 0] for m in range(2)]).min(0).values
        alpha = learner.temperature.log_alpha.exp()
        expected = batch.rewards + config.gamma * (1 - batch.terminated) * (next_q - alpha * next_log_probs)
    info = learner.update(batch, 1, generator)
    assert torch.allclose(info["target_q_mean"], expected.mean(), atol=1e-5)
