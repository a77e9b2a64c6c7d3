"""Several seeds in one process (actorcritic/seeds.py): independence of the seeds for every algorithm, equality
with single-seed runs, the run directory of a multi-seed run, and its commands."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from conftest import Recorder, assert_one_line_error
from contract.smoke import WITH_SEEDS, smoke_config

from actorcritic import PPO, SAC, TD3, PPOConfig, SACConfig, TD3Config
from actorcritic.algorithms.registry import ALGORITHMS
from actorcritic.cli.commands import main
from actorcritic.errors import ActorCriticError
from actorcritic.nets.recurrent import Sequences
from actorcritic.runs.seeds import SeedGroup, load_agent_or_group, make_agent

# That a seed trains bit-identically alone and beside others is the contract suite's check
# (tests/contract); here, what else holds between seeds, for every registered algorithm with seeds.


def train(name: str, seeds: tuple[int, ...]) -> tuple[object, list[dict]]:
    """`name` with its smoke settings (from the registry) and `seeds`."""
    recorder = Recorder()
    config = dataclasses.replace(smoke_config(name), seeds=seeds)
    agent = make_agent(ALGORITHMS[name].agent_class, config).learn(callbacks=[recorder])
    return agent, recorder.rows


def state_tensors(agent) -> dict[str, torch.Tensor]:
    """Everything a checkpoint of `agent` holds as tensors: parameters, optimiser state, buffers, statistics."""
    tensors = {
        f"module.{name}.{key}": value
        for name, module in agent._modules().items()
        for key, value in module.state_dict().items()
    }
    for name, optimizer in agent._optimizers().items():
        for index, state in enumerate(optimizer.state.values()):
            tensors.update(
                {f"optimizer.{name}.{index}.{key}": value for key, value in state.items() if torch.is_tensor(value)}
            )
    tensors.update({f"extra.{key}": value for key, value in agent._extra_state()[0].items()})
    return tensors


def seed_loss(agent, obs: torch.Tensor) -> torch.Tensor:
    """A loss through seed `agent`'s networks: the critics' value of the actor's actions (off-policy), or the
    policy's and the value's outputs (on-policy)."""
    learner = getattr(agent, "learner", agent)
    if hasattr(learner, "critics"):
        return learner.critics.q(obs, learner.act(obs)).sum()
    if getattr(agent, "recurrent", False):  # one step of every observation, from zeros
        obs = Sequences(obs[None], torch.zeros(1, len(obs)), learner.model.initial_state(len(obs)))
    policy_out, values = learner.model(obs)
    return policy_out.sum() + (values.sum() if values is not None else 0)


@pytest.mark.parametrize("name", WITH_SEEDS)
def test_nothing_flows_between_seeds(name):
    """Two seeds are a SeedGroup of two agents; no tensor is shared between them; seed 0's loss has no gradient
    with respect to any of seed 1's parameters; training seed 0 further leaves every tensor and the generator
    of seed 1 as they were."""
    group, _ = train(name, (0, 1))
    assert isinstance(group, SeedGroup) and group.seeds == [0, 1]
    assert not isinstance(
        make_agent(ALGORITHMS[name].agent_class, smoke_config(name)), SeedGroup
    )  # one seed: one agent
    seed0, seed1 = group.seed_agent(0), group.seed_agent(1)
    tensors0, tensors1 = state_tensors(seed0), state_tensors(seed1)  # both held alive, so no address is reused
    pointers = lambda tensors: {t.untyped_storage().data_ptr() for t in tensors.values() if t.numel()}  # noqa: E731
    assert not pointers(tensors0) & pointers(tensors1)
    assert seed0.generator is not seed1.generator and seed0.envs is not seed1.envs

    obs = torch.as_tensor(np.stack([seed0.observation_space.sample() for _ in range(4)]), dtype=torch.float32)
    parameters1 = [p for module in seed1._modules().values() for p in module.parameters() if p.requires_grad]
    gradients = torch.autograd.grad(seed_loss(seed0, obs), parameters1, allow_unused=True)
    assert all(g is None or not g.any() for g in gradients)
    assert any(
        g is not None and g.any() for g in torch.autograd.grad(seed_loss(seed1, obs), parameters1, allow_unused=True)
    )  # the check can fail

    before, generator_before = state_tensors(seed1), seed1.generator.get_state()
    before = {key: value.clone() for key, value in before.items()}
    gradients_before = [None if p.grad is None else p.grad.clone() for p in parameters1]  # of seed 1's own last update
    seed0.learn(60)
    after = state_tensors(seed1)
    assert all(torch.equal(before[key], after[key]) for key in before) and torch.equal(
        generator_before, seed1.generator.get_state()
    )
    assert all((g is None and p.grad is None) or torch.equal(g, p.grad) for g, p in zip(gradients_before, parameters1))


def test_no_two_seeds_share_an_environment_stream():
    """Copy i of seed s reset with s + i would make seed 0's copy 1 seed 1's copy 0: every (seed, copy) and
    every evaluation episode of the seeds gets a reset seed of its own."""
    from actorcritic.envs.seeding import EVALUATION_RESETS, TRAINING_RESETS, reset_seeds

    group = SeedGroup(PPO, dataclasses.replace(smoke_config("ppo", num_envs=4), seeds=(0, 1, 2, 3)))
    for agent in group.agents:
        agent._reset_envs()
    training = [seed for agent in group.agents for seed in agent.envs.get_attr("reset_seed")]
    assert training == [seed for s in range(4) for seed in reset_seeds(s, TRAINING_RESETS, 4)]
    evaluation = [seed for s in range(4) for seed in reset_seeds(s, EVALUATION_RESETS, 10)]
    assert len(set(training)) == 16 and len(set(evaluation)) == 40 and not set(training) & set(evaluation)
    restart = [seed for s in range(4) for seed in reset_seeds(s, TRAINING_RESETS, 4, position=2048)]
    assert not set(restart) & set(training)  # a restart mid-run draws new start states, not the first ones again


def test_act_save_load_and_seed_agent(tmp_path):
    group, _ = train("td3", (3, 5))
    obs = np.stack([group.observation_space.sample() for _ in range(2)])  # one observation per seed
    actions = group.act(obs)
    assert actions.shape == (2, 1)
    assert np.allclose(actions[1], group.seed_agent(1).act(obs[1]))
    batched = group.act(np.stack([obs, obs]))  # [S, B, obs_dim] -> [S, B, A]
    assert batched.shape == (2, 2, 1)
    with pytest.raises(ActorCriticError, match="observations for 3 seeds"):
        group.act(np.stack([obs[0]] * 3))
    group.save(tmp_path / "group")
    loaded = SeedGroup.load(TD3, tmp_path / "group")
    assert isinstance(loaded, SeedGroup) and loaded.seeds == [3, 5] and np.array_equal(loaded.act(obs), actions)
    single = group.seed_agent(1)
    single.save(tmp_path / "single")
    assert np.array_equal(TD3.load(tmp_path / "single").act(obs[1]), actions[1])


def test_a_callback_that_stops_stops_only_its_seed():
    class StopSeedOne:
        def __init__(self):
            self.rows, self.ends = [], []

        def on_log(self, agent, metrics):
            self.rows.append((metrics["seed"], metrics["global_step"]))
            return not (metrics["seed"] == 1 and metrics["global_step"] >= 64)

        def on_end(self, agent):
            self.ends.append(agent.config.seed)

    config = dataclasses.replace(smoke_config("ppo"), seeds=(0, 1))
    rollout = config.num_envs * config.num_steps  # one metrics row per rollout
    callback = StopSeedOne()
    group = SeedGroup(PPO, config).learn(callbacks=[callback])
    assert [step for seed, step in callback.rows if seed == 1] == [64]
    assert [step for seed, step in callback.rows if seed == 0] == list(range(rollout, config.total_steps + 1, rollout))
    assert callback.rows[:2] == [(0, 64), (1, 64)]  # the seeds advance in lockstep
    assert sorted(callback.ends) == [0, 1] and [a.global_step for a in group.agents] == [config.total_steps, 64]


@pytest.mark.parametrize("seeds, message", [((1, 1), "seed 1 twice"), ((0, -1), "--seeds -1 is out of range")])
def test_bad_seed_lists_are_refused(seeds, message):
    with pytest.raises(ActorCriticError, match=message):
        PPOConfig(seeds=seeds)


def test_one_listed_seed_is_the_single_seed_run():
    config = PPOConfig(seeds=(7,))
    assert config.seed == 7 and config.seeds == ()


# ---------------------------------------------------------------- the command line

TD3_FLAGS = [
    "td3",
    "--env",
    "Pendulum-v1",
    "--total-steps",
    "300",
    "--learning-starts",
    "100",
    "--batch-size",
    "16",
    "--hidden-sizes",
    "8",
    "--log-every",
    "100",
    "--eval-episodes",
    "2",
    "--num-threads",
    "1",
    "--checkpoint-every",
    "200",
]


def test_a_multi_seed_run_directory(tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        main(["train", *TD3_FLAGS, "--seed", "4", "--num-seeds", "3", "--eval-every", "200", "--run-dir", str(run)])
        == 0
    )
    out = capsys.readouterr().out
    assert "3 seeds: evaluation return IQM" in out and "95% CI" in out
    config = json.loads((run / "config.json").read_text())
    assert config["seeds"] == [4, 5, 6]
    rows = (run / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("seed,global_step,") and [row.split(",")[0] for row in rows[1:4]] == ["4", "5", "6"]
    assert len(rows) == 1 + 3 * 3
    assert sorted(p.name for p in (run / "tensorboard").iterdir()) == ["seed-4", "seed-5", "seed-6"]
    assert json.loads((run / "checkpoint" / "seeds.json").read_text()) == {"seeds": [4, 5, 6]}
    assert sorted(json.loads((run / "best.json").read_text())) == ["4", "5", "6"]
    summary = json.loads((run / "summary.json").read_text())
    assert [entry["seed"] for entry in summary["per_seed"]] == [4, 5, 6]
    means = [entry["eval_return_mean"] for entry in summary["per_seed"]]
    aggregate = summary["aggregate"]
    assert aggregate["mean"] == pytest.approx(np.mean(means)) and aggregate["median"] == pytest.approx(np.median(means))
    for name in ("mean", "median", "iqm"):
        low, high = aggregate[f"{name}_ci"]
        assert min(means) <= low <= aggregate[name] <= high <= max(means)
    assert (run / "curves.png").read_bytes().startswith(b"\x89PNG")

    assert main(["evaluate", str(run), "--episodes", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == ["seed 4", "seed 5", "seed 6"] and "3 seeds: IQM" in lines[3]
    assert main(["evaluate", str(run), "--best", "--episodes", "1"]) == 0
    assert_one_line_error(
        capsys,
        main(["export", str(run), "--format", "torchscript", "--out", str(tmp_path / "p.pt")]),
        "multi-seed",
        "--seed K",
    )
    assert main(["export", str(run), "--format", "torchscript", "--out", str(tmp_path / "p.pt"), "--seed", "5"]) == 0
    assert_one_line_error(
        capsys,
        main(["export", str(run), "--format", "torchscript", "--out", str(tmp_path / "q.pt"), "--seed", "9"]),
        "seeds 4 5 6, not seed 9",
    )


def untimed_lines(run) -> list[str]:
    """metrics.csv's lines without the steps_per_second column, sorted."""
    return sorted(
        ",".join(c for i, c in enumerate(line.split(",")) if i != 6)
        for line in (run / "metrics.csv").read_text().splitlines()
    )


