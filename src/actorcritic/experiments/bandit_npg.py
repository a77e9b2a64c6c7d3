"""bandit-npg: Chung et al. (2021), the lecture's Figure 1 (section 5.1).

Claim: with stochastic natural policy gradient on a 3-armed bandit, baselines that reduce variance alike
can give different dynamics: with the minimum-variance baseline b* + ε some runs converge to a suboptimal
arm for ε = -1/2 and ε = 0, and none do for ε = +1/2 or for the value baseline b = π·r.

Setting: rewards r = (1, 0.7, 0), softmax policy π = softmax(θ), θ0 = (0, 3, 5), step size α. Each step
samples one action a ~ π and updates only its logit,

    θ_a <- θ_a + α (r(a) - b) / π(a),

which is the stochastic NPG step. (The minimum-norm NPG direction differs from this update only by the
same constant added to every logit, which a softmax ignores.) Its expectation is α (r - b·1), so the
true-gradient path θ <- θ + α (r - b·1) does not depend on b; it is drawn dashed.

Baselines:
* `minvar`, ε: b = b* + ε, with b* the variance-minimising baseline of Eq. 18 for the softmax score
  ∇θ log π(a) = e_a - π: b* = Σ_a π_a ||e_a - π||² r_a / Σ_a π_a ||e_a - π||².
* `value`: b = Σ_a π_a r_a, the exact expected reward.
With `--score npg`, b* weights by the squared norm of the NPG direction e_a / π_a instead,
b* = Σ_a r_a / π_a / Σ_a 1 / π_a (the baseline that minimises the variance of the NPG update itself). It
puts most weight on the rarest arm's reward, so it sits near the reward of the least likely arm: at θ0 that
is the optimal arm (r = 1), which makes b* + ε large and the dynamics less committal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from actorcritic.config import check_choice, check_positive_int, check_range
from actorcritic.core.estimators import variance_minimizing_baseline
from actorcritic.experiments.common import ExperimentResult, figure

CLAIM = (
    "Stochastic NPG on a 3-armed bandit: b*-1/2 and b* can converge to a suboptimal arm, "
    "b*+1/2 and the value baseline do not (Chung et al. 2021)"
)

REWARDS = np.array([1.0, 0.7, 0.0])
THETA0 = np.array([0.0, 3.0, 5.0])
SETTINGS = (("minvar", -0.5), ("minvar", 0.0), ("minvar", 0.5), ("value", 0.0))


@dataclass(frozen=True)
class Config:
    """Options of bandit-npg."""

    out: str = "results/bandit-npg"
    """Directory for results.csv, figure.png and summary.json."""
    runs: int = 15
    """Runs per baseline."""
    steps: int = 1000
    """Updates per run."""
    step_size: float = 0.025
    """α."""
    seed: int = 0
    """Seed of the action sampling."""
    score: Literal["softmax", "npg"] = "softmax"
    """Weights of b*: ||∇θ log π(a)||² = ||e_a - π||² (Eq. 18), or the NPG direction's ||e_a / π_a||²."""
    plot_runs: int = 15
    """Trajectories drawn per panel."""

    def __post_init__(self) -> None:
        check_positive_int("runs", self.runs)
        check_positive_int("steps", self.steps)
        check_positive_int("plot_runs", self.plot_runs)
        check_range("step_size", self.step_size, 0, math.inf, low_inclusive=False)
        check_choice("score", self.score, ("softmax", "npg"))


