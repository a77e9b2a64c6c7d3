"""mismatch: the training-inference mismatch of the lecture's section 2.1 (Qi et al. 2025), made visible.

Claim tested: a sampler that runs the same weights in bfloat16 reports log-probabilities that differ from
the training pass's float32 ones (mismatch KL > 0, per-token gaps far above float32's), while a float32
sampler agrees to rounding; a truncated or masked importance-sampling correction (Yao et al. 2025) keeps
the update's weights bounded.

Setting: `grpo-lm` on one task (default: 2-digit addition), one warm start per run (deterministic in the
seed, so every run starts from the same policy), then `steps` GRPO steps in each of three settings:
float32 sampling; bfloat16 sampling uncorrected; bfloat16 sampling with `--is-correction` at `--is-cap`.
Recorded per setting: the mean and largest mismatch figures over the steps, the mean importance weight,
held-out greedy accuracy before and after, and the wall time. `num_iterations` = 1, so without the
mismatch every ratio would be exactly 1 at the update.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, replace

from actorcritic.config import check_choice, check_positive_int, check_range
from actorcritic.experiments.common import ExperimentResult, figure
from actorcritic.language.grpo import GRPOLM, GRPOLMConfig
from actorcritic.language.objectives import IS_CORRECTIONS

CLAIM = "bfloat16 sampling breaks the agreement of sampler and trainer log-probs (float32 keeps it); truncated/masked IS bounds the correction (Qi et al. 2025)"


@dataclass(frozen=True)
class Config:
    """Options of mismatch."""

    out: str = "results/mismatch"
    """Directory for results.csv, figure.png and summary.json."""
    task: str = "addition"
    """Task of the grpo-lm runs."""
    digits: int = 2
    """Digits of the task."""
    steps: int = 200
    """GRPO steps per setting."""
    warmup_steps: int = 200
    """Supervised warm-start steps (the same policy starts every setting)."""
    d_model: int = 64
    """Width of the transformer."""
    is_correction: str = "token-truncate"
    """The correction of the third setting (not none)."""
    is_cap: float = 2.0
    """Its cap C."""
    seed: int = 0
    """Seed of every run."""

    def __post_init__(self) -> None:
        check_positive_int("steps", self.steps)
        check_range("warmup_steps", self.warmup_steps, 0)
        check_choice("is_correction", self.is_correction, IS_CORRECTIONS[1:])
        check_range("is_cap", self.is_cap, 1)
        # the grpo-lm config validates the rest (task, digits, d_model) when the first run is built
        self.run_config("float32", "none")

    def run_config(self, sampler_dtype: str, is_correction: str) -> GRPOLMConfig:
        return replace(
            GRPOLMConfig(task=self.task, digits=self.digits, d_model=self.d_model, num_heads=4, warmup_steps=self.warmup_steps,
                         eval_prompts=200, eval_every=0, checkpoint_every=0, time_limit_s=0.0, seed=self.seed),
            total_steps=self.steps, sampler_dtype=sampler_dtype, is_correction=is_correction, is_cap=self.is_cap,
        )


class _Recorder:
    """A training callback that keeps each step's metrics row."""

    def __init__(self):
        self.rows: list[dict] = []

    def on_log(self, agent, metrics: dict) -> None:
        self.rows.append(metrics)


def run(config: Config) -> ExperimentResult:
    settings = (("float32", "none"), ("bfloat16", "none"), ("bfloat16", config.is_correction))
    rows, curves = [], {}
    for sampler_dtype, correction in settings:
        agent, recorder = GRPOLM(config.run_config(sampler_dtype, correction)), _Recorder()
        started = time.perf_counter()
        agent.learn(callbacks=[recorder])
        label = f"{sampler_dtype}, {correction}"
        curves[label] = [r["mismatch_kl_k3"] for r in recorder.rows]
        rows.append({
            "sampler_dtype": sampler_dtype,
            "is_correction": correction,
            "mismatch_kl_mean": statistics.fmean(r["mismatch_kl"] for r in recorder.rows),
            "mismatch_kl_k3_mean": statistics.fmean(r["mismatch_kl_k3"] for r in recorder.rows),
            "mismatch_max_abs": max(r["mismatch_max_abs"] for r in recorder.rows),
            "is_weight_mean": statistics.fmean(r["is_weight_mean"] for r in recorder.rows),
            "clip_fraction_mean": statistics.fmean(r["clip_fraction"] for r in recorder.rows),
            "accuracy_before": agent.accuracy_before,
            "accuracy_after": agent.accuracy_after,
            "wall_time_s": time.perf_counter() - started,
        })
    summary = {"mismatch_kl_k3_mean": {f"{r['sampler_dtype']}/{r['is_correction']}": r["mismatch_kl_k3_mean"] for r in rows},
               "accuracy_after": {f"{r['sampler_dtype']}/{r['is_correction']}": r["accuracy_after"] for r in rows}}

    def draw(path_png):
        fig, axes = figure(1, 1)
        ax = axes[0][0]
        for label, values in curves.items():
            ax.plot(range(1, len(values) + 1), [max(v, 1e-12) for v in values], label=label)
        ax.set_yscale("log")
        ax.set_xlabel("GRPO step")
        ax.set_ylabel("mismatch KL (k3), per token")
        ax.set_title(f"sampler vs trainer log-probs, {config.task} {config.digits} digits", fontsize=10)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path_png, dpi=110, format="png")

    columns = ["sampler_dtype", "is_correction", "mismatch_kl_k3_mean", "mismatch_max_abs", "is_weight_mean", "accuracy_before", "accuracy_after"]
    return ExperimentResult(rows=rows, summary=summary, draw=draw, table_columns=columns)
