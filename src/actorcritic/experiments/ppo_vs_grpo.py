"""ppo-vs-grpo: a learned per-state baseline against a group baseline on control tasks (lecture section 5.2,
Eqs. 35-36, and the figure "PPO vs GRPO baseline strategies").

Claim tested: GRPO drops the value network and uses the mean return of G episodes from the same start state
as the baseline (Eq. 35). On control tasks, at equal environment steps, how does that compare with PPO,
whose baseline is a learned V_φ(s) for every state (GAE, Eq. 32)? GRPO gives every step of an episode the
same advantage, so it can only tell which whole episodes were better; PPO credits each step separately.

Setting: each environment of `--envs`, each seed 0 .. seeds-1, both algorithms, the same budget of
environment steps (GRPO counts only the steps of its G episodes). The deterministic policy is evaluated
on `eval_episodes` fresh episodes (the same start states for both algorithms of a seed) before training
and at every multiple of `eval_every` steps, and at the budget. Updates are indivisible, so a checkpoint
is evaluated after the first update that reaches it; `env_steps` in results.csv records how many steps
that policy had used (PPO overshoots by less than one rollout, GRPO by less than one batch of
groups_per_update·G episodes). The evaluation only reads the policy, so the runs are the same whatever
`eval_every` is. The final score is the evaluation at the budget.

Settings per environment (budget, then PPO, then GRPO; --group-size and --groups-per-update apply to
every environment):
* CartPole-v1, 50k steps. PPO: `PPOConfig.for_env`'s tuned preset (rl-baselines3-zoo: 8 envs x 32 steps,
  20 epochs, minibatch 256, lr 1e-3 annealed, γ 0.98, λ 0.8). GRPO: G = 8, 2 groups per update
  (GRPOConfig's default is 4; 2 halves what an update can overshoot the budget by), 4 epochs, lr 1e-3.
* Pendulum-v1, 100k steps. PPO: close to rl-baselines3-zoo's set (which has 1024 steps and gSDE): 4 envs
  x 512 steps, 10 epochs, minibatch 64, lr 1e-3 annealed, γ 0.9, λ 0.95, normalised observations and
  rewards. GRPO: G = 8, 2 groups per update, 10 epochs, lr 3e-3 (the best of a few settings tried: 1-4
  groups, 4-20 epochs, lr 1e-3 and 3e-3, G = 16; none learned the task within 100k steps).
Both use (64, 64) tanh networks and no entropy bonus; GRPO has no KL penalty (β = 0).

Outcome at the defaults (3 seeds, 5 evaluation episodes, measured on a CPU): on CartPole-v1 PPO ends at
500 ± 0 (every seed at 500 from 35k steps on) and GRPO at 474 ± 26 (two seeds at 500, one at 422); GRPO's
mean curve lags PPO's by about 5-10k steps. On Pendulum-v1 PPO ends at -159 ± 14, while GRPO only creeps
from the random policy's -1150 to -910 ± 34: one advantage for a whole 200-step episode is too coarse a
signal for this budget. GRPO's runs take a third to a quarter of PPO's wall time (no value network, far
fewer gradient steps). GRPO's final policies used up to 11.5% more steps than the budget on CartPole-v1
(its last batch of episodes crosses it) and 2.4% on Pendulum-v1; PPO's 0.4%.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from actorcritic import GRPO, PPO, GRPOConfig, PPOConfig
from actorcritic.analysis.plots import steps_axis
from actorcritic.config import (
    check_choice,
    check_positive_int,
    check_range,
    config_to_dict,
)
from actorcritic.errors import ActorCriticError
from actorcritic.experiments.common import ExperimentResult, figure, format_table

CLAIM = (
    "PPO's learned baseline V(s) vs GRPO's group-mean baseline (no value network) "
    "on CartPole-v1 and Pendulum-v1 at equal environment steps"
)

ALGORITHMS = ("ppo", "grpo")

SETTINGS: dict[str, dict] = {
    "CartPole-v1": {
        "budget": 50_000,
        "ppo": {},  # PPOConfig.for_env's tuned CartPole-v1 preset
        "grpo": dict(epochs=4, learning_rate=1e-3),
    },
    "Pendulum-v1": {
        "budget": 100_000,
        "ppo": dict(
            num_envs=4, num_steps=512, minibatch_size=64, epochs=10, learning_rate=1e-3, gamma=0.9, gae_lambda=0.95
        ),
        "grpo": dict(epochs=10, learning_rate=3e-3),
    },
}
"""Per environment: the default budget of environment steps and the overrides of each algorithm's config."""


