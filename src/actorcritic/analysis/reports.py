"""Reports over run directories (`actorcritic report DIR [DIR ...]`, and every sweep's report.md).

Runs are grouped into configurations: runs whose configs agree on every field but the seed are one
configuration, so a multi-seed run and a set of single-seed runs of one setting are reported alike. Per
configuration and environment, the seeds' final evaluation returns give the mean, median and IQM with 95%
stratified-bootstrap CIs (`actorcritic.analysis.statistics`, rliable). Figures: the IQM with its CI per
configuration (interval estimates), and the IQM across seeds of the periodic evaluations (or, without them, of the
training episode returns) against environment steps with its CI band (sample efficiency). Scores are not
normalised or aggregated across environments: each environment has its own table and panel.
"""

from __future__ import annotations

import csv
import io
import json
import math
import tomllib
from pathlib import Path

import numpy as np

from actorcritic.analysis.plots import (
    IGNORED_FIELDS,
    PANEL_SIZE,
    figure_style,
    legend_below,
    run_labels,
    save_figure,
    seed_band,
    steps_axis,
)
from actorcritic.analysis.reading import config_defaults, read_run
from actorcritic.analysis.statistics import (
    aggregate_scores,
    performance_profile,
    probability_of_improvement,
)
from actorcritic.errors import ActorCriticError
from actorcritic.storage.files import make_directory, write_atomic

FIGURE_INTERVALS = "report-iqm"
FIGURE_CURVES = "report-curves"
FIGURE_PROFILES = "report-profiles"
REPORT_CSV = "report.csv"
REPORT_CSV_COLUMNS = [
    "configuration",
    "env",
    "seeds",
    "mean",
    "mean_low",
    "mean_high",
    "median",
    "median_low",
    "median_high",
    "iqm",
    "iqm_low",
    "iqm_high",
]
"""The columns of report.csv: one row per configuration, then one per setting across environments."""
ALL_ENVS = "all (normalised)"
PROFILE_THRESHOLDS = 101


def collect_runs(directories: list[Path]) -> list[Path]:
    """The run directories named, with a sweep directory standing for its finished trials."""
    from actorcritic.storage.layout import SWEEP_FILE, TRIALS_DIR

    runs: list[Path] = []
    for directory in map(Path, directories):
        if (directory / SWEEP_FILE).exists():
            runs += (
                sorted(d for d in (directory / TRIALS_DIR).iterdir() if (d / "summary.json").exists())
                if (directory / TRIALS_DIR).exists()
                else []
            )
        elif (directory / "summary.json").exists():
            runs.append(directory)
        else:
            raise ActorCriticError(
                f"{directory} is neither a finished run (no summary.json) nor a sweep: pass run or sweep directories"
            )
    if not runs:
        raise ActorCriticError("no finished run to report on: the directories hold no summary.json yet")
    return runs


def _final_returns(summary: dict) -> dict[int, float]:
    """Each seed's final evaluation return, by seed."""
    entries = summary.get("per_seed") or [summary]
    return {int(entry["seed"]): float(entry["eval_return_mean"]) for entry in entries}


def read_normalization(path: Path) -> dict[str, tuple[float, float]]:
    """{env: (random score, reference score)} from a TOML file of tables like
    [CartPole-v1] random = 22.0, reference = 500.0."""
    try:
        tables = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ActorCriticError(
            f"--normalize {path} does not exist: give a TOML file of [ENV] tables with random = and reference ="
        ) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ActorCriticError(f"--normalize {path} cannot be read as TOML ({error}): fix the line it names") from None
    scores = {}
    for env, table in tables.items():
        values = (table.get("random"), table.get("reference")) if isinstance(table, dict) else ()
        if not (
            len(values) == 2
            and set(table) == {"random", "reference"}
            and values[0] != values[1]
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)
        ):
            raise ActorCriticError(
                f"--normalize {path}: [{env}] needs exactly random = R and reference = S, finite numbers with R != S"
            )
        scores[env] = (float(values[0]), float(values[1]))
    if not scores:
        raise ActorCriticError(
            f"--normalize {path} names no environment: add [ENV] tables with random = and reference ="
        )
    return scores


