"""td3-overestimation: Fujimoto et al. (2018), Figure 1 (lecture section 7.3).

Claim: DDPG's critic overestimates the value of its own policy, because the actor climbs whatever errors
the critic has (Eq. 38) and the Bellman target (Eq. 40) feeds them back; clipped double Q (the target takes
min(Q1', Q2')) removes that bias, and may underestimate instead.

Setting: agents train on each task with the same seeds: `ddpg` (TD3's three changes off),
`ddpg+clipped-double-q` (only clipped double Q: no target policy smoothing, policy delay 1) and, by default,
`td3` (all three on). Every `measure_every` environment steps each agent is measured as the paper does:

* `states` states are drawn uniformly from the agent's replay buffer (a generator seeded with the run's seed
  and the step, apart from the training's own random streams, so measuring never changes training);
* estimate: Q1(s, π(s)), the first critic at the current deterministic action, averaged over the states;
* true value: the discounted return Σ_t γ^t r_t of rolling out the current deterministic policy π from
  each state (lecture Eq. 2), averaged over the same states;
* overestimation = estimate - true value.

A buffer state is rolled out by putting a fresh environment into it (`restore_state`): Pendulum's state is
its angle and velocity, and the MuJoCo tasks whose observation is the simulator's positions and velocities
less the ones it leaves out (the x position of Hopper, Walker2d, HalfCheetah; x and y of Swimmer) get those
back as 0, which changes nothing: their rewards and terminations do not depend on them. Hopper and Walker2d
clip velocities to ±10 in the observation, and a policy that has learned to move stores many such states
(on Walker2d three in four): for those the observation is not the state. They are replayed instead
(`replay_state`): the episode's first observation, stored in the buffer and never clipped (a reset state),
is restored, and the stored actions are stepped through the simulator up to the measured row. Replays are
checked against the stored observations: one that ends more than REPLAY_TOLERANCE away from it (the
buffer's float32 rounding of the first observation, amplified by the dynamics) falls back to restoring the
clipped observation. The column `replayed_states` gives the fraction of the measured states replayed, and
`approximate_states` the fraction left approximate. Tasks whose observation is more than the state (Ant's
contact forces) cannot be restored and are refused.

One rollout per state suffices (the policy and the dynamics are deterministic; the paper averages 1000
episodes from sampled states). A rollout runs until the episode terminates or for `rollout_steps` steps, with
the environment's own time limit lifted to `rollout_steps`: the critic bootstraps through time-limit
truncations, so it estimates the untruncated return, and with γ = 0.99 the tail left after 1000 steps is
below γ^1000 ≈ 4e-5 of V.

Reading the curves: a fresh critic starts near 0 while the true values do not, and the gap closes only as the
Bellman targets propagate the rewards. That early gap is not the maximisation bias; the bias is what remains
once the critic has caught up, hence the claim is read on `late` (the mean over the second half of the
measurements), per seed, with a 95% bootstrap CI across seeds.

The fast default is Pendulum-v1 for 10k steps, one seed, (64, 64) networks and the Pendulum preset (1000
warm-up steps, Adam 1e-3). `--full` is the setting that tests the claim: Hopper-v5 and Walker2d-v5, 200k
steps, 5 seeds, single critic (ddpg) against clipped double Q, (256, 256) networks, measured every 10k steps
on 100 buffer states. Runs go to OUT/runs/ENV/ALGORITHM/seed-K with a checkpoint at every measurement:
running the same command again after an interruption continues where each run stopped, with the numbers of
an uninterrupted run (every chunk continues from its checkpoint, interrupted or not).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from dataclasses import dataclass
from typing import Callable

import gymnasium as gym
import numpy as np
import torch

from actorcritic import TD3, TD3Config
from actorcritic.analysis.plots import steps_axis
from actorcritic.analysis.statistics import aggregate_scores, curve_estimate
from actorcritic.config import check_choice, check_positive_int, check_range
from actorcritic.core.estimators import discounted_returns
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
from actorcritic.storage.files import write_json_atomic

CLAIM = (
    "DDPG's critic overestimates the true value of its policy; clipped double Q does not "
    "(Fujimoto et al. 2018, Figure 1)"
)

# TD3's three changes per agent: clipped double Q, target policy smoothing, policy delay
ALGORITHMS: dict[str, dict] = {
    "ddpg": dict(clipped_double_q=False, target_policy_smoothing=False, policy_delay=1),
    "ddpg+clipped-double-q": dict(clipped_double_q=True, target_policy_smoothing=False, policy_delay=1),
    "td3": dict(clipped_double_q=True, target_policy_smoothing=True, policy_delay=2),
}
STATE_DRAWS = 3
"""The stream of the measurement's buffer draws: numpy SeedSequence([seed, STATE_DRAWS, step]), apart from
`envs.reset_seeds`' kinds 0-2."""


