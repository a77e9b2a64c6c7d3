"""Networks the user chooses (issue 41, item 1): actor and critic widths apart, five activations, layer
normalisation, and an observation encoder of one's own, through the Python API and the CLI."""

import json
import sys

import numpy as np
import pytest
import torch
from conftest import assert_one_line_error
from torch import nn

from actorcritic import PPO, SAC, TD3, TRPO, PPOConfig, SACConfig, TD3Config, TRPOConfig
from actorcritic.cli.commands import main
from actorcritic.errors import ActorCriticError
from actorcritic.nets.actor_critic import ActorCritic
from actorcritic.nets.mlp import ACTIVATIONS, SeparateMLPs, StackedMLP

ON_POLICY = dict(env="CartPole-v1", total_steps=256, num_envs=2, num_steps=64, minibatch_size=64)
OFF_POLICY = dict(env="Pendulum-v1", total_steps=200, learning_starts=100, batch_size=32)


def shapes(module: nn.Module) -> list[tuple[int, ...]]:
    return [tuple(p.shape) for p in module.parameters()]


def test_on_policy_actor_and_critic_widths_apart_build_separate_networks():
    agent = PPO(PPOConfig(**ON_POLICY, actor_hidden_sizes=(8,), critic_hidden_sizes=(16, 16)))
    body = agent.model.body
    assert isinstance(body, SeparateMLPs)
    assert shapes(body.stacks[0]) == [(1, 4, 8), (1, 8, 2), (1, 1, 8), (1, 1, 2)]  # the policy: 4 -> 8 -> 2
    assert shapes(body.stacks[1]) == [(1, 4, 16), (1, 16, 16), (1, 16, 1), (1, 1, 16), (1, 1, 16), (1, 1, 1)]
    assert isinstance(PPO(PPOConfig(**ON_POLICY, hidden_sizes=(8,))).model.body, StackedMLP)  # alike: one stack
    agent.learn()  # trains, and acts through the NumPy copy
    obs = torch.randn(5, 4)
    policy_out, values = agent.model(obs)
    acting = agent.model.acting_copy()
    assert np.allclose(acting.body(obs.numpy())[0], policy_out.detach().numpy(), atol=1e-6)
    assert np.allclose(acting.value(obs.numpy()), values.detach().numpy(), atol=1e-6)


def test_the_policy_mask_of_separate_networks_covers_the_policy_only():
    """TRPO's natural-gradient step moves the policy's parameters only: with the widths apart too."""
    agent = TRPO(TRPOConfig(**ON_POLICY, actor_hidden_sizes=(8,), critic_hidden_sizes=(16,)))
    mask = agent.model.policy_parameter_mask()
    policy = sum(p.numel() for p in agent.model.body.stacks[0].parameters())
    assert mask.sum().item() == policy and mask.numel() == sum(p.numel() for p in agent.model.parameters())
    before = [p.detach().clone() for p in agent.model.body.stacks[0].parameters()]
    agent.learn()
    assert any(not torch.equal(a, b) for a, b in zip(before, agent.model.body.stacks[0].parameters()))


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("layer_norm", [False, True])
def test_the_numpy_acting_copy_computes_what_the_network_does(activation, layer_norm):
    torch.manual_seed(0)
    model = ActorCritic(6, (16, 16), action_dim=2, activation=ACTIVATIONS[activation], layer_norm=layer_norm)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))  # layer norm's gains and biases away from 1 and 0
    obs = torch.randn(32, 6)
    mean, values = model(obs)
    acting = model.acting_copy()
    assert np.allclose(acting.mode(obs.numpy()), mean.detach().numpy(), atol=1e-5)
    assert np.allclose(acting.value(obs.numpy()), values.detach().numpy(), atol=1e-5)


def test_off_policy_networks_take_their_widths_activation_and_layer_norm():
    agent = SAC(SACConfig(**OFF_POLICY, actor_hidden_sizes=(32,), critic_hidden_sizes=(64, 64), activation="silu"))
    assert shapes(agent.learner.actor.net)[0] == (32, 3) and agent.learner.critics.online.weights[1].shape == (
        2,
        64,
        64,
    )
    assert any(isinstance(m, nn.SiLU) for m in agent.learner.actor.net)
    td3 = TD3(TD3Config(**OFF_POLICY, hidden_sizes=(16,), layer_norm=True, activation="elu"))
    assert [type(m) for m in td3.learner.actor.net] == [nn.Linear, nn.LayerNorm, nn.ELU, nn.Linear]
    assert len(td3.learner.critics.online.norm_gains) == 1
    td3.learn()
    assert np.isfinite(td3.act(np.zeros(3, np.float32))).all()