def normalise(score: float, random: float, reference: float) -> float:
    """0 at the random policy's score, 1 at the reference score."""
    return (score - random) / (reference - random)


def configurations(runs: list[Path]) -> list[dict]:
    """[{label, setting, env, finals {seed: return}, runs [dirs]}], runs of one config (but for the seed)
    merged; `setting` is the label without the environment (what a configuration is called across them)."""
    groups: dict[str, dict] = {}
    for run_dir in runs:
        config = json.loads((run_dir / "config.json").read_text())
        config = {**config_defaults(config.get("algo")), **config}  # runs older than a field: its default
        key = json.dumps({k: v for k, v in config.items() if k not in IGNORED_FIELDS}, sort_keys=True)
        group = groups.setdefault(key, {"config": config, "finals": {}, "runs": []})
        group["finals"].update(_final_returns(json.loads((run_dir / "summary.json").read_text())))
        group["runs"].append(run_dir)
    # labels name the fields that differ between the configurations of one environment
    # (presets differ between environments)
    result = []
    for env in dict.fromkeys(group["config"]["env"] for group in groups.values()):
        mine = [group for group in groups.values() if group["config"]["env"] == env]
        configs = [g["config"] for g in mine]
        result += [
            {"label": label, "setting": setting, "env": env, **group}
            for label, setting, group in zip(run_labels(configs), run_labels(configs, with_env=False), mine)
        ]
    return result


def _curve(runs: list[Path]) -> tuple[list[int], list[float], list[float], list[float]] | None:
    """A configuration's sample-efficiency curve: the IQM across seeds with its CI, at the steps every seed
    logged (periodic evaluations where there are any, else training episode returns)."""
    curves = [read_run(run_dir)[1] for run_dir in runs]
    for column in ("eval_return_mean", "episode_return_mean"):
        per_seed = {seed: points for run in curves for seed, points in run[column].items()}
        if len(per_seed) >= 2:
            steps, iqm, low, high = seed_band(per_seed, "iqm")
            if steps:
                return steps, iqm, low, high
    return None


def find_configuration(groups: list[dict], name: str, env: str) -> dict:
    """The configuration on `env` whose label contains `name` (exactly one)."""
    matches = [group for group in groups if group["env"] == env and name in group["label"]]
    if len(matches) != 1:
        found = "none" if not matches else ", ".join(repr(group["label"]) for group in matches)
        raise ActorCriticError(
            f"--compare {name!r} must name one configuration on {env}, but matches {found}: give more of its label"
        )
    return matches[0]


