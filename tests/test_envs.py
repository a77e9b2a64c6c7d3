"""Environments: ids, same-step autoreset with the final observation, episode statistics, evaluation."""

import dataclasses
import json
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

from actorcritic.envs.episodes import EpisodeStatistics, final_observations
from actorcritic.envs.evaluation import evaluate_policy
from actorcritic.envs.make import check_env_id, make_vector_env, space_signature
from actorcritic.errors import ActorCriticError


def test_unknown_id_is_refused_with_the_closest_registered_ones():
    check_env_id("Pendulum-v1")
    with pytest.raises(ActorCriticError, match="unknown environment id 'Pendulm-v1': did you mean Pendulum-v1"):
        check_env_id("Pendulm-v1")


def test_vector_env_autoresets_in_the_same_step_and_keeps_the_final_observation():
    envs = make_vector_env("CartPole-v1", 2, seed=0)
    obs, _ = envs.reset(seed=0)
    for _ in range(500):
        next_obs, _, terminated, truncated, info = envs.step(
            np.zeros(2, dtype=np.int64)
        )  # always left: falls within ~10 steps
        ended = terminated | truncated
        if ended.any():
            successors = final_observations(next_obs, info)
            index = int(np.flatnonzero(ended)[0])
            assert not np.array_equal(successors[index], next_obs[index])  # the last state, not the reset one
            assert np.abs(next_obs[index]).max() <= 0.05  # the reset observation arrived in the same step
            assert np.array_equal(successors[~ended], next_obs[~ended])
            return
    pytest.fail("no episode ended")


def test_final_observations_without_an_ending_is_the_observation_itself():
    obs = np.arange(6.0).reshape(2, 3)
    assert final_observations(obs, {}) is obs


def test_episode_statistics_sum_rewards_per_actor_until_done():
    stats = EpisodeStatistics(2)
    stats.step(np.array([1.0, 2.0]), np.array([False, False]))
    stats.step(np.array([1.0, 2.0]), np.array([True, False]))
    stats.step(np.array([5.0, 2.0]), np.array([False, True]))
    assert stats.pop() == ([2.0, 6.0], [2, 3])
    assert stats.pop() == ([], [])
    stats.step(np.array([0.5, 0.0]), np.array([True, False]))
    assert stats.pop() == ([5.5], [2])  # actor 0's next episode started after its first ended


def test_evaluation_episodes_are_reproducible_from_their_seed():
    def act(obs):
        return (obs[:, 2] > 0).astype(np.int64)  # push towards the pole's lean

    first = evaluate_policy(act, "CartPole-v1", episodes=3, seed=7)
    assert first == evaluate_policy(act, "CartPole-v1", episodes=3, seed=7)
    assert len(first) == 3 and all(r >= 1 for r in first)


def test_space_signatures_describe_what_a_checkpoint_needs():
    assert space_signature(gym.spaces.Discrete(3)) == {"type": "Discrete", "n": 3}
    assert space_signature(gym.spaces.Box(-1, 1, (2, 3))) == {"type": "Box", "shape": [2, 3]}
    assert space_signature(gym.spaces.MultiBinary(4)) == {"type": "MultiBinary", "shape": [4]}
    assert space_signature(gym.spaces.MultiDiscrete([3, 2])) == {"type": "MultiDiscrete", "nvec": [3, 2]}
    assert space_signature(gym.spaces.Text(5)) == {"type": "Text"}


# ---------------------------------------------------------------- the user's own environments

MODULE = """
import gymnasium as gym, numpy as np

class Walk(gym.Env):
    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, length=10):
        self.length = length

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([self.t / self.length, 0], np.float32), float(action), False, self.t >= self.length, {}

gym.register("Walk-v0", entry_point=Walk)
"""

PPO_FLAGS = [
    "--num-envs",
    "2",
    "--num-steps",
    "16",
    "--minibatch-size",
    "16",
    "--epochs",
    "1",
    "--hidden-sizes",
    "8",
    "--eval-episodes",
    "2",
]


