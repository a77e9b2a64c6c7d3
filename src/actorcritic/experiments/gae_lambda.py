"""gae-lambda: the bias-variance trade-off of k-step and GAE advantage estimators (lecture sections 4.2-4.4).

Claim: with the exact critic V^π every k-step estimator (Eqs. 25-28) and every GAE(γ, λ) (Eq. 32) is
unbiased; with a wrong critic the bias falls and the variance rises as k or λ grows; GAE at λ = 0 is the
1-step estimator (Eq. 33) and at λ = 1 the Monte-Carlo estimator (Eq. 34), estimate for estimate.

Setting: a random walk on `states` non-terminal states 1..n in a row, with a terminal state at each end
(0 and n + 1) and every episode starting in the middle, (n + 1) // 2. The two actions are "left" and
"right"; a move goes the chosen way with probability 1 - slip and the other way with probability slip.
Entering the right end pays 1, every other step 0. The policy is fixed and uniform, π(right|s) = 1/2.
V^π and Q^π are exact: the solution of the linear Bellman equations V = r_π + γ P_π V and
Q(s, a) = E[r + γ V(s') | s, a]; A^π = Q^π - V^π.

Critics: `exact` is V^π; `perturbed` is V^π + ε, with ε a fixed random vector over the non-terminal states
(drawn from `seed`, scaled to root-mean-square `critic_error`; terminal states keep V = 0). The bias falls
with λ and k for any ε; that the variance rises is a tendency, not a theorem: the wrong critic's values
at the successor states add a spread of their own to short backups, and with a large error (e.g.
`--critic-error 0.2` here) λ = 0 has more variance than λ = 0.5.

Measurement: `episodes` episodes are sampled to the end, one per column of time-major [T, N] tensors with
T the longest episode; after the terminating step a column is padding, marked terminated and left out of
every statistic. Every estimator is computed from the same episodes by `estimators.gae` and
`estimators.k_step_advantages` (k = ∞ is Monte Carlo). An episode longer than `horizon` steps is cut
there and bootstraps from the critic (counted in the summary; with the defaults this does not happen).

What bias means here: the lecture's estimators are estimates of Q (Eqs. 21-24) from which the critic's
V(s_t) is subtracted as a baseline. The error of that baseline moves the estimates of all actions of a
state alike and does not bias the policy gradient (Eq. 11), so the error measured is that of the Q-part,

    e_t = (Â_t + V(s_t)) - Q^π(s_t, a_t)  =  Â_t - [A^π(s_t, a_t) + V^π(s_t) - V(s_t)].

For the exact critic this is Â_t - A^π(s_t, a_t). (Against A^π itself, even Monte Carlo would carry the
baseline's error -ε(s_t); `bias_sq_true_advantage` reports that number.) Given (s_t, a_t) the future of
an episode does not depend on t, so every visit of a pair is a sample of the same estimate. For each pair
(s, a): mean error m(s, a), variance v(s, a) (of the estimates over its visits, population variance). The
reported numbers are averages over visits, i.e. weighted by the empirical state-action visitation of an
episode d(s, a) = visits(s, a) / all visits:

    bias_sq = Σ d(s, a) m(s, a)²,   variance = Σ d(s, a) v(s, a),   mse = bias_sq + variance = mean of e_t².

Standard errors treat each episode as one independent cluster (visits within an episode are correlated).
`bias_sq_floor` = Σ d(s, a) se(m(s, a))² is what bias_sq comes to from Monte-Carlo noise alone when the
true bias is 0; `max_abs_z` is the largest |m(s, a)| / se(m(s, a)) over pairs visited at least
MIN_VISITS times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from actorcritic.config import check_positive_int, check_range
from actorcritic.core.estimators import gae, k_step_advantages
from actorcritic.experiments.common import ExperimentResult, figure

CLAIM = (
    "With the exact critic k-step and GAE advantages are unbiased; "
    "with a wrong critic bias falls and variance rises with k and λ; "
    "GAE(0) = 1-step, GAE(1) = Monte Carlo (lecture Eqs. 25-34)"
)

LAMBDAS = (0.0, 0.5, 0.9, 0.95, 0.99, 1.0)
STEPS = (1, 2, 3, 5, 10, None)
"""k of the k-step estimators; None is k = ∞, Monte Carlo."""
CRITICS = ("exact", "perturbed")
LEFT, RIGHT = 0, 1
MIN_VISITS = 30
"""Pairs visited fewer times are left out of max_abs_z (their standard errors are unreliable)."""
Z_LIMIT = 4.0
"""|mean error| / standard error below which an estimate counts as unbiased."""
IDENTITY_TOLERANCE = 1e-10
"""Largest difference between two estimates that are the same sum in another order (float64)."""


@dataclass(frozen=True)
class Config:
    """Options of gae-lambda."""

    out: str = "results/gae-lambda"
    """Directory for results.csv, figure.png and summary.json."""
    states: int = 7
    """Non-terminal states of the random walk."""
    episodes: int = 20000
    """Sampled episodes (the Monte-Carlo sample)."""
    gamma: float = 0.99
    """Discount γ."""
    slip: float = 0.2
    """Probability that a move goes the other way than the chosen action."""
    critic_error: float = 0.1
    """Root-mean-square error ε of the perturbed critic V^π + ε."""
    seed: int = 0
    """Seed of the episodes and of the critic's error."""
    horizon: int = 1000
    """Longest episode; a longer one is cut there and bootstraps from the critic."""
    num_threads: int = 1
    """Torch intra-op threads; one is fastest for these small tensors."""

    def __post_init__(self) -> None:
        check_positive_int("states", self.states)
        check_range("episodes", self.episodes, 2)
        check_range("gamma", self.gamma, 0, 1, low_inclusive=False)
        check_range("slip", self.slip, 0, 1, high_inclusive=False)
        check_range("critic_error", self.critic_error, 0)
        check_positive_int("horizon", self.horizon)
        check_positive_int("num_threads", self.num_threads)


