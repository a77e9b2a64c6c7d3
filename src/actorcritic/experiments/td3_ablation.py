"""td3-ablation: Fujimoto et al. (2018), Table 2, and the lecture's group exercise (section 7.3).

Claim: each of TD3's three changes to DDPG contributes: taking any one away lowers the final return, and
so does taking all three away (DDPG). The paper finds the full algorithm best on most tasks, with the weight
of each change varying from task to task.

Variants (one TD3 config each; DDPG is TD3 with its three changes off, the lecture's Listing 1):

* `td3`: clipped double Q, target policy smoothing, policy delay 2;
* `td3-no-clipped-double-q`: one critic, the target uses Q' alone;
* `td3-no-target-smoothing`: no noise on the target action;
* `td3-no-policy-delay`: actor and targets updated after every critic update;
* `ddpg`: all three off.

Each variant trains with `seeds` seeds (seed, seed + 1, ...) on each environment, every run an ordinary run
directory (OUT/runs/ENV/VARIANT/seed-K/run: metrics.csv, checkpoints, summary.json). The score of a run is
its final evaluation: the mean undiscounted return of `eval_episodes` episodes of its deterministic policy.
A variant's score on a task is the IQM across seeds with a 95% stratified-bootstrap CI (rliable's, as
`actorcritic report`); the summary ranks the variants by IQM, names the pairs whose CIs do not overlap, and
gives the probability that a TD3 run beats a run of each other variant. One evaluation is noisy (a policy's
return moves by thousands between evaluations 10k steps apart on HalfCheetah), so the same is read off a
second score beside it, the late mean: the mean of a run's periodic evaluations in the last fifth of its
steps (250k-300k of 300k: six evaluations), or its final evaluation where it evaluated only at the end.

The fast default is Pendulum-v1, 6000 steps, 2 seeds, (64, 64) networks and the Pendulum preset (1000
warm-up steps, Adam 1e-3): Pendulum is easy, and two seeds of a short run separate little. `--full` is the
setting that tests the claim: HalfCheetah-v5 and Hopper-v5, 300k steps, 5 seeds, (256, 256) networks,
evaluated every 10k steps for the curves. Runs checkpoint every 25k steps: running the same command again
after an interruption continues each run from its checkpoint and keeps the finished ones (a resumed run
restarts the episodes in progress at its checkpoint, so its numbers differ, reproducibly, from an
uninterrupted run's; its summary.json says where it resumed). The `td3` runs train as `actorcritic
train td3 --env ENV --total-steps 300000 --seed K --num-threads 1` does (their replay buffer, sized to the
run, holds every step as the default one does; evaluations draw from their own streams and change nothing
in training), so they are TD3's score levels on those tasks.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

import numpy as np

from actorcritic import TD3Config
from actorcritic.analysis.reading import read_run
from actorcritic.analysis.statistics import aggregate_scores, probability_of_improvement
from actorcritic.config import check_positive_int, check_range
from actorcritic.envs.make import check_env_id
from actorcritic.errors import ActorCriticError
from actorcritic.experiments.common import (
    ExperimentResult,
    figure,
    run_identity,
    run_units,
    td3_run_config,
    unit_directory,
)

CLAIM = (
    "TD3 beats each variant with one of its three changes removed, and DDPG with all three removed "
    "(Fujimoto et al. 2018, Table 2)"
)

# TD3's three changes per variant: clipped double Q, target policy smoothing, policy delay
VARIANTS: dict[str, dict] = {
    "td3": dict(clipped_double_q=True, target_policy_smoothing=True, policy_delay=2),
    "td3-no-clipped-double-q": dict(clipped_double_q=False, target_policy_smoothing=True, policy_delay=2),
    "td3-no-target-smoothing": dict(clipped_double_q=True, target_policy_smoothing=False, policy_delay=2),
    "td3-no-policy-delay": dict(clipped_double_q=True, target_policy_smoothing=True, policy_delay=1),
    "ddpg": dict(clipped_double_q=False, target_policy_smoothing=False, policy_delay=1),
}

LATE_FRACTION = 0.2
"""The late mean averages the periodic evaluations of this last fraction of a run's steps."""


