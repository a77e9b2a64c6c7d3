"""The actorcritic side of each benchmark script runs (the peers need the `bench` extra; not run here)."""

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import a2c_vs_sb3  # noqa: E402
import eager_floor  # noqa: E402
import her_vs_sb3  # noqa: E402
import maskable_ppo_vs_sb3_contrib  # noqa: E402
import offpolicy_update_compile  # noqa: E402
import offpolicy_update_profile  # noqa: E402
import offpolicy_vs_sb3  # noqa: E402
import ppo_vs_sb3  # noqa: E402
import recurrent_ppo_vs_sb3_contrib  # noqa: E402
import tqc_crossq_vs_peers  # noqa: E402
import trpo_vs_sb3_contrib  # noqa: E402


@pytest.mark.parametrize(
    "run",
    [
        lambda: ppo_vs_sb3.run_actorcritic({**ppo_vs_sb3.CASES["cartpole"], "num_steps": 32}, 256, 0, 1),
        lambda: trpo_vs_sb3_contrib.run_actorcritic("CartPole-v1", 2048, 0),
        lambda: a2c_vs_sb3.run_actorcritic(a2c_vs_sb3.CASES["cartpole"], 400, 0, 1),
        lambda: offpolicy_vs_sb3.run_actorcritic("sac", "Pendulum-v1", 50, 20, 0, 1),
        lambda: tqc_crossq_vs_peers.run_actorcritic("tqc", "Pendulum-v1", 50, 20, 0, 1),
        lambda: tqc_crossq_vs_peers.run_actorcritic("crossq", "Pendulum-v1", 50, 20, 0, 1, critic_width=64),
        lambda: offpolicy_vs_sb3.run_actorcritic(
            "td3", "Pendulum-v1", 50, 20, 0, 1, precision="bf16", num_seeds=2, force_bf16=True
        ),  # forced: the benchmark's bf16 code runs also where the CPU would emulate bf16 (CI's may)
        lambda: ppo_vs_sb3.run_actorcritic({**ppo_vs_sb3.CASES["cartpole"], "num_steps": 32}, 512, 0, 1, num_seeds=2),
        lambda: her_vs_sb3.run_actorcritic(4, 50, 20, 0, 1),
        lambda: recurrent_ppo_vs_sb3_contrib.run_actorcritic(256, 0, 1),
        lambda: maskable_ppo_vs_sb3_contrib.run_actorcritic(1024, 0, 1),
        lambda: offpolicy_vs_sb3.run_floor("td3", "Pendulum-v1", 50, 20, 0, 1),
    ],
)
def test_the_actorcritic_side_of_each_benchmark_runs(run):
    result = run()
    assert result["steps_per_second"] > 0 and "eval_return" in result


def test_the_update_profile_splits_a_step_into_products_adam_and_the_rest():
    found = offpolicy_update_profile.profile_steps("sac", "Pendulum-v1", 50, 10, 1)
    assert found["products"] > 0 and found["optimizer"] > 0 and found["calls"] > 10
    assert abs(found["products"] + found["optimizer"] + found["rest"] - found["total"]) < 1e-9


def test_the_compile_benchmark_times_the_projects_own_update():
    found = offpolicy_update_compile.time_updates("sac", "Pendulum-v1", ["eager", "eager"], 3, 2, 1)
    assert [mode for mode, _, _ in found] == ["eager", "eager"] and all(ms > 0 for _, ms, _ in found)


def test_the_eager_floor_replays_the_updates_own_arithmetic():
    """Replayed from the recording, the program redoes the recorded updates bit for bit (the same operators on the
    same dataflow, parameters written in place through their flat buffers), so its time is that arithmetic's."""
    import torch

    from actorcritic import SAC, SACConfig

    agent = SAC(
        SACConfig(
            env="Pendulum-v1",
            seed=0,
            total_steps=200,
            learning_starts=50,
            hidden_sizes=(16, 16),
            batch_size=8,
            num_threads=1,
        )  # fmt: skip
    )
    agent.learn(60)
    batch = agent.collector.sample(8)
    agent.collector.sample = lambda size: batch  # the replay redraws the update's noise, not the batch
    noise_state = agent.generator.get_state()
    flat = agent.learner.actor_flat.parameter
    before = flat.detach().clone()
    program = eager_floor.record_updates(agent, 2)
    assert not torch.equal(flat.detach(), before)
    agent.generator.set_state(noise_state)
    with torch.no_grad():
        program.replay()
    copy = program.storages[flat.untyped_storage().data_ptr()]
    replayed = torch.empty(0).set_(copy, 0, flat.shape, (1,))
    assert torch.equal(replayed, flat.detach())
    found = eager_floor.update_floor(agent, seconds=0.05, updates=2)
    # times only as numbers: each floor is the difference of two timings, which another process on the cores (the
    # other test worker) can make negative for an update this small
    assert all(math.isfinite(found[key]) for key in ("replay_ms", "floor_ms", "products_ms"))
    assert found["replay_ms"] > 0 and found["floor_ms"] <= found["replay_ms"]
    assert found["operators"] > found["products"] > 10