@dataclass(frozen=True)
class RandomWalk:
    """A tabular MDP over states 0..n+1 (0 and n+1 terminal) with actions left and right."""

    transitions: np.ndarray
    """P(s' | s, a): [S, 2, S]."""
    rewards: np.ndarray
    """r(s, a, s'): [S, 2, S]."""
    policy: np.ndarray
    """π(a | s): [S, 2]."""
    terminal: np.ndarray
    """[S] bool."""
    start: int


def random_walk(states: int, slip: float) -> RandomWalk:
    """The chain of the module docstring: `states` non-terminal states, terminals at both ends."""
    size = states + 2
    transitions = np.zeros((size, 2, size))
    for s in range(1, states + 1):
        transitions[s, RIGHT, s + 1] += 1.0 - slip
        transitions[s, RIGHT, s - 1] += slip
        transitions[s, LEFT, s - 1] += 1.0 - slip
        transitions[s, LEFT, s + 1] += slip
    rewards = np.zeros((size, 2, size))
    rewards[:, :, size - 1] = 1.0
    terminal = np.zeros(size, dtype=bool)
    terminal[[0, size - 1]] = True
    policy = np.full((size, 2), 0.5)
    return RandomWalk(transitions, rewards, policy, terminal, start=(states + 1) // 2)


def exact_values(mdp: RandomWalk, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """V^π [S] and Q^π [S, 2] from the Bellman equations V = r_π + γ P_π V (V = 0 at terminal states) and
    Q(s, a) = Σ_s' P(s'|s, a) (r(s, a, s') + γ V(s'))."""
    live = ~mdp.terminal
    expected_reward = (mdp.transitions * mdp.rewards).sum(-1)  # [S, 2]
    policy_reward = (mdp.policy * expected_reward).sum(-1)  # r_π [S]
    policy_transitions = np.einsum("sa,sat->st", mdp.policy, mdp.transitions)  # P_π [S, S]
    inner = policy_transitions[np.ix_(live, live)]
    values = np.zeros(len(live))
    values[live] = np.linalg.solve(np.eye(int(live.sum())) - gamma * inner, policy_reward[live])
    q_values = expected_reward + gamma * mdp.transitions @ values
    q_values[mdp.terminal] = 0.0
    return values, q_values


def perturbed_critic(values: np.ndarray, terminal: np.ndarray, critic_error: float, seed: int) -> np.ndarray:
    """V^π + ε: ε a fixed random vector over the non-terminal states with root-mean-square `critic_error`."""
    noise = np.random.default_rng([seed, 1]).standard_normal(int((~terminal).sum()))
    error = np.zeros_like(values)
    error[~terminal] = critic_error * noise / np.sqrt(np.mean(noise**2))
    return values + error


@dataclass
class Episodes:
    """Sampled episodes, one per column, padded after their end: each field [T, N]."""

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_states: np.ndarray
    terminated: np.ndarray
    """True at an episode's terminating step and on its padding."""
    real: np.ndarray
    """True on the steps of an episode, False on padding."""


def sample_episodes(mdp: RandomWalk, episodes: int, horizon: int, rng: np.random.Generator) -> Episodes:
    """Run `episodes` episodes of π from the start state until they end or reach `horizon` steps."""
    state = np.full(episodes, mdp.start)
    alive = np.ones(episodes, dtype=bool)
    cumulative = mdp.transitions.cumsum(-1)
    columns = {name: [] for name in ("states", "actions", "rewards", "next_states", "terminated", "real")}
    for _ in range(horizon):
        if not alive.any():
            break
        action = (rng.random(episodes) < mdp.policy[state, RIGHT]).astype(int)
        next_state = np.minimum(
            (rng.random(episodes)[:, None] > cumulative[state, action]).sum(-1), len(mdp.terminal) - 1
        )
        next_state = np.where(alive, next_state, state)
        done = mdp.terminal[next_state]
        for name, value in (("states", state), ("actions", action), ("next_states", next_state), ("real", alive)):
            columns[name].append(value)
        columns["rewards"].append(np.where(alive, mdp.rewards[state, action, next_state], 0.0))
        columns["terminated"].append(done | ~alive)
        alive = alive & ~done
        state = next_state
    return Episodes(**{name: np.stack(value) for name, value in columns.items()})


def all_estimates(batch: Episodes, critic: np.ndarray, gamma: float) -> dict[tuple[str, float | None], np.ndarray]:
    """Every GAE(γ, λ) and k-step estimate of the batch with critic V [S]: {(kind, λ or k): [T, N]}."""

    def as_tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64))

    rewards = as_tensor(batch.rewards)
    values = as_tensor(np.where(batch.real, critic[batch.states], 0.0))
    next_values = as_tensor(np.where(batch.real, critic[batch.next_states], 0.0))
    terminated = torch.from_numpy(batch.terminated)
    truncated = torch.zeros_like(terminated)  # only the rollout's last step, which the estimators handle
    estimates = {}
    for lam in LAMBDAS:
        estimates[("gae", lam)] = gae(rewards, values, next_values, terminated, truncated, gamma, lam).numpy()
    for k in STEPS:
        estimates[("kstep", k)] = k_step_advantages(
            rewards, values, next_values, terminated, truncated, gamma, k
        ).numpy()
    return estimates