def test_a_module_id_with_kwargs_and_wrappers_trains_evaluates_and_resumes_through_the_cli(
    tmp_path, monkeypatch, capsys
):
    from actorcritic.cli.commands import main

    (tmp_path / "walk_envs_cli.py").write_text(MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))]
    )  # the command adds the cwd itself
    assert (
        main(
            [
                "train",
                "ppo",
                "--env",
                "walk_envs_cli:Walk-v0",
                "--env-kwargs",
                "length=7",
                "--wrapper",
                "gymnasium.wrappers:RecordEpisodeStatistics",
                "--total-steps",
                "64",
                *PPO_FLAGS,
                "--run-dir",
                "run",
            ]
        )
        == 0
    )
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["env"], config["env_kwargs"], config["wrappers"]) == (
        "walk_envs_cli:Walk-v0",
        ["length=7"],
        ["gymnasium.wrappers:RecordEpisodeStatistics"],
    )
    capsys.readouterr()
    assert main(["evaluate", "run", "--episodes", "1"]) == 0
    assert "ppo on walk_envs_cli:Walk-v0 after 64 steps" in capsys.readouterr().out
    assert main(["resume", "run", "--total-steps", "128"]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["total_steps"] == 128 and all(
        0 <= r <= 7 for r in summary["eval_returns"]
    )  # episodes of length 7: the kwarg


def test_env_fn_factories_train_evaluate_and_reload():
    from actorcritic import PPO, PPOConfig

    def make():
        return gym.wrappers.TimeLimit(gym.make("CartPole-v1").unwrapped, max_episode_steps=30)

    config = PPOConfig(
        env="short-cartpole", num_envs=2, num_steps=16, minibatch_size=16, epochs=1, hidden_sizes=(8,), total_steps=64
    )
    agent = PPO(config, env_fn=make).learn()
    assert max(agent.evaluate(episodes=2)) <= 30  # the factory's time limit, not CartPole's 500
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        agent.save(directory)
        assert PPO.load(directory, env_fn=make).global_step == 64
        # without the factory, the label is no id: the error says what to pass, not "unknown environment id"
        with pytest.raises(ActorCriticError, match=r"trained on an environment factory \('short-cartpole' only names"):
            PPO.load(directory)
    with pytest.raises(ActorCriticError, match="env_fn returned str"):
        PPO(config, env_fn=lambda: "CartPole-v1")


def test_an_env_instance_where_an_id_belongs_is_one_clear_error():
    from actorcritic import PPOConfig

    with pytest.raises(ActorCriticError, match="env must be an environment id .* not TimeLimit: pass a factory"):
        PPOConfig(env=gym.make("CartPole-v1"))


class _Shapes(gym.Env):
    """Observations of a given space, rewards for action 1 (or positive actions)."""

    def __init__(self, observation_space, action_space):
        self.observation_space, self.action_space = observation_space, action_space

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.observation_space.seed(seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.t += 1
        reward = float(np.sum(action))
        return self.observation_space.sample(), reward, False, self.t >= 8, {}


SPACES = {
    "dict": gym.spaces.Dict(
        {"position": gym.spaces.Box(-1, 1, (3,)), "mode": gym.spaces.Discrete(4), "flags": gym.spaces.MultiBinary(2)}
    ),
    "discrete": gym.spaces.Discrete(5),
    "multidiscrete": gym.spaces.MultiDiscrete([3, 2]),
    "matrix": gym.spaces.Box(-1, 1, (4, 4)),
    "small-image": gym.spaces.Box(0, 255, (6, 6, 3), np.uint8),
}


@pytest.mark.parametrize("space", list(SPACES))
@pytest.mark.parametrize("algo", ["ppo", "td3"])
def test_any_observation_space_is_flattened_for_the_networks(space, algo):
    from actorcritic import PPO, TD3, PPOConfig, TD3Config

    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)
    make = lambda: _Shapes(SPACES[space], action_space)  # noqa: E731
    if algo == "ppo":
        agent = PPO(
            PPOConfig(
                env=space, num_envs=2, num_steps=8, minibatch_size=8, epochs=1, hidden_sizes=(8,), total_steps=32
            ),
            env_fn=make,
        )
    else:
        agent = TD3(
            TD3Config(env=space, learning_starts=16, batch_size=8, hidden_sizes=(8,), total_steps=32, num_threads=1),
            env_fn=make,
        )
    agent.learn()
    assert len(agent.observation_space.shape) == 1 and len(agent.evaluate(episodes=1)) == 1
    raw = make().observation_space.sample()
    flat = gym.spaces.flatten(SPACES[space], raw)[None]
    assert agent.act(flat).shape == (1, 1)


def test_suggestions_leave_out_ids_whose_package_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "Box2D", None)
    monkeypatch.delitem(sys.modules, "gymnasium.envs.box2d.lunar_lander", raising=False)
    monkeypatch.delitem(sys.modules, "gymnasium.envs.box2d", raising=False)
    with pytest.raises(ActorCriticError) as refused:
        check_env_id("LunarLandr-v3")
    assert "LunarLander" not in str(refused.value)
    with pytest.raises(ActorCriticError, match="did you mean CartPole-v1"):
        check_env_id("CartPol-v1")


