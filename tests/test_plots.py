"""Learning-curve figures: labels that say how runs differ, one figure from several runs, bad paths refused."""

import json

import pytest
from conftest import assert_one_line_error

from actorcritic.analysis.plots import run_labels, short_steps
from actorcritic.analysis.reading import read_run
from actorcritic.cli.commands import main
from actorcritic.errors import ActorCriticError

FLAGS = [
    "--env",
    "CartPole-v1",
    "--total-steps",
    "128",
    "--num-envs",
    "2",
    "--num-steps",
    "32",
    "--minibatch-size",
    "32",
    "--epochs",
    "1",
    "--eval-episodes",
    "1",
    "--eval-every",
    "64",
]


def test_labels_name_algorithm_environment_and_the_fields_that_differ():
    configs = [
        {"algo": "ppo", "env": "CartPole-v1", "gae_lambda": 0.9, "seed": 0, "device": "cpu"},
        {"algo": "ppo", "env": "CartPole-v1", "gae_lambda": 0.95, "seed": 0, "device": "cuda"},
        {"algo": "trpo", "env": "CartPole-v1", "seed": 0},
    ]
    assert run_labels(configs) == [
        "ppo on CartPole-v1 (gae_lambda=0.9)",
        "ppo on CartPole-v1 (gae_lambda=0.95)",
        "trpo on CartPole-v1",
    ]  # another algorithm: its name tells it apart, not its fields
    sac = {"algo": "sac", "env": "Pendulum-v1", "tau": 0.005, "gae_lambda": 0.9, "seed": 0}
    assert run_labels([configs[0], sac]) == ["ppo on CartPole-v1", "sac on Pendulum-v1"]
    assert run_labels([configs[0], sac, {**sac, "tau": 0.01}]) == [
        "ppo on CartPole-v1",
        "sac on Pendulum-v1 (tau=0.005)",
        "sac on Pendulum-v1 (tau=0.01)",
    ]
    assert run_labels(configs[:1]) == ["ppo on CartPole-v1"]
    assert run_labels([{"algo": "grpo-lm", "task": "addition", "digits": 3}]) == [
        "grpo-lm on addition3"
    ]  # a task, not an env
    assert run_labels([{**configs[2], "seed": 4}, configs[2]]) == [
        "trpo on CartPole-v1, seed 4",
        "trpo on CartPole-v1, seed 0",
    ]


def test_a_grpo_lm_run_plots_its_held_out_accuracy(tmp_path, capsys):
    flags = [
        "--d-model",
        "16",
        "--num-layers",
        "1",
        "--num-heads",
        "2",
        "--warmup-steps",
        "2",
        "--total-steps",
        "4",
        "--prompts-per-step",
        "2",
        "--group-size",
        "2",
        "--eval-prompts",
        "4",
        "--eval-every",
        "2",
        "--digits",
        "2",
    ]
    for seed in (0, 1):
        assert main(["train", "grpo-lm", *flags, "--seed", str(seed), "--run-dir", str(tmp_path / f"s{seed}")]) == 0
    config, curves = read_run(tmp_path / "s1")
    assert [step for step, _ in curves["heldout_accuracy"][1]] == [2, 4]
    assert main(["plot", str(tmp_path / "s0"), str(tmp_path / "s1"), "--out", str(tmp_path / "seeds.png")]) == 0
    assert (tmp_path / "seeds.png").read_bytes().startswith(b"\x89PNG")


def test_plot_overlays_runs_into_one_png(tmp_path, capsys):
    for name, lam in (("a", "0.9"), ("b", "0.95")):
        assert main(["train", "ppo", *FLAGS, "--gae-lambda", lam, "--run-dir", str(tmp_path / name)]) == 0
    config, curves = read_run(tmp_path / "a")
    assert config["gae_lambda"] == 0.9 and [step for step, _ in curves["eval_return_mean"][0]] == [64, 128]
    assert main(["plot", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "both.png")]) == 0
    assert (tmp_path / "both.png").read_bytes().startswith(b"\x89PNG")
    capsys.readouterr()
    assert_one_line_error(
        capsys, main(["plot", str(tmp_path / "a"), "--out", str(tmp_path / "nowhere" / "x.png")]), "cannot be written"
    )
    assert_one_line_error(
        capsys, main(["plot", str(tmp_path), "--out", str(tmp_path / "x.png")]), "is not a run directory"
    )
    assert not (tmp_path / "x.png").exists()


def test_read_run_refuses_a_directory_without_metrics(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"algo": "ppo"}))
    with pytest.raises(ActorCriticError, match="not a run directory"):
        read_run(tmp_path)


def test_step_ticks_are_short_enough_not_to_run_into_each_other():
    assert [short_steps(s) for s in (0, 500, 12_500, 200_000, 1_000_000, 1_500_000)] == [
        "0",
        "500",
        "12.5k",
        "200k",
        "1M",
        "1.5M",
    ]


def test_plot_writes_pdf_and_svg_and_refuses_a_format_its_suffix_contradicts(tmp_path, capsys):
    assert main(["train", "ppo", *FLAGS, "--run-dir", str(tmp_path / "a")]) == 0
    assert main(["plot", str(tmp_path / "a"), "--out", str(tmp_path / "paper.pdf")]) == 0
    assert (tmp_path / "paper.pdf").read_bytes().startswith(b"%PDF")
    assert main(["plot", str(tmp_path / "a"), "--out", str(tmp_path / "paper"), "--format", "svg"]) == 0
    assert b"<svg" in (tmp_path / "paper.svg").read_bytes()[:500]
    capsys.readouterr()
    code = main(["plot", str(tmp_path / "a"), "--out", str(tmp_path / "x.png"), "--format", "pdf"])
    assert_one_line_error(capsys, code, "--out", "is a .png file, but --format says pdf")
    assert not (tmp_path / "x.png").exists()


def test_figures_are_readable_at_column_width_and_legends_leave_the_curves_alone():
    """A panel printed at a paper's column width (3.3 in) keeps its smallest text at 7.4 pt or more, and the
    legend lies below the axes, where no curve is."""
    import matplotlib.pyplot as plt

    from actorcritic.analysis.plots import FIGURE_FONTS, PANEL_SIZE, figure_style, legend_below

    scale = 3.3 / PANEL_SIZE[0]
    assert min(size for name, size in FIGURE_FONTS.items() if name.endswith("size")) * scale >= 7.4
    with figure_style():
        figure, axis = plt.subplots(figsize=PANEL_SIZE)
        for index in range(4):
            axis.plot([0, 1], [index, index + 1], label=f"a long label of a configuration {index}")
        legend_below(axis)
        figure.canvas.draw()
        legend, panel = axis.get_legend().get_window_extent(), axis.get_window_extent()
        assert legend.y1 < panel.y0  # entirely under the panel
        assert plt.rcParams["legend.fontsize"] == FIGURE_FONTS["legend.fontsize"]
        plt.close(figure)