def error_statistics(errors: np.ndarray, pairs: np.ndarray, episode: np.ndarray, n_pairs: int, n_episodes: int) -> dict:
    """Bias², variance, MSE of per-visit errors e [M] of state-action pairs [M] in episodes [M], averaged over
    visits (see the module docstring), with standard errors that treat each episode as a cluster."""
    visits = np.bincount(pairs, minlength=n_pairs).astype(float)
    seen = visits > 0
    mean = np.bincount(pairs, errors, n_pairs) / np.maximum(visits, 1)
    residual = errors - mean[pairs]
    variance = np.bincount(pairs, residual**2, n_pairs) / np.maximum(visits, 1)
    cluster_sums = np.bincount(episode * n_pairs + pairs, residual, n_episodes * n_pairs).reshape(n_episodes, n_pairs)
    mean_se = np.sqrt((cluster_sums**2).sum(0)) / np.maximum(visits, 1)
    weights = visits / visits.sum()
    squared = errors**2
    mse = squared.mean()
    episode_squares = np.bincount(episode, squared, n_episodes)
    episode_visits = np.bincount(episode, minlength=n_episodes)
    mse_se = math.sqrt(((episode_squares - mse * episode_visits) ** 2).sum()) / len(errors)
    reliable = visits >= MIN_VISITS
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(mean_se > 0, np.abs(mean) / mean_se, np.where(np.abs(mean) > IDENTITY_TOLERANCE, np.inf, 0.0))
    return {
        "bias_sq": float((weights * mean**2)[seen].sum()),
        "bias_sq_floor": float((weights * mean_se**2)[seen].sum()),
        "variance": float((weights * variance)[seen].sum()),
        "mse": float(mse),
        "mse_se": mse_se,
        "max_abs_z": float(z[reliable].max()) if reliable.any() else float("nan"),
    }


