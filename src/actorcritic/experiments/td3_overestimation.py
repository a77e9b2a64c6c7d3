"""td3-overestimation: Fujimoto et al. (2018), Figure 1 (lecture section 7.3).

Claim: DDPG's critic overestimates the value of its own policy, because the actor climbs whatever errors
the critic has (Eq. 38) and the Bellman target (Eq. 40) feeds them back; clipped double Q (the target takes
min(Q1', Q2')) removes most of that bias.

Setting: three agents train on the same task with the same seed: `ddpg` (TD3's three changes off),
`ddpg+clipped-double-q` (TD3 with only clipped double Q: no target policy smoothing, policy delay 1) and
`td3` (all three on). Every `measure_every` environment steps each agent is measured on a fixed set of
`states` start states:

* estimate: Q1(s, π(s)), the first critic at the current deterministic action, averaged over the states;
* true value: the discounted return Σ_t γ^t r_t of rolling out the current deterministic policy π from
  each state (lecture Eq. 2), averaged over the same states;
* overestimation = estimate - true value.

Choices that differ from the paper, which starts its rollouts (1000 episodes) from states sampled from the
replay buffer:

* The states are fresh start states: state k is the first observation of a reset seeded with
  seed + 20000 + k, the same for every agent, seed and measurement. A reset state can be rolled out from
  exactly, whereas a buffer state cannot be restored in every environment (MuJoCo's full simulator state is
  more than its observation).
* One rollout per state suffices: the policy and Pendulum / MuJoCo dynamics are deterministic.
* The rollout runs until the episode terminates or for `rollout_steps` steps, with the environment's own
  time limit lifted to `rollout_steps`. The critic bootstraps through time-limit truncations, so it
  estimates the untruncated return; cutting the rollout at Pendulum's 200 steps would drop a tail of
  γ^200·V(s_200), about 13% of V(s_200), and bias the comparison. With γ = 0.99 and 1000 steps the omitted
  tail is below γ^1000 ≈ 4e-5 of V. `--rollout-steps 200` gives the return to Pendulum's own episode end.

Reading the curves: a fresh critic starts near 0 while the true values start far below (about -600 on
Pendulum), and the gap closes only as the Bellman targets propagate the rewards, more slowly with a policy
delay (targets move every d updates). That early gap is not the maximisation bias; the bias is what remains
once the critic has caught up, hence `late_mean_overestimation` (the second half of the measurements) in
summary.json beside the final and the overall mean.

The fast default is Pendulum-v1 for 10k steps with (64, 64) networks (the paper's are (256, 256); pass
`--hidden-sizes 256 256`) and the Pendulum preset otherwise (1000 warm-up steps, Adam 1e-3). The paper's
setting is `--env Hopper-v5 --total-steps 1000000 --measure-every 5000 --hidden-sizes 256 256`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import gymnasium as gym
import numpy as np
import torch

from actorcritic import TD3, TD3Config
from actorcritic.config import check_positive_int, check_range
from actorcritic.envs import check_env_id
from actorcritic.estimators import discounted_returns
from actorcritic.experiments.common import ExperimentResult, figure

CLAIM = "DDPG's critic overestimates the true value of its policy; clipped double Q removes most of the bias (Fujimoto et al. 2018, Figure 1)"

# TD3's three changes per agent: clipped double Q, target policy smoothing, policy delay
ALGORITHMS: dict[str, dict] = {
    "ddpg": dict(clipped_double_q=False, target_policy_smoothing=False, policy_delay=1),
    "ddpg+clipped-double-q": dict(clipped_double_q=True, target_policy_smoothing=False, policy_delay=1),
    "td3": dict(clipped_double_q=True, target_policy_smoothing=True, policy_delay=2),
}
STATE_SEED_OFFSET = 20_000
"""Start state k is reset with seed + 20000 + k: apart from the training (seed) and evaluation (seed + 10000) resets."""


@dataclass(frozen=True)
class Config:
    """Options of td3-overestimation."""

    out: str = "results/td3-overestimation"
    """Directory for results.csv, figure.png and summary.json."""
    env: str = "Pendulum-v1"
    """Gymnasium environment id (continuous actions), e.g. Hopper-v5 for the paper's setting."""
    total_steps: int = 10_000
    """Environment steps each agent trains for."""
    measure_every: int = 1000
    """Measure the estimate and the true value every this many environment steps."""
    states: int = 10
    """Start states (seeded resets) the estimate and the true value are averaged over."""
    seeds: int = 1
    """Training seeds per algorithm: seed, seed + 1, ..."""
    seed: int = 0
    """First training seed; the start states are reset with seed + 20000 + k."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the actor and the critics (the paper: 256 256)."""
    learning_starts: int | None = None
    """Steps of random actions before the first update (None: TD3's preset for --env; Pendulum-v1: 1000)."""
    rollout_steps: int = 1000
    """Longest Monte-Carlo rollout; it replaces the environment's time limit (see the module docstring)."""
    num_threads: int = 1
    """Torch intra-op threads."""

    def __post_init__(self) -> None:
        check_env_id(self.env)
        for name in ("total_steps", "measure_every", "states", "seeds", "rollout_steps", "num_threads"):
            check_positive_int(name, getattr(self, name))
        if self.learning_starts is not None:
            check_range("learning_starts", self.learning_starts, 0)
        TD3Config(hidden_sizes=self.hidden_sizes)  # validates the widths with TD3's own message


