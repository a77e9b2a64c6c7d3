"""Sweeps (actorcritic/sweeps.py): expansion and validation of a sweep file, a local sweep through the
command, and the resume of an interrupted sweep."""

import json
import re

import pytest
from conftest import assert_one_line_error

from actorcritic.cli.commands import main
from actorcritic.errors import ActorCriticError
from actorcritic.sweeps.runner import start
from actorcritic.sweeps.spec import Backend, expand, read_sweep_file
from actorcritic.sweeps.trials import run_trial

SPEC = {
    "algo": ["ppo", "trpo"],
    "env": ["CartPole-v1", "Acrobot-v1"],
    "seeds": 3,
    "total_steps": 5000,
    "grid": {"gae_lambda": [0.9, 0.95, 0.99]},
    "fixed": {"num_envs": 8},
}
SWEEP_TOML = """
algo = "ppo"
env = "CartPole-v1"
seeds = 2
total_steps = 1024
[grid]
gae_lambda = [0.9, 0.99]
[fixed]
num_envs = 2
num_steps = 64
minibatch_size = 64
hidden_sizes = [16]
eval_episodes = 2
"""


def test_every_combination_becomes_a_validated_multi_seed_trial():
    trials = expand(SPEC)
    assert len(trials) == 2 * 2 * 3
    assert len({trial.name for trial in trials}) == len(trials)
    first = trials[0]
    assert first.algo == "ppo" and first.config.env == "CartPole-v1" and first.config.seeds == (0, 1, 2)
    assert first.config.gae_lambda == 0.9 and first.config.num_envs == 8 and first.config.total_steps == 5000
    assert (
        first.config.learning_rate == type(first.config).for_env("CartPole-v1").learning_rate
    )  # the env's preset underneath
    assert expand({**SPEC, "seeds": [4, 7]})[0].config.seeds == (4, 7)


def test_seeds_per_trial_splits_a_configurations_seeds_into_processes():
    trials = expand({**SPEC, "algo": "ppo", "env": "CartPole-v1", "seeds": [0, 1, 2], "seeds_per_trial": 2})
    assert [(t.settings, t.config.seed, t.config.seeds) for t in trials[:3]] == [
        ({"gae_lambda": 0.9}, 0, (0, 1)),
        ({"gae_lambda": 0.9}, 2, ()),
        ({"gae_lambda": 0.95}, 0, (0, 1)),
    ]
    assert trials[1].name.endswith("gae_lambda=0.9-seeds=2") and len({t.name for t in trials}) == len(trials) == 6
    # one seed each, and every seed's config otherwise the one of the whole configuration
    alone = expand({**SPEC, "algo": "ppo", "env": "CartPole-v1", "seeds_per_trial": 1})
    assert [t.config.seed for t in alone[:3]] == [0, 1, 2]
    assert {t.config.gae_lambda for t in alone[:3]} == {0.9}


def test_random_draws_are_reproducible_and_inside_their_range():
    spec = {
        "algo": "ppo",
        "env": "CartPole-v1",
        "samples": 4,
        "random": {"learning_rate": {"log_uniform": [1e-4, 1e-3]}, "epochs": {"choice": [2, 4]}},
    }
    trials = expand(spec)
    rates = [trial.config.learning_rate for trial in trials]
    assert len(trials) == 4 and len(set(rates)) == 4 and all(1e-4 <= rate <= 1e-3 for rate in rates)
    assert {trial.config.epochs for trial in trials} <= {2, 4}
    assert [trial.config.learning_rate for trial in expand(spec)] == rates