def run(config: Config) -> ExperimentResult:
    torch.set_num_threads(config.num_threads)
    mdp = random_walk(config.states, config.slip)
    values, q_values = exact_values(mdp, config.gamma)
    advantages = q_values - values[:, None]
    critics = {"exact": values, "perturbed": perturbed_critic(values, mdp.terminal, config.critic_error, config.seed)}
    batch = sample_episodes(mdp, config.episodes, config.horizon, np.random.default_rng([config.seed, 0]))
    visits = Visits.of(batch, len(values))

    rows, identity_gaps = [], {}
    for name, critic in critics.items():
        estimates = all_estimates(batch, critic, config.gamma)
        identity_gaps[name] = identity_gaps_of(estimates, batch.real)
        # Q^π(s, a) - V(s): see the module docstring
        q_target = q_values[visits.states, visits.actions] - critic[visits.states]
        rows += critic_rows(name, estimates, batch.real, visits, q_target, advantages[visits.states, visits.actions])

    summary = _checks(rows, identity_gaps, values, q_values, mdp, config)
    summary["episodes_cut_at_horizon"] = int((~batch.terminated[-1]).sum())
    summary["mean_episode_length"] = float(batch.real.sum() / config.episodes)
    summary["true_values"] = values[1:-1].tolist()
    summary["perturbed_critic"] = critics["perturbed"][1:-1].tolist()

    def draw(path_png):
        draw_figure(path_png, rows, config)

    columns = ["estimator", "parameter", "critic", "bias_sq", "bias_sq_floor", "variance", "mse", "mse_se", "max_abs_z"]
    return ExperimentResult(rows=rows, summary=summary, draw=draw, table_columns=columns)


@dataclass
class Visits:
    """The batch's real steps as visits: state, action, state-action pair (2s + a) and episode, each [M]."""

    states: np.ndarray
    actions: np.ndarray
    pairs: np.ndarray
    episode: np.ndarray
    n_pairs: int
    n_episodes: int

    @classmethod
    def of(cls, batch: Episodes, n_states: int) -> Visits:
        real = batch.real
        states, actions = batch.states[real], batch.actions[real]
        n_episodes = real.shape[1]
        episode = np.broadcast_to(np.arange(n_episodes), real.shape)[real]
        return cls(states, actions, states * 2 + actions, episode, n_states * 2, n_episodes)

    def statistics(self, errors: np.ndarray) -> dict:
        """`error_statistics` of per-visit errors [M]."""
        return error_statistics(errors, self.pairs, self.episode, self.n_pairs, self.n_episodes)


def identity_gaps_of(estimates: dict, real: np.ndarray) -> dict[str, float]:
    """The largest gaps of GAE(λ=0) to the 1-step estimate and of GAE(λ=1) to Monte Carlo, over real steps."""
    return {
        "lambda0_vs_one_step": float(np.abs(estimates[("gae", 0.0)] - estimates[("kstep", 1)])[real].max()),
        "lambda1_vs_monte_carlo": float(np.abs(estimates[("gae", 1.0)] - estimates[("kstep", None)])[real].max()),
    }


def critic_rows(
    name: str, estimates: dict, real: np.ndarray, visits: Visits, q_target: np.ndarray, true_advantage: np.ndarray
) -> list[dict]:
    """One row per estimator of critic `name`: the error statistics of its estimates against the target
    Q^π(s, a) - V(s), and the bias² against the true advantage A^π(s, a) (both [M], per visit)."""
    rows = []
    for (kind, parameter), estimate in estimates.items():
        estimate = estimate[real]
        stats = visits.statistics(estimate - q_target)
        against_advantage = visits.statistics(estimate - true_advantage)
        rows.append(
            {
                "estimator": kind,
                "parameter": "inf" if parameter is None else parameter,
                "critic": name,
                **stats,
                "bias_sq_true_advantage": against_advantage["bias_sq"],
            }
        )
    return rows