def agent_config(config: Config, algorithm: str, seed: int) -> TD3Config:
    """The TD3 config of `algorithm` (a key of ALGORITHMS) for `config`: the preset of the env, then ours."""
    overrides = dict(
        seed=seed,
        total_steps=config.total_steps,
        hidden_sizes=config.hidden_sizes,
        buffer_size=min(config.total_steps, 1_000_000),
        num_threads=config.num_threads,
        **ALGORITHMS[algorithm],
    )
    if config.learning_starts is not None:
        overrides["learning_starts"] = config.learning_starts
    return TD3Config.for_env(config.env, **overrides)


def discounted_return(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """G_0 = Σ_t γ^t r_t   (lecture Eq. 2): the reward-to-go of Eq. 24 at t = 0, nothing bootstrapped.

    rewards [T] or [T, K] (K episodes, zero after each one's end). Returns a float or [K]."""
    rewards_t = torch.as_tensor(np.asarray(rewards, dtype=np.float64))
    zeros = torch.zeros_like(rewards_t)
    return discounted_returns(rewards_t, zeros, zeros, zeros, gamma)[0].numpy()


def monte_carlo_values(act: Callable[[np.ndarray], np.ndarray], make_env: Callable[[], gym.Env], seeds: list[int], gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Start states and their true values under the deterministic policy `act` ([K, obs_dim] -> [K, action_dim]).

    Environment k is made by `make_env` and reset with seeds[k]; all K are rolled out in lockstep until
    each terminates or truncates. Returns the start observations [K, obs_dim] and the discounted returns
    from them [K]."""
    envs = [make_env() for _ in seeds]
    try:
        starts = np.stack([env.reset(seed=seed)[0] for env, seed in zip(envs, seeds)]).astype(np.float32)
        observations, alive, rewards = starts.copy(), np.ones(len(envs), dtype=bool), []
        while alive.any():
            actions = act(observations)
            step_rewards = np.zeros(len(envs))
            for k in np.flatnonzero(alive):
                observations[k], step_rewards[k], terminated, truncated, _ = envs[k].step(actions[k])
                alive[k] = not (terminated or truncated)
            rewards.append(step_rewards)
    finally:
        for env in envs:
            env.close()
    return starts, discounted_return(np.stack(rewards), gamma)


def q_estimates(agent: TD3, observations: np.ndarray) -> np.ndarray:
    """Q1(s, π(s)) of the agent's first critic at its deterministic action: [K, obs_dim] -> [K]."""
    learner = agent.learner
    with torch.inference_mode():
        obs = torch.as_tensor(observations, dtype=torch.float32, device=agent.device)
        q = learner.critics.q_member(obs, learner.actor(obs), 0)
    return q.cpu().numpy()


def measurement_steps(config: Config) -> list[int]:
    """measure_every, 2·measure_every, ..., and total_steps."""
    steps = list(range(config.measure_every, config.total_steps + 1, config.measure_every))
    return steps if steps and steps[-1] == config.total_steps else steps + [config.total_steps]


def train_and_measure(config: Config, algorithm: str, seed: int) -> list[dict]:
    """Train one agent in chunks of `measure_every` steps; after each chunk, one row of the results."""
    agent = TD3(agent_config(config, algorithm, seed))
    make_env = functools.partial(gym.make, config.env, max_episode_steps=config.rollout_steps)
    state_seeds = [config.seed + STATE_SEED_OFFSET + k for k in range(config.states)]
    rows = []
    for step in measurement_steps(config):
        agent.learn(step - agent.global_step)
        starts, true_values = monte_carlo_values(agent.act, make_env, state_seeds, agent.config.gamma)
        q_estimate, true_value = float(q_estimates(agent, starts).mean()), float(true_values.mean())
        rows.append({
            "algorithm": algorithm,
            "seed": seed,
            "step": step,
            "q_estimate": q_estimate,
            "true_value": true_value,
            "overestimation": q_estimate - true_value,
        })
    return rows


def run(config: Config) -> ExperimentResult:
    rows = [row for seed in range(config.seed, config.seed + config.seeds) for algorithm in ALGORITHMS for row in train_and_measure(config, algorithm, seed)]
    steps = measurement_steps(config)

    def mean_over_seeds(algorithm: str, column: str) -> np.ndarray:
        """[len(steps)]: the column's mean over the seeds at each measurement."""
        values = np.array([[r[column] for r in rows if r["algorithm"] == algorithm and r["seed"] == seed] for seed in range(config.seed, config.seed + config.seeds)])
        return values.mean(0)

    curves = {a: {c: mean_over_seeds(a, c) for c in ("q_estimate", "true_value", "overestimation")} for a in ALGORITHMS}
    late = slice(len(steps) // 2, None)
    per_algorithm = {
        a: {
            "final_q_estimate": float(curves[a]["q_estimate"][-1]),
            "final_true_value": float(curves[a]["true_value"][-1]),
            "final_overestimation": float(curves[a]["overestimation"][-1]),
            "mean_overestimation": float(curves[a]["overestimation"].mean()),
            "late_mean_overestimation": float(curves[a]["overestimation"][late].mean()),
        }
        for a in ALGORITHMS
    }
    ddpg = per_algorithm["ddpg"]
    double_q = [a for a in ALGORITHMS if ALGORITHMS[a]["clipped_double_q"]]
    statistics = ("final_overestimation", "mean_overestimation", "late_mean_overestimation")
    summary = {
        "overestimation": per_algorithm,
        # the claim, read off the data: DDPG's bias is positive, and clipped double Q leaves less than half of it
        "ddpg_overestimates": {k: ddpg[k] > 0 for k in statistics},
        "clipped_double_q_removes_most": {k: ddpg[k] > 0 and all(per_algorithm[a][k] < 0.5 * ddpg[k] for a in double_q) for k in statistics},
        "note": "mean: over all measurements (includes the critic's start near 0 while true values are far below); late_mean: over the second half",
    }

    def draw(path_png):
        fig, axes = figure(1, 2, size=(5.5, 4.0))
        values_ax, bias_ax = axes[0]
        for index, algorithm in enumerate(ALGORITHMS):
            colour = f"C{index}"
            values_ax.plot(steps, curves[algorithm]["q_estimate"], "-", color=colour, label=f"{algorithm}: Q1(s, π(s))")
            values_ax.plot(steps, curves[algorithm]["true_value"], "--", color=colour, label=f"{algorithm}: true")
            bias_ax.plot(steps, curves[algorithm]["overestimation"], "-", color=colour, label=algorithm)
        bias_ax.axhline(0.0, color="0.5", linewidth=0.8)
        # symmetric log: the early gap (a fresh critic near 0, true values far below) and the late bias both show
        bias_ax.set_yscale("symlog", linthresh=10.0)
        values_ax.set(xlabel="environment steps", ylabel="value", title="estimate (solid) and true value (dashed)")
        bias_ax.set(xlabel="environment steps", ylabel="estimate - true value", title="overestimation (symmetric log scale)")
        values_ax.legend(fontsize=7)
        bias_ax.legend(fontsize=8)
        seeds = f"{config.seeds} seed" + ("s" if config.seeds > 1 else "")
        fig.suptitle(f"{config.env}: mean over {config.states} start states and {seeds}", fontsize=10)
        fig.tight_layout()
        fig.savefig(path_png, dpi=110, format="png")

    return ExperimentResult(rows=rows, summary=summary, draw=draw, table_columns=list(rows[0]))
