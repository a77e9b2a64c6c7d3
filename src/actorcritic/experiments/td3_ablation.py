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

Each variant trains with `seeds` seeds (seed, seed + 1, ...) on each environment; the score of a run is the
mean undiscounted return of `eval_episodes` episodes of its final deterministic policy, and a variant's row
gives the mean ± standard error of that score across seeds.

The fast default is Pendulum-v1, 6000 steps, 2 seeds, (64, 64) networks and the Pendulum preset (1000
warm-up steps, Adam 1e-3). Pendulum is easy, and two seeds of a short run separate little: the differences
the paper reports need its setting, e.g. `--env Hopper-v5 Walker2d-v5 --total-steps 1000000 --seeds 10
--hidden-sizes 256 256` (the paper evaluates its ablation over 1M steps and 10 seeds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from actorcritic import TD3, TD3Config
from actorcritic.config import check_positive_int, check_range
from actorcritic.envs import check_env_id
from actorcritic.errors import ActorCriticError
from actorcritic.experiments.common import ExperimentResult, figure

CLAIM = "TD3 beats each variant with one of its three changes removed, and DDPG with all three removed (Fujimoto et al. 2018, Table 2)"

# TD3's three changes per variant: clipped double Q, target policy smoothing, policy delay
VARIANTS: dict[str, dict] = {
    "td3": dict(clipped_double_q=True, target_policy_smoothing=True, policy_delay=2),
    "td3-no-clipped-double-q": dict(clipped_double_q=False, target_policy_smoothing=True, policy_delay=2),
    "td3-no-target-smoothing": dict(clipped_double_q=True, target_policy_smoothing=False, policy_delay=2),
    "td3-no-policy-delay": dict(clipped_double_q=True, target_policy_smoothing=True, policy_delay=1),
    "ddpg": dict(clipped_double_q=False, target_policy_smoothing=False, policy_delay=1),
}


@dataclass(frozen=True)
class Config:
    """Options of td3-ablation."""

    out: str = "results/td3-ablation"
    """Directory for results.csv, figure.png and summary.json."""
    env: tuple[str, ...] = ("Pendulum-v1",)
    """Gymnasium environment ids (continuous actions), one or more, e.g. Hopper-v5 Walker2d-v5."""
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
    """Episodes of the final deterministic policy that score a run (reset with seed + 10000 + i)."""
    num_threads: int = 1
    """Torch intra-op threads."""

    def __post_init__(self) -> None:
        if not self.env:
            raise ActorCriticError("--env is empty: give one or more environment ids")
        for env in self.env:
            check_env_id(env)
        for name in ("total_steps", "seeds", "eval_episodes", "num_threads"):
            check_positive_int(name, getattr(self, name))
        if self.learning_starts is not None:
            check_range("learning_starts", self.learning_starts, 0)
        TD3Config(hidden_sizes=self.hidden_sizes)  # validates the widths with TD3's own message


def agent_config(config: Config, env: str, variant: str, seed: int) -> TD3Config:
    """The TD3 config of `variant` (a key of VARIANTS) on `env`: the preset of the env, then ours."""
    overrides = dict(
        seed=seed,
        total_steps=config.total_steps,
        hidden_sizes=config.hidden_sizes,
        buffer_size=min(config.total_steps, 1_000_000),
        eval_episodes=config.eval_episodes,
        num_threads=config.num_threads,
        **VARIANTS[variant],
    )
    if config.learning_starts is not None:
        overrides["learning_starts"] = config.learning_starts
    return TD3Config.for_env(env, **overrides)


def mean_and_stderr(values: list[float]) -> tuple[float, float]:
    """Mean and standard error s / √n (s with n - 1 in the denominator; nan for a single value)."""
    n = len(values)
    stderr = float(np.std(values, ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return float(np.mean(values)), stderr


def run(config: Config) -> ExperimentResult:
    seeds = range(config.seed, config.seed + config.seeds)
    run_rows = []
    for env in config.env:
        for variant, switches in VARIANTS.items():
            for seed in seeds:
                agent = TD3(agent_config(config, env, variant, seed)).learn()
                run_rows.append({"env": env, "variant": variant, "seed": seed, **switches, "eval_return": float(np.mean(agent.evaluate())), "stderr": math.nan})
    table: dict[str, dict[str, dict]] = {}
    summary_rows = []
    for env in config.env:
        table[env] = {}
        for variant, switches in VARIANTS.items():
            returns = [r["eval_return"] for r in run_rows if r["env"] == env and r["variant"] == variant]
            mean, stderr = mean_and_stderr(returns)
            table[env][variant] = {"mean": mean, "stderr": None if math.isnan(stderr) else stderr, "seeds": len(returns), "returns": returns}
            summary_rows.append({"env": env, "variant": variant, "seed": "all", **switches, "eval_return": mean, "stderr": stderr})
    summary = {
        "final_eval_return": table,
        "best_variant": {env: max(table[env], key=lambda v: table[env][v]["mean"]) for env in config.env},
        # the claim, read off the data (means only: with few seeds the standard errors overlap)
        "td3_beats_every_ablation": {env: all(table[env]["td3"]["mean"] > table[env][v]["mean"] for v in VARIANTS if v != "td3") for env in config.env},
        "ddpg_lowest": {env: min(table[env], key=lambda v: table[env][v]["mean"]) == "ddpg" for env in config.env},
    }

    def draw(path_png):
        fig, axes = figure(1, len(config.env), size=(6.0, 4.0))
        names = list(VARIANTS)
        for ax, env in zip(axes[0], config.env):
            means = [table[env][v]["mean"] for v in names]
            errors = [table[env][v]["stderr"] or 0.0 for v in names]
            ax.bar(range(len(names)), means, yerr=errors, capsize=4, color=[f"C{i}" for i in range(len(names))])
            for index, seed in enumerate(seeds):
                offset = 0.5 * (index + 0.5) / len(seeds) - 0.25  # side by side, clear of the error bar
                returns = [next(r["eval_return"] for r in run_rows if r["env"] == env and r["variant"] == v and r["seed"] == seed) for v in names]
                ax.plot(np.arange(len(names)) + offset, returns, "k.", markersize=4)
            ax.set_xticks(range(len(names)), names, rotation=20, fontsize=8)
            ax.set(ylabel="final evaluation return", title=f"{env}: mean ± s.e. over {config.seeds} seeds (dots: seeds), {config.total_steps} steps")
            ax.title.set_fontsize(9)
        fig.tight_layout()
        fig.savefig(path_png, dpi=110, format="png")

    return ExperimentResult(rows=run_rows + summary_rows, summary=summary, draw=draw, table_columns=list(run_rows[0]))
