"""Bad input refused with one line and nothing damaged; non-finite values stop training where they appear."""

import csv
import dataclasses
import hashlib

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import Recorder, assert_one_line_error
from contract.smoke import ON_ENVIRONMENTS, differing_tensors, smoke_config, smoke_flags

from actorcritic.algorithms.registry import ALGORITHMS
from actorcritic.cli.commands import main
from actorcritic.storage.checkpoint import load_checkpoint


class _Rewards(gym.Env):
    """A 1-D walk whose reward at step `bad_step` (counted over the whole run) is `bad_value`, else 1."""

    observation_space = gym.spaces.Box(-10, 10, (2,), np.float32)
    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)
    steps = 0

    def __init__(self, bad_step=10**9, bad_value=float("nan"), huge=False):
        self.bad_step, self.bad_value, self.huge = bad_step, bad_value, huge

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        _Rewards.steps += 1
        reward = self.bad_value if _Rewards.steps == self.bad_step else (1e38 if self.huge else 1.0)
        return np.array([self.t / 10, float(action[0])], np.float32), reward, False, self.t >= 20, {}


gym.register("NaNRewardAt30-v0", entry_point=lambda: _Rewards(bad_step=30))
gym.register("HugeRewards-v0", entry_point=lambda: _Rewards(huge=True))
gym.register("HugeRewardAt100-v0", entry_point=lambda: _Rewards(bad_step=100, bad_value=1e38))


def files_of(directory):
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


# A NaN reward refused at its step: the contract suite's check, for every algorithm on environments.


@pytest.mark.parametrize("algo", ON_ENVIRONMENTS)
def test_divergence_stops_training_writes_nan_and_keeps_the_last_good_checkpoint(algo, tmp_path, capsys):
    run = tmp_path / "r"
    unscaled = {"normalize_rewards": False} if "normalize_rewards" in fields_of(algo) else {}  # scaling tames them
    flags = smoke_flags(algo, env="HugeRewards-v0", total_steps=400, checkpoint_every=1000, **unscaled)
    code = main(["train", algo, *flags, "--run-dir", str(run)])
    assert_one_line_error(
        capsys, code, "training diverged at environment step", "nothing after the last checkpoint was saved"
    )
    assert not (run / "checkpoint").exists()  # no checkpoint was due yet, and none with broken parameters was written
    with open(run / "metrics.csv", newline="") as f:
        last = list(csv.DictReader(f))[-1]
    assert any(value in ("nan", "inf", "-inf") for value in last.values()), last


def fields_of(algo: str) -> set[str]:
    return {f.name for f in dataclasses.fields(ALGORITHMS[algo].config_class)}


def test_the_checkpoint_before_a_divergence_is_kept_intact(tmp_path, capsys):
    _Rewards.steps = 0
    run = tmp_path / "r"
    flags = smoke_flags(
        "ppo",
        env="HugeRewardAt100-v0",
        num_envs=1,
        total_steps=640,
        checkpoint_every=32,
        normalize_rewards=False,
        normalize_observations=False,
    )
    code = main(["train", "ppo", *flags, "--run-dir", str(run)])
    assert_one_line_error(capsys, code, "training diverged")
    from actorcritic import PPO
    from actorcritic.storage.checkpoint import load_checkpoint

    assert 96 <= PPO.load(run).global_step < 640
    tensors, _ = load_checkpoint(run / "checkpoint")
    assert all(torch.isfinite(t).all() for t in tensors.values() if t.is_floating_point())


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["ppo", "--learning-rate", "inf"], ["--learning-rate inf is not a finite number"]),
        (["sac", "--tau", "nan"], ["--tau nan is not a finite number"]),
        (["ppo", "--log-std-init", "nan"], ["--log-std-init nan is not a finite number"]),
        (["grpo-lm", "--learning-rate", "nan"], ["--learning-rate nan is not a finite number"]),
        (["ppo", "--seed", "-1"], ["--seed -1 is out of range: seed must be in [0, 4294967295]"]),
        (["td3", "--seed", "99999999999"], ["--seed 99999999999 is out of range"]),
        (
            ["ppo", "--num-steps", "1000000000000"],
            ["--num-steps 1000000000000 x --num-envs 8 (the rollout buffer) needs", "GiB but this machine has"],
        ),
        (
            ["td3", "--env", "Pendulum-v1", "--buffer-size", "10000000000000"],
            ["--buffer-size 10000000000000 (the replay buffer) needs"],
        ),
        (
            ["td3", "--env", "Pendulum-v1", "--batch-size", "1000", "--buffer-size", "100"],
            ["--batch-size 1000 is larger than --buffer-size 100"],
        ),
        (
            ["ppo", "--num-envs", "1000000000000"],
            ["--num-envs 1000000000000 is out of range: num_envs must be in [1, 4096]"],
        ),
        (["grpo", "--group-size", "100000"], ["--group-size 100000 is out of range"]),
        (["trpo", "--hidden-sizes", "64", "10000000000"], ["--hidden-sizes [64, 10000000000] is invalid"]),
        (["reinforce", "--eval-episodes", "10000000"], ["--eval-episodes 10000000 is out of range"]),
        (["sac", "--num-threads", "0"], ["--num-threads 0 is out of range"]),
        (["ppo", "--stop-at-return", "inf", "--eval-every", "10"], ["--stop-at-return inf is not a finite number"]),
    ],
)
def test_out_of_range_values_are_refused_before_anything_is_written(args, fragments, tmp_path, capsys):
    assert_one_line_error(capsys, main(["train", *args, "--run-dir", str(tmp_path / "never")]), *fragments)
    assert not (tmp_path / "never").exists()