def softmax(theta: np.ndarray) -> np.ndarray:
    z = np.exp(theta - theta.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def minimum_variance_baseline(pi: np.ndarray, score: str = "softmax") -> np.ndarray:
    """b* of Eq. 18 for policies pi [..., 3]: the π-expectation of w(a)·r(a) over that of w(a), with
    w(a) = ||e_a - π||² (softmax score) or ||e_a / π_a||² (NPG direction)."""
    if score == "softmax":
        weights = np.square(np.eye(3) - pi[..., None, :]).sum(-1)  # [..., a]: ||e_a - π||²
    else:
        # π_a underflows to 0 on a committed run; 1e-150 keeps 1/π² finite and b* at its limit r_a
        weights = 1.0 / np.square(np.maximum(pi, 1e-150))
    rewards = np.broadcast_to(REWARDS, pi.shape)
    return variance_minimizing_baseline(
        torch.from_numpy(pi * weights), torch.from_numpy(rewards.copy()), dim=-1
    ).numpy()


def baseline_value(pi: np.ndarray, kind: str, epsilon: float, score: str) -> np.ndarray:
    if kind == "value":
        return pi @ REWARDS
    return minimum_variance_baseline(pi, score) + epsilon


def simulate(kind: str, epsilon: float, config: Config, rng: np.random.Generator) -> np.ndarray:
    """Policies along `config.runs` stochastic NPG runs: [runs, steps + 1, 3]."""
    theta = np.tile(THETA0, (config.runs, 1))
    path = np.empty((config.runs, config.steps + 1, 3))
    path[:, 0] = softmax(theta)
    rows = np.arange(config.runs)
    for step in range(config.steps):
        pi = path[:, step]
        actions = (rng.random(config.runs)[:, None] > pi.cumsum(-1)).sum(-1).clip(max=2)
        b = baseline_value(pi, kind, epsilon, config.score)
        theta[rows, actions] += config.step_size * (REWARDS[actions] - b) / pi[rows, actions]
        path[:, step + 1] = softmax(theta)
    return path


def true_gradient_path(config: Config) -> np.ndarray:
    """θ_t = θ0 + t α r (the expected step α (r - b·1), whose b·1 a softmax ignores): [steps + 1, 3]."""
    steps = np.arange(config.steps + 1)[:, None]
    return softmax(THETA0 + config.step_size * steps * REWARDS)


def run(config: Config) -> ExperimentResult:
    rng = np.random.default_rng(config.seed)
    rows, paths = [], {}
    for kind, epsilon in SETTINGS:
        path = simulate(kind, epsilon, config, rng)
        paths[(kind, epsilon)] = path
        final = path[:, -1]
        rows.append(
            {
                "baseline": kind,
                "epsilon": epsilon if kind == "minvar" else "",
                "score": config.score if kind == "minvar" else "",
                "runs": config.runs,
                "steps": config.steps,
                "fraction_final_reward_below_0.9": float(np.mean(final @ REWARDS < 0.9)),
                "fraction_arm1_above_0.9": float(np.mean(final[:, 0] > 0.9)),
                "fraction_arm2_above_0.9": float(np.mean(final[:, 1] > 0.9)),
                "fraction_arm3_above_0.9": float(np.mean(final[:, 2] > 0.9)),
            }
        )
    truth = true_gradient_path(config)
    summary = {
        "suboptimal_fraction": {f"{r['baseline']}{r['epsilon']}": r["fraction_final_reward_below_0.9"] for r in rows},
        "true_gradient_final_policy": truth[-1].tolist(),
    }

    def draw(path_png):
        fig, axes = figure(1, len(SETTINGS), size=(4.0, 3.8))
        for ax, (kind, epsilon) in zip(axes[0], SETTINGS):
            _simplex(ax)
            trajectories = paths[(kind, epsilon)][: config.plot_runs]
            colours = np.linspace(0.0, 1.0, trajectories.shape[1])
            for trajectory in trajectories:
                x, y = _project(trajectory)
                ax.scatter(x, y, c=colours, cmap="viridis", s=1.5, linewidths=0)
            x, y = _project(truth)
            ax.plot(x, y, "k--", linewidth=1.2)
            x0, y0 = _project(softmax(THETA0)[None])
            ax.plot(x0, y0, "ko", markersize=5)
            ax.set_title(f"b* {epsilon:+.1f}" if kind == "minvar" else "value baseline", fontsize=10)
        fig.suptitle(f"Stochastic NPG, r = (1, 0.7, 0), α = {config.step_size}, {config.runs} runs", fontsize=10)
        fig.tight_layout()
        fig.savefig(path_png, dpi=110, format="png")

    columns = [
        "baseline",
        "epsilon",
        "runs",
        "fraction_final_reward_below_0.9",
        "fraction_arm1_above_0.9",
        "fraction_arm2_above_0.9",
        "fraction_arm3_above_0.9",
    ]
    return ExperimentResult(rows=rows, summary=summary, draw=draw, table_columns=columns)


_CORNERS = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]])


def _project(pi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Barycentric -> Cartesian on the triangle: arm 1 bottom left, arm 2 bottom right, arm 3 on top."""
    xy = pi @ _CORNERS
    return xy[:, 0], xy[:, 1]


def _simplex(ax) -> None:
    ax.plot(*np.vstack([_CORNERS, _CORNERS[:1]]).T, color="0.5", linewidth=0.8)
    for (x, y), label in zip(_CORNERS, ("a1 (r=1)", "a2 (r=0.7)", "a3 (r=0)")):
        ax.annotate(
            label, (x, y), textcoords="offset points", xytext=(0, -12 if y == 0 else 4), ha="center", fontsize=8
        )
    ax.set_aspect("equal")
    ax.axis("off")
