"""baseline-variance: the lecture's section 3 and 3.1 (Eqs. 9-18), measured.

Claim: a baseline b(s) that depends on the state only leaves the mean of the policy-gradient estimator
g_b = ∇θ log π(a|s)(R - b(s)) unchanged (Eq. 11) and changes only its variance, which is smallest at b* of
Eq. 18 and grows quadratically away from it,

    Var(b) = Var(b*) + E[||∇θ log π||²] (b - b*)²        (Greensmith et al. 2004; lecture Eqs. 15-17),

where Var is the total variance, the trace of the covariance. A baseline b(s, a) that depends on the action
biases the mean (Eq. 12).

Two settings, the same baselines.

* `bandit`: the 3-armed bandit of bandit-npg (rewards r = (1, 0.7, 0)) with a softmax policy at Chung et
  al.'s θ0 = (0, 3, 5). The score is ∇θ log π(a) = e_a - π, so every mean and variance is a sum over three
  arms: computed exactly, and measured by Monte Carlo on `samples` actions.
* `cartpole`: CartPole-v1 with a policy trained by PPO for `train_steps` steps (partly trained) and then
  frozen. One sample is one trajectory, g = Σ_t ∇θ log π(a_t|s_t)(R_t - b_t), with R_t the discounted
  reward-to-go (γ of the PPO preset, 0.98, the γ its value network was fitted with). An episode cut by the
  500-step time limit is the end of the sample: R_t sums the rewards to there, nothing is bootstrapped.
  θ is the policy network's parameters only (the value network is a separate MLP). Measured on `episodes`
  trajectories.

Baselines (one row each):

* `zero`: b = 0, the plain estimator (Eq. 13).
* `mean` (CartPole): the mean reward-to-go over all steps of the batch, a constant.
* `value`: the value of the state. Bandit: the exact V = π·r (also the mean reward: one state). CartPole:
  the learned V(s_t) of the PPO critic.
* `b*`: the variance-minimising constant. Bandit: Eq. 18 exactly. CartPole: Eq. 18 with the trajectory as
  the sample. With D = Σ_t ∇θ log π(a_t|s_t) and G = Σ_t ∇θ log π(a_t|s_t) R_t, a constant b gives g = G - bD,
  and since E[D] = 0 the total variance E||G - bD||² - ||E G||² is smallest at b* = E<D, G> / E||D||²: a
  ||D||²-weighted average of ρ = <D, G> / ||D||² (ρ is the return for a one-step trajectory, which gives
  Eq. 18 back). The identity above then holds with E||D||² in place of E||∇θ log π||².
* `b*-step` (CartPole): Eq. 18 pooled over all steps of the batch, Σ_t ||∇θ log π(a_t|s_t)||² R_t /
  Σ_t ||∇θ log π(a_t|s_t)||², the estimate REINFORCE's `--baseline optimal` uses. It is the right b* for
  single steps, not for the sum over a trajectory, so it need not reach the minimum.
* `b*-δ`, `b*+δ`: b* (1 ∓ δ), off the minimum by a fraction δ of b* (relative, so that one `--delta`
  suits rewards of order 1 and returns of order 50).

Two action-dependent baselines (Eq. 12):

* `c·Q(s,a)`: b = c·Q(s, a). Bandit: c·r(a), exact; with c = 1, g = 0 for every action: no variance at all
  and no gradient either. CartPole: c·(r_t + γ V(s_{t+1})) (V = 0 after a termination), the one-step
  estimate of Q from the learned critic. Only the part of b that varies with the action can bias the mean,
  and this Q̂ hardly varies with it (CartPole's reward is 1 whatever the action, and the smooth critic gives
  the two successor states nearly the same value): on CartPole its bias is far below its standard error.
* `V+κ(1[a=0]-π0)`: b = V(s) + κ (1[a = 0] - π(0|s)). Its action-dependent part averages to zero over
  a ~ π, so "on average" it is the value baseline; yet E_a[∇θ log π(a|s) b(s, a)] = κ ∇θ π(0|s) ≠ 0.
  What biases the mean is the correlation of b with the score, not the mean of b.

CartPole's constants (`mean`, `b*`, `b*-step`, hence `b*±δ`) are estimated from the batch, and a baseline
estimated from the very trajectories it is applied to is correlated with them (a bias of order 1/episodes).
So they are cross-fitted: the episodes are split into two halves (even and odd) and each half uses the
constant estimated on the other. The `b` column shows the average of the two.

Measurements, per row, on the same samples for every baseline:

* `mean_shift` = ||mean(g_b) - mean(g_0)||, a paired difference (the noise the two estimators share
  cancels), with its standard error sqrt(tr Cov(g_b - g_0) / n). With no shift in truth, E[shift²] = se², so the
  ratio `z` = shift / se is of order 1; above 3 it is a measured shift.
* `bias` (action-dependent rows) = ||mean(g_b) - mean(g_value)||, paired with the value-baseline estimator
  instead, with its standard error. The value estimator is unbiased (Eq. 11; its own row measures that) and
  shares most of g_b's noise, so the bias shows at a few hundred trajectories where against g_0 it would
  drown in the noise of Σ_t ∇θ log π(a_t|s_t) V(s_t).
* `total_variance` = tr Cov(g_b), with its standard error.
* Bandit only: `mean_shift_exact` (||E g_b - E g_0||: 0 up to rounding for every state-dependent baseline,
  the bias for the others) and `total_variance_exact`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from actorcritic.config import check_positive_int, check_range
from actorcritic.core.estimators import discounted_returns, variance_minimizing_baseline
from actorcritic.experiments.bandit_npg import (
    REWARDS,
    THETA0,
    minimum_variance_baseline,
    softmax,
)
from actorcritic.experiments.common import ExperimentResult, figure

CLAIM = (
    "A state-dependent baseline leaves the mean policy gradient unchanged and its variance is "
    "Var(b*) + E||∇log π||²(b - b*)²; an action-dependent one biases it (Eqs. 11-18)"
)

ENV = "CartPole-v1"
Q_NAME = "c·Q(s,a)"
CENTRED_NAME = "V+κ(1[a=0]-π0)"
IDENTITY_TOLERANCE = 1e-12
"""Largest allowed |Var(b) - Var(b*) - E||d||²(b - b*)²| on the bandit: float64 rounding of numbers of order 1."""


@dataclass(frozen=True)
class Config:
    """Options of baseline-variance."""

    out: str = "results/baseline-variance"
    """Directory for results.csv, figure.png and summary.json."""
    samples: int = 100_000
    """Bandit: Monte Carlo samples (actions) per baseline, the same actions for every baseline."""
    episodes: int = 300
    """CartPole: trajectories per baseline, the same trajectories for every baseline."""
    train_steps: int = 16_384
    """CartPole: PPO environment steps to train the (then frozen) policy for."""
    delta: float = 0.5
    """The b*±δ rows use b* (1 ± δ)."""
    action_baseline_scale: float = 1.0
    """c of the action-dependent baseline b(s, a) = c·Q(s, a)."""
    centred_action_weight: float = 1.0
    """κ of the action-dependent baseline b(s, a) = V(s) + κ (1[a = 0] - π(0|s))."""
    seed: int = 0
    """Seed of the bandit's actions, the PPO training and the CartPole episodes."""

    def __post_init__(self) -> None:
        check_range("samples", self.samples, 10)
        check_range("episodes", self.episodes, 4)
        check_positive_int("train_steps", self.train_steps)
        check_range("delta", self.delta, 0, math.inf, low_inclusive=False)
        check_range("action_baseline_scale", self.action_baseline_scale, 0, math.inf, low_inclusive=False)
        check_range("centred_action_weight", self.centred_action_weight, 0, math.inf, low_inclusive=False)