def test_plugin_ids_name_their_package_and_module_ids_their_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "ale_py", None)
    for name in [k for k in gym.registry if k.startswith("ALE/")]:  # as on a machine without ale-py
        monkeypatch.delitem(gym.registry, name)
    with pytest.raises(
        ActorCriticError, match="ALE/Pong-v5 needs the ale-py package, which is not installed: pip install ale-py"
    ):
        check_env_id("ALE/Pong-v5")
    with pytest.raises(ActorCriticError, match="cannot import module 'no_such_module'"):
        check_env_id("no_such_module:Walk-v0")


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--env-kwargs", "length"], "--env-kwargs 'length' is not KEY=VALUE"),
        (["--env-kwargs", "lenght=3"], "does not take these arguments"),
        (["--env-kwargs", "sutton_barto_reward=nan"], "--env-kwargs 'sutton_barto_reward=nan' is not a finite number"),
        (["--env-kwargs", "sutton_barto_reward=NaN"], "is not a finite number"),  # JSON's reading of it
        (["--env-kwargs", "sutton_barto_reward=1e400"], "is not a finite number"),
        (["--env-kwargs", "sutton_barto_reward=[1, -Infinity]"], "is not a finite number"),
        (["--wrapper", "gymnasium.wrappers:Nope"], "module 'gymnasium.wrappers' has no 'Nope'"),
        (["--wrapper", "gymnasium.wrappers:ClipReward"], "cannot wrap CartPole-v1 by itself"),
        (["--wrapper", "ClipReward"], "is not module:Name"),
        (["--wrapper", "gymnasium.wrappers:ClipReward:min_reward"], "'min_reward' is not KEY=VALUE"),
        (["--wrapper", "gymnasium.wrappers:ClipReward:min_reward=nan"], "is not a finite number"),
        (["--wrapper", "gymnasium.wrappers:ClipReward:nope=1"], "cannot wrap CartPole-v1 with these arguments"),
    ],
)
def test_bad_kwargs_and_wrappers_are_one_line(flags, fragment, tmp_path, capsys):
    from conftest import assert_one_line_error

    from actorcritic.cli.commands import main

    assert_one_line_error(
        capsys, main(["train", "ppo", "--env", "CartPole-v1", *flags, "--run-dir", str(tmp_path / "r")]), fragment
    )
    assert not (tmp_path / "r").exists()


