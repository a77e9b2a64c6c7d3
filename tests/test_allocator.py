"""The process keeps freed memory between updates (algorithms/allocator.py): an update's large activations,
freed and allocated again by the next update, come back without page faults."""

import platform
import subprocess
import sys

import pytest

FAULTS_PER_STEP = """
import resource, sys
import actorcritic.algorithms.engine as engine
if sys.argv[1] == "default":  # glibc's own thresholds: the agent does not set them
    engine.retain_freed_memory = lambda: False
from actorcritic import CrossQ, CrossQConfig
agent = CrossQ(CrossQConfig(
    env="Pendulum-v1", seed=0, total_steps=1000, learning_starts=20, critic_hidden_sizes=(1024, 1024), num_threads=1
))
agent.learn(25)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
agent.learn(5)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_an_updates_freed_activations_come_back_without_page_faults():
    def faults_per_step(mode: str) -> float:
        output = subprocess.run(
            [sys.executable, "-c", FAULTS_PER_STEP, mode], check=True, capture_output=True, text=True
        )
        return float(output.stdout.split()[-1])

    # CrossQ's 1024-wide critics on 512 rows: activations of 2 MiB and more, freed after every update
    retained, default = faults_per_step("retain"), faults_per_step("default")
    assert retained < default / 4, (retained, default)
