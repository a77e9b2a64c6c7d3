"""scripts/full_runs.sh, with a stand-in for actorcritic that records its calls: every step runs in turn, a
failed step is reported and the next one runs, an existing sweep is resumed, and Ctrl-C (status 130) stops
the whole script rather than one step."""

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "full_runs.sh"


def run_script(tmp_path, status_of: dict) -> tuple[subprocess.CompletedProcess, list[str]]:
    calls = tmp_path / "calls"
    cases = "".join(f'  *"{name}"*) exit {status} ;;\n' for name, status in status_of.items())
    fake = tmp_path / "fake-actorcritic"
    fake.write_text(f'#!/usr/bin/env bash\necho "$*" >> {calls}\ncase "$*" in\n{cases}esac\nexit 0\n')
    fake.chmod(0o755)
    result = subprocess.run(
        ["bash", str(SCRIPT), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env={**os.environ, "ACTORCRITIC": str(fake)},
        cwd=SCRIPT.parents[1],
        timeout=60,
    )
    return result, calls.read_text().splitlines() if calls.exists() else []


def test_every_step_runs_and_a_failed_one_is_reported(tmp_path):
    (tmp_path / "out/td3-walker2d").mkdir(parents=True)
    (tmp_path / "out/td3-walker2d/sweep.json").write_text("{}")  # started earlier: resumed, not restarted
    result, calls = run_script(tmp_path, {"mismatch": 1})
    assert result.returncode == 1 and "failed: mismatch" in result.stdout
    assert [call.split()[:2] for call in calls] == [
        ["experiment", "mismatch"],
        ["experiment", "td3-overestimation"],
        ["sweep", "docs/sweeps/ppo-mujoco.toml"],
        ["sweep", "--resume"],
        ["sweep", "docs/sweeps/sac-halfcheetah.toml"],
        ["experiment", "td3-ablation"],
    ]
    assert all("--full" in call for call in calls if call.startswith("experiment"))


def test_an_interrupted_step_stops_the_script(tmp_path):
    result, calls = run_script(tmp_path, {"td3-overestimation": 130})
    assert result.returncode == 130 and "== interrupted" in result.stdout
    assert len(calls) == 2  # mismatch, then the interrupted step; nothing after it