def draw_figure(path_png, rows: list[dict], config: Config) -> None:
    """figure.png: bias² and variance against λ (GAE) and against k (k-step), per critic."""
    fig, axes = figure(1, 2, size=(5.2, 4.0))
    _plot_bias_and_variance(axes[0, 0], rows, "gae", LAMBDAS, "λ (GAE)")
    _plot_bias_and_variance(axes[0, 1], rows, "kstep", STEPS, "k (k-step)")
    axes[0, 0].set_ylabel("bias² and variance of Â_t (visit-weighted)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=8, frameon=False)
    fig.suptitle(
        f"Random walk, {config.states} states, γ = {config.gamma}, slip = {config.slip}, "
        f"critic error {config.critic_error} (RMS), {config.episodes} episodes",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path_png, dpi=110, format="png")


def _plot_bias_and_variance(ax, rows: list[dict], kind: str, parameters: tuple, label: str) -> None:
    """One panel: bias² and variance of estimator `kind` per critic against its parameter, with the bias² that
    Monte-Carlo noise alone gives (the exact critic's floor)."""
    positions = np.arange(len(parameters))
    for name, colour in zip(CRITICS, ("tab:blue", "tab:red")):
        selected = [r for r in rows if r["estimator"] == kind and r["critic"] == name]
        ax.plot(positions, [r["bias_sq"] for r in selected], "o-", color=colour, label=f"bias², {name} critic")
        ax.plot(positions, [r["variance"] for r in selected], "s--", color=colour, label=f"variance, {name} critic")
        if name == "exact":
            ax.plot(
                positions,
                [r["bias_sq_floor"] for r in selected],
                ":",
                color="0.5",
                label="bias² from MC noise alone",
            )
    ax.set_yscale("log")
    ax.set_xticks(positions, ["∞" if p is None else f"{p:g}" for p in parameters])
    ax.set_xlabel(label)
    ax.grid(True, which="major", alpha=0.3)


def _checks(rows, identity_gaps, values, q_values, mdp, config) -> dict:
    """The lecture's statements as booleans, with the numbers behind them."""

    def select(kind, critic):
        return [r for r in rows if r["estimator"] == kind and r["critic"] == critic]

    def falls(series):  # non-increasing bias², up to Monte-Carlo noise
        return all(
            b["bias_sq"] <= a["bias_sq"] + 3 * max(a["bias_sq_floor"], b["bias_sq_floor"])
            for a, b in zip(series, series[1:])
        )

    def rises(series):
        return all(b["variance"] >= a["variance"] for a, b in zip(series, series[1:]))

    live = ~mdp.terminal
    expected_reward = (mdp.transitions * mdp.rewards).sum(-1)
    bellman_q = np.abs(q_values - (expected_reward + config.gamma * mdp.transitions @ values))[live].max()
    bellman_v = np.abs(values - (mdp.policy * q_values).sum(-1))[live].max()
    exact_z = max(r["max_abs_z"] for r in rows if r["critic"] == "exact")
    largest_gap = max(max(gaps.values()) for gaps in identity_gaps.values())
    gae_perturbed, kstep_perturbed = select("gae", "perturbed"), select("kstep", "perturbed")
    return {
        "bellman_residual": float(max(bellman_q, bellman_v)),
        "exact_values_satisfy_bellman": bool(max(bellman_q, bellman_v) < 1e-10),
        "identity_gaps": identity_gaps,
        "gae_lambda0_equals_one_step": bool(
            max(g["lambda0_vs_one_step"] for g in identity_gaps.values()) < IDENTITY_TOLERANCE
        ),
        "gae_lambda1_equals_monte_carlo": bool(
            max(g["lambda1_vs_monte_carlo"] for g in identity_gaps.values()) < IDENTITY_TOLERANCE
        ),
        "largest_identity_gap": largest_gap,
        "exact_critic_max_abs_z": exact_z,
        "exact_critic_unbiased": bool(exact_z < Z_LIMIT),
        "perturbed_monte_carlo_max_abs_z": kstep_perturbed[-1]["max_abs_z"],
        "perturbed_monte_carlo_unbiased": bool(kstep_perturbed[-1]["max_abs_z"] < Z_LIMIT),
        "perturbed_bias_falls_with_lambda": falls(gae_perturbed),
        "perturbed_bias_falls_with_k": falls(kstep_perturbed),
        "perturbed_variance_rises_with_lambda": rises(gae_perturbed),
        "perturbed_variance_rises_with_k": rises(kstep_perturbed),
        "exact_variance_rises_with_lambda": rises(select("gae", "exact")),
        "exact_variance_rises_with_k": rises(select("kstep", "exact")),
        "lowest_mse_lambda": {name: min(select("gae", name), key=lambda r: r["mse"])["parameter"] for name in CRITICS},
        "lowest_mse_k": {name: min(select("kstep", name), key=lambda r: r["mse"])["parameter"] for name in CRITICS},
    }
