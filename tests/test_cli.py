"""The `actorcritic` command: train / evaluate / resume, the run directory, and one-line errors."""

import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_one_line_error
from contract.smoke import ON_ENVIRONMENTS, smoke_flags

from actorcritic.cli import commands as cli
from actorcritic.cli.commands import main

TINY_FLAGS = [
    "--num-envs",
    "2",
    "--num-steps",
    "16",
    "--minibatch-size",
    "16",
    "--epochs",
    "1",
    "--hidden-sizes",
    "16",
    "16",
    "--eval-episodes",
    "2",
]


def train(run_dir, *extra, env="CartPole-v1", steps=64):
    return main(
        ["train", "ppo", "--env", env, "--total-steps", str(steps), "--run-dir", str(run_dir), *TINY_FLAGS, *extra]
    )


def fingerprint(directory: Path) -> dict:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "cp"
    assert train(run_dir, "--checkpoint-every", "2") == 0
    return run_dir


def test_train_writes_a_complete_run_directory(trained_run, capsys):
    assert (trained_run / "config.json").exists() and (trained_run / "checkpoint" / "tensors.safetensors").exists()
    assert list((trained_run / "tensorboard").glob("events.out.tfevents.*"))
    config = json.loads((trained_run / "config.json").read_text())
    assert config["algo"] == "ppo" and config["env"] == "CartPole-v1" and config["gamma"] == 0.98  # the CartPole preset
    with open(trained_run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 64 // (2 * 16)
    for column in (
        "global_step",
        "episode_return_mean",
        "steps_per_second",
        "policy_loss",
        "value_loss",
        "entropy",
        "approx_kl",
        "clip_fraction",
    ):
        assert column in rows[0]
    summary = json.loads((trained_run / "summary.json").read_text())
    for key in (
        "algo",
        "env",
        "seed",
        "total_steps",
        "wall_time_s",
        "steps_per_second",
        "eval_episodes",
        "eval_return_mean",
        "eval_return_std",
    ):
        assert key in summary
    assert summary["total_steps"] == 64 and summary["eval_episodes"] == 2


def test_evaluate_prints_the_return(trained_run, capsys):
    assert main(["evaluate", str(trained_run), "--episodes", "3", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "ppo on CartPole-v1 after 64 steps" in out and "over 3 episodes" in out


def test_resume_continues_the_run(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert train(run_dir) == 0
    assert main(["resume", str(run_dir), "--total-steps", "128"]) == 0
    with open(run_dir / "metrics.csv") as f:
        steps = [int(row["global_step"]) for row in csv.DictReader(f)]
    assert steps == [128 // 4 * i for i in range(1, 5)]  # one header, rows appended
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["total_steps"] == 128 and summary["resumed_from_step"] == 64
    assert json.loads((run_dir / "config.json").read_text())["total_steps"] == 128


def test_train_help_lists_fields_with_defaults(capsys):
    assert main(["train", "ppo", "--env", "CartPole-v1", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--gae-lambda" in out and "--anneal-lr" in out and "--no-anneal-lr" in out
    # the class default and, beside it, the CartPole preset's λ (what the run uses), said once in the description
    assert " ".join(out.split()).count("(default: 0.95; CartPole-v1 preset: 0.8)") == 1
    assert "The defaults shown are PPOConfig's; where the tuned preset of CartPole-v1" in " ".join(out.split())
    assert main(["train", "ppo", "--env", "Hopper-v5", "--help"]) == 0
    assert "CartPole-v1 preset" not in capsys.readouterr().out  # another environment, another preset


@pytest.mark.parametrize(
    "flags, fragments",
    [
        (["--env", "CartPole-v9"], ["unknown environment id 'CartPole-v9'", "CartPole-v1"]),
        (["--gae-lambda", "1.5"], ["--gae-lambda 1.5 is out of range"]),
        (["--total-steps", "-1"], ["--total-steps -1 is out of range"]),
        (["--clip-eps", "0"], ["--clip-eps 0.0 is out of range"]),
        (["--learning-rte", "0.1"], ["unknown flag --learning-rte", "--learning-rate"]),
        (["--epochs", "many"], ["--epochs"]),
        (["--epochs"], ["--epochs needs a value"]),
    ],
)
def test_bad_train_input_is_one_line_and_exit_2(tmp_path, capsys, flags, fragments):
    code = main(["train", "ppo", "--run-dir", str(tmp_path / "never"), *flags])
    assert_one_line_error(capsys, code, *fragments)
    assert not (tmp_path / "never").exists()


def test_unknown_algorithm_and_command(capsys):
    assert_one_line_error(capsys, main(["train", "a2d", "--env", "CartPole-v1"]), "unknown algorithm 'a2d'")
    assert_one_line_error(capsys, main(["fly"]), "unknown command 'fly'")


def test_train_refuses_to_overwrite_a_run(trained_run, capsys):
    before = fingerprint(trained_run)
    assert_one_line_error(capsys, train(trained_run), "already holds a run", "resume")
    assert fingerprint(trained_run) == before


def test_missing_run_directory(tmp_path, capsys):
    assert_one_line_error(capsys, main(["evaluate", str(tmp_path / "nope")]), "does not exist")
    assert_one_line_error(capsys, main(["resume", str(tmp_path / "nope")]), "does not exist")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(capsys, main(["evaluate", str(tmp_path / "empty")]), "no checkpoint")


def copy_run(source: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(source, target)
    return target


@pytest.mark.parametrize(
    "damage, fragments",
    [
        (
            lambda d: (d / "checkpoint" / "tensors.safetensors").write_bytes(b"\x00" * 40),
            ["corrupt checkpoint", "checksum"],
        ),
        (lambda d: (d / "checkpoint" / "state.json").write_text("{not json"), ["corrupt checkpoint"]),
        (lambda d: _edit_state(d, format_version=99), ["format version 99 is newer"]),
        (lambda d: _edit_state(d, algo="a3c"), ["unknown algorithm 'a3c'"]),
        (lambda d: _edit_state(d, algo="sac"), ["does not fit SACConfig"]),
        (lambda d: _edit_state(d, config_env="Acrobot-v1"), ["built for spaces"]),
        (lambda d: _edit_state(d, drop="counters"), ["corrupt checkpoint", "counters"]),
    ],
)
def test_corrupt_or_foreign_checkpoints_are_refused_without_damage(trained_run, tmp_path, capsys, damage, fragments):
    run_dir = copy_run(trained_run, tmp_path / "run")
    damage(run_dir)
    before = fingerprint(run_dir)
    assert_one_line_error(capsys, main(["evaluate", str(run_dir)]), *fragments)
    assert_one_line_error(capsys, main(["resume", str(run_dir), "--total-steps", "1000"]), *fragments)
    assert fingerprint(run_dir) == before


def _edit_state(run_dir, format_version=None, algo=None, config_env=None, drop=None):
    path = run_dir / "checkpoint" / "state.json"
    state = json.loads(path.read_text())
    if format_version is not None:
        state["format_version"] = format_version
    if algo is not None:
        state["algo"] = algo
    if config_env is not None:
        state["config"]["env"] = config_env
    if drop is not None:
        del state[drop]
    path.write_text(json.dumps(state))


def test_resume_needs_more_steps(trained_run, tmp_path, capsys):
    run_dir = copy_run(trained_run, tmp_path / "run")
    assert_one_line_error(capsys, main(["resume", str(run_dir)]), "already reached 64", "--total-steps")
    assert_one_line_error(capsys, main(["resume", str(run_dir), "--total-steps", "x"]), "--total-steps")


def test_checkpoint_left_by_a_crash_between_renames_is_found(trained_run, tmp_path, capsys):
    run_dir = copy_run(trained_run, tmp_path / "run")
    os.replace(run_dir / "checkpoint", run_dir / "checkpoint.prev")  # the state right after the first rename
    assert main(["evaluate", str(run_dir), "--episodes", "1"]) == 0


def test_console_script_errors_have_no_traceback(tmp_path):
    script = Path(sys.executable).with_name("actorcritic")
    result = subprocess.run(
        [str(script), "train", "ppo", "--env", "NoSuchEnv-v0", "--run-dir", str(tmp_path / "r")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert "unknown environment id 'NoSuchEnv-v0'" in result.stderr


@pytest.mark.parametrize("algo", ON_ENVIRONMENTS)
def test_every_algorithm_trains_on_a_discrete_environment_or_refuses_it_in_one_line(algo, tmp_path, capsys):
    """The contract suite's smoke runs are continuous (InvertedPendulum); on CartPole, with the same smoke
    settings, an algorithm trains and evaluates, or names the action space it needs before writing anything."""
    run = tmp_path / algo
    code = main(["train", algo, *smoke_flags(algo, env="CartPole-v1"), "--run-dir", str(run)])
    if code == 0:
        assert main(["evaluate", str(run), "--episodes", "1"]) == 0
        assert f"{algo} on CartPole-v1" in capsys.readouterr().out
    else:
        assert_one_line_error(capsys, code, f"{algo} needs a continuous (Box) action space", "Discrete(2)")
        assert not run.exists()


@pytest.mark.parametrize(
    "command",
    [
        ["train", "td3", "--env", "CartPole-v1", "--total-steps", "6000"],  # a budget the preset's warm-up exceeds
        ["experiment", "td3-ablation", "--env", "CartPole-v1"],
    ],
)
def test_the_action_space_is_the_first_complaint(command, tmp_path, capsys, monkeypatch):
    """Where the environment's action space is the problem, that is what the line says, not a budget or size
    that a config for a fitting environment would have refused."""
    monkeypatch.chdir(tmp_path)
    code = main([*command, "--run-dir" if command[0] == "train" else "--out", str(tmp_path / "out")])
    assert_one_line_error(capsys, code, "td3 needs a continuous (Box) action space, but CartPole-v1 has Discrete(2)")
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()


def test_a_closed_stdout_ends_quietly():
    for command in ("actorcritic train ppo --help | head -3", "actorcritic experiment --list | head -1"):
        completed = subprocess.run(
            command,
            shell=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
        )
        assert completed.returncode == 0 and completed.stderr == "" and len(completed.stdout.splitlines()) >= 1, (
            completed.stderr
        )


def test_python_dash_m_version_and_usage(capsys):
    completed = subprocess.run([sys.executable, "-m", "actorcritic", "--version"], capture_output=True, text=True)
    assert completed.returncode == 0 and completed.stdout.startswith("actorcritic ")
    assert main(["--help"]) == 0
    usage = capsys.readouterr().out
    assert "--version" in usage and all(
        f"actorcritic {c}" in usage for c in ("train", "resume", "evaluate", "plot", "export", "experiment")
    )
    assert main(["train", "ppo", "--help"]) == 0
    assert "--run-dir DIR" in capsys.readouterr().out


def test_the_default_environment_gets_its_preset_too():
    from actorcritic import PPOConfig
    from actorcritic.cli.parsing import parse_config

    assert parse_config(PPOConfig, [], prog="p") == PPOConfig.for_env("CartPole-v1")
    assert parse_config(PPOConfig, ["--env", "CartPole-v1"], prog="p").num_envs == 8


@pytest.mark.parametrize(
    "flags, fragments",
    [
        (
            ["reinforce", "--baseline", "foo"],
            ["--baseline", "invalid choice: 'foo'", "'none', 'mean', 'value', 'optimal'"],
        ),
        (["ppo", "--advantage", "foo"], ["--advantage", "'foo'", "'gae', 'kstep', 'mc'"]),
        (["sac", "--target-entropy", "abc"], ["--target-entropy", "invalid float value: 'abc'"]),
    ],
)
def test_invalid_values_name_the_flag_the_value_and_the_choices(capsys, flags, fragments):
    assert_one_line_error(capsys, main(["train", *flags]), *fragments)


def test_every_algorithm_and_experiment_prints_its_help(capsys):
    from actorcritic import experiments
    from actorcritic.algorithms.registry import ALGORITHMS

    for algo in ALGORITHMS:
        assert main(["train", algo, "--help"]) == 0
        assert "--seed" in capsys.readouterr().out
    for name in experiments.available():
        assert main(["experiment", name, "--help"]) == 0
        assert "--out" in capsys.readouterr().out


def test_full_is_the_experiments_claim_setting_with_other_flags_on_top(capsys):
    from actorcritic import experiments

    assert main(["experiment", "td3-ablation", "--full", "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())  # argparse wraps the help to the terminal's width
    assert "(default: 300000)" in shown and "(default: HalfCheetah-v5 Hopper-v5)" in shown
    for name in experiments.available():
        module = experiments.load(name)
        if hasattr(module, "FULL"):
            module.Config(**module.FULL)  # a valid setting
        else:
            assert_one_line_error(
                capsys, main(["experiment", name, "--full"]), f"experiment {name} has no --full setting"
            )


@pytest.mark.parametrize(
    "command, hint",
    [
        ("train", "actorcritic resume RUN_DIR"),
        ("experiment", "run the same command again"),
        ("sweep", "actorcritic sweep --resume DIR"),
    ],
)
def test_ctrl_c_says_what_is_kept_and_how_to_go_on(command, hint, monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_dispatch", interrupted)
    assert main([command, "x"]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted" in err and hint in err


def test_train_notes_busy_cores_on_stdout_only_when_the_load_says_so(tmp_path, monkeypatch, capsys):
    """Issue 41, item 6: a run started on cores other processes hold says so, in one line, on stdout (it is a
    note: the run goes on, and stderr stays for errors)."""
    import os

    flags = ["--env", "CartPole-v1", "--total-steps", "64", "--num-envs", "2", "--num-steps", "32"]
    flags += ["--minibatch-size", "32", "--hidden-sizes", "8", "--eval-episodes", "1"]
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (3.8, 2.0, 1.0))
    assert main(["train", "ppo", *flags, "--run-dir", str(tmp_path / "busy")]) == 0
    captured = capsys.readouterr()
    assert "note: the load average (3.8) says other processes hold this machine's 2 cores" in captured.out
    assert "note" not in captured.err
    monkeypatch.setattr(os, "getloadavg", lambda: (0.3, 0.2, 0.1))
    assert main(["train", "ppo", *flags, "--run-dir", str(tmp_path / "idle")]) == 0
    assert "load average" not in capsys.readouterr().out
