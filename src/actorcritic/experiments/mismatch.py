"""mismatch: the training-inference mismatch of the lecture's section 2.1 (Qi et al. 2025), made visible.

Claim tested: a sampler that runs the same weights in bfloat16 reports log-probabilities that differ from
the training pass's float32 ones (mismatch KL > 0, per-token gaps far above float32's), while a float32
sampler agrees to rounding; a truncated or masked importance-sampling correction (Yao et al. 2025) keeps
the update's weights bounded. And what the mismatch does to learning: whether bfloat16 sampling, with and
without a correction, learns as well as float32 sampling.

Setting: `grpo-lm` on one task, one warm start per seed (grpo-lm's criterion: supervised steps until the
validation accuracy reaches `warmup_target_accuracy`; deterministic in the seed, so every arm of a seed
starts from the same policy), then `steps` GRPO steps in each arm: float32 sampling; bfloat16 sampling
uncorrected; bfloat16 sampling with each of `corrections`. `num_iterations` = 1, so without the mismatch
every ratio would be exactly 1 at the update. Recorded per arm and seed: every step's metrics (mismatch KL,
largest gap, mean importance weight) and the held-out greedy accuracy every `eval_every` steps; reported:
accuracy against steps and the mismatch KL over training, mean and 95% bootstrap CI across seeds.

Where the mismatch grows: `probe` measures the mismatch KL of one sampling round of a fresh (untrained)
policy for bfloat16 and float16 samplers at several answer lengths (digits) and model widths, no training.

The fast default is 2-digit addition, d_model 64, 200 warm-start steps at most, 200 GRPO steps, one seed,
the token-truncate correction. `--full`: grpo-lm's defaults (3-digit addition, d_model 128, the warm-start
criterion), 1000 GRPO steps, 3 seeds, every correction, held-out accuracy every 100 steps. Each run is a
unit of OUT/runs/ARM/seed-K (its metrics in result.json once finished): running the command again after an
interruption keeps the finished runs and redoes the others; the probe is kept in OUT/probe.json. `--device
cuda` runs every arm and the probe on a GPU, whose bfloat16 kernels round otherwise than the CPU's.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from actorcritic.algorithms.engine import resolve_device
from actorcritic.algorithms.grpo_lm import GRPOLM, GRPOLMConfig
from actorcritic.analysis.statistics import aggregate_scores, curve_estimate
from actorcritic.config import check_choice, check_positive_int, check_range
from actorcritic.errors import ActorCriticError
from actorcritic.experiments.common import (
    ExperimentResult,
    figure,
    run_identity,
    run_units,
    same_identity,
    unit_directory,
    unit_path,
)
from actorcritic.language.objectives import IS_CORRECTIONS
from actorcritic.storage.files import write_json_atomic

CLAIM = (
    "bfloat16 sampling breaks the agreement of sampler and trainer log-probs (float32 keeps it); "
    "truncated/masked IS bounds the correction (Qi et al. 2025)"
)


@dataclass(frozen=True)
class Config:
    """Options of mismatch."""

    out: str = "results/mismatch"
    """Directory for results.csv, figure.png, summary.json, the runs (runs/ARM/seed-K) and probe.json."""
    task: str = "addition"
    """Task of the grpo-lm runs."""
    digits: int = 2
    """Digits of the task."""
    steps: int = 200
    """GRPO steps per arm."""
    warmup_steps: int = 200
    """Most supervised warm-start steps (grpo-lm's criterion may stop it earlier)."""
    d_model: int = 64
    """Width of the transformer."""
    corrections: tuple[str, ...] = ("token-truncate",)
    """The IS corrections of the bfloat16 arms beyond the uncorrected one."""
    is_cap: float = 2.0
    """Their cap C."""
    seeds: int = 1
    """Seeds per arm: seed, seed + 1, ..."""
    seed: int = 0
    """First seed."""
    eval_every: int = 0
    """Held-out accuracy every this many GRPO steps, for the curves (0: before and after only)."""
    probe_digits: tuple[int, ...] = (2, 6)
    """Answer lengths (digits) of the mismatch probe."""
    probe_widths: tuple[int, ...] = (64,)
    """Model widths (d_model) of the mismatch probe."""
    device: str = "cpu"
    """Torch device of every run and of the probe: cpu, cuda, cuda:N or mps (a GPU's kernels round otherwise)."""
    jobs: int | None = None
    """Runs at a time, each in its own process with one torch thread (default: the cores)."""

    def __post_init__(self) -> None:
        for name in ("steps", "seeds"):
            check_positive_int(name, getattr(self, name))
        for name in ("warmup_steps", "eval_every"):
            check_range(name, getattr(self, name), 0)
        for correction in self.corrections:
            check_choice("corrections", correction, IS_CORRECTIONS[1:])
        check_range("is_cap", self.is_cap, 1)
        for digits in self.probe_digits:
            check_range("probe_digits", digits, 1, 18)
        for width in self.probe_widths:
            if type(width) is not int or width < 4 or width % 4:
                raise ActorCriticError(f"--probe-widths {width} is out of range: give multiples of 4 (the heads)")
        # the grpo-lm config validates the rest (task, digits, d_model, device) when the first run is built
        self.run_config("float32", "none", self.seed)

    def arms(self) -> list[tuple[str, str]]:
        """(sampler dtype, correction) of every arm."""
        return [("float32", "none"), ("bfloat16", "none"), *(("bfloat16", c) for c in self.corrections)]

    def run_config(self, sampler_dtype: str, is_correction: str, seed: int) -> GRPOLMConfig:
        return GRPOLMConfig(
            task=self.task,
            digits=self.digits,
            d_model=self.d_model,
            num_heads=4,
            warmup_steps=self.warmup_steps,
            eval_prompts=200,
            eval_every=self.eval_every,
            checkpoint_every=0,
            time_limit_s=0.0,
            seed=seed,
            total_steps=self.steps,
            sampler_dtype=sampler_dtype,
            is_correction=is_correction,
            is_cap=self.is_cap,
            device=self.device,
        )


FULL = dict(
    out="results/mismatch-full",
    digits=3,
    d_model=128,
    warmup_steps=GRPOLMConfig.warmup_steps,
    steps=1000,
    seeds=3,
    corrections=tuple(IS_CORRECTIONS[1:]),
    eval_every=100,
    probe_digits=(2, 3, 6, 12),
    probe_widths=(64, 128, 256),
)
"""--full: every arm learns at this size (grpo-lm's defaults), 3 seeds, every correction."""


class _Recorder:
    """A training callback that keeps each step's metrics row."""

    def __init__(self):
        self.rows: list[dict] = []

    def on_log(self, agent, metrics: dict) -> None:
        self.rows.append(metrics)


def arm_name(sampler_dtype: str, correction: str) -> str:
    return f"{sampler_dtype}, {correction}"


def unit_parts(sampler_dtype: str, correction: str, seed: int) -> tuple[str, str]:
    """The unit directory of one arm and seed: OUT/runs/PARTS."""
    return f"{sampler_dtype}-{correction}", f"seed-{seed}"


def result_path(config: Config, sampler_dtype: str, correction: str, seed: int) -> Path:
    """Where one arm and seed keeps its metrics once finished."""
    return unit_path(config.out, *unit_parts(sampler_dtype, correction, seed)) / "result.json"


def mismatch_run(config: Config, sampler_dtype: str, correction: str, seed: int, threads: int = 1) -> dict:
    """One arm and seed: warm start, GRPO with the metrics of every step; read back if finished."""
    settings = replace(config.run_config(sampler_dtype, correction, seed), num_threads=threads)
    unit_directory(config.out, run_identity(settings), *unit_parts(sampler_dtype, correction, seed))
    path = result_path(config, sampler_dtype, correction, seed)
    if path.exists():
        return json.loads(path.read_text())
    agent, recorder, started = GRPOLM(settings), _Recorder(), time.perf_counter()
    agent.learn(callbacks=[recorder])
    result = {
        "sampler_dtype": sampler_dtype,
        "is_correction": correction,
        "seed": seed,
        "accuracy_before": agent.accuracy_before,
        "accuracy_after": agent.accuracy_after,
        "warmup_steps_done": agent.warmup_steps_done,
        "wall_time_s": time.perf_counter() - started,
        "steps": recorder.rows,
    }
    write_json_atomic(path, result)
    return result


def probe_settings(config: Config) -> list[GRPOLMConfig]:
    """The untrained policies of the probe: per width, answer length and sampler dtype."""
    return [
        replace(config.run_config(dtype, "none", config.seed), digits=digits, d_model=width, warmup_steps=0)
        for width in config.probe_widths
        for digits in config.probe_digits
        for dtype in ("bfloat16", "float16")
    ]


def saved_probe(config: Config) -> list[dict] | None:
    """The probe's rows kept in OUT/probe.json, if they measured these settings (a cache: a file that is
    not one is measured again)."""
    try:
        saved = json.loads(Path(config.out, "probe.json").read_text())
        identity, rows = saved["identity"], saved["rows"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return rows if same_identity(identity, [run_identity(s) for s in probe_settings(config)]) else None


def probe(config: Config) -> list[dict]:
    """Mismatch figures of one sampling round of an untrained policy, per sampler dtype, answer length and
    width; kept in OUT/probe.json with the configs it measured, so that a finished experiment reads back."""
    rows = saved_probe(config)
    if rows is None:
        settings = probe_settings(config)
        rows = [
            {"d_model": s.d_model, "digits": s.digits, "sampler_dtype": s.sampler_dtype, **GRPOLM(s).mismatch_now()}
            for s in settings
        ]
        Path(config.out).mkdir(parents=True, exist_ok=True)
        write_json_atomic(
            Path(config.out, "probe.json"), {"identity": [run_identity(s) for s in settings], "rows": rows}
        )
    return rows


def run(config: Config) -> ExperimentResult:
    seeds = list(range(config.seed, config.seed + config.seeds))
    units = [(config, dtype, correction, seed) for seed in seeds for dtype, correction in config.arms()]
    if saved_probe(config) is None or not all(
        result_path(config, dtype, correction, seed).exists() for _, dtype, correction, seed in units
    ):
        resolve_device(config.device)  # work left for a device that is absent: refused before anything is written
    results = run_units(mismatch_run, units, config.jobs)
    by_arm = {
        arm_name(d, c): [r for r in results if (r["sampler_dtype"], r["is_correction"]) == (d, c)]
        for d, c in config.arms()
    }
    rows_by_arm = {label: [run_row(r) for r in runs] for label, runs in by_arm.items()}
    rows = [row for arm_rows in rows_by_arm.values() for row in arm_rows]
    summary_arms = {label: arm_summary(arm_rows) for label, arm_rows in rows_by_arm.items()}
    # after the runs: their identity check refuses an OUT of other options before probe.json is written
    probe_rows = probe(config)
    summary = {
        "arms": summary_arms,
        "probe": probe_rows,
        "every_arm_learns": all(
            a["accuracy_after_mean_ci"][0] > a["accuracy_before_mean"] for a in summary_arms.values()
        ),
    }

    def draw(path_png):
        draw_figure(path_png, config, by_arm, probe_rows)

    columns = [
        "sampler_dtype",
        "is_correction",
        "seed",
        "mismatch_kl_k3_mean",
        "mismatch_max_abs",
        "is_weight_mean",
        "accuracy_before",
        "accuracy_after",
    ]
    return ExperimentResult(rows=rows, summary=summary, draw=draw, table_columns=columns)


def run_row(result: dict) -> dict:
    """One run's row of results.csv: its arm, its seed, the means of its steps' metrics, its accuracies."""
    steps = result["steps"]
    return {
        "sampler_dtype": result["sampler_dtype"],
        "is_correction": result["is_correction"],
        "seed": result["seed"],
        "mismatch_kl_mean": statistics.fmean(s["mismatch_kl"] for s in steps),
        "mismatch_kl_k3_mean": statistics.fmean(s["mismatch_kl_k3"] for s in steps),
        "mismatch_max_abs": max(s["mismatch_max_abs"] for s in steps),
        "is_weight_mean": statistics.fmean(s["is_weight_mean"] for s in steps),
        "clip_fraction_mean": statistics.fmean(s["clip_fraction"] for s in steps),
        "accuracy_before": result["accuracy_before"],
        "accuracy_after": result["accuracy_after"],
        "wall_time_s": result["wall_time_s"],
    }


def arm_summary(rows: list[dict]) -> dict:
    """An arm's entry of summary.json from the `run_row`s of its seeds: accuracy before and after (mean, 95%
    CI, per seed) and its mismatch."""
    after = aggregate_scores([row["accuracy_after"] for row in rows])
    return {
        "accuracy_before_mean": statistics.fmean(row["accuracy_before"] for row in rows),
        "accuracy_after_mean": after["mean"],
        "accuracy_after_mean_ci": after["mean_ci"],
        "accuracy_after_per_seed": [row["accuracy_after"] for row in rows],
        "mismatch_kl_k3_mean": statistics.fmean(row["mismatch_kl_k3_mean"] for row in rows),
        "mismatch_max_abs": max(row["mismatch_max_abs"] for row in rows),
    }


def curves(runs: list[dict], column: str) -> tuple[list[int], np.ndarray]:
    """The column's steps (where every seed has it) and its values there, [seeds, steps]."""
    points = [
        {s["global_step"]: s[column] for s in r["steps"] if isinstance(s.get(column), float) and s[column] == s[column]}
        for r in runs
    ]
    common = sorted(set.intersection(*(set(p) for p in points)))
    return common, np.array([[p[step] for step in common] for p in points])


def draw_figure(path_png, config: Config, by_arm: dict[str, list[dict]], probe_rows: list[dict]) -> None:
    """figure.png: held-out accuracy and the mismatch KL over training per arm, and the probe's mismatch KL
    against the answer length."""
    fig, axes = figure(1, 3, size=(5.2, 4.0))
    accuracy_ax, kl_ax, probe_ax = axes[0]
    _plot_arms(accuracy_ax, kl_ax, by_arm)
    _plot_probe(probe_ax, probe_rows, config.probe_widths)
    accuracy_ax.set(
        xlabel="GRPO step", ylabel="held-out greedy accuracy", title=f"mean and 95% CI over {config.seeds} seed(s)"
    )
    kl_ax.set(
        xlabel="GRPO step",
        ylabel="mismatch KL (k3) per token",
        yscale="log",
        title="sampler vs trainer, mean over seeds, running mean",
    )
    probe_ax.set(
        xlabel="digits (answer length)",
        ylabel="mismatch KL (k3) per token",
        yscale="log",
        title="untrained policy, one round",
    )
    for ax in (accuracy_ax, kl_ax, probe_ax):
        ax.legend(fontsize=7)
        ax.title.set_fontsize(9)
    fig.suptitle(
        f"grpo-lm, {config.task} {config.digits} digits, d_model {config.d_model}, on {config.device}", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path_png, dpi=110, format="png")


def _plot_arms(accuracy_ax, kl_ax, by_arm: dict[str, list[dict]]) -> None:
    """Per arm, the held-out accuracy (mean and 95% CI over seeds, from the warm start's) and the smoothed
    mismatch KL against GRPO steps."""
    for index, (label, runs) in enumerate(by_arm.items()):
        colour = f"C{index}"
        steps, accuracy = curves(runs, "heldout_accuracy")
        mean, low, high = curve_estimate(accuracy)
        before = statistics.fmean(r["accuracy_before"] for r in runs)
        steps, mean, low, high = [0, *steps], [before, *mean], [before, *low], [before, *high]
        accuracy_ax.plot(steps, mean, color=colour, label=label)
        accuracy_ax.fill_between(steps, low, high, color=colour, alpha=0.15, linewidth=0)
        steps, kl = curves(runs, "mismatch_kl_k3")
        # a running mean over steps and the mean over seeds: one step's KL is noisy
        window = max(1, len(steps) // 50)
        smooth = np.convolve(kl.mean(0), np.ones(window) / window, mode="valid")
        kl_ax.plot(steps[window - 1 :], np.maximum(smooth, 1e-12), color=colour, label=label)


def _plot_probe(probe_ax, probe_rows: list[dict], widths: tuple[int, ...]) -> None:
    """The probe's mismatch KL against the answer length, per sampler dtype and model width."""
    for dtype, marker in (("bfloat16", "o-"), ("float16", "s--")):
        for index, width in enumerate(widths):
            mine = [r for r in probe_rows if r["sampler_dtype"] == dtype and r["d_model"] == width]
            probe_ax.plot(
                [r["digits"] for r in mine],
                [max(r["mismatch_kl_k3"], 1e-12) for r in mine],
                marker,
                color=f"C{index}",
                label=f"{dtype}, d_model {width}",
            )