class _Combination(gym.Env):
    """One-step episodes; the reward counts the choices that match a hidden target (2, 0) / (1, 0, 1)."""

    def __init__(self, action_space, target):
        self.observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
        self.action_space, self.target = action_space, np.asarray(target)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        assert self.action_space.contains(np.asarray(action, dtype=self.action_space.dtype)), action
        return np.zeros(2, np.float32), float(np.sum(np.asarray(action) == self.target)), True, False, {}


@pytest.mark.parametrize("algo", ["ppo", "reinforce", "trpo", "grpo"])
@pytest.mark.parametrize(
    "space, target", [(gym.spaces.MultiDiscrete([3, 2]), (2, 0)), (gym.spaces.MultiBinary(3), (1, 0, 1))]
)
def test_several_discrete_choices_are_learned_by_the_policy_gradient_family(algo, space, target, tmp_path):
    from actorcritic.algorithms.registry import ALGORITHMS

    agent_class, config_class = ALGORITHMS[algo].agent_class, ALGORITHMS[algo].config_class
    common = dict(
        env="combination", hidden_sizes=(16,), learning_rate=3e-2 if algo != "trpo" else 1e-2, total_steps=3000
    )
    if algo == "grpo":
        config = config_class(**common, group_size=8, groups_per_update=4)
    else:
        config = config_class(
            **common,
            num_envs=8,
            num_steps=25,
            normalize_observations=False,
            normalize_rewards=False,
            **({"minibatch_size": 50} if algo != "reinforce" else {}),
        )
    make = lambda: _Combination(space, target)  # noqa: E731
    agent = agent_class(config, env_fn=make).learn()
    assert agent.act(np.zeros((1, 2), np.float32)).tolist() == [list(target)]
    export_path = tmp_path / "policy.pt"
    from actorcritic.runs.export import export_policy

    export_policy(agent, export_path, "torchscript")
    import torch

    assert torch.jit.load(str(export_path))(torch.zeros(1, 2)).tolist() == [list(target)]
    agent.save(tmp_path / "ckpt")
    assert agent_class.load(tmp_path / "ckpt", env_fn=make).act(np.zeros((1, 2), np.float32)).tolist() == [list(target)]


class _Halves(gym.Env):
    """An image whose bright half (left or right, drawn from the environment's generator) is the action to take."""

    def __init__(self, shape=(36, 36, 3)):
        self.observation_space = gym.spaces.Box(0, 255, shape, np.uint8)
        self.action_space = gym.spaces.Discrete(2)

    def _image(self):
        image = np.zeros(self.observation_space.shape, np.uint8)
        width_axis = 1 if len(self.observation_space.shape) == 2 or self.observation_space.shape[2] <= 4 else 2
        index = [slice(None)] * image.ndim
        index[width_axis] = slice(0, 18) if self.target == 0 else slice(18, None)
        image[tuple(index)] = 255
        return image

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.target = int(self.np_random.integers(2))
        return self._image(), {}

    def step(self, action):
        return self._image(), float(action == self.target), True, False, {}