# ---------------------------------------------------------------- measuring an estimator


def monte_carlo_statistics(gradients: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Mean shift against `reference` and total variance of per-sample gradient estimates [n, P] (paired:
    row i of both comes from sample i). Standard errors: sqrt(tr Cov / n) for the shift, and the standard
    deviation of ||g_i - ḡ||² over sqrt(n) for the total variance tr Cov(g)."""
    n = gradients.shape[0]
    difference = gradients - reference
    shift = difference.mean(0)
    shift_se = math.sqrt(np.square(difference - shift).sum() / (n - 1) / n)
    squared_deviations = np.square(gradients - gradients.mean(0)).sum(1)
    return {
        "shift": float(np.linalg.norm(shift)),
        "shift_se": shift_se,
        "total_variance": float(squared_deviations.sum() / (n - 1)),
        "total_variance_se": float(squared_deviations.std(ddof=1) / math.sqrt(n)),
    }


def _row(setting: str, name: str, kind: str, b, stats: dict, exact_shift="", exact_variance="") -> dict:
    """One line of results.csv: the measured shift goes to `bias` when the baseline depends on the action."""
    ratio = (
        stats["shift"] / stats["shift_se"] if stats["shift_se"] > 0 else (math.inf if stats["shift"] > 0 else math.nan)
    )
    biased = kind == "action"
    return {
        "setting": setting,
        "baseline": name,
        "depends_on": kind,
        "b": b,
        "mean_shift": "" if biased else stats["shift"],
        "mean_shift_se": "" if biased else stats["shift_se"],
        "bias": stats["shift"] if biased else "",
        "bias_se": stats["shift_se"] if biased else "",
        "z": ratio,
        "mean_shift_exact": exact_shift,
        "total_variance": stats["total_variance"],
        "total_variance_se": stats["total_variance_se"],
        "total_variance_exact": exact_variance,
    }


# ---------------------------------------------------------------- the bandit, exactly


def bandit_scores(pi: np.ndarray) -> np.ndarray:
    """∇θ log π(a) = e_a - π for π = softmax(θ): row a is the score of arm a. [3, 3]."""
    return np.eye(3) - pi


def exact_moments(pi: np.ndarray, baselines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """E[g_b] and tr Var(g_b) = E||g_b||² - ||E g_b||² of g_b = ∇θ log π(a)(r(a) - b(a)), a ~ π   (lecture
    Eqs. 13-15), summed over the arms exactly.

    `baselines` [K, 3]: baseline k's value for each arm (equal entries: a state-dependent baseline).
    Returns means [K, 3] and total variances [K]."""
    gradients = bandit_scores(pi)[None] * (REWARDS - baselines)[:, :, None]  # [K, arm, θ]
    means = np.einsum("a,kap->kp", pi, gradients)
    variances = np.einsum("a,ka->k", pi, np.square(gradients - means[:, None]).sum(-1))
    return means, variances


def expected_score_sq_norm(pi: np.ndarray) -> float:
    """E_a[||∇θ log π(a)||²], the curvature of Var(b) in b (lecture Eq. 16)."""
    return float(pi @ np.square(bandit_scores(pi)).sum(-1))


def variance_by_identity(pi: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Var(b*) + E[||∇θ log π||²](b - b*)² for constants b [...]   (lecture Eqs. 15-18; Greensmith et al.
    2004): Eq. 15 is a quadratic in b with its minimum at b*, so this is what `exact_moments` must give."""
    b_star = float(minimum_variance_baseline(pi))
    minimum = exact_moments(pi, np.full((1, 3), b_star))[1][0]
    return minimum + expected_score_sq_norm(pi) * np.square(np.asarray(b) - b_star)


def bandit_baselines(pi: np.ndarray, config: Config) -> list[tuple[str, str, np.ndarray]]:
    """(name, depends_on, b per arm [3]) for the bandit's rows."""
    b_star = float(minimum_variance_baseline(pi))
    value = float(pi @ REWARDS)

    def constant(b: float) -> np.ndarray:
        return np.full(3, b)

    return [
        ("zero", "none", constant(0.0)),
        ("value", "state", constant(value)),
        ("b*", "state", constant(b_star)),
        ("b*-δ", "state", constant(b_star * (1 - config.delta))),
        ("b*+δ", "state", constant(b_star * (1 + config.delta))),
        (Q_NAME, "action", config.action_baseline_scale * REWARDS),
        (CENTRED_NAME, "action", value + config.centred_action_weight * (np.eye(3)[0] - pi[0])),
    ]


def bandit_experiment(config: Config) -> tuple[list[dict], dict]:
    pi = softmax(THETA0)
    baselines = bandit_baselines(pi, config)
    means, variances = exact_moments(pi, np.stack([b for _, _, b in baselines]))
    rng = np.random.default_rng(config.seed)
    actions = rng.choice(3, size=config.samples, p=pi)
    scores = bandit_scores(pi)[actions]  # [n, 3]
    sampled = {name: scores * (REWARDS[actions] - b[actions])[:, None] for name, _, b in baselines}
    rows = []
    for (name, kind, b), mean, variance in zip(baselines, means, variances):
        reference = "value" if kind == "action" else "zero"
        stats = monte_carlo_statistics(sampled[name], sampled[reference])
        scalar = float(b[0]) if kind != "action" else ""
        rows.append(_row("bandit", name, kind, scalar, stats, float(np.linalg.norm(mean - means[0])), float(variance)))

    b_star = float(minimum_variance_baseline(pi))
    grid = np.linspace(-0.5, 1.5, 201)
    grid_variances = exact_moments(pi, np.repeat(grid[:, None], 3, 1))[1]
    constants = np.concatenate([grid, [r["b"] for r in rows if r["depends_on"] != "action"]])
    identity_error = float(
        np.max(np.abs(exact_moments(pi, np.repeat(constants[:, None], 3, 1))[1] - variance_by_identity(pi, constants)))
    )
    by_name = {r["baseline"]: r for r in rows}
    state_rows = [r for r in rows if r["depends_on"] == "state"]
    action_rows = [r for r in rows if r["depends_on"] == "action"]
    checks = {
        "exact_variance_identity_holds": identity_error <= IDENTITY_TOLERANCE,
        "b_star_minimises_exact_variance": bool(
            by_name["b*"]["total_variance_exact"] <= grid_variances.min() + IDENTITY_TOLERANCE
            and all(
                by_name["b*"]["total_variance_exact"] < by_name[n]["total_variance_exact"]
                for n in ("zero", "value", "b*-δ", "b*+δ")
            )
        ),
        "exact_mean_unchanged_by_state_baselines": all(r["mean_shift_exact"] <= IDENTITY_TOLERANCE for r in state_rows),
        "exact_mean_biased_by_action_baselines": all(r["mean_shift_exact"] > 1e-6 for r in action_rows),
        "measured_mean_unchanged_within_3_se": all(r["z"] < 3 for r in state_rows),
        "measured_action_bias_beyond_3_se": all(r["z"] > 3 for r in action_rows),
        "measured_variance_within_4_se_of_exact": all(
            abs(r["total_variance"] - r["total_variance_exact"]) <= 4 * r["total_variance_se"] for r in rows
        ),
    }
    summary = {
        "theta": THETA0.tolist(),
        "policy": pi.tolist(),
        "rewards": REWARDS.tolist(),
        "b_star": b_star,
        "value": float(pi @ REWARDS),
        "expected_score_sq_norm": expected_score_sq_norm(pi),
        "true_gradient": means[0].tolist(),
        "minimum_variance": float(by_name["b*"]["total_variance_exact"]),
        "identity_max_error": identity_error,
        "samples": config.samples,
        "variance_curve": {"b": grid.tolist(), "total_variance": grid_variances.tolist()},
        "checks": checks,
    }
    return rows, summary


# ---------------------------------------------------------------- CartPole, by Monte Carlo


def train_policy(config: Config):
    """A PPO agent trained for `train_steps` steps on CartPole-v1 (its tuned preset): a partly trained policy."""
    from actorcritic import PPO, PPOConfig

    return PPO(PPOConfig.for_env(ENV, seed=config.seed, total_steps=config.train_steps)).learn()


def sample_episodes(agent, episodes: int, seed: int) -> dict[str, np.ndarray]:
    """`episodes` whole episodes of the agent's stochastic policy (episode i reset with seed + i), run side by
    side so that the policy acts on a batch, then concatenated episode after episode: observations and true
    successor observations [T, 4], actions, rewards, terminated, truncated and episode index [T]."""
    envs = [gym.make(ENV) for _ in range(episodes)]
    obs = np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(envs)])
    keys = ("obs", "next_obs", "actions", "rewards", "terminated", "truncated", "episode")
    steps = [{k: [] for k in keys} for _ in range(episodes)]
    running = list(range(episodes))
    try:
        while running:
            actions = agent.act(obs[running], deterministic=False)
            still_running = []
            for i, action in zip(running, actions.tolist()):
                next_obs, reward, terminated, truncated, _ = envs[i].step(action)
                for key, value in zip(keys, (obs[i].copy(), next_obs, action, reward, terminated, truncated, i)):
                    steps[i][key].append(value)
                obs[i] = next_obs
                if not (terminated or truncated):
                    still_running.append(i)
            running = still_running
    finally:
        for env in envs:
            env.close()
    return {k: np.asarray([v for episode in steps for v in episode[k]]) for k in keys}


