"""Learning curves of run directories: `curves.png` after every train and resume, `actorcritic plot` to
overlay several runs. Each run is labelled by its algorithm and environment, plus the config fields in which
the plotted runs differ. A multi-seed run is drawn as the mean across its seeds with a 95% bootstrap CI band
(`actorcritic.analysis.statistics`), at the steps where every seed has a value."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from actorcritic.analysis.reading import PANELS, read_run
from actorcritic.storage.files import replaced_atomically

IGNORED_FIELDS = {
    "device",
    "num_threads",
    "checkpoint_every",
    "eval_episodes",
    "log_every",
    "save_replay_buffer",
    "seed",
    "seeds",
    "vectorization",
}
"""Config fields that never change what is learned; they do not go into labels."""


def steps_axis(axis) -> None:
    """Label the x axis "environment steps", its ticks written 50k, 1.5M: matplotlib writes steps below a
    million in full, and 125000, 150000, ... run into each other at the widths of our figures."""
    from matplotlib.ticker import FuncFormatter

    axis.set_xlabel("environment steps")
    axis.xaxis.set_major_formatter(FuncFormatter(lambda steps, _: short_steps(steps)))


def short_steps(steps: float) -> str:
    """12500 -> 12.5k, 1500000 -> 1.5M, 0 -> 0."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(steps) >= scale:
            return f"{steps / scale:g}{suffix}"
    return f"{steps:g}"


def seed_band(
    points_per_seed: dict[int, list[tuple[int, float]]], statistic: str = "mean"
) -> tuple[list[int], list[float], list[float], list[float]]:
    """Steps at which every seed has a value, the `statistic` (mean, median or iqm) across seeds there, and
    its 95% CI (low, high)."""
    from actorcritic.analysis.statistics import curve_estimate

    per_seed = [dict(points) for points in points_per_seed.values()]
    steps = sorted(set.intersection(*(set(points) for points in per_seed)))
    if not steps:
        return [], [], [], []
    estimate, low, high = curve_estimate(np.array([[points[step] for step in steps] for points in per_seed]), statistic)
    return steps, estimate.tolist(), low.tolist(), high.tolist()


def run_labels(configs: list[dict], with_env: bool = True) -> list[str]:
    """ "algo on env" ("algo" without the env), then the fields whose values differ between the runs of that
    algorithm (`field=value`), and the seed where that leaves two labels the same. Runs of different
    algorithms are told apart by the name: their configs' other differences (each algorithm's own fields
    and defaults) would fill the legend without saying more."""
    differing = {
        algo: _differing_fields([config for config in configs if config.get("algo") == algo])
        for algo in {config.get("algo") for config in configs}
    }
    labels = []
    for config in configs:
        extra = ", ".join(f"{name}={_label_value(config.get(name))}" for name in differing[config.get("algo")])
        env = config.get("env") or f"{config.get('task')}{config.get('digits')}"  # grpo-lm names its task, not an env
        where = f" on {env}" if with_env else ""
        labels.append(f"{config.get('algo')}{where}" + (f" ({extra})" if extra else ""))
    if len(set(labels)) < len(labels):  # runs of one config but for the seed: tell them apart by it
        labels = [f"{label}, seed {config.get('seed')}" for label, config in zip(labels, configs)]
    return labels


def _differing_fields(configs: list[dict]) -> list[str]:
    fields = sorted({name for config in configs for name in config} - {"algo", "env"} - IGNORED_FIELDS)
    return [name for name in fields if len({json.dumps(config.get(name)) for config in configs}) > 1]


FIGURE_FORMATS = ("png", "pdf", "svg")
"""What figures can be written as: PNG for screens and markdown, PDF and SVG for papers."""

PANEL_SIZE = (4.0, 3.0)
"""Inches per panel. With `FIGURE_FONTS`, a panel printed at a paper's column width (about 3.3 in) keeps its
text at about 8 pt; at 6 in a panel and 7-8 pt fonts, the figures' text came out near 4 pt there."""

FIGURE_FONTS = {
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
}


def figure_style():
    """The context every figure is drawn in: `FIGURE_FONTS`, and the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.rc_context(FIGURE_FONTS)


def legend_below(axis) -> None:
    """The legend under the panel, one entry a line, where it cannot cover a curve (`save_figure` keeps it in)."""
    if axis.get_legend_handles_labels()[0]:
        axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)


def plot_runs(run_dirs: list[Path], out: Path) -> None:
    """Draw the runs' curves into `out` (PNG, PDF or SVG by its suffix), one panel per column that has points,
    written atomically."""
    with figure_style():
        _plot_runs(run_dirs, out)


def _plot_runs(run_dirs: list[Path], out: Path) -> None:
    import matplotlib.pyplot as plt

    runs = [read_run(run_dir) for run_dir in run_dirs]
    labels = run_labels([config for config, _ in runs])
    panels = [(column, title) for column, title in PANELS if any(curves[column] for _, curves in runs)]
    width, height = PANEL_SIZE
    figure, axes = plt.subplots(1, max(len(panels), 1), figsize=(width * max(len(panels), 1), height), squeeze=False)
    for axis, (column, title) in zip(axes[0], panels):
        for (_, curves), label in zip(runs, labels):
            if len(curves[column]) == 1:
                steps, values = zip(*next(iter(curves[column].values())))
                axis.plot(steps, values, label=label, marker="o" if len(steps) < 30 else None, markersize=3)
            elif curves[column]:
                steps, mean, low, high = seed_band(curves[column])
                (line,) = axis.plot(
                    steps,
                    mean,
                    label=f"{label}, mean of {len(curves[column])} seeds, 95% CI",
                    marker="o" if len(steps) < 30 else None,
                    markersize=3,
                )
                axis.fill_between(steps, low, high, color=line.get_color(), alpha=0.2)
        steps_axis(axis)
        axis.set_ylabel(title)
        axis.grid(alpha=0.3)
        legend_below(axis)
    if not panels:
        axes[0][0].text(0.5, 0.5, "no episode has ended yet", ha="center", va="center")
    figure.tight_layout()
    save_figure(figure, Path(out))
    plt.close(figure)


def figure_format(path: Path) -> str:
    """The format a figure path asks for by its suffix (one of `FIGURE_FORMATS`; PNG without a suffix)."""
    suffix = Path(path).suffix.lower().lstrip(".")
    return suffix if suffix in FIGURE_FORMATS else "png"


def save_figure(figure, path: Path) -> None:
    """Write a matplotlib figure atomically (beside it first, then renamed over `path`), as its suffix says,
    cropped to what is drawn, legends below the panels included."""
    with replaced_atomically(path) as temporary:
        # the temporary name has no suffix to infer the format from
        figure.savefig(temporary, dpi=150, format=figure_format(path), bbox_inches="tight")


def _label_value(value) -> str:
    """A config value as a curve's label shows it: a list's items space-separated."""
    if isinstance(value, list):
        return " ".join(map(str, value))
    return str(value)