@pytest.mark.parametrize(
    "algo, shape",
    [
        ("ppo", (36, 36, 3)),
        ("ppo", (36, 36)),
        ("ppo", (2, 36, 36)),
        ("trpo", (36, 36)),
        ("reinforce", (36, 36)),
        ("grpo", (36, 36)),
    ],
)
def test_image_observations_learn_through_the_nature_cnn(algo, shape, tmp_path):
    from actorcritic.algorithms.registry import ALGORITHMS
    from actorcritic.nets.cnn import NatureCNN
    from actorcritic.runs.export import export_policy

    agent_class, config_class = ALGORITHMS[algo].agent_class, ALGORITHMS[algo].config_class
    common = dict(env="halves", hidden_sizes=(16,), learning_rate=1e-3, total_steps=2048, eval_episodes=20)
    if algo == "grpo":
        config = config_class(**common, group_size=8, groups_per_update=4)
    else:
        config = config_class(
            **common, num_envs=8, num_steps=16, **({"minibatch_size": 32} if algo != "reinforce" else {})
        )
    make = lambda: _Halves(shape)  # noqa: E731
    agent = agent_class(config, env_fn=make).learn()
    assert isinstance(agent.model.encoder, NatureCNN) and agent.observation_space.shape == shape
    assert np.mean(agent.evaluate()) >= 0.9  # the random policy scores 0.5
    images = np.stack([make().reset(seed=s)[0] for s in range(6)])
    for fmt in ("torchscript", "onnx"):
        path = export_policy(agent, tmp_path / f"policy.{fmt}", fmt)
        if fmt == "onnx":
            import onnxruntime

            exported = onnxruntime.InferenceSession(str(path)).run(None, {"observation": images.astype(np.float32)})[0]
        else:
            import torch

            exported = torch.jit.load(str(path))(torch.from_numpy(images.astype(np.float32))).numpy()
        assert np.array_equal(exported, agent.act(images))
    agent.save(tmp_path / "ckpt")
    assert np.array_equal(agent_class.load(tmp_path / "ckpt", env_fn=make).act(images), agent.act(images))


def test_cnn_policies_train_with_several_seeds_each_with_its_own_encoder():
    from actorcritic import PPO, PPOConfig, SeedGroup

    make = lambda: _Halves((36, 36))  # noqa: E731
    # a few updates: learning through the CNN is checked above, one seed at a time
    config = PPOConfig(
        env="halves",
        hidden_sizes=(16,),
        learning_rate=1e-3,
        total_steps=512,
        eval_episodes=4,
        num_envs=8,
        num_steps=16,
        minibatch_size=32,
        seeds=(0, 1),
    )
    group = SeedGroup(PPO, config, env_fn=make).learn()
    first, second = (agent.model.encoder for agent in group.agents)
    assert first is not second and not torch.equal(first.linear[0].weight, second.linear[0].weight)
    assert [len(returns) for returns in group.evaluate()] == [4, 4]
    alone = PPO(dataclasses.replace(config, seeds=(), seed=1), env_fn=make).learn()
    assert all(torch.equal(a, b) for a, b in zip(alone.model.parameters(), group.seed_agent(1).model.parameters()))


def test_encoder_choices_and_image_refusals():
    from actorcritic import PPO, TD3, PPOConfig, TD3Config

    tiny = dict(env="halves", num_envs=2, num_steps=8, minibatch_size=8, hidden_sizes=(8,))
    assert PPO(PPOConfig(**tiny, encoder="mlp"), env_fn=_Halves).observation_space.shape == (
        36 * 36 * 3,
    )  # flattened pixels
    with pytest.raises(ActorCriticError, match="--encoder cnn needs uint8 image observations"):
        PPO(PPOConfig(env="CartPole-v1", encoder="cnn", num_envs=2, num_steps=8, minibatch_size=8))
    continuous = lambda: gym.wrappers.TransformAction(  # noqa: E731
        _Halves(), lambda a: int(a[0] > 0), gym.spaces.Box(-1, 1, (1,), np.float32)
    )
    with pytest.raises(ActorCriticError, match="td3 has no image encoder"):
        TD3(TD3Config(env="halves", hidden_sizes=(8,), num_threads=1), env_fn=continuous)
    flat = TD3(
        TD3Config(env="halves", hidden_sizes=(8,), num_threads=1, encoder="mlp", buffer_size=1000), env_fn=continuous
    )
    assert flat.observation_space.shape == (3888,)


def test_env_kwargs_values_are_read_as_json_where_they_parse():
    from actorcritic.envs.make import parse_env_kwargs

    assert parse_env_kwargs(
        ("length=7", "slope=0.5", "flag=true", "name=8x8", "sizes=[1, 2]", "none=null", "word=infinite")
    ) == {"length": 7, "slope": 0.5, "flag": True, "name": "8x8", "sizes": [1, 2], "none": None, "word": "infinite"}