@dataclass(frozen=True)
class Config:
    """Options of td3-overestimation."""

    out: str = "results/td3-overestimation"
    """Directory for results.csv, figure.png, summary.json and the runs (runs/ENV/ALGORITHM/seed-K)."""
    env: tuple[str, ...] = ("Pendulum-v1",)
    """Gymnasium environment ids (continuous actions, state restorable: Pendulum-v1, Hopper-v5, Walker2d-v5, ...)."""
    algorithms: tuple[str, ...] = tuple(ALGORITHMS)
    """Agents to compare (ddpg, ddpg+clipped-double-q, td3)."""
    total_steps: int = 10_000
    """Environment steps each agent trains for."""
    measure_every: int = 1000
    """Measure the estimate and the true value every this many environment steps."""
    states: int = 10
    """Replay-buffer states the estimate and the true value are averaged over at each measurement."""
    seeds: int = 1
    """Training seeds per algorithm and environment: seed, seed + 1, ..."""
    seed: int = 0
    """First training seed."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the actor and the critics (the paper: 256 256)."""
    learning_starts: int | None = None
    """Steps of random actions before the first update (None: TD3's preset for --env; Pendulum-v1: 1000)."""
    rollout_steps: int = 1000
    """Longest Monte-Carlo rollout; it replaces the environment's time limit (see the module docstring)."""
    jobs: int | None = None
    """Runs at a time, each in its own process with one torch thread (default: the cores)."""

    def __post_init__(self) -> None:
        if not self.env:
            raise ActorCriticError("--env is empty: give one or more environment ids")
        for env in self.env:
            check_env_id(env)
            check_restorable(env)
        if not self.algorithms:
            raise ActorCriticError("--algorithms is empty: give one or more of " + ", ".join(ALGORITHMS))
        for algorithm in self.algorithms:
            check_choice("algorithms", algorithm, tuple(ALGORITHMS))
        for name in ("total_steps", "measure_every", "states", "seeds", "rollout_steps"):
            check_positive_int(name, getattr(self, name))
        if self.learning_starts is not None:
            check_range("learning_starts", self.learning_starts, 0)
        TD3Config(hidden_sizes=self.hidden_sizes)  # validates the widths with TD3's own message


FULL = dict(
    out="results/td3-overestimation-full",
    env=("Hopper-v5", "Walker2d-v5"),
    algorithms=("ddpg", "ddpg+clipped-double-q"),
    total_steps=200_000,
    measure_every=10_000,
    states=100,
    seeds=5,
    hidden_sizes=(256, 256),
)
"""--full: the setting that tests the claim (the issue's size; the paper trains 1M steps)."""


def agent_config(config: Config, env: str, algorithm: str, seed: int) -> TD3Config:
    """The TD3 config of `algorithm` (a key of ALGORITHMS) on `env`: the preset of the env, then ours."""
    return td3_run_config(config, env, seed, ALGORITHMS[algorithm], checkpoint_every=0)


# ---------------------------------------------------------------- states and their true values

VELOCITY_CLIP = 10.0
"""Hopper and Walker2d clip the velocities in their observations to ±10."""


def restore_state(env: gym.Env, observation: np.ndarray) -> bool:
    """Put a reset environment into the state that `observation` shows (see the module docstring), or
    raise ValueError where the observation is not the state. False where the state is approximate: a
    velocity sits exactly at the observation's clip, so the true one may have been larger."""
    inner = env.unwrapped
    observation = np.asarray(observation, dtype=np.float64)
    if hasattr(inner, "set_state") and hasattr(inner, "model"):  # MuJoCo: observation = qpos[k:] ++ qvel
        nq, nv = inner.model.nq, inner.model.nv
        left_out = nq + nv - observation.size
        if not 0 <= left_out <= 2:
            raise ValueError(f"{observation.size} observation values for {nq} positions and {nv} velocities")
        velocities = observation[nq - left_out :]
        inner.set_state(np.concatenate([np.zeros(left_out), observation[: nq - left_out]]), velocities)
        exact = not np.any(np.abs(velocities) == VELOCITY_CLIP)
    elif type(inner).__name__ == "PendulumEnv":  # observation = (cos θ, sin θ, θ')
        inner.state = np.array([math.atan2(observation[1], observation[0]), observation[2]])
        exact = True  # the dynamics clip the velocity itself, so the observation's is the state's
    else:
        raise ValueError(f"{type(inner).__name__} has no known state behind its observation")
    shown = np.asarray(inner._get_obs(), dtype=np.float64)
    if shown.shape != observation.shape or not np.allclose(shown, observation, rtol=1e-4, atol=1e-4):
        raise ValueError("the restored state does not show the observation it was restored from")
    return exact