def test_evaluate_refuses_a_negative_seed(tmp_path, capsys):
    assert_one_line_error(capsys, main(["evaluate", str(tmp_path), "--seed", "-1"]), "--seed -1 is out of range")


def test_mujoco_environments_keep_stderr_to_the_one_error_line(tmp_path, capfd):
    import mujoco

    mujoco.set_mju_user_warning(None)  # as in a fresh process: MuJoCo's own printing, at the file-descriptor level
    code = main(
        [
            "train",
            "td3",
            "--env",
            "HalfCheetah-v5",
            "--buffer-size",
            "10000000000000",
            "--run-dir",
            str(tmp_path / "never"),
        ]
    )
    assert_one_line_error(capfd, code, "--buffer-size")


class _Drift(gym.Env):
    """Random starts and random transitions from the environment's own generator; every episode lasts 16 steps."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.x = 0, self.np_random.normal(size=3)
        return self.x.astype(np.float32), {}

    def step(self, action):
        self.t += 1
        self.x = 0.9 * self.x + 0.1 * float(action[0]) + 0.1 * self.np_random.normal(size=3)
        return self.x.astype(np.float32), -float(np.square(self.x).sum()), False, self.t >= 16, {}


gym.register("ResumeDrift-v0", entry_point=_Drift)


def every_episode_ends_at(config, episode_length: int = 16) -> int:
    """A step near the middle of the run at which every copy's episodes of `episode_length` steps have ended."""
    period = episode_length * getattr(config, "num_envs", 1)
    return max(config.total_steps // 2 // period, 1) * period


@pytest.mark.parametrize("algo", ON_ENVIRONMENTS)
def test_a_resume_where_every_episode_has_just_ended_equals_the_uninterrupted_run(algo, tmp_path):
    """The contract suite resumes episodes in flight; here no episode is in flight at the split, so the
    resumed run starts new ones, from the reset seeds the uninterrupted run drew."""
    agent_class = ALGORITHMS[algo].agent_class
    config = smoke_config(algo, env="ResumeDrift-v0")
    agent_class(config).learn().save(tmp_path / "uninterrupted")
    first_part = agent_class(config).learn(every_episode_ends_at(config))
    first_part.save(tmp_path / "split")
    _, state = load_checkpoint(tmp_path / "split")
    assert 0 < first_part.global_step < config.total_steps
    assert [copy["steps_since_reset"] for copy in state["counters"]["environments"]] == [0] * first_part.envs.num_envs
    agent_class.load(tmp_path / "split").learn().save(tmp_path / "resumed")
    assert differing_tensors(tmp_path / "uninterrupted", tmp_path / "resumed") == []


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_async_environments_give_the_numbers_of_sync_ones_and_resume_exactly(algo, tmp_path):
    """--vectorization async steps the copies in worker processes: the same numbers as in this process, and
    a resume (its reset record read from and replayed into the workers) still bit for bit. The environment
    layer is shared by all algorithms: one of each engine (rollouts, replay) checks it."""
    agent_class = ALGORITHMS[algo].agent_class
    config = smoke_config(algo)
    split = config.total_steps // 2  # the end of a logging window: learn(split) logs a row at its end
    sync_rows, async_rows = Recorder(), Recorder()
    agent_class(config).learn(callbacks=[sync_rows]).save(tmp_path / "sync")
    first_part = agent_class(dataclasses.replace(config, vectorization="async")).learn(split, callbacks=[async_rows])
    first_part.save(tmp_path / "split")
    first_part.envs.close()
    resumed = agent_class.load(tmp_path / "split")
    assert resumed.config.vectorization == "async"
    resumed.learn(callbacks=[async_rows]).save(tmp_path / "resumed")
    resumed.envs.close()
    untimed = lambda rows: [{k: v for k, v in row.items() if k != "steps_per_second"} for row in rows]  # noqa: E731
    assert untimed(async_rows.rows) == untimed(sync_rows.rows)
    expected, _ = load_checkpoint(tmp_path / "sync")
    got, _ = load_checkpoint(tmp_path / "resumed")
    assert sorted(got) == sorted(expected) and all(torch.equal(expected[name], got[name]) for name in expected)


def test_resume_after_a_crash_drops_the_rows_logged_past_the_checkpoint(tmp_path):
    run = tmp_path / "r"
    assert (
        main(
            [
                "train",
                "td3",
                "--env",
                "ResumeDrift-v0",
                "--total-steps",
                "96",
                "--learning-starts",
                "32",
                "--batch-size",
                "16",
                "--hidden-sizes",
                "8",
                "--log-every",
                "16",
                "--checkpoint-every",
                "32",
                "--num-threads",
                "1",
                "--run-dir",
                str(run),
            ]
        )
        == 0
    )
    # A process killed at step 96 after its checkpoint at 64 would have logged rows 80 and 96 already:
    # make the checkpoint say 64 by keeping the one saved at 64.
    assert (
        main(
            [
                "train",
                "td3",
                "--env",
                "ResumeDrift-v0",
                "--total-steps",
                "64",
                "--learning-starts",
                "32",
                "--batch-size",
                "16",
                "--hidden-sizes",
                "8",
                "--log-every",
                "16",
                "--num-threads",
                "1",
                "--run-dir",
                str(tmp_path / "at64"),
            ]
        )
        == 0
    )
    import shutil

    shutil.rmtree(run / "checkpoint")
    shutil.copytree(tmp_path / "at64" / "checkpoint", run / "checkpoint")
    assert main(["resume", str(run), "--total-steps", "128"]) == 0
    with open(run / "metrics.csv", newline="") as f:
        steps = [int(row["global_step"]) for row in csv.DictReader(f)]
    assert steps == [16, 32, 48, 64, 80, 96, 112, 128]


# ---------------------------------------------------------------- paths, failed resumes, full disks

PPO_TINY = [
    "--env",
    "CartPole-v1",
    "--num-envs",
    "2",
    "--num-steps",
    "16",
    "--minibatch-size",
    "16",
    "--epochs",
    "1",
    "--hidden-sizes",
    "8",
    "--eval-episodes",
    "1",
]


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (the test runs as root here and in CI); where mounting is refused, None."""
    import subprocess

    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], capture_output=True
        ).returncode
        == 0
    )
    yield mount_point if mounted else None
    if mounted:
        subprocess.run(
            ["umount", "--lazy", str(mount_point)], check=True
        )  # lazy: detached even if a file is still open


def fill(directory):
    """Use up the free space of `directory`'s filesystem."""
    with open(directory / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\\0" * 65536)
                f.flush()
        except OSError:
            pass


def no_space(*args, **kwargs):
    import errno

    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize(
    "make_run_dir, fragment",
    [
        (lambda tmp: (tmp / "f").write_text("x") and tmp / "f", "is a file"),
        (lambda tmp: (tmp / "f").write_text("x") and tmp / "f" / "run", "which is a file"),
        (lambda tmp: (tmp / "loop").symlink_to(tmp / "loop") or tmp / "loop" / "run", "cannot be resolved"),
    ],
)
def test_a_run_dir_that_cannot_be_one_is_refused_before_training(make_run_dir, fragment, tmp_path, capsys):
    run_dir = make_run_dir(tmp_path)
    assert_one_line_error(capsys, main(["train", "ppo", *PPO_TINY, "--run-dir", str(run_dir)]), fragment)


# Unwritable and unreadable places, as an ordinary user really meets them: tests/test_permissions.py.


def test_an_experiment_out_that_is_a_file_is_refused_and_kept(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert_one_line_error(
        capsys, main(["experiment", "gae-lambda", "--out", str(tmp_path / "file")]), "--out", "is a file"
    )
    assert (tmp_path / "file").read_text() == "x"


def test_a_failed_resume_changes_nothing_in_the_run(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "ppo", *PPO_TINY, "--total-steps", "32", "--run-dir", str(run)]) == 0
    (run / "metrics.csv").unlink()
    (run / "metrics.csv").mkdir()
    before = files_of(run)
    capsys.readouterr()
    assert_one_line_error(capsys, main(["resume", str(run), "--total-steps", "64"]), "metrics.csv")
    assert files_of(run) == before and not list(run.glob(".*tmp*"))


def test_a_full_disk_at_the_first_save_leaves_no_debris(tmp_path, capsys, small_disk, monkeypatch):
    if small_disk is None:
        monkeypatch.setattr("actorcritic.storage.checkpoint.save_file", no_space)
        run = tmp_path / "run"
    else:
        run = small_disk / "run"
    # 256-256 networks, their targets and Adam's moments take about 3 MiB: they do not fit into 1 MiB
    code = main(
        [
            "train",
            "td3",
            "--env",
            "Pendulum-v1",
            "--total-steps",
            "1010",
            "--learning-starts",
            "1000",
            "--batch-size",
            "8",
            "--hidden-sizes",
            "256",
            "256",
            "--num-threads",
            "1",
            "--run-dir",
            str(run),
        ]
    )
    assert_one_line_error(
        capsys, code, "no space left on the device while saving the checkpoint", "there was no earlier checkpoint"
    )
    assert not (run / "checkpoint").exists() and not (run.parent / "run" / "checkpoint.tmp").exists()
    assert not (run / "checkpoint.tmp").exists()


def test_a_full_disk_during_resume_keeps_the_previous_checkpoint(tmp_path, capsys, small_disk, monkeypatch):
    root = small_disk if small_disk is not None else tmp_path
    run = root / "run"
    assert main(["train", "ppo", *PPO_TINY, "--total-steps", "32", "--run-dir", str(run)]) == 0
    checkpoint = files_of(run / "checkpoint")
    if small_disk is None:
        monkeypatch.setattr("actorcritic.storage.checkpoint.save_file", no_space)
        monkeypatch.setattr("actorcritic.storage.files.os.fsync", no_space)
    else:
        fill(root)
    capsys.readouterr()
    code = main(["resume", str(run), "--total-steps", "64"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no space left on the device" in err[0], err
    assert (
        files_of(run / "checkpoint") == checkpoint
        and not list(run.rglob(".*tmp*"))
        and not (run / "checkpoint.tmp").exists()
    )
    if small_disk is not None:
        (root / "filler").unlink()
    from actorcritic import PPO

    assert PPO.load(run).global_step == 32


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A finished tiny PPO run, shared by the tests that must leave it as it was."""
    run = tmp_path_factory.mktemp("saved") / "run"
    assert main(["train", "ppo", *PPO_TINY, "--total-steps", "32", "--run-dir", str(run)]) == 0
    return run


@pytest.mark.parametrize(
    "command, fragment",
    [
        (
            lambda run, place: ["train", "ppo", *PPO_TINY, "--run-dir", f"{place}/run"],
            "cannot create the run directory",
        ),
        (
            lambda run, place: ["experiment", "gae-lambda", "--out", f"{place}/out"],
            "cannot create the experiment's --out",
        ),
        (
            lambda run, place: ["sweep", str(run.parent / "sweep.toml"), "--out", f"{place}/sweep"],
            "cannot create the sweep's --out",
        ),
        (
            lambda run, place: ["export", str(run), "--format", "torchscript", "--out", f"{place}/p.pt"],
            "cannot write /proc/p.pt",
        ),
        (
            lambda run, place: ["export", str(run), "--format", "onnx", "--out", f"{place}/p.onnx"],
            "cannot write /proc/p.onnx",
        ),
        (lambda run, place: ["plot", str(run), "--out", f"{place}/curves.png"], "cannot write /proc/curves.png"),
        (lambda run, place: ["report", str(run), "--out", f"{place}/report.md"], "cannot create the report's folder"),
        (
            lambda run, place: ["evaluate", str(run), "--episodes", "1", "--video", f"{place}/videos"],
            "--video /proc/videos cannot be written",
        ),
    ],
)
def test_a_place_the_checks_allow_and_the_filesystem_refuses_gets_one_line(
    command, fragment, saved_run, capsys, monkeypatch
):
    """/proc: access(2) lets root write there (and the check is patched to say yes to anyone), but no file or
    directory can be created in it, as on a full or read-only disk found only at the write."""
    import os

    (saved_run.parent / "sweep.toml").write_text('algo = "ppo"\nenv = "CartPole-v1"\ntotal_steps = 32\n')
    before = files_of(saved_run)
    monkeypatch.setattr(os, "access", lambda path, mode: True)
    assert_one_line_error(capsys, main(command(saved_run, "/proc")), fragment)
    assert files_of(saved_run) == before


def test_a_full_disk_keeps_an_exported_policy_and_a_figure_as_they_were(
    saved_run, tmp_path, capsys, small_disk, monkeypatch
):
    root = small_disk if small_disk is not None else tmp_path
    exported, figure = root / "policy.pt", root / "curves.png"
    assert main(["export", str(saved_run), "--format", "torchscript", "--out", str(exported)]) == 0
    assert main(["plot", str(saved_run), "--out", str(figure)]) == 0
    before = files_of(root)
    if small_disk is None:
        monkeypatch.setattr("actorcritic.storage.files.os.fsync", no_space)
        monkeypatch.setattr("matplotlib.figure.Figure.savefig", no_space)
    else:
        fill(root)
        before = files_of(root)
    capsys.readouterr()
    assert_one_line_error(
        capsys,
        main(["export", str(saved_run), "--format", "torchscript", "--out", str(exported)]),
        f"cannot write {exported}: no space left on the device; the file is unchanged",
    )
    assert_one_line_error(
        capsys,
        main(["plot", str(saved_run), "--out", str(figure)]),
        f"cannot write {figure}: no space left on the device; the file is unchanged",
    )
    assert files_of(root) == before and not list(root.glob(".*tmp*"))
    if small_disk is not None:
        (root / "filler").unlink()


# ---------------------------------------------------------------- checkpoint contents and optional packages


def edit_state(run, edit):
    import json

    path = run / "checkpoint" / "state.json"
    state = json.loads(path.read_text())
    text = edit(state)
    path.write_text(text if isinstance(text, str) else json.dumps(state))


@pytest.mark.parametrize(
    "edit, fragment",
    [
        (lambda s: s["counters"].update(global_step=-100), "counter global_step = -100"),
        (lambda s: s["counters"].update(updates=-5), "counter updates = -5"),
        (
            lambda s: __import__("json").dumps(s).replace('"global_step": 32', '"global_step": 1e400'),
            "counter global_step = inf",
        ),
        (lambda s: s["counters"].update(global_step="32"), "counter global_step = '32'"),
        (lambda s: s["optimizer_param_groups"].update(optimizer="garbage"), "optimizer hyperparameters"),
        (lambda s: s["optimizer_param_groups"]["optimizer"][0].update(lr="fast"), "optimizer hyperparameters"),
        (lambda s: s["optimizer_param_groups"]["optimizer"][0].update(params=["x"]), "optimizer hyperparameters"),
        (lambda s: s["config"].update(num_envs=1_000_000_000_000), "--num-envs 1000000000000 is out of range"),
        (lambda s: s["config"].update(gamma="high"), "gamma = 'high' does not fit"),
        (lambda s: s["config"].update(advantage="montecarlo"), "advantage = 'montecarlo' does not fit"),
    ],
)
@pytest.mark.parametrize("command", [["evaluate"], ["resume"]])
def test_damaged_checkpoint_contents_are_refused_without_damage(saved_run, tmp_path, capsys, edit, fragment, command):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(saved_run, run)
    edit_state(run, edit)
    before = files_of(run)
    capsys.readouterr()
    extra = ["--total-steps", "64"] if command == ["resume"] else ["--episodes", "1"]
    assert_one_line_error(capsys, main([*command, str(run), *extra]), fragment)
    assert files_of(run) == before


def test_an_environment_whose_package_is_missing_names_it(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "Box2D", None)  # as on a machine without it, whether or not this one has it
    assert_one_line_error(
        capsys,
        main(["train", "ppo", "--env", "LunarLander-v3", "--run-dir", str(tmp_path / "r")]),
        "LunarLander-v3 needs a package that is not installed",
        'pip install "gymnasium[box2d]"',
    )


def test_an_unreadable_run_is_one_line(saved_run, capsys, monkeypatch):
    from pathlib import Path

    real = Path.read_text

    def deny(path, *args, **kwargs):
        if path.name == "state.json":
            raise PermissionError(13, "Permission denied")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", deny)  # root reads anything: the error path is what is tested
    assert_one_line_error(capsys, main(["evaluate", str(saved_run)]), "permission denied")