@pytest.mark.parametrize(
    "change, message",
    [
        ({"grid": {"gae_lamda": [0.9]}}, "did you mean gae_lambda?"),
        ({"fixed": {"num_envs": 0}}, "--num-envs 0 is out of range"),
        ({"grid": {"gae_lambda": 0.9}}, "must be a non-empty list"),
        ({"random": {"learning_rate": {"normal": [0, 1]}}, "samples": 2}, "must be one of"),
        ({"random": {"learning_rate": {"uniform": [1e-3]}}, "samples": 2}, "needs [low, high]"),
        ({"random": {"learning_rate": {"uniform": [1e-4, 1e-3]}}}, "give samples = N"),
        ({"seeds": 0}, "seeds must be a count"),
        ({"seeds_per_trial": 0}, "seeds_per_trial must be a count of 1 or more"),
        ({"algo": "a3c"}, "unknown algorithm 'a3c'"),
        ({"grids": {}}, "unknown top-level key 'grids'"),
        ({"fixed": {"seed": 3}}, "set by the sweep's top level"),
        ({"grid": {"learning_rate": [1e-3, "fast"]}}, "--learning-rate 'fast' is not a schedule"),
        ({"fixed": {"num_envs": 2.0}}, "--num-envs 2.0 does not fit the field (int)"),
        (
            {"grid": {"activation": ["swish"]}},
            "--activation 'swish' is not allowed: choose one of tanh, relu, elu, gelu, silu",
        ),
        ({"grid": {"hidden_sizes": [[64, "a"]]}}, "--hidden-sizes (64, 'a') does not fit the field (tuple[int, ...])"),
    ],
)
def test_a_bad_sweep_is_refused_before_anything_runs(change, message):
    with pytest.raises(ActorCriticError, match=re.escape(message)):
        expand({**SPEC, **change})


def test_a_local_sweep_writes_trials_results_and_a_report(tmp_path, capsys):
    (tmp_path / "sweep.toml").write_text(SWEEP_TOML)
    out = tmp_path / "out"
    assert main(["sweep", str(tmp_path / "sweep.toml"), "--out", str(out), "--jobs", "2"]) == 0
    assert "2 done, 0 running, 0 queued" in capsys.readouterr().out
    saved = json.loads((out / "sweep.json").read_text())
    assert [trial["settings"] for trial in saved["trials"]] == [{"gae_lambda": 0.9}, {"gae_lambda": 0.99}]
    for trial in saved["trials"]:
        run = out / "trials" / trial["name"]
        assert json.loads((run / "summary.json").read_text())["seeds"] == [0, 1]
        assert json.loads((run / "config.json").read_text())["num_threads"] == 1  # 2 cores / 2 jobs
    rows = (out / "results.csv").read_text().splitlines()
    assert rows[0] == "trial,algo,env,gae_lambda,seed,total_steps,eval_return_mean" and len(rows) == 1 + 2 * 2
    report = (out / "report.md").read_text()
    assert "ppo on CartPole-v1 (gae_lambda=0.9) | 2 |" in report and (out / "report_files" / "report-iqm.png").exists()
    assert_one_line_error(
        capsys, main(["sweep", str(tmp_path / "sweep.toml"), "--out", str(out)]), "already holds a sweep", "--resume"
    )


def test_an_interrupted_sweep_resumes_keeping_its_finished_trials(tmp_path, capsys):
    (tmp_path / "sweep.toml").write_text(SWEEP_TOML)
    out = tmp_path / "out"
    trials = start(read_sweep_file(tmp_path / "sweep.toml"), out, Backend(jobs=1))
    run_trial(out, trials[0].name, 1)  # the first trial finished, then the sweep was stopped
    finished = out / "trials" / trials[0].name / "summary.json"
    before = finished.stat().st_mtime_ns
    (out / "trials" / trials[1].name).mkdir(parents=True)  # the second had just begun: nothing to keep
    assert main(["sweep", "--resume", str(out)]) == 0
    assert "sweep: 1 done, 0 running, 1 queued" in capsys.readouterr().out
    assert finished.stat().st_mtime_ns == before
    assert (out / "trials" / trials[1].name / "summary.json").exists()
    assert len((out / "results.csv").read_text().splitlines()) == 1 + 2 * 2


def test_sweep_command_errors_are_one_line(tmp_path, capsys):
    assert_one_line_error(
        capsys, main(["sweep", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "o")]), "does not exist"
    )
    (tmp_path / "bad.toml").write_text("algo = [")
    assert_one_line_error(
        capsys, main(["sweep", str(tmp_path / "bad.toml"), "--out", str(tmp_path / "o")]), "is not valid TOML"
    )
    assert_one_line_error(capsys, main(["sweep", "--resume", str(tmp_path)]), "holds no sweep")
    (tmp_path / "ok.toml").write_text(SWEEP_TOML)
    assert_one_line_error(
        capsys,
        main(["sweep", str(tmp_path / "ok.toml"), "--out", str(tmp_path / "o"), "--jobs", "99"]),
        "--jobs 99 is out of range",
    )
    assert_one_line_error(capsys, main(["sweep", str(tmp_path / "ok.toml")]), "needs a FILE and --out DIR")
    assert not (tmp_path / "o").exists()
