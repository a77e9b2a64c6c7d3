"""The true value of td3-overestimation's measured states, restored two ways, at a run's last checkpoint:
from the stored observation alone (approximate where it shows a clipped velocity) and as the experiment
measures it (such states replayed from their episode's first observation). docs/experiments.md quotes it.

    python scripts/overestimation_restorations.py OUT/runs/Walker2d-v5/ddpg/seed-0 [...]
"""

import functools
import sys

import gymnasium as gym
import torch

from actorcritic import TD3
from actorcritic.experiments import td3_overestimation as overestimation


def compare(run: str, states: int = 100, rollout_steps: int = 1000) -> str:
    agent = TD3.load(f"{run}/checkpoint", num_threads=1)
    rows = overestimation.buffer_rows(agent, states, agent.global_step)
    starts = agent.buffer.stored("obs")[rows]
    make_env = functools.partial(gym.make, agent.config.env, max_episode_steps=rollout_steps)
    gamma = agent.config.gamma
    restore, replayed = overestimation.buffer_restorer(agent, rows)
    measured, exact = overestimation.monte_carlo_values(agent.act, make_env, starts, gamma, restore)
    observed, exact_observed = overestimation.monte_carlo_values(agent.act, make_env, starts, gamma)
    q = overestimation.q_estimates(agent, starts)
    return (
        f"{run}: step {agent.global_step}, estimate {q.mean():.1f}; true value {measured.mean():.1f} as measured "
        f"({replayed.mean():.0%} replayed, {1 - exact.mean():.0%} approximate), {observed.mean():.1f} from the "
        f"observations alone ({1 - exact_observed.mean():.0%} approximate)"
    )


if __name__ == "__main__":
    torch.set_num_threads(1)
    for run in sys.argv[1:]:
        print(compare(run))
