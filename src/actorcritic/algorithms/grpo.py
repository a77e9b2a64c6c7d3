"""GRPO for control environments (lecture section 5.2, Eqs. 35-36, without a language model).

PPO learns a per-state baseline V_φ(s); GRPO has no value network. For each start state it rolls out a group
of G episodes from the same seeded reset, scores each episode by its return R_i, and gives every step of
episode i the group-relative advantage

    Â_i = (R_i - mean(R_1..R_G)) / std(R_1..R_G)                                     (Eq. 35)

The update is the clipped surrogate averaged per episode, 1/G Σ_i 1/|o_i| Σ_t min(r_t Â_i, clip(r_t) Â_i),
optionally minus β·KL(π_θ || π_ref) to a frozen copy of the initial policy (k3 estimator)   (Eq. 36).

Which environments qualify: those whose `reset(seed=s)` puts every copy in the same state, so that the G
episodes of a group really share their start state (classic control, Box2D and MuJoCo environments do).
Others are refused when the first group is drawn. Only the steps of the G episodes count as environment
steps; the vector environment keeps stepping finished copies until the group's longest episode ends, and
those extra steps are discarded.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from actorcritic.algorithms.engine import MetricMeans
from actorcritic.algorithms.onpolicy import (
    MAX_ENVS,
    OnPolicyAgent,
    OnPolicyConfig,
    OnPolicyLearner,
    check_action_masks_exist,
    policy_input,
)
from actorcritic.config import check_positive_int, check_range, check_scheduled
from actorcritic.core.estimators import group_relative_advantages
from actorcritic.core.losses import clipped_surrogate, kl_k3
from actorcritic.core.optim import gradient_step
from actorcritic.envs.episodes import check_finite_step
from actorcritic.envs.seeding import GROUP_RESETS, reset_seeds
from actorcritic.errors import ActorCriticError


@dataclass(frozen=True)
class GRPOConfig(OnPolicyConfig):
    """GRPO on control environments: no value function, so no advantage-estimator fields; the G episodes of
    a group run on G parallel environments."""

    group_size: int = 8
    """G: episodes per start state."""
    groups_per_update: int = 4
    """Start states (groups) per update."""
    epochs: int = 4
    """Gradient steps on each batch of groups (the ratio is clipped from the second on)."""
    learning_rate: float | str = 1e-3
    """Adam step size."""
    anneal_lr: bool = False
    """Decay the learning rate linearly to zero over total_steps."""
    clip_eps: float | str = 0.2
    """ε of the clipped surrogate."""
    scale_rewards: bool = True
    """Divide by the group's return std in Eq. 35 (off: only subtract the group mean, as Dr. GRPO does)."""
    beta: float = 0.0
    """Weight of the KL penalty to the initial policy (0: no reference policy is kept)."""
    entropy_coef: float | str = 0.0
    """Weight of an entropy bonus."""
    normalize_observations: bool = False
    """Running mean/std observation normalisation."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("group_size", self.group_size, 2, MAX_ENVS)
        for name in ("groups_per_update", "epochs"):
            check_positive_int(name, getattr(self, name))
        check_scheduled("clip_eps", self.clip_eps, 0, low_inclusive=False)
        check_range("beta", self.beta, 0)
        check_scheduled("entropy_coef", self.entropy_coef, 0)

    @property
    def num_envs(self) -> int:
        """One environment per member of a group."""
        return self.group_size


@dataclass
class GroupBatch:
    """The steps of all episodes of an update, flattened [S, ...], with each step's episode weight."""

    observations: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    advantages: torch.Tensor
    weights: torch.Tensor  # 1 / (|o_i| · number of episodes): Eq. 36's per-episode averaging
    returns: torch.Tensor  # [groups, G]


class GRPOLearner(OnPolicyLearner):
    """GRPO's update: the clipped surrogate averaged per episode, minus β·KL to the initial policy (Eq. 36)."""

    uses_value_function = False

    def __init__(
        self, config: GRPOConfig, observation_space: gym.spaces.Box, action_space: gym.Space, device: torch.device
    ):
        super().__init__(config, observation_space, action_space, device)
        self.reference = copy.deepcopy(self.model).requires_grad_(False) if config.beta > 0 else None

    def modules(self) -> dict[str, torch.nn.Module]:
        return {**super().modules(), **({"reference": self.reference} if self.reference is not None else {})}

    def update(self, batch: GroupBatch, update_index: int, generator: torch.Generator) -> dict[str, float]:
        cfg = self.config
        reference_log_probs = None
        if self.reference is not None:
            with torch.no_grad():
                reference_log_probs = self.reference.evaluate_actions(batch.observations, batch.actions)[0]
        diagnostics = MetricMeans()
        for _ in range(cfg.epochs):
            log_probs, entropy, _ = self.model.evaluate_actions(batch.observations, batch.actions)
            loss, info = clipped_surrogate(
                log_probs, batch.log_probs, batch.advantages, cfg.clip_eps, weights=batch.weights
            )
            kl = torch.zeros((), device=self.device)
            if reference_log_probs is not None:
                kl = (batch.weights * kl_k3(log_probs, reference_log_probs)).sum()
                loss = loss + cfg.beta * kl
            entropy = entropy.mean()
            loss = loss - cfg.entropy_coef * entropy
            gradient_step(loss, self.optimizer, self.flat_parameters, cfg.max_grad_norm)
            diagnostics.add(
                {"policy_loss": loss.detach(), "kl_to_reference": kl.detach(), "entropy": entropy.detach(), **info}
            )
        zero_std = float((batch.returns.std(-1, correction=0) < 1e-8).float().mean())
        return {**diagnostics.means(), "group_return_mean": float(batch.returns.mean()), "zero_std_groups": zero_std}


