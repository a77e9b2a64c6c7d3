"""The runs shared by several contract checks, each trained once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Recorder

from actorcritic.algorithms.registry import ALGORITHMS
from actorcritic.cli.commands import main

from .smoke import smoke_config, smoke_flags

# ---------------------------------------------------------------- runs shared by several checks


class Runs:
    """Runs trained once per session: through the command line, and uninterrupted through the API."""

    def __init__(self, root: Path):
        self.root = root
        self._cli: dict[tuple, Path] = {}
        self._uninterrupted: dict[str, tuple] = {}

    def cli(self, name: str, *extra: str) -> Path:
        """The run directory of `actorcritic train NAME <smoke flags> <extra>`."""
        key = (name, *extra)
        if key not in self._cli:
            run_dir = self.root / f"{name}-{len(self._cli)}"
            code = main(["train", name, *smoke_flags(name), *extra, "--run-dir", str(run_dir)])
            assert code == 0, f"actorcritic train {name} {' '.join(extra)} exited with {code}"
            self._cli[key] = run_dir
        return self._cli[key]

    def uninterrupted(self, name: str):
        """(the agent of `agent_class(smoke config).learn()`, its metrics rows, its saved checkpoint)."""
        if name not in self._uninterrupted:
            recorder = Recorder()
            agent = ALGORITHMS[name].agent_class(smoke_config(name)).learn(callbacks=[recorder])
            directory = self.root / f"{name}-uninterrupted"
            agent.save(directory)
            self._uninterrupted[name] = (agent, recorder.rows, directory)
        return self._uninterrupted[name]


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> Runs:
    return Runs(tmp_path_factory.mktemp("contract"))