@dataclass(frozen=True)
class Config:
    """Options of td3-ablation."""

    out: str = "results/td3-ablation"
    """Directory for results.csv, figure.png, summary.json and the runs (runs/ENV/VARIANT/seed-K/run)."""
    env: tuple[str, ...] = ("Pendulum-v1",)
    """Gymnasium environment ids (continuous actions), one or more, e.g. HalfCheetah-v5 Hopper-v5."""
    total_steps: int = 6000
    """Environment steps each run trains for."""
    seeds: int = 2
    """Training seeds per variant and environment: seed, seed + 1, ..."""
    seed: int = 0
    """First training seed."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the actor and the critics (the paper: 256 256)."""
    learning_starts: int | None = None
    """Steps of random actions before the first update (None: TD3's preset for each env; Pendulum-v1: 1000)."""
    eval_episodes: int = 10
    """Episodes of the final deterministic policy that score a run."""
    eval_every: int = 0
    """Evaluate every this many steps too, for the learning curves (0: only at the end)."""
    jobs: int | None = None
    """Runs at a time, each in its own process with one torch thread (default: the cores)."""

    def __post_init__(self) -> None:
        if not self.env:
            raise ActorCriticError("--env is empty: give one or more environment ids")
        for env in self.env:
            check_env_id(env)
        for name in ("total_steps", "seeds", "eval_episodes"):
            check_positive_int(name, getattr(self, name))
        for name in ("learning_starts", "eval_every"):
            if getattr(self, name) is not None:
                check_range(name, getattr(self, name), 0)
        TD3Config(hidden_sizes=self.hidden_sizes)  # validates the widths with TD3's own message


FULL = dict(
    out="results/td3-ablation-full",
    env=("HalfCheetah-v5", "Hopper-v5"),
    total_steps=300_000,
    seeds=5,
    hidden_sizes=(256, 256),
    eval_every=10_000,
)
"""--full: the setting that tests the claim (the issue's size; the paper trains 1M steps with 10 seeds)."""


def agent_config(config: Config, env: str, variant: str, seed: int) -> TD3Config:
    """The TD3 config of `variant` (a key of VARIANTS) on `env`: the preset of the env, then ours."""
    return td3_run_config(
        config,
        env,
        seed,
        VARIANTS[variant],
        eval_episodes=config.eval_episodes,
        eval_every=config.eval_every,
        checkpoint_every=25_000,
    )


def ablation_run(config: Config, env: str, variant: str, seed: int, threads: int = 1) -> tuple[float, float]:
    """Train (or resume, or read) one run; its final evaluation return and its late mean."""
    from actorcritic.runs.training import train_or_resume

    settings = agent_config(config, env, variant, seed)
    directory = unit_directory(config.out, run_identity(settings), env, variant, f"seed-{seed}")
    summary = train_or_resume("td3", dataclasses.replace(settings, num_threads=threads), directory / "run")
    final = float(summary["eval_return_mean"])
    return final, late_mean(read_run(directory / "run")[1]["eval_return_mean"].get(seed, []), config.total_steps, final)


def late_mean(evaluations: list[tuple[int, float]], total_steps: int, final: float) -> float:
    """The mean of the (step, return) evaluations in the last LATE_FRACTION of `total_steps`; `final` (the
    final evaluation) where there are none, as in a run that evaluated only at the end."""
    start = round(total_steps * (1 - LATE_FRACTION))  # rounded: 300000 * 0.8 must be 240000, not a hair off it
    late = [value for step, value in evaluations if step > start]
    return float(np.mean(late)) if late else final


