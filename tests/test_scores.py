"""scripts/scores.py: our side runs with exactly the table's settings (not our MuJoCo presets), the peer's side
builds sb3-contrib's model of the same settings, and `table` reads the finished seeds only. (Its `run` trains for
hours: not run here.)"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
sys.path.insert(0, str(SCRIPTS))
import peer_scores  # noqa: E402
import scores  # noqa: E402

from actorcritic import CrossQConfig, TQCConfig  # noqa: E402
from actorcritic.cli.parsing import parse_config  # noqa: E402
from actorcritic.config import config_to_dict  # noqa: E402
from actorcritic.errors import ActorCriticError  # noqa: E402


@pytest.mark.parametrize(
    ("algo", "config_class", "preset"),
    [("tqc", TQCConfig, dict(num_critics=5)), ("crossq", CrossQConfig, dict(critic_hidden_sizes=(2048, 2048)))],
)
def test_our_flags_set_the_table_settings_over_our_preset(algo, config_class, preset):
    config = parse_config(config_class, scores.our_flags(algo, "HalfCheetah-v5", 3, 200_000), prog="test")
    assert config == scores.our_config(algo, "HalfCheetah-v5", 3, 200_000)
    preset_config = config_class.for_env("HalfCheetah-v5")
    assert {name: getattr(preset_config, name) for name in preset} == preset  # what the flags must override
    as_given = json.loads(json.dumps(config_to_dict(config)))
    assert {name: as_given[name] for name in scores.TABLE_SETTINGS[algo]} == scores.TABLE_SETTINGS[algo]
    assert (config.env, config.seed, config.total_steps, config.num_threads) == ("HalfCheetah-v5", 3, 200_000, 1)


def test_our_run_interrupted_before_its_first_checkpoint_starts_again(tmp_path, monkeypatch):
    """A run directory left with no checkpoint (killed before its first) is trained anew, then filed (a run with a
    checkpoint resumes from it: `train_or_resume`, tested with the sweeps). A tiny table, to run in seconds."""
    tiny = dict(scores.TABLE_SETTINGS["tqc"], learning_starts=100, batch_size=16, hidden_sizes=[16])
    monkeypatch.setitem(scores.TABLE_SETTINGS, "tqc", tiny)
    monkeypatch.setattr(scores, "EVAL_EVERY", 500)
    monkeypatch.setattr(scores, "EVAL_EPISODES", 1)
    scratch, out = tmp_path / "scratch", tmp_path / "out/Pendulum-v1/actorcritic"
    (scratch / "Pendulum-v1/seed-0").mkdir(parents=True)
    (scratch / "Pendulum-v1/seed-0/config.json").write_text("{}")
    threads = torch.get_num_threads()
    try:
        scores.train_ours("tqc", "Pendulum-v1", 0, 1_000, out, scratch)
    finally:
        torch.set_num_threads(threads)  # the run set one thread, as in a job's own process
    record = json.loads((out / "seed-0.json").read_text())
    assert (record["algo"], record["total_steps"], record["resumed_from_step"]) == ("tqc", 1_000, 0)
    assert record["settings"] == tiny
    assert (out / "seed-0.csv").read_text().splitlines()[-1].startswith("1000,")


def test_the_peer_builds_crossq_with_the_table_settings():
    import gymnasium as gym
    import torch

    settings = scores.TABLE_SETTINGS["crossq"]
    model = peer_scores.build_model("crossq", gym.make("Pendulum-v1"), 0, settings, her_goals=0)
    assert (model.learning_rate, model.learning_starts, model.batch_size, model.gamma, model.policy_delay) == (
        1e-3, 5_000, 256, 0.99, 3,
    )  # fmt: skip
    critic_widths = [layer.out_features for layer in model.critic.modules() if isinstance(layer, torch.nn.Linear)]
    actor_widths = [
        layer.out_features for layer in model.actor.latent_pi.modules() if isinstance(layer, torch.nn.Linear)
    ]
    assert critic_widths == [256, 256, 1] * 2 and actor_widths == [256, 256]
    assert model.critic.optimizer.defaults["betas"] == (0.5, 0.999)
    assert model.policy_kwargs["batch_norm_momentum"] == 0.01 and model.policy_kwargs["renorm_warmup_steps"] == 100_000


def write_seed(
    directory: Path, seed: int, values: list[float], budget: int, finished: bool = True, algo: str = "tqc"
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    rows = [f"{10_000 * (i + 1)},{value}" for i, value in enumerate(values)]
    (directory / f"seed-{seed}.csv").write_text("\n".join(["step,eval_return_mean", *rows]) + "\n")
    if finished:
        (directory / f"seed-{seed}.json").write_text(json.dumps({"total_steps": budget, "algo": algo}))


def table(out: Path, *options) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / "scores.py"), "table", str(out), *options],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_table_reports_finished_seeds_and_the_probability_of_improvement(tmp_path):
    env = tmp_path / "HalfCheetah-v5"
    for seed, last in enumerate([1000.0, 2000.0, 3000.0]):
        write_seed(env / "actorcritic", seed, [0.0, 500.0, last], 30_000)
        write_seed(env / "sb3-contrib", seed, [0.0, 100.0, last / 10], 30_000)
    write_seed(env / "sb3-contrib", 3, [0.0, 9e9], 30_000, finished=False)  # still running: left out
    result = table(tmp_path, "--late", "20000")
    assert result.returncode == 0, result.stderr
    ours, peer = result.stdout.splitlines()[2:]
    assert ours.startswith("| HalfCheetah-v5, 30,000 steps | actorcritic | 3 | 1,000, 2,000, 3,000 | 2,000 [")
    assert "| 1,250 [" in ours  # late means (500 + final) / 2: 750, 1,250, 1,750
    assert peer.startswith("| HalfCheetah-v5, 30,000 steps | sb3-contrib | 3 | 100, 200, 300 | 200 [")
    assert peer.endswith("| 1.00 [1.00, 1.00] |")
    write_seed(env / "sb3-contrib", 3, [0.0], 10_000)
    result = table(tmp_path)
    assert result.returncode == 2 and "mixes budgets [10000, 30000]" in result.stderr
    write_seed(tmp_path / "Hopper-v5/sb3-contrib", 0, [0.0], 10_000, algo="crossq")
    result = table(tmp_path)
    assert result.returncode == 2 and "mixes crossq, tqc" in result.stderr and result.stdout == ""


@pytest.mark.parametrize("library", scores.LIBRARIES)
def test_run_skips_what_is_finished_and_keeps_one_algorithm_per_table(tmp_path, library):
    write_seed(tmp_path / "out/Hopper-v5" / library, 0, [1.0], 10_000, algo="crossq")

    def run(algo: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(SCRIPTS / "scores.py"), "run", algo, "--out", str(tmp_path / "out"),
             "--envs", "Hopper-v5", "--libraries", library, "--seeds", "0"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    result = run("crossq")
    assert result.returncode == 0 and result.stdout.startswith("0 runs to do"), result.stdout + result.stderr
    result = run("tqc")
    assert result.returncode == 2 and "holds runs of crossq" in result.stderr and result.stdout == ""


def write_our_finished_run(run: Path, algo: str, evaluations: str = "2,10000,5.5\n2,15000,\n2,30000,7.25\n", **changes):
    """What `file` reads of a finished run: config.json as training writes it, metrics.csv with evaluations on
    some rows, summary.json."""
    run.mkdir(parents=True)
    config = {"algo": algo, **config_to_dict(scores.our_config(algo, "Hopper-v5", 2, 30_000)), **changes}
    (run / "config.json").write_text(json.dumps(config))
    (run / "metrics.csv").write_text("seed,global_step,eval_return_mean\n" + evaluations)
    (run / "summary.json").write_text(json.dumps({"wall_time_s": 12.3, "resumed_from_step": 0}))


def file_runs(out: Path, *runs: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / "scores.py"), "file", *map(str, runs), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(("algo", "other"), [("tqc", dict(num_critics=5)), ("crossq", dict(policy_delay=1))])
def test_file_takes_finished_runs_of_the_table_settings_only(tmp_path, algo, other):
    write_our_finished_run(tmp_path / "run", algo)
    result = file_runs(tmp_path / "out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    filed = tmp_path / "out/Hopper-v5/actorcritic"
    assert (filed / "seed-2.csv").read_text().splitlines() == ["step,eval_return_mean", "10000,5.5", "30000,7.25"]
    record = json.loads((filed / "seed-2.json").read_text())
    assert (record["final_eval_return"], record["total_steps"], record["wall_seconds"]) == (7.25, 30_000, 12)
    assert record["algo"] == algo and record["settings"] == scores.TABLE_SETTINGS[algo]
    before = (filed / "seed-2.json").read_text()
    refused = {  # each of seed 3: a table setting, another setting, several seeds, no evaluation
        "other": (dict(other, seed=3), "other settings"),
        "buffer": (dict(buffer_size=10_000, seed=3), "other settings"),
        "seeds": (dict(seeds=[3, 4], seed=3), "other settings"),
        "short": (dict(seed=3, evaluations="3,5000,\n"), "no evaluation"),
    }
    for name, (changes, _) in refused.items():
        write_our_finished_run(tmp_path / name, algo, **changes)
    result = file_runs(tmp_path / "out", tmp_path / "other")  # the command: one line, exit 2
    assert result.returncode == 2 and "other settings" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    for run, fragment in [
        (tmp_path / "run", "filed already"),
        *((tmp_path / name, said) for name, (_, said) in refused.items()),
    ]:
        with pytest.raises(ActorCriticError, match=fragment):
            scores.file_ours(run, filed)
    assert (filed / "seed-2.json").read_text() == before and not (filed / "seed-3.json").exists()