def test_wrapper_arguments_are_read_like_env_kwargs():
    from actorcritic.envs.make import parse_wrapper

    assert parse_wrapper("gymnasium.wrappers:ClipReward") == ("gymnasium.wrappers:ClipReward", {})
    assert parse_wrapper('m:W:a=1,b=[1, 2],c={"x": [3, 4]},d=text') == (
        "m:W",
        {"a": 1, "b": [1, 2], "c": {"x": [3, 4]}, "d": "text"},
    )


def test_wrappers_with_arguments_train_evaluate_and_are_recorded(tmp_path, capsys):
    """SB3 users stack frames with FrameStackObservation(env, stack_size=3) and clip rewards for training."""
    from actorcritic.cli.commands import main

    run = tmp_path / "r"
    stack = "gymnasium.wrappers:FrameStackObservation:stack_size=3"
    clip = "gymnasium.wrappers:ClipReward:min_reward=-0.5,max_reward=0.5"
    flags = [
        "--env",
        "CartPole-v1",
        "--total-steps",
        "256",
        "--num-envs",
        "2",
        "--num-steps",
        "64",
        "--minibatch-size",
        "64",
    ]
    assert main(["train", "ppo", *flags, "--wrapper", stack, "--training-wrapper", clip, "--run-dir", str(run)]) == 0
    config = json.loads((run / "config.json").read_text())
    assert (config["wrappers"], config["training_wrappers"]) == ([stack], [clip])
    from actorcritic import PPO

    agent = PPO.load(run / "checkpoint")
    assert agent.observation_space.shape == (12,)  # 3 stacked CartPole observations, flattened
    assert main(["evaluate", str(run), "--episodes", "1"]) == 0


# ---------------------------------------------------------------- a custom environment's mistakes (issue 41, item 5)

BROKEN = """
import gymnasium as gym, numpy as np

class Declared(gym.Env):
    observation_space = gym.spaces.Box(-1, 1, (4,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(4, np.float32), {}

    def step(self, action):
        return np.zeros(4, np.float32), 1.0, False, False, {}

class WrongShape(Declared):
    def step(self, action):
        return np.zeros(3, np.float32), 1.0, False, False, {}

class WrongDtype(Declared):
    def reset(self, *, seed=None, options=None):
        return np.array(["a"] * 4), {}

class OldStep(Declared):
    def step(self, action):
        return np.zeros(4, np.float32), 1.0, False, {}

class OldReset(Declared):
    def reset(self, *, seed=None, options=None):
        return np.zeros(4, np.float32)

for name in ("Declared", "WrongShape", "WrongDtype", "OldStep", "OldReset"):
    gym.register(f"{name}-v0", entry_point=globals()[name])
"""


@pytest.mark.parametrize(
    "env, fragments",
    [
        ("WrongShape-v0", ["WrongShape-v0's step returned an observation of shape (3,)", "declares shape (4,)"]),
        ("WrongDtype-v0", ["WrongDtype-v0's reset returned an observation of shape (4,) and dtype <U1"]),
        ("OldStep-v0", ["OldStep-v0's step returned", "not the 5 of Gymnasium's API"]),
        ("OldReset-v0", ["OldReset-v0's reset returned a ndarray, not (observation, info)"]),
    ],
)
def test_an_environment_that_breaks_its_declared_spaces_is_one_line_and_leaves_nothing(
    env, fragments, tmp_path, monkeypatch, capsys
):
    from conftest import assert_one_line_error

    from actorcritic.cli.commands import main

    (tmp_path / "broken_envs.py").write_text(BROKEN)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    flags = ["--env", f"broken_envs:{env}", "--total-steps", "64", *PPO_FLAGS, "--run-dir", "run"]
    assert_one_line_error(capsys, main(["train", "ppo", *flags]), *fragments)
    assert not (tmp_path / "run").exists()
    (tmp_path / "mine").mkdir()  # a directory the user made stays, emptied of what the refused run wrote
    assert_one_line_error(capsys, main(["train", "ppo", *flags[:-1], "mine"]), *fragments)
    assert list((tmp_path / "mine").iterdir()) == []
    assert main(["train", "ppo", *flags[:1], "broken_envs:Declared-v0", *flags[2:]]) == 0  # the check can pass