@dataclass(frozen=True)
class Config:
    """Options of ppo-vs-grpo."""

    out: str = "results/ppo-vs-grpo"
    """Directory for results.csv, figure.png and summary.json."""
    envs: tuple[str, ...] = ("CartPole-v1", "Pendulum-v1")
    """Environments, one panel each (those with settings: CartPole-v1, Pendulum-v1)."""
    total_steps: int = 0
    """Environment steps per run, the same for both algorithms (0: each environment's default, CartPole-v1 50k,
    Pendulum-v1 100k)."""
    seeds: int = 3
    """Runs per environment and algorithm (seeds 0 .. seeds-1)."""
    eval_every: int = 5_000
    """Environment steps between evaluations of the deterministic policy."""
    eval_episodes: int = 5
    """Episodes per evaluation."""
    group_size: int = 8
    """GRPO's G: episodes from each start state (Eq. 35)."""
    groups_per_update: int = 2
    """GRPO's start states per update."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the policy (and of PPO's value network)."""

    def __post_init__(self) -> None:
        if not self.envs:
            raise ActorCriticError("--envs is empty: give one or more of " + ", ".join(SETTINGS))
        for env in self.envs:
            check_choice("envs", env, tuple(SETTINGS))
        if len(set(self.envs)) != len(self.envs):
            raise ActorCriticError(f"--envs {list(self.envs)} names an environment twice")
        check_range("total_steps", self.total_steps, 0)
        for name in ("seeds", "eval_every", "eval_episodes", "groups_per_update"):
            check_positive_int(name, getattr(self, name))
        check_range("group_size", self.group_size, 2)
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise ActorCriticError(
                f"--hidden-sizes {list(self.hidden_sizes)} is invalid: give one or more positive layer widths"
            )

    def budget(self, env: str) -> int:
        """Environment steps per run on `env`."""
        return self.total_steps or SETTINGS[env]["budget"]


def checkpoints(budget: int, every: int) -> list[int]:
    """Steps at which the policy is evaluated: 0, every, 2·every, ... and the budget."""
    steps = list(range(0, budget, every))
    return steps + [budget]


def agent_config(algorithm: str, env: str, seed: int, config: Config) -> PPOConfig | GRPOConfig:
    """The config of `algorithm` on `env` with this experiment's settings (see the module docstring)."""
    shared = dict(
        total_steps=config.budget(env), seed=seed, hidden_sizes=config.hidden_sizes, eval_episodes=config.eval_episodes
    )
    if algorithm == "ppo":
        return PPOConfig.for_env(env, **SETTINGS[env]["ppo"], **shared)
    group = dict(group_size=config.group_size, groups_per_update=config.groups_per_update)
    return GRPOConfig.for_env(env, **SETTINGS[env]["grpo"], **group, **shared)


class LearningCurve:
    """A training callback: evaluates the deterministic policy once an update reaches a checkpoint.

    `points` holds (checkpoint, env_steps, eval_return): env_steps ≥ checkpoint is the step count of the
    policy evaluated. An update that passes several checkpoints gives them all the same evaluation."""

    def __init__(self, steps: list[int], episodes: int):
        self.pending = list(steps)
        self.episodes = episodes
        self.points: list[tuple[int, int, float]] = []

    def on_log(self, agent, metrics: dict | None = None) -> None:
        if not self.pending or agent.global_step < self.pending[0]:
            return
        score = float(np.mean(agent.evaluate(self.episodes)))
        while self.pending and agent.global_step >= self.pending[0]:
            self.points.append((self.pending.pop(0), agent.global_step, score))


def learning_curve(algorithm: str, env: str, seed: int, config: Config) -> list[tuple[int, int, float]]:
    """Train one agent for the budget, evaluating it along the way: [(checkpoint, env_steps, eval_return)]."""
    agent = (PPO if algorithm == "ppo" else GRPO)(agent_config(algorithm, env, seed, config))
    curve = LearningCurve(checkpoints(config.budget(env), config.eval_every), config.eval_episodes)
    curve.on_log(agent)  # the initial policy, at step 0
    agent.learn(config.budget(env), callbacks=[curve])
    return curve.points