def test_a_multi_seed_run_resumes_each_seed_from_its_own_checkpoint(tmp_path, capsys):
    """A crash that left the seeds at different checkpoints: each seed resumes from its own, the rows a seed
    logged after its checkpoint are dropped, and the result equals an uninterrupted run."""
    straight, crashed = tmp_path / "straight", tmp_path / "crashed"
    assert main(["train", *TD3_FLAGS, "--seeds", "0", "1", "--run-dir", str(straight)]) == 0
    assert main(["train", *TD3_FLAGS, "--seeds", "0", "1", "--run-dir", str(crashed)]) == 0
    # as if the process had died after seed 1's checkpoint at step 200, having logged its row at step 300
    seed1 = TD3.load(crashed / "checkpoint" / "seed-1")
    TD3(seed1.config).learn(200).save(crashed / "checkpoint" / "seed-1")
    capsys.readouterr()
    assert main(["resume", str(crashed)]) == 0
    assert "2 seeds" in capsys.readouterr().out
    assert untimed_lines(crashed) == untimed_lines(straight)
    assert (
        load_agent_or_group(TD3, crashed).seeds == [0, 1]
        and TD3.load(crashed / "checkpoint" / "seed-1").global_step == 300
    )
    assert_one_line_error(capsys, main(["resume", str(crashed)]), "already reached 300")