def write_report(
    directories: list[Path],
    out: Path,
    compare: tuple[str, str] | None = None,
    normalization: dict[str, tuple[float, float]] | None = None,
    figure_format_name: str = "png",
) -> Path:
    """report.md at `out` (tables and figures), and in `report_files(out)` (X_files/ for X.md) report.csv and the
    figures, as `figure_format_name` (png, pdf or svg). With `compare`
    (two parts of configuration labels), the probability that the first improves on the second, per
    environment where both ran. With `normalization` ({env: (random, reference)}), the aggregate across
    the normalised environments of each setting run on all of them."""
    groups = configurations(collect_runs(directories))
    if normalization is not None and not set(normalization) & {group["env"] for group in groups}:
        raise ActorCriticError(
            f"--normalize names {', '.join(sorted(normalization))}, none of the runs' environments "
            f"({', '.join(sorted({group['env'] for group in groups}))}): use the environment ids as table names"
        )
    out = Path(out)
    rows = []
    for group in groups:
        finals = [group["finals"][seed] for seed in sorted(group["finals"])]
        aggregate = aggregate_scores(finals) if len(finals) >= 2 else None
        rows.append((group, finals, aggregate))
    lines, csv_rows = _per_environment_sections(rows, normalization)
    across = _across_environments(groups, normalization) if normalization else None
    if across is not None:
        lines += _across_environments_section(across, normalization)
        for setting, (matrix, aggregate) in across["settings"].items():
            csv_rows.append([setting, ALL_ENVS, matrix.shape[0], *_csv_numbers(aggregate)])
    if compare is not None:
        lines += _improvement_section(groups, compare)
    files = report_files(out)
    make_directory(files, "the report's folder")
    names = {name: f"{name}.{figure_format_name}" for name in (FIGURE_INTERVALS, FIGURE_CURVES, FIGURE_PROFILES)}
    with figure_style():
        _figures(rows, files, names)
        _profiles(rows, across, files / names[FIGURE_PROFILES])
    lines += [
        f"![IQM and 95% CI per configuration]({files.name}/{names[FIGURE_INTERVALS]})",
        "",
        f"![sample efficiency: IQM across seeds and 95% CI against steps]({files.name}/{names[FIGURE_CURVES]})",
        "",
        "![performance profiles: fraction of seeds above each final return, 95% CI]"
        f"({files.name}/{names[FIGURE_PROFILES]})",
        "",
        f"The numbers of these tables are in {files.name}/{REPORT_CSV}, beside the figures.",
        "",
    ]
    buffer = io.StringIO()
    csv.writer(buffer).writerows([REPORT_CSV_COLUMNS, *csv_rows])
    write_atomic(files / REPORT_CSV, buffer.getvalue().encode())
    write_atomic(out, "\n".join(lines).encode())
    return out


def report_files(out: Path) -> Path:
    """The folder beside report `out` (X.md -> X_files/) that holds its figures and its CSV."""
    return Path(out).with_name(Path(out).stem + "_files")


def _per_environment_sections(
    rows: list[tuple[dict, list[float], dict | None]], normalization: dict | None
) -> tuple[list[str], list[list]]:
    """The report's opening and a table per environment of its configurations (IQM, mean, median with
    CIs), with the matching rows of report.csv."""
    how = (
        "Environments are reported separately, then normalised and aggregated across environments (below)."
        if normalization
        else "Environments are reported separately (no normalisation: see `--normalize`)."
    )
    lines = [
        "# Report",
        "",
        "Final deterministic evaluation return of each seed; mean, median and IQM over seeds with 95% "
        f"stratified-bootstrap CIs (rliable's resampling, 2,000 replications). {how}",
        "",
    ]
    csv_rows = []
    for env in dict.fromkeys(group["env"] for group, _, _ in rows):
        lines += [
            f"## {env}",
            "",
            "| configuration | seeds | IQM [95% CI] | mean [95% CI] | median [95% CI] |",
            "|---|---|---|---|---|",
        ]
        for group, finals, aggregate in rows:
            if group["env"] != env:
                continue
            cells = [
                _cell(aggregate, name) if aggregate else f"{finals[0]:.1f} (one seed)"
                for name in ("iqm", "mean", "median")
            ]
            lines.append(f"| {group['label']} | {len(finals)} | {' | '.join(cells)} |")
            numbers = _csv_numbers(aggregate) if aggregate else [finals[0]] * 9
            csv_rows.append([group["label"], env, len(finals), *numbers])
        lines.append("")
    return lines, csv_rows


def _improvement_section(groups: list[dict], compare: tuple[str, str]) -> list[str]:
    """The table of P(X > Y) per environment where both configurations of `compare` ran."""
    lines = [
        "## Probability of improvement",
        "",
        "P(X > Y): the probability that a seed of X ends above a seed of Y "
        "(Mann-Whitney U, ties half), with its 95% bootstrap CI.",
        "",
        "| env | X | Y | P(X > Y) [95% CI] |",
        "|---|---|---|---|",
    ]
    envs = [
        env
        for env in dict.fromkeys(group["env"] for group in groups)
        if all(any(g["env"] == env and name in g["label"] for g in groups) for name in compare)
    ]
    if not envs:
        raise ActorCriticError(
            f"--compare {compare[0]!r} {compare[1]!r}: no environment has both configurations; "
            "check the labels in the table"
        )
    for env in envs:
        x, y = (find_configuration(groups, name, env) for name in compare)
        result = probability_of_improvement(list(x["finals"].values()), list(y["finals"].values()))
        low, high = result["probability_ci"]
        lines.append(f"| {env} | {x['label']} | {y['label']} | {result['probability']:.2f} [{low:.2f}, {high:.2f}] |")
    lines.append("")
    return lines


