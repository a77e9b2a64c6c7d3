"""PPO: smoke runs, determinism, truncation bootstrapping, save/load round trips, config validation."""

import dataclasses
import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import Recorder

from actorcritic import PPO, PPOConfig
from actorcritic.errors import ActorCriticError
from actorcritic.storage.checkpoint import load_checkpoint

# A pendulum cut after 7 steps: every episode ends in a truncation, never a termination.
gym.register("ShortPendulum-v0", entry_point="gymnasium.envs.classic_control.pendulum:PendulumEnv", max_episode_steps=7)

TINY = dict(num_steps=16, minibatch_size=16, epochs=2, hidden_sizes=(16, 16), eval_episodes=2)


def tiny(env, **overrides):
    return PPOConfig(**{**TINY, "env": env, "total_steps": 64, **overrides})


@pytest.mark.parametrize("env", ["CartPole-v1", "Pendulum-v1", "HalfCheetah-v5"])
def test_smoke_run_logs_every_metric(env):
    recorder = Recorder()
    agent = PPO(tiny(env, num_envs=2)).learn(callbacks=[recorder])
    assert agent.global_step == 64 and agent.updates == 2
    for name in (
        "global_step",
        "episode_return_mean",
        "steps_per_second",
        "policy_loss",
        "value_loss",
        "entropy",
        "approx_kl",
        "clip_fraction",
    ):
        assert name in recorder.rows[-1]
    assert np.isfinite([recorder.rows[-1][k] for k in ("policy_loss", "value_loss", "approx_kl")]).all()
    returns = agent.evaluate(episodes=1)
    assert len(returns) == 1 and np.isfinite(returns[0])


def test_same_seed_same_numbers():
    def run():
        recorder = Recorder()
        agent = PPO(tiny("Pendulum-v1", seed=5)).learn(callbacks=[recorder])
        return recorder.rows, [p.detach().clone() for p in agent.model.parameters()]

    rows_a, params_a = run()
    rows_b, params_b = run()

    def strip(rows):
        return [{k: v for k, v in r.items() if k != "steps_per_second"} for r in rows]

    assert strip(rows_a) == strip(rows_b)
    assert all(torch.equal(a, b) for a, b in zip(params_a, params_b))
    params_c = [p.detach() for p in PPO(tiny("Pendulum-v1", seed=6)).learn().model.parameters()]
    assert not all(torch.equal(a, c) for a, c in zip(params_a, params_c))


def test_truncated_steps_bootstrap_from_the_final_observation():
    agent = PPO(tiny("ShortPendulum-v0", num_envs=2, normalize_observations=False, normalize_rewards=False))
    final_observations = {}
    original_step = agent.envs.step

    def recording_step(actions):
        result = original_step(actions)
        obs, _, _, truncated, info = result
        for index in np.flatnonzero(truncated):
            final_observations[(recording_step.t, index)] = (info["final_obs"][index].copy(), obs[index].copy())
        recording_step.t += 1
        return result

    recording_step.t = 0
    agent.envs.step = recording_step
    agent._reset_envs()
    rollout = agent.collector.collect()
    assert rollout.truncated.any() and not rollout.terminated.any()

    def value(obs):
        return agent.model(torch.as_tensor(obs, dtype=torch.float32)[None])[1].item()

    for (t, index), (final_obs, reset_obs) in final_observations.items():
        assert rollout.truncated[t, index]
        assert rollout.next_values[t, index].item() == pytest.approx(value(final_obs), abs=1e-5)
        assert rollout.next_values[t, index].item() != pytest.approx(value(reset_obs), abs=1e-5)
    # everywhere else the successor's value is the next step's value
    inside = ~rollout.truncated[:-1]
    assert torch.allclose(rollout.next_values[:-1][inside], rollout.values[1:][inside])


def test_save_then_load_restores_the_state_bit_for_bit(tmp_path):
    agent = PPO(tiny("Pendulum-v1")).learn()
    agent.save(tmp_path / "a")
    loaded = PPO.load(tmp_path / "a")
    loaded.save(tmp_path / "b")
    tensors_a, state_a = load_checkpoint(tmp_path / "a")
    tensors_b, state_b = load_checkpoint(tmp_path / "b")
    assert tensors_a.keys() == tensors_b.keys()
    assert all(torch.equal(tensors_a[k], tensors_b[k]) for k in tensors_a)
    assert state_a == state_b
    assert loaded.global_step == agent.global_step and loaded.updates == agent.updates
    assert {"obs_normalizer.mean", "reward_scaler.var", "generator", "optimizer.0.exp_avg"} <= tensors_a.keys()