def per_step_scores(model, obs: torch.Tensor, actions: torch.Tensor, chunk: int = 1024):
    """∇θ log π(a_t|s_t) for every step, θ the policy's parameters only: yields [chunk, P] blocks in order."""
    policy = model.policy_parameter_mask().bool()
    for scores in model.per_sample_scores(obs, actions, chunk):
        yield scores[:, policy]


def trajectory_sums(agent, batch: dict[str, np.ndarray], gamma: float) -> dict[str, torch.Tensor]:
    """Per episode, Σ_t ∇θ log π(a_t|s_t) w_t for the weights w = R_t (`returns`), 1 (`scores`), V(s_t)
    (`values`), r_t + γ V(s_{t+1}) (`q`) and 1[a_t = 0] - π(0|s_t) (`first_action`), each [E, P] in float64;
    and per step R_t and ||∇θ log π(a_t|s_t)||² [T]."""
    model = agent.model

    def as_input(x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(agent.obs_normalizer(x, update=False), dtype=torch.float32)

    obs, next_obs = as_input(batch["obs"]), as_input(batch["next_obs"])
    actions = torch.as_tensor(batch["actions"])
    rewards = torch.as_tensor(batch["rewards"], dtype=torch.float64)
    terminated = torch.as_tensor(batch["terminated"])
    truncated = torch.as_tensor(batch["truncated"])
    with torch.no_grad():
        logits, values = model(obs)
        next_values = model(next_obs)[1].double()
    # episodes are concatenated; each one ends in a termination or a truncation, where the sum stops
    returns = discounted_returns(
        rewards[:, None], torch.zeros_like(rewards)[:, None], terminated[:, None], truncated[:, None], gamma
    )[:, 0]
    weights = torch.stack(
        [
            returns,
            torch.ones_like(returns),
            values.double(),
            rewards + gamma * (~terminated).double() * next_values,
            (actions == 0).double() - torch.softmax(logits.double(), -1)[:, 0],
        ]
    )  # [5, T]
    episode = torch.as_tensor(batch["episode"])
    sums = None
    score_sq_norms = torch.empty(obs.shape[0], dtype=torch.float64)
    start = 0
    for block in per_step_scores(model, obs, actions):
        block = block.double()
        stop = start + block.shape[0]
        score_sq_norms[start:stop] = block.square().sum(1)
        if sums is None:
            sums = torch.zeros(weights.shape[0], int(episode.max()) + 1, block.shape[1], dtype=torch.float64)
        # Σ over the block's steps of each episode, as one matrix product: [5, episodes in block, steps] @ [steps, P]
        first, ids = int(episode[start]), episode[start:stop] - int(episode[start])
        spread = torch.zeros(weights.shape[0], int(ids.max()) + 1, stop - start, dtype=torch.float64)
        spread[:, ids, torch.arange(stop - start)] = weights[:, start:stop]
        sums[:, first : first + spread.shape[1]] += spread @ block
        start = stop
    named = dict(zip(("returns", "scores", "values", "q", "first_action"), sums))
    return {**named, "step_returns": returns, "score_sq_norms": score_sq_norms, "step_episode": episode}


def cross_fitted(estimate, episodes: int) -> np.ndarray:
    """A constant baseline per episode, estimated on the other half: `estimate(mask)` gets a boolean
    mask over episodes (the half to estimate from) and returns a float. [E]."""
    half = np.arange(episodes) % 2
    values = {h: float(estimate(torch.as_tensor(half != h))) for h in (0, 1)}
    return np.array([values[h] for h in half])


def cartpole_experiment(config: Config) -> tuple[list[dict], dict]:
    agent = train_policy(config)
    gamma = agent.config.gamma
    batch = sample_episodes(agent, config.episodes, seed=config.seed + 10_000)
    sums = trajectory_sums(agent, batch, gamma)
    G, D = sums["returns"], sums["scores"]
    episodes = G.shape[0]
    D_sq = D.square().sum(1)
    constants = cross_fitted_constants(sums)
    mean, b_star, b_star_step = constants["mean"], constants["b*"], constants["b*-step"]
    value = G - sums["values"]
    rows = []
    for name, kind, b, gradients in cartpole_baselines(sums, constants, config):
        stats = monte_carlo_statistics(gradients.numpy(), (value if kind == "action" else G).numpy())
        rows.append(_row("cartpole", name, kind, float(np.mean(b)) if not isinstance(b, str) else b, stats))
    by_name = {r["baseline"]: r for r in rows}
    minimum = by_name["b*"]["total_variance"]
    # the identity's prediction for b*±δ, with E||D||² for E||∇θ log π||²
    predicted_increase = float(D_sq.mean()) * float(np.mean(np.square(config.delta * b_star)))
    measured_increase = [by_name[n]["total_variance"] - minimum for n in ("b*-δ", "b*+δ")]
    lengths = np.bincount(batch["episode"])
    summary = {
        "env": ENV,
        "train_steps": config.train_steps,
        "gamma": gamma,
        "episodes": episodes,
        "steps": int(lengths.sum()),
        "episode_length_mean": float(lengths.mean()),
        "episode_length_min": int(lengths.min()),
        "episode_length_max": int(lengths.max()),
        "policy_parameters": int(G.shape[1]),
        "b_star": float(b_star.mean()),
        "b_star_per_half": sorted(set(b_star.tolist())),
        "b_star_step": float(b_star_step.mean()),
        "mean_return_to_go": float(mean.mean()),
        "expected_trajectory_score_sq_norm": float(D_sq.mean()),
        "variance_increase_at_b_star_plus_minus_delta": {
            "predicted": predicted_increase,
            "measured": measured_increase,
        },
        "q_baseline_bias_z": by_name[Q_NAME]["z"],
        "checks": cartpole_checks(by_name, predicted_increase, measured_increase),
    }
    return rows, summary


def cross_fitted_constants(sums: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """The constant baselines of the CartPole rows, each per episode [E] and estimated on the other half
    (`cross_fitted`): the mean return-to-go, b* of the trajectory gradient and b* of the per-step one."""
    G, D = sums["returns"], sums["scores"]
    episodes = G.shape[0]

    def in_half(episode_mask: torch.Tensor) -> torch.Tensor:
        """The step mask of an episode mask."""
        return episode_mask[sums["step_episode"]]

    D_sq = D.square().sum(1)
    rho = (D * G).sum(1) / D_sq
    return {
        "mean": cross_fitted(lambda m: sums["step_returns"][in_half(m)].mean(), episodes),
        "b*": cross_fitted(lambda m: variance_minimizing_baseline(D_sq[m], rho[m]), episodes),
        "b*-step": cross_fitted(
            lambda m: variance_minimizing_baseline(
                sums["score_sq_norms"][in_half(m)], sums["step_returns"][in_half(m)]
            ),
            episodes,
        ),
    }


def cartpole_baselines(
    sums: dict[str, torch.Tensor], constants: dict[str, np.ndarray], config: Config
) -> list[tuple[str, str, float | np.ndarray | str, torch.Tensor]]:
    """(name, depends_on, b, per-episode gradients g_b [E, P]) for the CartPole rows ("" for a b that is no
    constant)."""
    G, D = sums["returns"], sums["scores"]
    mean, b_star, b_star_step = constants["mean"], constants["b*"], constants["b*-step"]

    def constant(b: np.ndarray) -> torch.Tensor:
        return G - torch.as_tensor(b)[:, None] * D

    value = G - sums["values"]
    return [
        ("zero", "none", 0.0, G),
        ("mean", "state", mean, constant(mean)),
        ("value", "state", "", value),
        ("b*-step", "state", b_star_step, constant(b_star_step)),
        ("b*", "state", b_star, constant(b_star)),
        ("b*-δ", "state", b_star * (1 - config.delta), constant(b_star * (1 - config.delta))),
        ("b*+δ", "state", b_star * (1 + config.delta), constant(b_star * (1 + config.delta))),
        (Q_NAME, "action", "", G - config.action_baseline_scale * sums["q"]),
        (CENTRED_NAME, "action", "", value - config.centred_action_weight * sums["first_action"]),
    ]


def cartpole_checks(by_name: dict[str, dict], predicted_increase: float, measured_increase: list[float]) -> dict:
    """The lecture's statements on the CartPole rows (by baseline name) as booleans."""
    minimum = by_name["b*"]["total_variance"]
    return {
        "measured_mean_unchanged_within_3_se": all(r["z"] < 3 for r in by_name.values() if r["depends_on"] == "state"),
        "measured_centred_action_bias_beyond_3_se": by_name[CENTRED_NAME]["z"] > 3,
        "b_star_below_zero_and_b_star_plus_minus_delta": all(
            minimum < by_name[n]["total_variance"] for n in ("zero", "b*-δ", "b*+δ")
        ),
        "variance_increase_at_b_star_plus_minus_delta_within_20_percent_of_identity": all(
            abs(m / predicted_increase - 1) < 0.2 for m in measured_increase
        ),
        "value_baseline_reduces_measured_variance": by_name["value"]["total_variance"]
        < by_name["zero"]["total_variance"],
    }


# ---------------------------------------------------------------- the experiment


def run(config: Config) -> ExperimentResult:
    bandit_rows, bandit_summary = bandit_experiment(config)
    cartpole_rows, cartpole_summary = cartpole_experiment(config)
    rows = bandit_rows + cartpole_rows
    checks = {
        f"{setting}_{name}": value
        for setting, part in (("bandit", bandit_summary), ("cartpole", cartpole_summary))
        for name, value in part["checks"].items()
    }
    summary = {
        "checks": checks,
        "all_checks_passed": all(checks.values()),
        "bandit": bandit_summary,
        "cartpole": cartpole_summary,
    }

    def draw(path_png):
        fig, axes = figure(1, 3, size=(4.6, 3.8))
        for ax, setting_rows, title in (
            (axes[0, 0], bandit_rows, "bandit, θ0 = (0, 3, 5)"),
            (axes[0, 1], cartpole_rows, f"{ENV}, one trajectory"),
        ):
            _variance_bars(ax, setting_rows, title)
        _variance_curve(axes[0, 2], bandit_rows, bandit_summary)
        fig.suptitle(
            "Total variance tr Cov(g_b) of g_b = ∇θ log π(a|s)(R - b); "
            "hatched: b depends on the action (Eq. 12), with its measured bias",
            fontsize=10,
        )
        fig.tight_layout()
        fig.savefig(path_png, dpi=110, format="png")

    columns = [
        "setting",
        "baseline",
        "b",
        "mean_shift",
        "mean_shift_se",
        "bias",
        "bias_se",
        "total_variance",
        "total_variance_se",
        "total_variance_exact",
    ]
    return ExperimentResult(rows=rows, summary=summary, draw=draw, table_columns=columns)


def _variance_bars(ax, rows: list[dict], title: str) -> None:
    names = [r["baseline"] for r in rows]
    heights = np.array([r["total_variance"] for r in rows])
    errors = np.array([r["total_variance_se"] for r in rows])
    colours = [
        "0.6" if r["depends_on"] == "none" else ("tab:red" if r["depends_on"] == "action" else "tab:blue") for r in rows
    ]
    bars = ax.bar(names, heights, yerr=errors, color=colours, capsize=3)
    for bar, row, error in zip(bars, rows, errors):
        if row["depends_on"] == "action":
            bar.set_hatch("//")
            z = f"{row['z']:.0f}" if row["z"] >= 10 else f"{row['z']:.1f}"
            ax.annotate(
                f"bias\n{z} se",
                (bar.get_x() + bar.get_width() / 2, bar.get_height() + error),
                textcoords="offset points",
                xytext=(0, 3),
                ha="center",
                fontsize=7,
            )
    exact = [(i, r["total_variance_exact"]) for i, r in enumerate(rows) if r["total_variance_exact"] != ""]
    if exact:
        ax.plot([i for i, _ in exact], [v for _, v in exact], "k_", markersize=18, markeredgewidth=2, label="exact")
        ax.legend(fontsize=8)
    ax.set_ylim(0, 1.2 * max(heights + errors))
    ax.set_title(title, fontsize=10)
    ax.set_ylabel("total variance (Monte Carlo, ± 1 s.e.)", fontsize=9)
    ax.tick_params(axis="x", labelrotation=45, labelsize=8)


def _variance_curve(ax, rows: list[dict], summary: dict) -> None:
    curve = summary["variance_curve"]
    ax.plot(curve["b"], curve["total_variance"], "k-", linewidth=1.2, label="exact Var(b)")
    b_star = summary["b_star"]
    ax.axvline(b_star, color="tab:green", linestyle="--", linewidth=1, label=f"b* = {b_star:.3f} (Eq. 18)")
    constants = [r for r in rows if r["depends_on"] != "action"]
    ax.plot(
        [r["b"] for r in constants],
        [r["total_variance"] for r in constants],
        "o",
        color="tab:blue",
        markersize=5,
        label="measured",
    )
    for row in constants:
        ax.annotate(
            row["baseline"], (row["b"], row["total_variance"]), textcoords="offset points", xytext=(6, 4), fontsize=8
        )
    ax.set_xlabel("constant baseline b", fontsize=9)
    ax.set_ylabel("total variance", fontsize=9)
    ax.set_title(f"bandit: Var(b) = Var(b*) + {summary['expected_score_sq_norm']:.3f}(b - b*)²", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