def _across_environments(groups: list[dict], normalization: dict[str, tuple[float, float]]) -> dict:
    """Each setting's normalised final scores on every normalised environment, [seeds, envs], and their
    aggregate; and the settings left out, with the reason."""
    envs = [env for env in dict.fromkeys(group["env"] for group in groups) if env in normalization]
    settings, left_out = {}, {}
    for setting in dict.fromkeys(group["setting"] for group in groups):
        mine = {
            group["env"]: group for group in groups if group["setting"] == setting and group["env"] in normalization
        }
        if set(mine) != set(envs):
            left_out[setting] = f"not run on {', '.join(env for env in envs if env not in mine)}"
            continue
        counts = {len(mine[env]["finals"]) for env in envs}
        if len(counts) > 1:
            left_out[setting] = (
                "different numbers of seeds per environment "
                f"({', '.join(str(len(mine[env]['finals'])) for env in envs)})"
            )
            continue
        if counts == {1}:
            left_out[setting] = "one seed per environment: no interval to give"
            continue
        columns = [
            [normalise(mine[env]["finals"][seed], *normalization[env]) for seed in sorted(mine[env]["finals"])]
            for env in envs
        ]
        matrix = np.asarray(columns, dtype=np.float64).T  # [seeds, envs]; seeds pair up by rank, not by number
        settings[setting] = (matrix, aggregate_scores(matrix))
    return {"envs": envs, "settings": settings, "left_out": left_out}


def _across_environments_section(across: dict, normalization: dict[str, tuple[float, float]]) -> list[str]:
    lines = [
        f"## {ALL_ENVS}",
        "",
        "Normalised score (return - random) / (reference - random) with the scores given:",
        "",
        "| env | random | reference |",
        "|---|---|---|",
    ]
    lines += [f"| {env} | {normalization[env][0]:g} | {normalization[env][1]:g} |" for env in across["envs"]]
    lines += [
        "",
        f"Each setting run on all {len(across['envs'])} environments: the IQM and mean over all its runs, "
        "the median of its environments' mean scores, 95% CIs from a bootstrap over seeds within each environment.",
        "",
        "| setting | seeds x envs | IQM [95% CI] | mean [95% CI] | median [95% CI] |",
        "|---|---|---|---|---|",
    ]
    for setting, (matrix, aggregate) in across["settings"].items():
        cells = [
            f"{aggregate[name]:.3f} [{aggregate[f'{name}_ci'][0]:.3f}, {aggregate[f'{name}_ci'][1]:.3f}]"
            for name in ("iqm", "mean", "median")
        ]
        lines.append(f"| {setting} | {matrix.shape[0]} x {matrix.shape[1]} | {' | '.join(cells)} |")
    lines += [f"- {setting}: left out, {reason}" for setting, reason in across["left_out"].items()]
    return [*lines, ""]


def _csv_numbers(aggregate: dict) -> list[float]:
    """mean, its CI bounds, median, its CI bounds, IQM, its CI bounds: the columns of report.csv."""
    return [value for name in ("mean", "median", "iqm") for value in (aggregate[name], *aggregate[f"{name}_ci"])]


def _cell(aggregate: dict, name: str) -> str:
    low, high = aggregate[f"{name}_ci"]
    return f"{aggregate[name]:.1f} [{low:.1f}, {high:.1f}]"