@functools.cache
def check_restorable(env_id: str) -> None:
    """Refuse, in one line, an environment whose states `restore_state` cannot restore."""
    env = gym.make(env_id)
    try:
        observation, _ = env.reset(seed=0)
        restore_state(env, observation)
    except (ValueError, AttributeError) as error:
        raise ActorCriticError(
            f"td3-overestimation rolls out from replay-buffer states, and cannot restore those of {env_id} ({error}): "
            "use Pendulum-v1 or a MuJoCo task whose observation is its state (Hopper-v5, Walker2d-v5, HalfCheetah-v5)"
        ) from None
    finally:
        env.close()


REPLAY_TOLERANCE = 1e-3
"""Largest |replayed - stored| observation value for a replayed state to count as the stored one."""


def episode_starts(observations: np.ndarray, next_observations: np.ndarray, ended: np.ndarray) -> np.ndarray:
    """For every stored transition (in the order they were stored), the row of its episode's first one: row
    0, a row after one whose episode ended, and a row whose observation is not its predecessor's successor
    (the run started new episodes there, as a resumed run does). [N] int."""
    first = np.ones(len(observations), dtype=bool)
    first[1:] = ended[:-1] | np.any(observations[1:] != next_observations[:-1], axis=1)
    return np.maximum.accumulate(np.where(first, np.arange(len(observations)), 0))


def replay_state(env: gym.Env, observations: np.ndarray, actions: np.ndarray, start: int, row: int) -> bool:
    """Put `env` into the state of stored row `row` by restoring row `start` (its episode's first) and
    stepping the stored actions start, ..., row - 1 through the simulator. True where the replay shows row's
    stored observation to REPLAY_TOLERANCE; otherwise the state is left wherever the replay went."""
    if not restore_state(env, observations[start]):
        return False
    simulator = env.unwrapped  # below the time limit: these steps are the past, not the rollout
    for action in actions[start:row]:
        simulator.step(action)
    return bool(np.max(np.abs(simulator._get_obs() - observations[row])) <= REPLAY_TOLERANCE)


def buffer_restorer(agent: TD3, rows: np.ndarray) -> tuple[Callable[[gym.Env, int], bool], np.ndarray]:
    """restore(env, k): put `env` into the state of the agent's stored transition rows[k], from its
    observation where that is the state, else by replaying its episode (module docstring); True where the
    state is exact. Returned with `replayed`, a [len(rows)] bool array that restore marks as it replays."""
    buffer = agent.buffer
    observations, actions = buffer.stored("obs"), buffer.stored("action")
    # a replay needs the rows in the order they came
    chronological = buffer.size < buffer.capacity or buffer.position == 0
    ended = (buffer.stored("terminated") + buffer.stored("truncated")) > 0
    first = episode_starts(observations, buffer.stored("next_obs"), ended) if chronological else None
    replayed = np.zeros(len(rows), dtype=bool)

    def restore(env: gym.Env, k: int) -> bool:
        row = rows[k]
        exact = restore_state(env, observations[row])
        if exact or first is None:
            return exact
        replayed[k] = True
        if replay_state(env, observations, actions, first[row], row):
            return True
        return restore_state(env, observations[row])  # the replay went astray: the clipped observation, approximate

    return restore, replayed


