"""What the experiments share: runs spread over processes (results in order, the first error stops the rest)
and run directories that refuse a run of other options."""

import os
from pathlib import Path

import pytest

from actorcritic.errors import ActorCriticError
from actorcritic.experiments.common import run_units, unit_directory


def tenfold_unless_two(n: int, started: str, threads: int) -> int:
    """A unit: leaves a mark that it started, fails for n = 2, dies for n = 7, else returns 10 n."""
    Path(started, str(n)).touch()
    if n == 2:
        raise ActorCriticError("unit 2 failed")
    if n == 7:
        os._exit(3)
    assert threads == 1
    return 10 * n


def test_units_run_in_processes_and_come_back_in_order(tmp_path):
    assert run_units(tenfold_unless_two, [(n, str(tmp_path)) for n in (5, 1, 3)], jobs=2) == [50, 10, 30]
    assert run_units(tenfold_unless_two, [(n, str(tmp_path)) for n in (4, 6)], jobs=1) == [40, 60]


def test_the_first_error_stops_the_units_not_yet_started(tmp_path):
    units = [(2, str(tmp_path))] + [(n, str(tmp_path)) for n in range(10, 30)]
    with pytest.raises(ActorCriticError, match="unit 2 failed"):
        run_units(tenfold_unless_two, units, jobs=2)
    assert len(list(tmp_path.iterdir())) < len(units)
    with pytest.raises(
        ActorCriticError, match=r"run 2 of the experiment stopped \(exit code 3\): run the command again"
    ):
        run_units(tenfold_unless_two, [(1, str(tmp_path)), (7, str(tmp_path))], jobs=2)


def test_a_unit_directory_refuses_a_run_of_other_options(tmp_path):
    first = unit_directory(tmp_path, {"lr": 1e-3, "sizes": (64, 64)}, "Env-v0", "seed-0")
    assert first == tmp_path / "runs" / "Env-v0" / "seed-0" and first.is_dir()
    assert (
        unit_directory(tmp_path, {"lr": 1e-3, "sizes": (64, 64)}, "Env-v0", "seed-0") == first
    )  # the same options: continue
    with pytest.raises(ActorCriticError, match="seed-0 holds a run with other options"):
        unit_directory(tmp_path, {"lr": 3e-4, "sizes": (64, 64)}, "Env-v0", "seed-0")
