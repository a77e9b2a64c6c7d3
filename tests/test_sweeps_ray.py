"""The Ray backend of `actorcritic sweep` (actorcritic/sweeps_ray.py), on a local Ray started in the test:
a tiny sweep through `--ray auto` whose first trial loses its worker process mid-run."""

import csv
import json
import os
import signal
import threading
import time

import pytest
import ray
from conftest import assert_one_line_error
from test_sweeps import SWEEP_TOML

from actorcritic.cli.commands import main
from actorcritic.sweeps.runner import start
from actorcritic.sweeps.spec import Backend, read_sweep_file
from actorcritic.sweeps.trials import run_trial

TOTAL_STEPS = 6144
CHECKPOINT_EVERY = 1024
STEPS_PER_UPDATE = 128  # num_envs x num_steps: one metrics row per seed per update
RAY_SWEEP = (
    SWEEP_TOML.replace("total_steps = 1024", f"total_steps = {TOTAL_STEPS}")
    + f"checkpoint_every = {CHECKPOINT_EVERY}\n"
)


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


def _steps_by_seed(metrics_csv) -> dict[str, list[int]]:
    steps: dict[str, list[int]] = {}
    with open(metrics_csv) as file:
        for row in csv.DictReader(file):
            steps.setdefault(row["seed"], []).append(int(float(row["global_step"])))
    return steps


def _kill_worker_after_a_checkpoint(trials_dir, killed: dict) -> None:
    """Kill the first trial's worker once its first checkpoint is on disk and rows past it are logged."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not killed:
        for worker_file in sorted(trials_dir.glob("*.worker.json")) if trials_dir.exists() else []:
            run_dir = trials_dir / worker_file.name.removesuffix(".worker.json")
            if not (run_dir / "checkpoint" / "seeds.json").exists() or not (run_dir / "metrics.csv").exists():
                continue
            steps = _steps_by_seed(run_dir / "metrics.csv")
            if len(steps) == 2 and min(max(s) for s in steps.values()) > CHECKPOINT_EVERY + STEPS_PER_UPDATE:
                pid = json.loads(worker_file.read_text())["pid"]
                os.kill(pid, signal.SIGKILL)
                killed.update(name=run_dir.name, pid=pid, steps=steps)
                return
        time.sleep(0.02)


def test_a_ray_sweep_restarts_a_killed_trial_from_its_checkpoint(tmp_path, local_ray, capsys):
    (tmp_path / "sweep.toml").write_text(RAY_SWEEP)
    out = tmp_path / "out"
    killed: dict = {}
    killer = threading.Thread(target=_kill_worker_after_a_checkpoint, args=(out / "trials", killed), daemon=True)
    killer.start()
    assert main(["sweep", str(tmp_path / "sweep.toml"), "--out", str(out), "--ray", "auto"]) == 0
    killer.join()
    printed = capsys.readouterr().out
    assert killed, "the trial finished before its worker could be killed"
    assert f"trial {killed['name']} lost its worker; restarting it from its last checkpoint" in printed
    assert "2 done, 0 running, 0 queued" in printed, printed

    run_dir = out / "trials" / killed["name"]
    assert (
        json.loads((out / "trials" / f"{killed['name']}.worker.json").read_text())["pid"] != killed["pid"]
    )  # a new worker
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["seeds"] == [0, 1] and summary["total_steps"] == TOTAL_STEPS
    assert (
        summary["resumed_from_step"] > 0 and summary["resumed_from_step"] % CHECKPOINT_EVERY == 0
    )  # from its checkpoint, not from scratch
    every_update = list(range(STEPS_PER_UPDATE, TOTAL_STEPS + 1, STEPS_PER_UPDATE))
    for trial in (out / "trials").iterdir():
        if trial.is_dir():  # every seed of every trial: each update's row once, none missing, none repeated
            assert _steps_by_seed(trial / "metrics.csv") == {"0": every_update, "1": every_update}, trial.name

    # Tune saw the rows and holds the run's checkpoint; the sweep's own results are those of a local sweep
    tune_dirs = list((out / "ray" / "attempt-1").glob(f"{killed['name']}*"))
    assert len(tune_dirs) == 1 and list(tune_dirs[0].glob("checkpoint_*/seed-1/*.safetensors"))
    reported = [json.loads(line) for line in (tune_dirs[0] / "result.json").read_text().splitlines()]
    assert {row["global_step"] for row in reported} >= set(every_update[-4:])
    assert len((out / "results.csv").read_text().splitlines()) == 1 + 2 * 2
    assert (out / "report.md").exists()


def test_an_interrupted_ray_sweep_resumes_on_ray_keeping_its_finished_trials(tmp_path, local_ray, capsys):
    (tmp_path / "sweep.toml").write_text(RAY_SWEEP.replace(f"total_steps = {TOTAL_STEPS}", "total_steps = 1024"))
    out = tmp_path / "out"
    trials = start(read_sweep_file(tmp_path / "sweep.toml"), out, Backend(ray="auto"))
    run_trial(out, trials[0].name, 1)  # the first trial finished, then the sweep was stopped
    finished = out / "trials" / trials[0].name / "summary.json"
    before = finished.stat().st_mtime_ns
    assert main(["sweep", "--resume", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "sweep: 1 done, 0 running, 1 queued" in printed and "sweep: 2 done, 0 running, 0 queued" in printed
    assert finished.stat().st_mtime_ns == before
    assert (out / "trials" / trials[1].name / "summary.json").exists() and (
        out / "ray" / "attempt-1" / trials[1].name
    ).exists()
    assert not (out / "ray" / "attempt-1" / trials[0].name).exists()  # the finished trial was not run again
    assert len((out / "results.csv").read_text().splitlines()) == 1 + 2 * 2


def test_ray_sweep_options_are_checked_before_anything_runs(tmp_path, capsys):
    (tmp_path / "sweep.toml").write_text(RAY_SWEEP)
    sweep = ["sweep", str(tmp_path / "sweep.toml"), "--out", str(tmp_path / "o")]
    assert_one_line_error(capsys, main([*sweep, "--ray", "auto", "--jobs", "2"]), "--jobs is for local sweeps")
    assert_one_line_error(
        capsys, main([*sweep, "--ray", "auto", "--cpus-per-trial", "0"]), "--cpus-per-trial 0 is out of range"
    )
    assert_one_line_error(capsys, main([*sweep, "--cpus-per-trial", "2"]), "--cpus-per-trial is for Ray sweeps")
    assert_one_line_error(capsys, main([*sweep, "--ray", "localhost"]), "is not an address")
    assert_one_line_error(capsys, main([*sweep, "--ray", "127.0.0.1:1"]), "no Ray cluster answers at 127.0.0.1:1")
    assert not (tmp_path / "o").exists()
    start(read_sweep_file(tmp_path / "sweep.toml"), tmp_path / "o", Backend(jobs=2))  # a local sweep ...
    assert_one_line_error(
        capsys, main(["sweep", "--resume", str(tmp_path / "o"), "--ray", "auto"]), "is a local sweep"
    )  # ... stays local
    assert not (tmp_path / "o" / "trials").exists()


def test_ray_is_imported_only_by_a_ray_sweep():
    import subprocess
    import sys

    code = (
        "import sys, actorcritic.cli, actorcritic.sweeps.runner, actorcritic.analysis.reports, "
        "actorcritic.runs.training; from actorcritic.sweeps.runner import check_backend; "
        "from actorcritic.sweeps.spec import Backend; check_backend(Backend(jobs=1)); print('ray' in sys.modules)"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )
