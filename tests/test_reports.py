"""Reports (actorcritic/reports.py): configurations from run directories, their statistics checked against
rliable called directly."""

import json

import numpy as np
import pytest
from conftest import assert_one_line_error

from actorcritic.cli.commands import main


def fake_run(directory, config: dict, finals: dict[int, float]) -> None:
    """A finished run directory as `train` leaves it (config.json, summary.json, metrics.csv)."""
    directory.mkdir(parents=True)
    (directory / "config.json").write_text(json.dumps(config))
    if len(finals) > 1:
        summary = {"seeds": list(finals), "per_seed": [{"seed": s, "eval_return_mean": r} for s, r in finals.items()]}
    else:
        ((seed, value),) = finals.items()
        summary = {"seed": seed, "eval_return_mean": value}
    (directory / "summary.json").write_text(json.dumps(summary))
    rows = ["seed,global_step,eval_return_mean"] + [
        f"{s},{step},{r * step / 200}" for s, r in finals.items() for step in (100, 200)
    ]
    (directory / "metrics.csv").write_text("\n".join(rows) + "\n")


def test_report_pools_seeds_of_one_configuration_and_matches_rliable(tmp_path, capsys):
    from rliable import library, metrics

    base = {"algo": "ppo", "env": "CartPole-v1", "gae_lambda": 0.9}
    fake_run(tmp_path / "multi", {**base, "seed": 0, "seeds": [0, 1, 2]}, {0: 100.0, 1: 300.0, 2: 250.0})
    fake_run(tmp_path / "single", {**base, "seed": 3, "seeds": []}, {3: 420.0})  # one more seed of the same setting
    fake_run(tmp_path / "other", {**base, "gae_lambda": 0.99, "seed": 0, "seeds": [0, 1]}, {0: 10.0, 1: 30.0})
    out = tmp_path / "r" / "report.md"
    (tmp_path / "r").mkdir()
    assert (
        main(
            [
                "report",
                str(tmp_path / "multi"),
                str(tmp_path / "single"),
                str(tmp_path / "other"),
                "--out",
                str(out),
                "--compare",
                "lambda=0.9)",
                "lambda=0.99",
            ]
        )
        == 0
    )
    rows = {
        row.split(",")[0]: row.split(",")
        for row in (tmp_path / "r" / "report_files" / "report.csv").read_text().splitlines()[1:]
    }
    pooled = rows["ppo on CartPole-v1 (gae_lambda=0.9)"]
    assert pooled[2] == "4"
    scores = np.array([[100.0], [300.0], [250.0], [420.0]])
    np.random.seed(
        0
    )  # rliable draws its resamples from NumPy's global generator; aggregate.py draws the same from its own
    points, intervals = library.get_interval_estimates(
        {"x": scores}, lambda s: np.array([metrics.aggregate_iqm(s)]), reps=2000, random_state=np.random.RandomState(0)
    )
    assert float(pooled[9]) == pytest.approx(points["x"][0])
    assert float(pooled[10]) == pytest.approx(intervals["x"][0, 0]) and float(pooled[11]) == pytest.approx(
        intervals["x"][1, 0]
    )
    assert float(pooled[3]) == pytest.approx(267.5)
    assert "(gae_lambda=0.99) | 2 |" in out.read_text()
    # every seed of λ=0.9 (100, 300, 250, 420) beats every seed of λ=0.99 (10, 30): P = 1
    assert (
        "| CartPole-v1 | ppo on CartPole-v1 (gae_lambda=0.9) | ppo on CartPole-v1 (gae_lambda=0.99) "
        "| 1.00 [1.00, 1.00] |" in out.read_text()
    )
    assert {p.name for p in (tmp_path / "r").iterdir()} == {"report.md", "report_files"}  # nothing loose beside it
    files = tmp_path / "r" / "report_files"
    assert {p.name for p in files.iterdir()} == {
        "report.csv",
        "report-iqm.png",
        "report-curves.png",
        "report-profiles.png",
    }
    assert "(report_files/report-curves.png)" in out.read_text() and "report_files/report.csv" in out.read_text()