def discounted_return(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """G_0 = Σ_t γ^t r_t   (lecture Eq. 2): the reward-to-go of Eq. 24 at t = 0, nothing bootstrapped.

    rewards [T] or [T, K] (K episodes, zero after each one's end). Returns a float or [K]."""
    rewards_t = torch.as_tensor(np.asarray(rewards, dtype=np.float64))
    zeros = torch.zeros_like(rewards_t)
    return discounted_returns(rewards_t, zeros, zeros, zeros, gamma)[0].numpy()


def monte_carlo_values(
    act: Callable[[np.ndarray], np.ndarray],
    make_env: Callable[[], gym.Env],
    starts: np.ndarray,
    gamma: float,
    restore: Callable[[gym.Env, int], bool] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """True values of start observations [K, obs_dim] under the deterministic policy `act` ([K, obs_dim]
    -> [K, action_dim]): environment k is made by `make_env`, reset, put into state k by `restore(env, k)`
    (default: `restore_state` from starts[k]), and all K are rolled out in lockstep until each terminates or
    truncates. Returns the discounted returns [K] and whether each start state was restored exactly [K]."""
    restore = restore or (lambda env, k: restore_state(env, starts[k]))
    envs = [make_env() for _ in starts]
    try:
        exact = np.zeros(len(envs), dtype=bool)
        for k, env in enumerate(envs):
            env.reset(seed=k)
            exact[k] = restore(env, k)
        observations, alive, rewards = np.array(starts, dtype=np.float32), np.ones(len(envs), dtype=bool), []
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
    return discounted_return(np.stack(rewards), gamma), exact


def q_estimates(agent: TD3, observations: np.ndarray) -> np.ndarray:
    """Q1(s, π(s)) of the agent's first critic at its deterministic action: [K, obs_dim] -> [K]."""
    learner = agent.learner
    with torch.inference_mode():
        obs = torch.as_tensor(observations, dtype=torch.float32, device=agent.device)
        q = learner.critics.q_member(obs, learner.actor(obs), 0)
    return q.cpu().numpy()


def buffer_rows(agent: TD3, count: int, step: int) -> np.ndarray:
    """`count` rows of the agent's replay buffer drawn uniformly without replacement (all of them if it
    holds fewer), from the stream SeedSequence([seed, STATE_DRAWS, step]). [count] int."""
    draws = np.random.default_rng(np.random.SeedSequence([agent.config.seed, STATE_DRAWS, step]))
    return draws.choice(agent.buffer.size, size=min(count, agent.buffer.size), replace=False)


def measurement_steps(config: Config) -> list[int]:
    """measure_every, 2·measure_every, ..., and total_steps."""
    steps = list(range(config.measure_every, config.total_steps + 1, config.measure_every))
    return steps if steps and steps[-1] == config.total_steps else steps + [config.total_steps]


def measured_run(config: Config, env: str, algorithm: str, seed: int, threads: int = 1) -> list[dict]:
    """Train one agent in chunks of `measure_every` steps, measuring after each: one row per measurement.
    A checkpoint after each chunk and the rows so far live in the run's directory, so a rerun resumes, and
    every chunk starts from the checkpoint (a checkpoint restarts the episodes in progress)."""
    agent_settings = agent_config(config, env, algorithm, seed)
    identity = run_identity(
        agent_settings, states=config.states, rollout_steps=config.rollout_steps, measure_every=config.measure_every
    )
    directory = unit_directory(config.out, identity, env, algorithm, f"seed-{seed}")
    checkpoint, record = directory / "checkpoint", directory / "rows.json"
    if checkpoint.exists():
        agent = TD3.load(checkpoint, num_threads=threads)
        rows = (
            [row for row in json.loads(record.read_text()) if row["step"] <= agent.global_step]
            if record.exists()
            else []
        )
    else:
        agent, rows = TD3(dataclasses.replace(agent_settings, num_threads=threads)), []
    make_env = functools.partial(gym.make, env, max_episode_steps=config.rollout_steps)
    for step in measurement_steps(config):
        if any(row["step"] == step for row in rows):
            continue
        if step > agent.global_step:
            agent.learn(step - agent.global_step)
            agent.save(checkpoint)
            # go on from the checkpoint, as a resumed run must (its episodes restart there): an interrupted
            # run then gives the very numbers of one that was never interrupted
            agent = TD3.load(checkpoint, num_threads=threads)
        measured = buffer_rows(agent, config.states, step)
        starts = agent.buffer.stored("obs")[measured]
        restore, replayed = buffer_restorer(agent, measured)
        q_estimate = float(q_estimates(agent, starts).mean())
        true_values, exact = monte_carlo_values(agent.act, make_env, starts, agent.config.gamma, restore)
        true_value = float(true_values.mean())
        rows.append(
            {
                "env": env,
                "algorithm": algorithm,
                "seed": seed,
                "step": step,
                "q_estimate": q_estimate,
                "true_value": true_value,
                "overestimation": q_estimate - true_value,
                "replayed_states": float(replayed.mean()),
                "approximate_states": float(1 - exact.mean()),
            }
        )
        write_json_atomic(record, rows)
    return rows


# ---------------------------------------------------------------- the experiment


def run(config: Config) -> ExperimentResult:
    seeds = list(range(config.seed, config.seed + config.seeds))
    units = [(config, env, algorithm, seed) for env in config.env for algorithm in config.algorithms for seed in seeds]
    rows = [row for unit_rows in run_units(measured_run, units, config.jobs) for row in unit_rows]
    steps = measurement_steps(config)
    late = slice(len(steps) // 2, None)

    def matrix(env: str, algorithm: str, column: str) -> np.ndarray:
        """[seeds, len(steps)]: the column per seed and measurement."""
        return np.array(
            [
                [r[column] for r in rows if (r["env"], r["algorithm"], r["seed"]) == (env, algorithm, seed)]
                for seed in seeds
            ]
        )

    curves, results = {}, {}
    for env in config.env:
        curves[env], results[env] = {}, {}
        for algorithm in config.algorithms:
            curves[env][algorithm] = {
                c: curve_estimate(matrix(env, algorithm, c)) for c in ("q_estimate", "true_value", "overestimation")
            }
            bias = matrix(env, algorithm, "overestimation")
            late_bias = aggregate_scores(bias[:, late].mean(1))
            results[env][algorithm] = {
                "late_overestimation": late_bias["mean"],
                "late_overestimation_ci": late_bias["mean_ci"],
                "late_overestimation_per_seed": [float(v) for v in bias[:, late].mean(1)],
                "final_q_estimate": float(matrix(env, algorithm, "q_estimate")[:, -1].mean()),
                "final_true_value": float(matrix(env, algorithm, "true_value")[:, -1].mean()),
                "final_overestimation": float(bias[:, -1].mean()),
            }
    summary = {
        "results": results,
        "claim": {env: read_claim(results[env]) for env in config.env},
        "note": "late: the mean over the second half of the measurements, per seed; "
        "CI: 95% bootstrap across seeds of the mean",
    }

    def draw(path_png):
        fig, axes = figure(len(config.env), 2, size=(5.5, 4.0))
        for (values_ax, bias_ax), env in zip(axes, config.env):
            for index, algorithm in enumerate(config.algorithms):
                colour, curve = f"C{index}", curves[env][algorithm]
                for column, style, what in (("q_estimate", "-", "Q1(s, π(s))"), ("true_value", "--", "true")):
                    mean, low, high = curve[column]
                    values_ax.plot(steps, mean, style, color=colour, label=f"{algorithm}: {what}")
                    values_ax.fill_between(steps, low, high, color=colour, alpha=0.15, linewidth=0)
                mean, low, high = curve["overestimation"]
                bias_ax.plot(steps, mean, "-", color=colour, label=algorithm)
                bias_ax.fill_between(steps, low, high, color=colour, alpha=0.2, linewidth=0)
            bias_ax.axhline(0.0, color="0.5", linewidth=0.8)
            bias_ax.set_yscale("symlog", linthresh=10.0)  # the early gap and the late bias both show
            for axis in (values_ax, bias_ax):
                steps_axis(axis)
            values_ax.set(ylabel="value", title=f"{env}: estimate (solid), true value (dashed)")
            bias_ax.set(ylabel="estimate - true value", title=f"{env}: overestimation (symmetric log)")
            values_ax.legend(fontsize=7)
            bias_ax.legend(fontsize=8)
        fig.suptitle(f"mean over {config.states} buffer states; mean and 95% CI over {len(seeds)} seed(s)", fontsize=10)
        fig.tight_layout()
        fig.savefig(path_png, dpi=110, format="png")

    return ExperimentResult(rows=rows, summary=summary, draw=draw, table_columns=list(rows[0]))


def read_claim(results: dict) -> dict:
    """The claim on one task, read off the late overestimation: the single critic's is above 0 (its CI too)
    and no clipped-double-Q agent's is (its CI reaches down to 0 or below)."""
    verdict = {}
    if "ddpg" in results:
        verdict["single_critic_overestimates"] = results["ddpg"]["late_overestimation_ci"][0] > 0
    double_q = [a for a in results if ALGORITHMS[a]["clipped_double_q"]]
    if double_q:
        verdict["clipped_double_q_not_above"] = all(results[a]["late_overestimation_ci"][0] <= 0 for a in double_q)
    verdict["holds"] = bool(verdict) and all(verdict.values())
    return verdict