def test_the_cli_takes_network_choices_and_config_json_records_them(tmp_path):
    flags = ["--env", "CartPole-v1", "--total-steps", "128", "--num-envs", "2", "--num-steps", "64"]
    flags += ["--minibatch-size", "64", "--eval-episodes", "1", "--run-dir", str(tmp_path / "run")]
    choices = ["--actor-hidden-sizes", "8", "--critic-hidden-sizes", "32", "32", "--activation", "gelu", "--layer-norm"]
    assert main(["train", "ppo", *flags, *choices]) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["actor_hidden_sizes"], config["critic_hidden_sizes"]) == ([8], [32, 32])
    assert (config["activation"], config["layer_norm"]) == ("gelu", True)
    assert main(["evaluate", str(tmp_path / "run"), "--episodes", "1"]) == 0
    assert main(["resume", str(tmp_path / "run"), "--total-steps", "256"]) == 0
    path = tmp_path / "policy.pt"
    assert main(["export", str(tmp_path / "run"), "--format", "torchscript", "--out", str(path)]) == 0
    agent = PPO.load(tmp_path / "run" / "checkpoint")
    obs = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    assert np.array_equal(torch.jit.load(str(path))(torch.from_numpy(obs)).numpy(), agent.act(obs))


# ---------------------------------------------------------------- an encoder of one's own

ENCODERS = """
from torch import nn


def small_encoder(observation_space):
    return nn.Sequential(nn.Linear(observation_space.shape[0], 12), nn.Tanh())


def not_a_module(observation_space):
    return "features"
"""


@pytest.fixture
def encoders(tmp_path, monkeypatch):
    (tmp_path / "my_encoders.py").write_text(ENCODERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("my_encoders", None)
    import my_encoders

    return my_encoders


def test_an_encoder_named_by_import_path_trains_saves_and_loads(encoders, tmp_path):
    agent = PPO(PPOConfig(**ON_POLICY, encoder="my_encoders:small_encoder", hidden_sizes=(8,))).learn()
    assert agent.model.encoder[0].out_features == 12 and agent.model.body.weights[0].shape == (2, 12, 8)
    agent.save(tmp_path / "ckpt")
    loaded = PPO.load(tmp_path / "ckpt")
    obs = np.random.default_rng(0).normal(size=(9, 4)).astype(np.float32)
    assert np.array_equal(loaded.act(obs), agent.act(obs))
    # acting runs the encoder in torch, then the NumPy heads, and matches the training pass
    logits, _ = agent.model(torch.from_numpy(agent.obs_normalizer(obs, update=False)))
    assert np.array_equal(agent.act(obs), logits.argmax(-1).numpy())


def test_an_encoder_object_works_in_python_and_is_refused_on_save(encoders, tmp_path):
    agent = PPO(PPOConfig(**ON_POLICY, encoder=encoders.small_encoder, hidden_sizes=(8,))).learn()
    with pytest.raises(ActorCriticError, match="encoder is a Python object.*give it as module:Name"):
        agent.save(tmp_path / "ckpt")
    assert not (tmp_path / "ckpt").exists()


def test_encoder_mistakes_are_one_line(encoders, tmp_path, capsys):
    with pytest.raises(ActorCriticError, match="encoder my_encoders:not_a_module returned a str, not a torch.nn"):
        PPO(PPOConfig(**ON_POLICY, encoder="my_encoders:not_a_module"))
    with pytest.raises(ActorCriticError, match="--encoder my_encoders:missing: cannot import it"):
        PPO(PPOConfig(**ON_POLICY, encoder="my_encoders:missing"))
    with pytest.raises(ActorCriticError, match="--encoder 'conv' is not an encoder"):
        PPOConfig(**ON_POLICY, encoder="conv")
    with pytest.raises(ActorCriticError, match="sac's actor and critics read the flat observation"):
        SAC(SACConfig(**OFF_POLICY, encoder="my_encoders:small_encoder"))
    code = main(
        ["train", "ppo", "--env", "CartPole-v1", "--encoder", "nowhere:thing", "--run-dir", str(tmp_path / "r")]
    )
    assert_one_line_error(capsys, code, "--encoder nowhere:thing: cannot import it")
    assert not (tmp_path / "r").exists()