def test_evaluation_cuts_an_episode_of_an_environment_without_a_time_limit(tmp_path, monkeypatch, capsys):
    (tmp_path / "endless_envs.py").write_text(BROKEN.replace('f"{name}-v0"', 'f"Endless{name}-v0"'))
    monkeypatch.syspath_prepend(str(tmp_path))
    from actorcritic import PPO, PPOConfig

    config = PPOConfig(
        env="endless_envs:EndlessDeclared-v0",
        total_steps=64,
        num_envs=2,
        num_steps=16,
        minibatch_size=16,
        hidden_sizes=(8,),
    )
    agent = PPO(dataclasses.replace(config, eval_max_steps=250))
    assert agent.evaluate(2) == [250.0, 250.0]  # reward 1 a step, cut at 250
    assert capsys.readouterr().err.count("was cut at 250 steps, its return so far counted") == 1  # once
    import actorcritic.envs.evaluation as evaluation

    monkeypatch.setattr(evaluation, "UNLIMITED_EPISODE_CAP", 300)  # the default cap, made small to test it
    assert PPO(config).evaluate(1) == [300.0]


def test_act_reads_the_environments_own_observations_as_training_flattened_them():
    """`policy_observations`: one observation or a vector environment's batch of a Discrete, Tuple, Dict or
    MultiDiscrete space becomes the flat rows FlattenObservation gives; flat rows pass as they are; anything else
    is one line naming both forms."""
    from actorcritic.envs.observations import policy_observations

    spaces = {
        "discrete": (gym.spaces.Discrete(3), 2, np.array([0, 2])),
        "multi": (gym.spaces.MultiDiscrete([2, 3]), np.array([1, 2]), np.array([[1, 2], [0, 0]])),
        "tuple": (
            gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Box(-1, 1, (2,)))),
            (1, np.array([0.5, -0.5], np.float32)),
            (np.array([1, 0]), np.array([[0.5, -0.5], [0.25, 0.0]], np.float32)),
        ),
        "dict": (
            gym.spaces.Dict(a=gym.spaces.Discrete(2), b=gym.spaces.Box(-1, 1, (2,))),
            {"a": 1, "b": np.array([0.5, -0.5], np.float32)},
            {"a": np.array([1, 0]), "b": np.array([[0.5, -0.5], [0.25, 0.0]], np.float32)},
        ),
    }
    for space, one, batch in spaces.values():
        flat_shape = (gym.spaces.flatdim(space),)
        rows, single = policy_observations(one, flat_shape, space)
        assert single and np.array_equal(rows, gym.spaces.flatten(space, one)[None])
        rows, single = policy_observations(batch, flat_shape, space)
        expected = [
            gym.spaces.flatten(space, item)
            for item in gym.vector.utils.iterate(gym.vector.utils.batch_space(space, 2), batch)
        ]
        assert not single and np.array_equal(rows, np.stack(expected))
        assert policy_observations(rows, flat_shape, space)[0] is rows  # flat rows as they are
        assert policy_observations(rows[0].astype(np.float32), flat_shape, space)[1]
    with pytest.raises(
        ActorCriticError, match=r"neither of the environment's space Discrete\(3\).*flat input of shape \(3,\)"
    ):
        policy_observations(np.zeros((2, 5)), (3,), gym.spaces.Discrete(3))
    with pytest.raises(ActorCriticError, match=r"act got observations of shape \(5,\), which are neither the policy's"):
        policy_observations(np.zeros(5), (4,), gym.spaces.Box(-1, 1, (4,)))
