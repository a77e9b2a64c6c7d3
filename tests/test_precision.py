"""bf16 only where it pays: refused (or forced, with a warning) on a CPU that would emulate it, chosen by
`--precision auto` only where the CPU has it and the algorithm has shown parity. The CPU's flags are mocked both
ways, so every case runs on any machine."""

import hashlib
import json

import pytest
import torch
from conftest import assert_one_line_error
from contract.smoke import smoke_config, smoke_flags

from actorcritic import PPO, TD3
from actorcritic.algorithms import precision
from actorcritic.cli.commands import main
from actorcritic.errors import ActorCriticError, warn_once

CPU = torch.device("cpu")


@pytest.fixture
def without_bf16(monkeypatch):
    """A CPU like the AVX2-only AMD EPYC (Zen 3): no avx512_bf16, no amx_bf16."""
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"fpu", "sse2", "avx", "avx2", "fma"}))
    warn_once.cache_clear()  # the warning is once per process: an earlier forced run may have used it


@pytest.fixture
def with_bf16(monkeypatch):
    """A CPU like the Intel Xeon with AMX, or the AMD EPYC Zen 5 with avx512_bf16."""
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_bf16"}))


def test_the_flags_decide(monkeypatch):
    for flags, expected in [({"avx2"}, False), ({"avx512f", "avx512_bf16"}, True), ({"amx_bf16"}, True),
                            ({"fp", "asimd", "bf16"}, True)]:  # fmt: skip
        monkeypatch.setattr(precision, "cpu_flags", lambda flags=flags: frozenset(flags))
        assert precision.has_fast_bf16(CPU) is expected
    monkeypatch.setattr(precision, "cpu_flags", lambda: None)  # unreadable (not Linux): not known, not refused
    assert precision.has_fast_bf16(CPU) is None
    precision.check_precision("bf16", CPU, force=False)


def test_this_machines_flags_are_read():
    flags = precision.cpu_flags()
    assert flags is None or len(flags) > 0
    assert "," in precision.describe_cpu()


def test_train_refuses_emulated_bf16_in_one_line_and_writes_nothing(without_bf16, tmp_path, capsys):
    run = tmp_path / "r"
    code = main(["train", "td3", *smoke_flags("td3"), "--precision", "bf16", "--run-dir", str(run)])
    assert_one_line_error(capsys, code, "--precision bf16", "avx512_bf16", "amx_bf16", "--force", "fp32")
    assert not run.exists()


def test_force_runs_emulated_bf16_with_a_warning(without_bf16, tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["train", "td3", *smoke_flags("td3"), "--precision", "bf16", "--force", "--run-dir", str(run)]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "bf16" in warnings[0] and "--force" in warnings[0]
    config = json.loads((run / "config.json").read_text())
    assert (config["precision"], config["force_bf16"]) == ("bf16", True)


def test_resume_of_a_bf16_run_on_a_cpu_without_bf16_is_refused_and_changes_nothing(monkeypatch, tmp_path, capsys):
    run = tmp_path / "r"
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    assert main(["train", "td3", *smoke_flags("td3"), "--precision", "bf16", "--run-dir", str(run)]) == 0
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run.rglob("*")) if p.is_file()}
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2"}))  # the run moved to another machine
    capsys.readouterr()
    code = main(["resume", str(run), "--total-steps", "400"])
    assert_one_line_error(capsys, code, "--precision bf16", "emulated")
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run.rglob("*")) if p.is_file()}
    assert after == before
    assert main(["evaluate", str(run), "--episodes", "1"]) == 0  # acting is fp32: evaluating is not refused


def test_the_python_api_refuses_when_learning(without_bf16):
    agent = TD3(smoke_config("td3", precision="bf16"))
    with pytest.raises(ActorCriticError, match="emulated"):
        agent.learn(10)


def test_auto_is_bf16_only_with_hardware_bf16_and_shown_parity(monkeypatch, tmp_path):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"amx_bf16"}))
    assert TD3(smoke_config("td3", precision="auto")).config.precision == "bf16"
    assert PPO(smoke_config("ppo", precision="auto")).config.precision == "fp32"  # parity not measured for ppo
    run = tmp_path / "r"
    assert main(["train", "td3", *smoke_flags("td3"), "--precision", "auto", "--run-dir", str(run)]) == 0
    assert json.loads((run / "config.json").read_text())["precision"] == "bf16"  # the one that ran
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2"}))
    assert TD3(smoke_config("td3", precision="auto")).config.precision == "fp32"
