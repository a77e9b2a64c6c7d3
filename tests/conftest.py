"""Test doubles shared by the test files, and how `make test` shares the cores among its workers."""

from __future__ import annotations

import os

import pytest
import torch

from actorcritic.nets.actor_critic import ActorCritic

WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # set in the processes of `make test`'s pytest-xdist workers


def pytest_runtest_setup(item):
    if WORKER:
        # `make test` runs one worker per core: a worker's torch ops on more threads than its own core spin-wait
        # against the other worker's (4x slower, measured). Before every test, since an agent built with the
        # off-policy default (2 threads) would otherwise leave its worker on 2 for the tests after it.
        torch.set_num_threads(1)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config, specs):
    """The workers (and the processes their tests start) wait for OpenMP work asleep, not spinning: an off-policy
    agent sets its own default of 2 threads, and those spun against the other worker's process; a SAC test's 300
    steps took 5.4 s so, 1.2 s passive and 1.0 s on one thread (2 cores, both busy). The policy is read once, when
    a process loads torch, so it is set here, in the environment the workers start with."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    """`-n auto`: one worker per core this process may run on (pytest-xdist's own count is of physical cores, one
    on a 2-vCPU machine whose vCPUs are one core's hyperthreads). macOS has no affinity: all its cores."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadscope` (`make test`) by test file, so that a file's module fixtures are built once, except the
    contract suite, which goes by algorithm: one algorithm's checks share the runs its session fixture trains once,
    and the algorithms spread over the workers."""
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByFileAndContractAlgorithm(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path, _, test = nodeid.partition("::")
            if path.startswith("tests/contract/") and test.endswith("]"):
                return "contract " + test[test.index("[") + 1 : -1]
            return path

    return ByFileAndContractAlgorithm(config, log)


class Recorder:
    """A training callback that keeps every metrics row and counts the checkpoint and end events."""

    def __init__(self, stop_after: int | None = None):
        self.rows: list[dict] = []
        self.checkpoints: list[int] = []
        self.ended = 0
        self.stop_after = stop_after

    def on_log(self, agent, metrics: dict) -> bool:
        self.rows.append(dict(metrics))
        return self.stop_after is None or len(self.rows) < self.stop_after

    def on_checkpoint(self, agent) -> None:
        self.checkpoints.append(agent.global_step)

    def on_end(self, agent) -> None:
        self.ended += 1


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def make_actor_critic(continuous: bool = True, seed: int = 0) -> ActorCritic:
    """A small actor-critic: Gaussian over 2 actions from 3 observations, or softmax over 3 actions from 2."""
    torch.manual_seed(seed)
    if continuous:
        return ActorCritic(3, (16, 16), action_dim=2, log_std_init=-0.5)
    return ActorCritic(2, (8,), num_actions=3)


def assert_one_line_error(capsys, code: int, *fragments: str) -> None:
    """The command failed with exit code 2 and one stderr line holding every fragment."""
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("actorcritic: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
