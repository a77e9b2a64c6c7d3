"""Export: the deterministic policy, normalisation folded in, as ONNX and TorchScript, equal to `agent.act`."""

import sys

import numpy as np
import onnxruntime
import pytest
import torch
from conftest import assert_one_line_error

from actorcritic import GRPO, PPO, SAC, TD3, GRPOConfig, PPOConfig, SACConfig, TD3Config
from actorcritic.cli.commands import main
from actorcritic.errors import ActorCriticError
from actorcritic.runs.export import export_policy

ON_POLICY = dict(num_envs=2, num_steps=64, minibatch_size=64, epochs=2, hidden_sizes=(16, 16), total_steps=256)
OFF_POLICY = dict(
    env="Pendulum-v1",
    total_steps=300,
    learning_starts=100,
    batch_size=32,
    hidden_sizes=(16, 16),
    buffer_size=500,
    num_threads=1,
)
AGENTS = {
    "ppo-gaussian-normalised": lambda: PPO(PPOConfig(env="Pendulum-v1", **ON_POLICY)),
    "ppo-discrete": lambda: PPO(PPOConfig(env="CartPole-v1", **ON_POLICY)),
    "grpo": lambda: GRPO(
        GRPOConfig(env="CartPole-v1", group_size=2, groups_per_update=1, total_steps=100, hidden_sizes=(8,))
    ),
    "td3": lambda: TD3(TD3Config(**OFF_POLICY)),
    "sac": lambda: SAC(SACConfig(**OFF_POLICY)),
}


def run_model(path, fmt, obs):
    if fmt == "onnx":
        return onnxruntime.InferenceSession(str(path)).run(None, {"observation": obs})[0]
    return torch.jit.load(str(path))(torch.from_numpy(obs)).numpy()


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("name", list(AGENTS))
def test_the_exported_policy_acts_like_the_agent(name, fmt, tmp_path):
    agent = AGENTS[name]().learn()
    rng = np.random.default_rng(0)
    obs = (rng.standard_normal((7, agent.observation_space.shape[0])) * 2).astype(np.float32)
    path = export_policy(agent, tmp_path / f"policy.{fmt}", fmt)
    actions = run_model(path, fmt, obs)
    expected = agent.act(obs)
    assert actions.shape == expected.shape
    assert np.allclose(actions, expected, atol=1e-5, rtol=0), np.abs(actions - expected).max()
    assert np.allclose(run_model(path, fmt, obs[:1]), expected[:1], atol=1e-5)  # any batch size


def test_export_reads_the_best_checkpoint_when_there_is_one(tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "ppo",
                "--env",
                "CartPole-v1",
                "--total-steps",
                "128",
                "--eval-every",
                "64",
                "--num-envs",
                "2",
                "--num-steps",
                "32",
                "--minibatch-size",
                "32",
                "--eval-episodes",
                "1",
                "--run-dir",
                str(run),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["export", str(run), "--format", "torchscript", "--out", str(tmp_path / "p.pt")]) == 0
    assert "the best policy" in capsys.readouterr().out
    assert main(["export", str(run), "--format", "torchscript", "--out", str(tmp_path / "q.pt"), "--latest"]) == 0
    assert "the latest policy" in capsys.readouterr().out
    assert (tmp_path / "p.pt").exists() and (tmp_path / "q.pt").exists()
    assert_one_line_error(
        capsys,
        main(["export", str(run), "--format", "tflite", "--out", str(tmp_path / "r")]),
        "invalid choice: 'tflite'",
    )
    assert_one_line_error(
        capsys,
        main(["export", str(run), "--format", "onnx", "--out", str(tmp_path / "missing" / "p.onnx")]),
        "cannot be written",
    )


def test_onnx_without_its_packages_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    with pytest.raises(ActorCriticError, match=r"pip install 'actorcritic\[export\]'"):
        export_policy(AGENTS["td3"](), tmp_path / "p.onnx", "onnx")
    assert not list(tmp_path.iterdir())  # nothing half-written