def mean_and_stderr(values: list[float]) -> tuple[float, float | None]:
    """Mean and standard error across seeds (None for a single seed)."""
    mean = float(np.mean(values))
    if len(values) < 2:
        return mean, None
    return mean, float(np.std(values, ddof=1) / math.sqrt(len(values)))


def run(config: Config) -> ExperimentResult:
    rows = []
    runs = [(env, algorithm, seed) for env in config.envs for algorithm in ALGORITHMS for seed in range(config.seeds)]
    for index, (env, algorithm, seed) in enumerate(runs, 1):
        started = time.perf_counter()
        points = learning_curve(algorithm, env, seed, config)
        rows += [
            {"env": env, "algorithm": algorithm, "seed": seed, "step": step, "env_steps": used, "eval_return": score}
            for step, used, score in points
        ]
        _, used, score = points[-1]
        elapsed = time.perf_counter() - started
        print(
            f"[{index}/{len(runs)}] {env} {algorithm} seed {seed}: "
            f"eval return {score:.1f} after {used} steps ({elapsed:.0f} s)",
            flush=True,
        )

    final_scores, final_rows = {}, []
    for env in config.envs:
        final_scores[env] = {}
        for algorithm in ALGORITHMS:
            last = [
                r for r in rows if r["env"] == env and r["algorithm"] == algorithm and r["step"] == config.budget(env)
            ]
            mean, stderr = mean_and_stderr([r["eval_return"] for r in last])
            final_scores[env][algorithm] = {
                "mean": mean,
                "stderr": stderr,
                "per_seed": [r["eval_return"] for r in last],
                "env_steps_per_seed": [r["env_steps"] for r in last],
            }
            final_rows.append(
                {
                    "env": env,
                    "algorithm": algorithm,
                    "budget": config.budget(env),
                    "seeds": len(last),
                    "final_return_mean": mean,
                    "final_return_stderr": math.nan if stderr is None else stderr,
                }
            )
    print("final evaluation return (mean ± stderr across seeds):")
    print(format_table(final_rows, list(final_rows[0])))
    summary = {
        "final_scores": final_scores,
        "budgets": {env: config.budget(env) for env in config.envs},
        # seed 0's configs; the other seeds differ only in `seed`
        "agent_configs": {
            env: {a: config_to_dict(agent_config(a, env, 0, config)) for a in ALGORITHMS} for env in config.envs
        },
    }

    def draw(path_png):
        fig, axes = figure(1, len(config.envs), size=(5.0, 3.8))
        styles = {
            "ppo": ("C0", "PPO: learned V(s) baseline"),
            "grpo": ("C3", f"GRPO: group-mean baseline, G = {config.group_size}"),
        }
        for ax, env in zip(axes[0], config.envs):
            for algorithm in ALGORITHMS:
                steps = checkpoints(config.budget(env), config.eval_every)
                curves = np.array(
                    [
                        [
                            r["eval_return"]
                            for r in rows
                            if r["env"] == env and r["algorithm"] == algorithm and r["seed"] == seed
                        ]
                        for seed in range(config.seeds)
                    ]
                )  # [seeds, checkpoints]
                colour, label = styles[algorithm]
                ax.plot(steps, curves.mean(0), color=colour, label=label)
                ax.fill_between(steps, curves.min(0), curves.max(0), color=colour, alpha=0.2, linewidth=0)
            ax.set_title(env, fontsize=10)
            steps_axis(ax)
            ax.set_ylabel(f"evaluation return ({config.eval_episodes} episodes)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="best")
        fig.suptitle(f"PPO vs GRPO at equal environment steps: mean of {config.seeds} seeds, band min-max", fontsize=10)
        fig.tight_layout()
        fig.savefig(path_png, dpi=110, format="png")

    columns = ["env", "algorithm", "seed", "step", "env_steps", "eval_return"]
    return ExperimentResult(rows=rows, summary=summary, draw=draw, table_columns=columns)