def test_loaded_agent_acts_like_the_saved_one(tmp_path):
    agent = PPO(tiny("Pendulum-v1")).learn()
    agent.save(tmp_path / "ckpt")
    loaded = PPO.load(tmp_path / "ckpt")
    obs = np.random.default_rng(0).standard_normal((5, 3))
    assert np.array_equal(agent.act(obs), loaded.act(obs))
    assert np.array_equal(agent.act(obs, deterministic=False), loaded.act(obs, deterministic=False))  # same RNG state
    assert agent.act(obs[0]).shape == (1,)


def test_resumed_agent_continues_counters_optimizer_and_schedule(tmp_path):
    agent = PPO(tiny("CartPole-v1", total_steps=64)).learn()
    agent.save(tmp_path / "ckpt")
    resumed = PPO.load(tmp_path / "ckpt")
    recorder = Recorder()
    resumed.learn(64, callbacks=[recorder])  # 64 more steps
    assert resumed.global_step == 128 and resumed.updates == 8
    assert [r["updates"] for r in recorder.rows] == [5, 6, 7, 8]
    assert recorder.rows[0]["learning_rate"] == pytest.approx(3e-4 * (1 - 64 / 128))
    adam_steps = resumed.learner.optimizer.state_dict()["state"][0]["step"].item()
    assert adam_steps == 8 * 2  # 8 updates x 2 epochs x 1 minibatch, counting the saved ones


def test_checkpoint_of_other_spaces_is_refused(tmp_path):
    PPO(tiny("CartPole-v1")).save(tmp_path / "ckpt")
    state_path = tmp_path / "ckpt" / "state.json"
    state = json.loads(state_path.read_text())
    state["config"]["env"] = "Acrobot-v1"
    state_path.write_text(json.dumps(state))
    with pytest.raises(ActorCriticError, match="built for spaces"):
        PPO.load(tmp_path / "ckpt")


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("gae_lambda", 1.5, "--gae-lambda 1.5 is out of range"),
        ("total_steps", -1, "--total-steps -1 is out of range"),
        ("clip_eps", 0.0, "--clip-eps 0.0 is out of range"),
        ("gamma", -0.1, "--gamma -0.1"),
        ("learning_rate", 0.0, "--learning-rate"),
        ("minibatch_size", 10_000, "larger than a rollout"),
        ("device", "gpu", "not a device"),
        ("hidden_sizes", (0,), "--hidden-sizes"),
    ],
)
def test_config_refuses_out_of_range_values(field, value, message):
    with pytest.raises(ActorCriticError, match=message):
        PPOConfig(**{field: value})


def test_presets_apply_under_overrides():
    config = PPOConfig.for_env("CartPole-v1", seed=3, epochs=4)
    assert (config.num_envs, config.epochs, config.seed, config.total_steps) == (8, 4, 3, 100_000)
    assert PPOConfig.for_env("Swimmer-v5") == dataclasses.replace(PPOConfig(), env="Swimmer-v5")


@pytest.mark.parametrize(
    "env, num_steps, minibatch, epochs, hidden, activation",
    [
        ("HalfCheetah-v5", 512, 64, 20, (256, 256), "relu"),
        ("Hopper-v5", 512, 32, 5, (256, 256), "relu"),
        ("Walker2d-v5", 512, 32, 20, (64, 64), "tanh"),
        ("Ant-v5", 2048, 64, 10, (64, 64), "tanh"),
    ],
)
def test_mujoco_presets_are_the_zoo_sets(env, num_steps, minibatch, epochs, hidden, activation):
    config = PPOConfig.for_env(env)
    assert (config.num_steps, config.minibatch_size, config.epochs, config.hidden_sizes, config.activation) == (
        num_steps,
        minibatch,
        epochs,
        hidden,
        activation,
    )
    assert config.total_steps == 1_000_000 and config.num_envs == 1 and not config.anneal_lr
    assert config.normalize_observations and config.normalize_rewards
    assert config.orthogonal_init == (activation == "tanh") and config.log_std_init == (
        -2.0 if activation == "relu" else 0.0
    )