class GroupCollector:
    """G episodes from one seeded start state per group, `groups_per_update` groups per batch: GRPO's
    collector. No rollout buffer, no reward scaling (returns are normalised within each group), and no
    environment state between batches: no episode is ever in flight at a checkpoint."""

    episode_values = ("returns",)

    def __init__(self, agent: OnPolicyAgent):
        self.agent = agent
        if agent.reads_action_masks:
            check_action_masks_exist(agent)

    def start(self) -> None:
        if self.agent.global_step > 0:  # each group resets its own environments: a resumed run continues exactly
            self.agent.resumed_episodes = "continued"

    def episodes_in_flight(self) -> dict[str, np.ndarray]:
        return {}

    def continue_episodes(self, record: list[dict], saved: dict[str, np.ndarray]) -> None:
        pass

    def running_statistics(self) -> dict:
        return {}

    def _collect_group(self):
        """G episodes from one seeded start state: lists of (obs, actions, log_probs) per episode and returns."""
        agent = self.agent
        cfg, acting, group = agent.config, agent._acting(), agent.config.group_size
        (seed,) = reset_seeds(
            cfg.seed, GROUP_RESETS, 1, agent.global_step
        )  # a new start state per group, reproducible on resume
        raw, _ = agent.envs.reset(seed=[seed] * group)
        if not np.allclose(raw, raw[0]):
            raise ActorCriticError(
                f"grpo needs environments whose reset(seed) is reproducible, and {cfg.env}'s is not: its G copies "
                "started in different states"
            )
        obs = policy_input(agent, agent.obs_normalizer(raw, update=True))
        alive = np.ones(group, dtype=bool)
        steps = [[] for _ in range(group)]
        returns = np.zeros(group)
        while alive.any():
            actions, log_probs, _ = acting.sample(obs, acting.draw_noise((group,), agent.generator))
            raw, rewards, terminated, truncated, _ = agent.envs.step(agent.actions.to_environment(actions))
            check_finite_step(cfg.env, agent.global_step + int(alive.sum()), raw, rewards)
            for i in np.flatnonzero(alive):
                steps[i].append((obs[i], actions[i], log_probs[i]))
                returns[i] += rewards[i]
            agent.global_step += int(alive.sum())
            alive &= ~(terminated | truncated)
            obs = policy_input(agent, agent.obs_normalizer(raw, update=False))
        agent.episodes.returns.extend(returns.tolist())
        agent.episodes.lengths.extend(len(episode) for episode in steps)
        return steps, returns

    def collect(self) -> GroupBatch:
        agent = self.agent
        cfg = agent.config
        episodes, group_returns = [], []
        for _ in range(cfg.groups_per_update):
            steps, returns = self._collect_group()
            episodes.extend(steps)
            group_returns.append(returns)
        returns = torch.tensor(np.stack(group_returns), dtype=torch.float32)
        advantages = group_relative_advantages(returns, scale=cfg.scale_rewards).reshape(-1)  # Eq. 35
        lengths = torch.tensor([len(e) for e in episodes])
        rows = [step for episode in episodes for step in episode]
        obs = torch.from_numpy(np.stack([r[0] for r in rows]))
        actions = torch.from_numpy(np.stack([r[1] for r in rows]))
        log_probs = torch.from_numpy(np.stack([r[2] for r in rows]))
        return GroupBatch(
            observations=obs.to(agent.device),
            actions=actions.to(agent.device),
            log_probs=log_probs.to(agent.device),
            advantages=advantages.repeat_interleave(lengths).to(agent.device),
            weights=(1.0 / (lengths * len(episodes))).float().repeat_interleave(lengths).to(agent.device),
            returns=returns,
        )


def _without_rollout_fields(state: dict) -> dict:
    """Format 1 -> 2: GRPO's config without the rollout fields it never read."""
    retired = ("num_envs", "num_steps", "advantage", "gae_lambda", "k", "normalize_rewards")
    state["config"] = {name: value for name, value in state["config"].items() if name not in retired}
    return state


class GRPO(OnPolicyAgent):
    """Group relative policy optimisation on environments with seed-reproducible resets."""

    algo = "grpo"
    config_class = GRPOConfig
    learner_class = GRPOLearner
    collector_class = GroupCollector
    state_migrations = {1: _without_rollout_fields}