def run(config: Config) -> ExperimentResult:
    seeds = list(range(config.seed, config.seed + config.seeds))
    # seed-major: an interrupted --full has every variant at the same number of finished seeds
    units = [(config, env, variant, seed) for seed in seeds for env in config.env for variant in VARIANTS]
    results = dict(zip([unit[1:] for unit in units], run_units(ablation_run, units, config.jobs)))
    scores = {key: final for key, (final, _) in results.items()}
    late_scores = {key: late for key, (_, late) in results.items()}
    run_rows = [
        {
            "env": env,
            "variant": variant,
            "seed": seed,
            **VARIANTS[variant],
            "eval_return": scores[env, variant, seed],
            "late_mean_return": late_scores[env, variant, seed],
        }
        for env in config.env
        for variant in VARIANTS
        for seed in seeds
    ]
    table, late_table = (
        {
            env: {variant: variant_scores([by_run[env, variant, seed] for seed in seeds]) for variant in VARIANTS}
            for env in config.env
        }
        for by_run in (scores, late_scores)
    )
    summary = {
        "final_eval_return": table,
        **read_claim(table, scores, seeds),
        "late_mean_return": late_table,
        "late_mean": read_claim(late_table, late_scores, seeds),
    }
    summary_rows = [
        {
            "env": env,
            "variant": variant,
            "seed": "iqm",
            **VARIANTS[variant],
            "eval_return": table[env][variant]["iqm"],
            "late_mean_return": late_table[env][variant]["iqm"],
        }
        for env in config.env
        for variant in VARIANTS
    ]

    def draw(path_png):
        rows = (("final evaluation return", table, scores), ("late mean return", late_table, late_scores))
        fig, axes = figure(len(rows), len(config.env), size=(6.0, 4.2))
        names = list(VARIANTS)
        for axes_row, (label, by_variant, by_run) in zip(axes, rows):
            for ax, env in zip(axes_row, config.env):
                iqms = np.array([by_variant[env][v]["iqm"] for v in names])
                cis = np.array([by_variant[env][v]["iqm_ci"] for v in names])
                # a percentile CI can miss its IQM by rounding; matplotlib refuses negative bars
                errors = np.maximum(np.stack([iqms - cis[:, 0], cis[:, 1] - iqms]), 0)
                ax.bar(range(len(names)), iqms, yerr=errors, capsize=4, color=[f"C{i}" for i in range(len(names))])
                for index, variant in enumerate(names):
                    dots = [by_run[env, variant, seed] for seed in seeds]
                    ax.plot(index + np.linspace(-0.25, 0.25, len(dots)), dots, "k.", markersize=4)
                ax.set_xticks(range(len(names)), names, rotation=20, fontsize=8)
                ax.set(
                    ylabel=label,
                    title=f"{env}, {config.total_steps} steps: {label}, "
                    f"IQM and 95% CI over {len(seeds)} seeds (dots: seeds)",
                )
                ax.title.set_fontsize(8)
        fig.tight_layout()
        fig.savefig(path_png, dpi=110, format="png")

    return ExperimentResult(rows=run_rows + summary_rows, summary=summary, draw=draw, table_columns=list(run_rows[0]))


def variant_scores(returns: list[float]) -> dict:
    """One variant on one task: the seeds' returns and their IQM and mean with 95% bootstrap CIs."""
    aggregate = aggregate_scores(returns)
    return {"returns": returns, **{k: aggregate[k] for k in ("iqm", "iqm_ci", "mean", "mean_ci")}}


def read_claim(table: dict, scores: dict, seeds: list[int]) -> dict:
    """Per task: the variants ranked by IQM, the pairs whose IQM CIs do not overlap (the higher first), and
    P(a TD3 run beats a run of each other variant) with its CI; the claim (TD3 beats every variant) holds
    where TD3's IQM is the highest, and the paper's picture where DDPG's is also the lowest (`separated`
    says which of those gaps the CIs confirm)."""
    ranking, separated, td3_beats, best, holds = {}, {}, {}, {}, {}
    for env, variants in table.items():
        ranking[env] = sorted(variants, key=lambda v: variants[v]["iqm"], reverse=True)
        separated[env] = [
            [high, low]
            for high, low in itertools.combinations(ranking[env], 2)
            if variants[high]["iqm_ci"][0] > variants[low]["iqm_ci"][1]
        ]
        td3_beats[env] = {
            variant: probability_of_improvement(
                [scores[env, "td3", s] for s in seeds], [scores[env, variant, s] for s in seeds]
            )
            for variant in variants
            if variant != "td3"
        }
        best[env] = ranking[env][0] == "td3"
        holds[env] = best[env] and ranking[env][-1] == "ddpg"
    return {
        "ranking": ranking,
        "separated": separated,
        "td3_beats": td3_beats,
        "td3_best": best,
        "td3_best_and_ddpg_worst": holds,
    }