def test_probability_of_improvement_matches_rliable():
    from rliable import library, metrics

    from actorcritic.analysis.statistics import probability_of_improvement

    x, y = [1.0, 5.0, 3.0, 4.0], [2.0, 2.5, 0.5]
    result = probability_of_improvement(x, y)
    assert result["probability"] == pytest.approx((1 + 3 + 3 + 3) / 12)  # 1 beats only 0.5; 5, 3 and 4 beat all three
    np.random.seed(0)
    points, intervals = library.get_interval_estimates(
        {"p": (np.array(x)[:, None], np.array(y)[:, None])},
        metrics.probability_of_improvement,
        reps=2000,
        random_state=np.random.RandomState(0),
    )
    assert result["probability_ci"] == pytest.approx(list(np.ravel(intervals["p"])))


def test_report_errors_are_one_line(tmp_path, capsys):
    assert_one_line_error(
        capsys, main(["report", str(tmp_path), "--out", str(tmp_path / "x.md")]), "neither a finished run"
    )
    assert_one_line_error(
        capsys, main(["report", str(tmp_path), "--out", str(tmp_path / "no" / "x.md")]), "cannot be written"
    )


def test_the_same_scores_give_the_same_intervals_in_every_process():
    import subprocess
    import sys

    code = (
        "from actorcritic.analysis.statistics import aggregate_scores; "
        "print(aggregate_scores([4605.7, 4515.0, 4135.2, 4699.7, 4785.2]))"
    )
    outputs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        for _ in range(3)
    }
    assert len(outputs) == 1


NORMALIZATION = """
[CartPole-v1]
random = 20.0
reference = 500.0
[Acrobot-v1]
random = -500
reference = -60
"""


def test_normalised_scores_aggregate_across_environments_as_rliable_does(tmp_path, capsys):
    from rliable import library, metrics

    fake_run(
        tmp_path / "c9",
        {"algo": "ppo", "env": "CartPole-v1", "gae_lambda": 0.9, "seed": 0, "seeds": [0, 1, 2]},
        {0: 500.0, 1: 260.0, 2: 380.0},
    )
    fake_run(
        tmp_path / "c99",
        {"algo": "ppo", "env": "CartPole-v1", "gae_lambda": 0.99, "seed": 0, "seeds": [0, 1, 2]},
        {0: 20.0, 1: 140.0, 2: 500.0},
    )
    fake_run(
        tmp_path / "a9",
        {"algo": "ppo", "env": "Acrobot-v1", "gae_lambda": 0.9, "seed": 0, "seeds": [0, 1, 2]},
        {0: -82.0, 1: -60.0, 2: -170.0},
    )
    fake_run(
        tmp_path / "a99",
        {"algo": "ppo", "env": "Acrobot-v1", "gae_lambda": 0.99, "seed": 0, "seeds": [0, 1]},
        {0: -100.0, 1: -90.0},
    )
    (tmp_path / "norm.toml").write_text(NORMALIZATION)
    (tmp_path / "r").mkdir()
    out = tmp_path / "r" / "report.md"
    assert (
        main(
            [
                "report",
                *[str(tmp_path / name) for name in ("c9", "c99", "a9", "a99")],
                "--out",
                str(out),
                "--normalize",
                str(tmp_path / "norm.toml"),
            ]
        )
        == 0
    )
    rows = {
        (row[0], row[1]): row
        for row in (
            line.split(",") for line in (tmp_path / "r" / "report_files" / "report.csv").read_text().splitlines()[1:]
        )
    }
    across = rows["ppo (gae_lambda=0.9)", "all (normalised)"]
    # (return - random) / (reference - random), seeds in order, one column per environment
    matrix = np.array(
        [
            [(500 - 20) / 480, (-82 + 500) / 440],
            [(260 - 20) / 480, (-60 + 500) / 440],
            [(380 - 20) / 480, (-170 + 500) / 440],
        ]
    )
    functions = [metrics.aggregate_mean, metrics.aggregate_median, metrics.aggregate_iqm]
    np.random.seed(0)
    points, intervals = library.get_interval_estimates(
        {"x": matrix}, lambda s: np.array([f(s) for f in functions]), reps=2000, random_state=np.random.RandomState(0)
    )
    for index in range(3):  # mean, median, IQM: point, low, high
        assert [float(v) for v in across[3 + 3 * index : 6 + 3 * index]] == pytest.approx(
            [points["x"][index], intervals["x"][0, index], intervals["x"][1, index]]
        )
    assert across[2] == "3"
    report = out.read_text()
    assert "ppo (gae_lambda=0.99): left out, different numbers of seeds per environment (3, 2)" in report
    assert ("ppo (gae_lambda=0.99)", "all (normalised)") not in rows
    assert (tmp_path / "r" / "report_files" / "report-profiles.png").exists()