def test_a_seed_that_died_before_its_first_checkpoint_restarts_on_resume(tmp_path, capsys):
    import shutil

    straight, crashed = tmp_path / "straight", tmp_path / "crashed"
    for run in (straight, crashed):
        assert main(["train", *TD3_FLAGS, "--seeds", "0", "1", "--run-dir", str(run)]) == 0
    shutil.rmtree(crashed / "checkpoint" / "seed-1")  # as if the process had died before seed 1's first checkpoint
    assert main(["resume", str(crashed)]) == 0
    assert untimed_lines(crashed) == untimed_lines(straight)
    capsys.readouterr()
    shutil.rmtree(crashed / "checkpoint" / "seed-1")
    assert_one_line_error(capsys, main(["evaluate", str(crashed)]), "seed-1/state.json")  # only resume restarts a seed


def test_seed_flags_are_checked_before_anything_runs(tmp_path, capsys):
    run = str(tmp_path / "run")
    assert_one_line_error(
        capsys, main(["train", *TD3_FLAGS, "--num-seeds", "0", "--run-dir", run]), "--num-seeds 0 is out of range"
    )
    assert_one_line_error(
        capsys, main(["train", *TD3_FLAGS, "--num-seeds", "two", "--run-dir", run]), "not a whole number"
    )
    assert_one_line_error(
        capsys,
        main(["train", *TD3_FLAGS, "--seeds", "1", "2", "--num-seeds", "2", "--run-dir", run]),
        "give one of them",
    )
    assert_one_line_error(capsys, main(["train", *TD3_FLAGS, "--seeds", "3", "3", "--run-dir", run]), "seed 3 twice")
    assert_one_line_error(
        capsys, main(["train", "grpo-lm", "--num-seeds", "2", "--run-dir", run]), "--num-seeds is not available"
    )
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- learning with several seeds


def final_iqm(group) -> float:
    from actorcritic.analysis.statistics import aggregate_scores

    return aggregate_scores([float(np.mean(returns)) for returns in group.evaluate(episodes=10)])["iqm"]


@pytest.mark.slow
def test_ppo_cartpole_with_4_seeds_reaches_iqm_475_within_100k_steps():
    group = SeedGroup(PPO, PPOConfig.for_env("CartPole-v1", seeds=(0, 1, 2, 3))).learn()
    assert all(agent.global_step <= 100_000 + 256 for agent in group.agents)
    assert final_iqm(group) >= 475


@pytest.mark.slow
@pytest.mark.parametrize("agent_class, config_class", [(TD3, TD3Config), (SAC, SACConfig)])
def test_td3_and_sac_pendulum_with_4_seeds_reach_iqm_above_minus_250_within_20k_steps(agent_class, config_class):
    group = SeedGroup(agent_class, config_class.for_env("Pendulum-v1", seeds=(0, 1, 2, 3))).learn()
    assert all(agent.global_step <= 20_000 for agent in group.agents)
    assert final_iqm(group) > -250
