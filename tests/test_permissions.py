"""File permissions as they really are: every command run as an ordinary user on paths that user may not read,
enter or write is refused with one line and exit code 2, and nothing on disk changes.

Root reads and writes anything, so when the tests run as root each command runs in a forked child that has
dropped to the unprivileged user `nobody` (uid and gid 65534) before calling `main`; run as any other user, the
child keeps that user, for whom mode 000 and 555 are just as real. The child is forked, not started, because an
unprivileged user often cannot reach the interpreter (a venv whose Python lives in root's home directory):
the running interpreter, with the package already imported, needs no file of root's. The modules a command
imports late are imported here first for the same reason (`PRELOADED`)."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import json
import os
import select
import shutil
import signal
import stat
import tempfile
import time
import traceback
from pathlib import Path

import pytest
from contract.smoke import smoke_flags

from actorcritic.cli.commands import main

NOBODY = 65534
PRELOADED = (
    "actorcritic.runs.training",
    "actorcritic.runs.export",
    "actorcritic.analysis.plots",
    "actorcritic.analysis.reports",
    "actorcritic.analysis.statistics",
    "actorcritic.sweeps.runner",
    "actorcritic.sweeps.spec",
    "actorcritic.experiments",
    "actorcritic.experiments.common",
    "matplotlib.pyplot",
)
CHILD_TIMEOUT_S = 120

pytestmark = pytest.mark.skipif(
    not hasattr(os, "fork"), reason="needs os.fork (POSIX) to run a command as another user"
)


def as_ordinary_user(argv: list[str], cwd: Path) -> tuple[int, str, int]:
    """`actorcritic ARGV` run in `cwd` by an unprivileged user: (exit code, stderr, the user's uid). An exception
    that escapes `main` comes back as exit code -1 with its traceback as stderr."""
    for module in PRELOADED:
        importlib.import_module(module)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to `nobody`, run the command, send back what it said, and leave at once
        try:
            os.close(read_end)
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            os.chdir(cwd)
            err = io.StringIO()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                try:
                    code = main(argv)
                except BaseException:
                    code = -1
                    err.write(traceback.format_exc())
            report = json.dumps({"code": code, "err": err.getvalue(), "uid": os.getuid()}).encode()
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(report)
        finally:
            os._exit(0)
    os.close(write_end)
    chunks, deadline = [], time.monotonic() + CHILD_TIMEOUT_S
    with os.fdopen(read_end, "rb") as pipe:
        while True:
            ready, _, _ = select.select([pipe], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail(f"actorcritic {' '.join(argv)} did not finish within {CHILD_TIMEOUT_S} s")
            chunk = os.read(pipe.fileno(), 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    os.waitpid(pid, 0)
    assert chunks, f"actorcritic {' '.join(argv)}: the child sent nothing back"
    report = json.loads(b"".join(chunks))
    return report["code"], report["err"], report["uid"]


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path below `root` (read as this process's user) with its mode and, for files, a hash of its bytes."""
    entries = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(info.st_mode) else None
        entries[str(path.relative_to(root))] = (stat.S_IMODE(info.st_mode), digest)
    return entries


class Place:
    """A directory tree the unprivileged user can enter but not write, holding what each test arranges, and a
    scratch directory (the child's working directory) where that user may write."""

    def __init__(self, root: Path):
        self.root = root
        self.scratch = root / "scratch"
        self.scratch.mkdir()
        self.scratch.chmod(0o777)

    def locked(self, name: str = "locked") -> Path:
        """A directory no ordinary user may enter or list (mode 000)."""
        path = self.root / name
        path.mkdir()
        path.chmod(0o000)
        return path

    def read_only(self, name: str = "read-only") -> Path:
        """A directory that may be entered and listed but not written (mode 555)."""
        path = self.root / name
        path.mkdir()
        path.chmod(0o555)
        return path

    def run(self, user_can: str = "read") -> Path:
        """A copy of the trained run: readable by everyone but writable by none ("read"), or readable by none
        ("nothing": the run directory itself mode 000)."""
        path = self.root / f"run-{user_can}"
        shutil.copytree(TRAINED_RUN, path)
        for directory in [path, *(p for p in path.rglob("*") if p.is_dir())]:
            directory.chmod(0o555)
        for file in (p for p in path.rglob("*") if p.is_file()):
            file.chmod(0o444)
        if user_can == "nothing":
            path.chmod(0o000)
        return path

    def refuses(self, argv: list[str], *fragments: str) -> None:
        """`actorcritic ARGV`, run as the ordinary user, fails with exit code 2 and one stderr line holding every
        fragment, and changes nothing under the tree."""
        before = snapshot(self.root)
        code, err, uid = as_ordinary_user(argv, self.scratch)
        assert uid != 0, "the command ran as root: the permissions were not tested"
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1, f"exit code {code}:\n{err}"
        assert lines[0].startswith("actorcritic: error: "), lines[0]
        for fragment in fragments:
            assert fragment in lines[0], lines[0]
        assert snapshot(self.root) == before, "the refused command changed files"
        assert not any(self.scratch.iterdir()), "the refused command wrote into its working directory"


TRAINED_RUN: Path


@pytest.fixture(scope="module", autouse=True)
def trained_run(tmp_path_factory):
    """A small PPO run, trained once by this process's user."""
    global TRAINED_RUN
    TRAINED_RUN = tmp_path_factory.mktemp("permissions") / "run"
    assert main(["train", "ppo", *smoke_flags("ppo"), "--run-dir", str(TRAINED_RUN)]) == 0


@pytest.fixture
def place():
    """A tree below the system's temporary directory (pytest's own lies in a directory only its user may enter)."""
    root = Path(tempfile.mkdtemp(prefix="actorcritic-permissions-"))
    root.chmod(0o755)
    try:
        yield Place(root)
    finally:
        remove_tree(root)


def remove_tree(root: Path) -> None:
    """Remove `root`, first giving its directories back the permissions the tests took (needed by a non-root user)."""
    for directory, subdirectories, _ in os.walk(root, topdown=True):
        for name in subdirectories:
            os.chmod(os.path.join(directory, name), 0o755)
    shutil.rmtree(root, ignore_errors=False)


# ---------------------------------------------------------------- one test per command, and then some


def test_train_below_a_directory_the_user_cannot_enter(place):
    locked = place.locked()
    place.refuses(
        ["train", "ppo", *smoke_flags("ppo"), "--run-dir", str(locked / "run")],
        f"--run-dir {locked / 'run'}",
        "permission",
    )


def test_train_into_a_directory_the_user_cannot_write(place):
    read_only = place.read_only()
    place.refuses(
        ["train", "ppo", *smoke_flags("ppo"), "--run-dir", str(read_only / "run")],
        f"--run-dir {read_only / 'run'} cannot be written",
    )


def test_resume_of_a_run_the_user_cannot_write(place):
    run = place.run("read")
    place.refuses(["resume", str(run), "--total-steps", "512"], f"{run} is not writable")


def test_resume_of_a_run_the_user_cannot_read(place):
    run = place.run("nothing")
    place.refuses(["resume", str(run)], str(run), "permission")


def test_evaluate_of_a_run_the_user_cannot_read(place):
    run = place.run("nothing")
    place.refuses(["evaluate", str(run)], str(run), "permission")


def test_evaluate_of_a_run_whose_state_the_user_cannot_read(place):
    run = place.run("read")
    state = run / "checkpoint" / "state.json"
    os.chmod(state, 0o000)
    place.refuses(["evaluate", str(run)], "state.json", "permission")


def test_evaluate_with_video_into_a_directory_the_user_cannot_enter(place):
    run, locked = place.run("read"), place.locked()
    place.refuses(["evaluate", str(run), "--video", str(locked / "videos")], f"--video {locked / 'videos'}")


def test_export_to_a_directory_the_user_cannot_write(place):
    run, read_only = place.run("read"), place.read_only()
    out = read_only / "policy.pt"
    place.refuses(["export", str(run), "--format", "torchscript", "--out", str(out)], f"--out {out} cannot be written")


def test_export_of_a_run_the_user_cannot_read(place):
    run = place.run("nothing")
    out = place.scratch / "policy.pt"
    place.refuses(["export", str(run), "--format", "torchscript", "--out", str(out)], str(run), "permission")


def test_plot_of_a_run_the_user_cannot_read(place):
    run = place.run("nothing")
    place.refuses(["plot", str(run), "--out", str(place.scratch / "curves.png")], str(run), "permission")


def test_plot_into_a_directory_the_user_cannot_enter(place):
    run, locked = place.run("read"), place.locked()
    out = locked / "curves.png"
    place.refuses(["plot", str(run), "--out", str(out)], f"--out {out}")


def test_report_into_a_directory_the_user_cannot_write(place):
    run, read_only = place.run("read"), place.read_only()
    out = read_only / "report.md"
    place.refuses(["report", str(run), "--out", str(out)], f"--out {out} cannot be written")


def test_report_of_a_run_the_user_cannot_read(place):
    run = place.run("nothing")
    place.refuses(["report", str(run), "--out", str(place.scratch / "report.md")], str(run), "permission")


SWEEP = """
algo = "ppo"
env = "CartPole-v1"
seeds = 1
total_steps = 64
[grid]
gae_lambda = [0.9]
[fixed]
num_envs = 2
num_steps = 32
minibatch_size = 64
hidden_sizes = [8]
"""


def test_sweep_out_below_a_directory_the_user_cannot_enter(place):
    sweep_file = place.root / "sweep.toml"
    sweep_file.write_text(SWEEP)
    locked = place.locked()
    place.refuses(["sweep", str(sweep_file), "--out", str(locked / "sweep")], f"--out {locked / 'sweep'}")


def test_a_sweep_file_the_user_cannot_read(place):
    sweep_file = place.root / "sweep.toml"
    sweep_file.write_text(SWEEP)
    sweep_file.chmod(0o000)
    place.refuses(["sweep", str(sweep_file), "--out", str(place.scratch / "sweep")], str(sweep_file), "permission")


def test_experiment_out_below_a_directory_the_user_cannot_enter(place):
    locked = place.locked()
    place.refuses(["experiment", "td3-ablation", "--out", str(locked / "out")], f"--out {locked / 'out'}")


def test_experiment_out_in_a_directory_the_user_cannot_write(place):
    read_only = place.read_only()
    place.refuses(
        ["experiment", "td3-ablation", "--out", str(read_only / "out")], f"--out {read_only / 'out'} cannot be written"
    )
