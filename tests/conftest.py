"""Test doubles shared by the test files."""

from __future__ import annotations

import pytest
import torch

from actorcritic.nets.actor_critic import ActorCritic


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