@pytest.mark.parametrize("per_minibatch", [False, True])
def test_advantages_are_normalised_over_the_rollout_or_within_each_minibatch(per_minibatch, monkeypatch):
    from actorcritic.algorithms import ppo as ppo_module

    seen, surrogate = [], ppo_module.clipped_surrogate

    def recording(log_probs, old_log_probs, advantages, clip_eps):
        seen.append(advantages.detach().clone())
        return surrogate(log_probs, old_log_probs, advantages, clip_eps)

    monkeypatch.setattr(ppo_module, "clipped_surrogate", recording)
    PPO(
        tiny(
            "Pendulum-v1", num_envs=1, num_steps=64, minibatch_size=16, epochs=1, normalize_per_minibatch=per_minibatch
        )
    ).learn(64)
    means = torch.stack([a.mean() for a in seen]).abs()
    if per_minibatch:  # SB3's way: every minibatch on its own scale
        assert means.max() < 1e-5 and all(abs(a.std().item() - 1) < 1e-4 for a in seen)
    else:  # over the rollout: the four minibatches of one epoch together have mean 0 and std 1
        together = torch.cat(seen)
        assert abs(together.mean().item()) < 1e-5 and abs(together.std().item() - 1) < 1e-4 and means.max() > 1e-3


def test_relu_and_pytorch_initialisation_reach_the_networks_and_the_acting_copy(tmp_path):
    agent = PPO(tiny("Pendulum-v1", activation="relu", orthogonal_init=False, log_std_init=-2.0))
    assert agent.model.body.activation is torch.nn.ReLU
    assert agent.model.body.biases[0].abs().sum() > 0  # nn.Linear's biases; the orthogonal initialisation zeroes them
    assert torch.all(agent.model.log_std == -2.0)
    agent.learn()
    obs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    policy_out, values = agent.model(torch.as_tensor(obs))
    assert np.allclose(agent._acting().value(obs), values.detach().numpy(), atol=1e-5)
    assert np.allclose(agent._acting().mode(obs), policy_out.detach().numpy(), atol=1e-5)
    agent.save(tmp_path / "ckpt")
    loaded = PPO.load(tmp_path / "ckpt")
    assert loaded.config.activation == "relu" and loaded.model.body.activation is torch.nn.ReLU
    assert np.array_equal(loaded.act(obs), agent.act(obs))


def test_unknown_environment_is_refused_with_a_suggestion():
    with pytest.raises(ActorCriticError, match="did you mean CartPole-v1"):
        PPO(tiny("CartPole-v9"))


def test_unsupported_action_space_is_refused():
    gym.register("TupleActionToy-v0", entry_point=lambda: _TupleActionToy())
    with pytest.raises(ActorCriticError, match="ppo needs a Discrete, MultiDiscrete, MultiBinary or Box action space"):
        PPO(tiny("TupleActionToy-v0"))


class _TupleActionToy(gym.Env):
    observation_space = gym.spaces.Box(-1, 1, (2,))
    action_space = gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Box(-1, 1, (1,))))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(2, dtype=np.float32), 0.0, False, False, {}


def test_learning_signal_on_cartpole_in_a_few_updates():
    """Not a solved-policy check (that is the slow test): 10k steps of the preset clearly beat random (~22)."""
    recorder = Recorder()
    PPO(PPOConfig.for_env("CartPole-v1", total_steps=10_240)).learn(callbacks=[recorder])
    late = [r["episode_return_mean"] for r in recorder.rows[-5:] if r["episode_return_mean"] is not None]
    assert late and np.mean(late) > 60


@pytest.mark.slow
def test_cartpole_preset_solves_cartpole_within_100k_steps():
    agent = PPO(PPOConfig.for_env("CartPole-v1", seed=0)).learn()
    assert agent.global_step <= 100_000 + 256
    assert np.mean(agent.evaluate(episodes=20)) >= 475


@pytest.mark.slow
def test_pendulum_learns():
    config = PPOConfig.for_env(
        "Pendulum-v1",
        seed=0,
        total_steps=150_000,
        num_envs=4,
        num_steps=512,
        gae_lambda=0.95,
        gamma=0.9,
        learning_rate=1e-3,
        epochs=10,
    )
    agent = PPO(config).learn()
    assert np.mean(agent.evaluate(episodes=10)) > -600


SMALL = dict(num_envs=2, num_steps=32, total_steps=128, hidden_sizes=(16, 16), eval_episodes=1)


@pytest.mark.parametrize("advantage", ["kstep", "mc"])
def test_ppo_takes_every_advantage_estimator(advantage):
    agent = PPO(PPOConfig(env="CartPole-v1", advantage=advantage, minibatch_size=32, epochs=1, **SMALL)).learn()
    assert agent.updates == 2