def _figures(rows: list, directory: Path, names: dict[str, str]) -> None:
    import matplotlib.pyplot as plt

    envs = list(dict.fromkeys(group["env"] for group, _, _ in rows))
    width, height = PANEL_SIZE
    figure, axes = plt.subplots(1, len(envs), figsize=(width * len(envs), 0.3 * len(rows) + 1.8), squeeze=False)
    for axis, env in zip(axes[0], envs):
        mine = [(group, finals, aggregate) for group, finals, aggregate in rows if group["env"] == env]
        for index, (group, finals, aggregate) in enumerate(mine):
            if aggregate:
                low, high = aggregate["iqm_ci"]
                axis.plot([low, high], [index, index], linewidth=6, alpha=0.4)
                axis.plot([aggregate["iqm"]], [index], "k|", markersize=14)
            axis.plot(finals, [index] * len(finals), "k.", markersize=4)
        axis.set_yticks(range(len(mine)), [group["label"] for group, _, _ in mine])
        axis.set_xlabel("final return (IQM, 95% CI; dots: seeds)")
        axis.set_title(env)
    figure.tight_layout()
    save_figure(figure, directory / names[FIGURE_INTERVALS])
    plt.close(figure)

    figure, axes = plt.subplots(1, len(envs), figsize=(width * len(envs), height), squeeze=False)
    for axis, env in zip(axes[0], envs):
        for group, _, _ in rows:
            curve = _curve(group["runs"]) if group["env"] == env else None
            if curve:
                steps, mean, low, high = curve
                (line,) = axis.plot(steps, mean, label=group["label"])
                axis.fill_between(steps, low, high, color=line.get_color(), alpha=0.2)
        steps_axis(axis)
        axis.set_ylabel("return (IQM of seeds, 95% CI)")
        axis.set_title(env)
        axis.grid(alpha=0.3)
        legend_below(axis)
    figure.tight_layout()
    save_figure(figure, directory / names[FIGURE_CURVES])
    plt.close(figure)


def _profiles(rows: list, across: dict | None, path: Path) -> None:
    """Performance profiles: per environment over the final returns, and over the normalised scores of
    all normalised environments if there are any."""
    import matplotlib.pyplot as plt

    panels = []  # (title, x label, [(label, scores [S] or [S, E])])
    for env in dict.fromkeys(group["env"] for group, _, _ in rows):
        curves = [
            (group["label"], np.asarray(finals))
            for group, finals, _ in rows
            if group["env"] == env and len(finals) >= 2
        ]
        if curves:
            panels.append((env, "final evaluation return τ", curves))
    if across and across["settings"]:
        panels.append(
            (
                f"{ALL_ENVS}: {len(across['envs'])} environments",
                "normalised score τ",
                [(setting, matrix) for setting, (matrix, _) in across["settings"].items()],
            )
        )
    width, height = PANEL_SIZE
    figure, axes = plt.subplots(1, max(len(panels), 1), figsize=(width * max(len(panels), 1), height), squeeze=False)
    for axis, (title, xlabel, curves) in zip(axes[0], panels):
        everything = np.concatenate([scores.ravel() for _, scores in curves])
        low, high = everything.min(), everything.max()
        # show the profile's 1 and its 0, even if all runs tie
        margin = 0.05 * (high - low) or max(0.05 * abs(high), 1.0)
        thresholds = np.linspace(low - margin, high + margin, PROFILE_THRESHOLDS)
        for label, scores in curves:
            fraction, low, high = performance_profile(scores, thresholds)
            (line,) = axis.plot(thresholds, fraction, label=label)
            axis.fill_between(thresholds, low, high, color=line.get_color(), alpha=0.2)
        axis.set_xlabel(xlabel)
        axis.set_ylabel("fraction of runs with score > τ")
        axis.set_title(title)
        axis.grid(alpha=0.3)
        legend_below(axis)
    figure.tight_layout()
    save_figure(figure, path)
    plt.close(figure)