def test_performance_profile_matches_rliable():
    from rliable import library

    from actorcritic.analysis.statistics import performance_profile

    scores = np.array([[0.1, 0.9], [0.5, 0.4], [0.7, 0.8], [0.2, 0.3]])
    thresholds = np.linspace(0.0, 1.0, 11)
    fraction, low, high = performance_profile(scores, thresholds)
    assert fraction[5] == pytest.approx(np.mean(scores > 0.5))  # the fraction of runs above τ = 0.5, both environments
    np.random.seed(0)
    profiles, intervals = library.create_performance_profile({"x": scores}, thresholds, reps=2000)
    assert (
        fraction == pytest.approx(profiles["x"])
        and low == pytest.approx(intervals["x"][0])
        and high == pytest.approx(intervals["x"][1])
    )


def test_the_resamples_are_rliables_own():
    from rliable.library import StratifiedBootstrap, StratifiedIndependentBootstrap

    from actorcritic.analysis.statistics import stratified_resamples

    scores, other = np.arange(12.0).reshape(4, 3), np.arange(6.0).reshape(3, 2) * 10
    (ours,) = stratified_resamples([scores], reps=5)
    np.random.seed(0)
    assert np.array_equal(ours, [data[0][0] for data in StratifiedBootstrap(scores).bootstrap(5)])
    ours_x, ours_y = stratified_resamples([scores, other], reps=5)
    np.random.seed(0)
    theirs = [data[0] for data in StratifiedIndependentBootstrap(scores, other).bootstrap(5)]
    assert np.array_equal(ours_x, [x for x, _ in theirs]) and np.array_equal(ours_y, [y for _, y in theirs])


def test_learning_curve_bands_match_rliable_at_each_step():
    from rliable import library, metrics

    from actorcritic.analysis.statistics import curve_estimate

    curves = np.array(
        [[0.0, 10.0, 30.0], [5.0, 20.0, 10.0], [1.0, 40.0, 35.0], [2.0, 25.0, 50.0], [3.0, 15.0, 45.0]]
    )  # 5 seeds, 3 steps
    np.random.seed(0)
    points, intervals = library.get_interval_estimates(
        {"x": curves[:, None, :]}, lambda s: np.array([metrics.aggregate_iqm(s[..., t]) for t in range(3)]), reps=2000
    )
    iqm, low, high = curve_estimate(curves, "iqm")
    assert (
        iqm == pytest.approx(points["x"])
        and low == pytest.approx(intervals["x"][0])
        and high == pytest.approx(intervals["x"][1])
    )
    assert curve_estimate(curves, "median")[0] == pytest.approx([2.0, 20.0, 35.0])  # the median seed at each step


@pytest.mark.parametrize(
    "text, message",
    [
        ("[CartPole-v1]\nrandom = 1\n", "needs exactly random = R and reference = S"),
        ("[CartPole-v1]\nrandom = 1\nreference = 1\n", "needs exactly random = R and reference = S"),
        ("[CartPole-v1]\nrandom = nan\nreference = 1\n", "needs exactly random = R and reference = S"),
        ("[Pong-v5]\nrandom = 1\nreference = 2\n", "none of the runs' environments"),
        ("CartPole = [", "cannot be read as TOML"),
        ("", "names no environment"),
    ],
)
def test_a_bad_normalisation_file_is_one_line(tmp_path, capsys, text, message):
    fake_run(tmp_path / "run", {"algo": "ppo", "env": "CartPole-v1", "seed": 0, "seeds": [0, 1]}, {0: 1.0, 1: 2.0})
    (tmp_path / "norm.toml").write_text(text)
    assert_one_line_error(
        capsys,
        main(
            [
                "report",
                str(tmp_path / "run"),
                "--out",
                str(tmp_path / "r.md"),
                "--normalize",
                str(tmp_path / "norm.toml"),
            ]
        ),
        message,
    )
    assert not (tmp_path / "r.md").exists()
