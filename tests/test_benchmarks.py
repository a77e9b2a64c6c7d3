"""The actorcritic side of each benchmark script runs (the peers need the `bench` extra; not run here)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import a2c_vs_sb3  # noqa: E402
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
        lambda: tqc_crossq_vs_peers.run_actorcritic("crossq", "Pendulum-v1", 50, 20, 0, 1),
        lambda: offpolicy_vs_sb3.run_actorcritic(
            "td3", "Pendulum-v1", 50, 20, 0, 1, precision="bf16", num_seeds=2, force_bf16=True
        ),  # forced: the benchmark's bf16 code runs also where the CPU would emulate bf16 (CI's may)
        lambda: ppo_vs_sb3.run_actorcritic({**ppo_vs_sb3.CASES["cartpole"], "num_steps": 32}, 512, 0, 1, num_seeds=2),
        lambda: her_vs_sb3.run_actorcritic(4, 50, 20, 0, 1),
        lambda: recurrent_ppo_vs_sb3_contrib.run_actorcritic(256, 0, 1),
        lambda: maskable_ppo_vs_sb3_contrib.run_actorcritic(1024, 0, 1),
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
