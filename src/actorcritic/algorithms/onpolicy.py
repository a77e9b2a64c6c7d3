"""The on-policy engine of the policy-gradient family (lecture sections 2-5): PPO, REINFORCE, TRPO and GRPO
share the environments, the actor-critic model, the rollout collection, the loop and the checkpoints;
each algorithm supplies its config and its `_update`.

    while not converged:
        collect T steps from N actors                      -> `_collect_rollout`
        estimate advantages (GAE, k-step or Monte Carlo)   -> `estimate_advantages`
        improve the policy (and the value function)        -> the algorithm's `_update`
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import gymnasium as gym
import numpy as np
import torch

from actorcritic.algorithms.common import (
    EMPTY_METRIC,
    LearningRun,
    agent_state,
    build_quietly,
    check_device,
    reading_tensors,
    rebuild_agent,
    resolve_device,
)
from actorcritic.buffers import Rollout, RolloutBuffer
from actorcritic.checkpoint import (
    load_module_tensors,
    load_optimizer_state,
    module_tensors,
    numpy_arrays_to_tensors,
    optimizer_state,
    save_checkpoint,
    tensors_to_numpy,
)
from actorcritic.config import check_choice, check_positive_int, check_range
from actorcritic.envs import EpisodeStatistics, evaluate_policy, final_observations, make_vector_env
from actorcritic.errors import ActorCriticError
from actorcritic.estimators import gae, k_step_advantages, normalize
from actorcritic.networks import ActorCritic
from actorcritic.normalization import ObservationNormalizer, RewardScaler
from actorcritic.optim import FlatParameters


@dataclass(frozen=True)
class OnPolicyConfig:
    """Fields shared by the on-policy algorithms."""

    env: str = "CartPole-v1"
    """Gymnasium environment id."""
    seed: int = 0
    """Seed of the network initialisation, the action sampling, the minibatch order and the environments."""
    total_steps: int = 1_000_000
    """Environment steps to train for, summed over all parallel actors."""
    num_envs: int = 1
    """N: parallel actors (Gymnasium vector environment)."""
    num_steps: int = 2048
    """T: steps each actor collects per rollout; one update per rollout of N·T transitions."""
    learning_rate: float = 3e-4
    """Adam step size (of the policy and the value network; TRPO: of the value network only)."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to zero over total_steps."""
    gamma: float = 0.99
    """Discount factor γ."""
    advantage: Literal["gae", "kstep", "mc"] = "gae"
    """Advantage estimator: GAE(γ, λ) (Eq. 32), k-step (Eqs. 25-27) or Monte Carlo minus V (Eq. 28)."""
    gae_lambda: float = 0.95
    """GAE's λ (Eq. 32): 0 is the TD residual, 1 is Monte Carlo minus V."""
    k: int = 5
    """Steps of real reward before bootstrapping, for --advantage kstep."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clipping threshold."""
    normalize_observations: bool = True
    """Running mean/std observation normalisation; statistics are saved and frozen at evaluation."""
    normalize_rewards: bool = True
    """Scale rewards by the running std of the discounted return; statistics are saved with the model."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the policy and of the value network (tanh activations)."""
    log_std_init: float = 0.0
    """Initial log standard deviation of the Gaussian policy (continuous actions)."""
    eval_episodes: int = 10
    """Episodes of the deterministic policy in the final evaluation."""
    checkpoint_every: int = 10
    """Save a checkpoint every this many updates (0: only at the end)."""
    device: str = "cpu"
    """Torch device: cpu (fastest for small MLPs) or cuda / cuda:N."""
    num_threads: int = 1
    """Torch intra-op threads; one is fastest for small networks."""

    def __post_init__(self) -> None:
        for name in ("total_steps", "num_envs", "num_steps", "eval_episodes", "num_threads", "k"):
            check_positive_int(name, getattr(self, name))
        check_range("learning_rate", self.learning_rate, 0, math.inf, low_inclusive=False)
        check_range("gamma", self.gamma, 0, 1)
        check_range("gae_lambda", self.gae_lambda, 0, 1)
        check_choice("advantage", self.advantage, ("gae", "kstep", "mc"))
        check_range("max_grad_norm", self.max_grad_norm, 0, math.inf, low_inclusive=False)
        check_range("checkpoint_every", self.checkpoint_every, 0)
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise ActorCriticError(f"--hidden-sizes {list(self.hidden_sizes)} is invalid: give one or more positive layer widths")
        check_device(self.device)


def estimate_advantages(batch: Rollout, config: OnPolicyConfig) -> torch.Tensor:
    """The advantage estimator the config names, on a rollout [T, N] (lecture section 4)."""
    args = (batch.rewards, batch.values, batch.next_values, batch.terminated, batch.truncated, config.gamma)
    if config.advantage == "gae":
        return gae(*args, config.gae_lambda)
    return k_step_advantages(*args, config.k if config.advantage == "kstep" else None)


def advantages_and_returns(batch: Rollout, config: OnPolicyConfig, normalize_advantages: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Â (normalised over the rollout if asked, lecture section 5) and the value targets Â + V(s) (Eq. 20)."""
    advantages = estimate_advantages(batch, config)
    returns = advantages + batch.values
    return (normalize(advantages) if normalize_advantages else advantages), returns


class OnPolicyAgent:
    """The engine. Algorithms subclass it with `algo`, `config_class` and `_update(rollout) -> metrics`."""

    algo: str
    config_class: type
    uses_value_function = True

    def __init__(self, config: OnPolicyConfig):
        self.config = config
        self.device = resolve_device(config.device)
        torch.set_num_threads(config.num_threads)
        self.envs = make_vector_env(config.env, config.num_envs, config.seed)
        self.observation_space = self.envs.single_observation_space
        self.action_space = self.envs.single_action_space
        self._check_spaces()
        obs_shape = self.observation_space.shape
        obs_dim = int(np.prod(obs_shape))
        self.discrete = isinstance(self.action_space, gym.spaces.Discrete)

        def build():
            if self.discrete:
                return ActorCritic(obs_dim, config.hidden_sizes, num_actions=int(self.action_space.n), value=self.uses_value_function)
            action_dim = int(np.prod(self.action_space.shape))
            return ActorCritic(obs_dim, config.hidden_sizes, action_dim=action_dim, log_std_init=config.log_std_init, value=self.uses_value_function)

        self.model = build_quietly(build, config.seed).to(self.device)
        self.flat = FlatParameters(self.model)
        self.optimizer = torch.optim.Adam([self.flat.parameter], lr=config.learning_rate, eps=1e-5, fused=True)
        # one CPU stream for every random draw (acting runs on the CPU; a CUDA model receives copies)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.obs_normalizer = ObservationNormalizer(obs_shape, config.normalize_observations)
        self.reward_scaler = RewardScaler(config.num_envs, config.gamma, config.normalize_rewards)
        action_shape = () if self.discrete else self.action_space.shape
        self.buffer = RolloutBuffer(config.num_steps, config.num_envs, obs_shape, action_shape, np.int64 if self.discrete else np.float32)
        self.episodes = EpisodeStatistics(config.num_envs)
        self.global_step = 0
        self.updates = 0
        self._obs: np.ndarray | None = None  # normalised current observations of the N actors
        self._acting_copy = None

    def _extra_modules(self) -> dict[str, torch.nn.Module]:
        """Modules besides the model that a checkpoint must hold (GRPO's reference policy)."""
        return {}

    def _check_spaces(self) -> None:
        if not isinstance(self.observation_space, gym.spaces.Box):
            raise ActorCriticError(f"{self.algo} needs a Box observation space; {self.config.env} has {self.observation_space}: wrap it to flatten the observations")
        if not isinstance(self.action_space, (gym.spaces.Discrete, gym.spaces.Box)):
            raise ActorCriticError(f"{self.algo} supports Discrete and Box action spaces; {self.config.env} has {self.action_space}")

    # ---------------------------------------------------------------- acting

    def _env_actions(self, actions: np.ndarray) -> np.ndarray:
        """The Gaussian policy is unbounded; the environment receives actions clipped to its bounds, the
        buffer keeps the sampled ones (their log-probabilities are the ones the ratio needs)."""
        if self.discrete:
            return actions
        return np.clip(actions, self.action_space.low, self.action_space.high)

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Actions for raw observations ([*obs_shape] or a batch [B, *obs_shape]), ready for `env.step`.
        Normalisation statistics are frozen here."""
        obs = np.asarray(obs, dtype=np.float64)
        single = obs.ndim == len(self.observation_space.shape)
        batch = self.obs_normalizer(obs[None] if single else obs, update=False)
        acting = self._acting()
        if deterministic:
            actions = acting.mode(batch)
        else:
            actions = acting.sample(batch, acting.draw_noise((batch.shape[0],), self.generator))[0]
        actions = self._env_actions(actions)
        return actions[0] if single else actions

    def _acting(self):
        """The NumPy copy of the model for acting (see `networks`); `_update` and `load` drop it when the
        parameters change."""
        if self._acting_copy is None:
            self._acting_copy = self.model.acting_copy()
        return self._acting_copy

    def evaluate(self, episodes: int | None = None, seed: int | None = None) -> list[float]:
        """Returns of fresh episodes of the deterministic policy (episode i reset with seed + i)."""
        episodes = episodes or self.config.eval_episodes
        seed = self.config.seed + 10_000 if seed is None else seed
        return evaluate_policy(lambda obs: self.act(obs, deterministic=True), self.config.env, episodes, seed)

    # ---------------------------------------------------------------- collect

    def _reset_envs(self) -> None:
        # A fresh run resets with `seed`; a resumed one with a seed derived from its step count, so that
        # the restarted episodes are reproducible yet not a replay of the first ones.
        raw, _ = self.envs.reset(seed=self.config.seed + self.global_step)
        self._obs = self.obs_normalizer(raw, update=True)
        self.episodes = EpisodeStatistics(self.config.num_envs)
        self.reward_scaler.returns[:] = 0.0

    def _collect_rollout(self) -> Rollout:
        """T steps of N actors into the buffer; `next_values[t]` = V(true successor of step t)."""
        buf, obs = self.buffer, self._obs
        acting = self._acting()
        noise = acting.draw_noise((self.config.num_steps, self.config.num_envs), self.generator)
        for t in range(self.config.num_steps):
            actions, log_probs, values = acting.sample(obs, noise[t])
            buf.observations[t] = obs
            buf.actions[t] = actions
            buf.log_probs[t] = log_probs
            buf.values[t] = values
            raw_obs, rewards, terminated, truncated, info = self.envs.step(self._env_actions(actions))
            dones = terminated | truncated
            self.episodes.step(rewards, dones)
            buf.rewards[t] = self.reward_scaler(rewards, dones)
            buf.terminated[t] = terminated
            buf.truncated[t] = truncated
            obs = self.obs_normalizer(raw_obs, update=True)
            if truncated.any():  # bootstrap from the final observation, not the reset one
                final_obs = final_observations(raw_obs, info)[truncated]
                buf.next_values[t, truncated] = acting.value(self.obs_normalizer(final_obs, update=False))
        self._obs = obs
        self.global_step += self.config.num_steps * self.config.num_envs
        # Inside an episode the successor's value is the next step's value; the last step's successor is
        # the current observation. Truncated steps keep the value of their final observation from above.
        successor_values = np.concatenate([buf.values[1:], acting.value(obs)[None]])
        buf.next_values[:] = np.where(buf.truncated, buf.next_values, successor_values)
        return buf.rollout(self.device)

    # ---------------------------------------------------------------- the loop

    def learn(self, total_steps: int | None = None, run: LearningRun | None = None):
        """Train until `total_steps` environment steps (default: config.total_steps) have been taken.

        A larger `total_steps` than the config's replaces it, so the learning-rate schedule stretches to
        the new total. `run` (a `LearningRun`) receives one metrics row per update and saves checkpoints."""
        if total_steps is not None and total_steps != self.config.total_steps:
            self.config = replace(self.config, total_steps=total_steps)
        cfg = self.config
        if self._obs is None:
            self._reset_envs()
        while self.global_step < cfg.total_steps:
            started, start_step = time.perf_counter(), self.global_step
            learning_rate = cfg.learning_rate * (1.0 - self.global_step / cfg.total_steps) if cfg.anneal_lr else cfg.learning_rate
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate
            rollout = self._collect_rollout()
            metrics = self._update(rollout)
            self.updates += 1
            returns, lengths = self.episodes.pop()
            elapsed = time.perf_counter() - started
            metrics = {
                "global_step": self.global_step,
                "update": self.updates,
                "episode_return_mean": float(np.mean(returns)) if returns else EMPTY_METRIC,
                "episode_length_mean": float(np.mean(lengths)) if lengths else EMPTY_METRIC,
                "episodes": len(returns),
                "steps_per_second": (self.global_step - start_step) / elapsed,
                "learning_rate": learning_rate,
                **metrics,
            }
            if run is not None:
                run.after_update(self, metrics)
        return self

    # ---------------------------------------------------------------- save and load

    def save(self, directory: str | Path) -> None:
        """Write a checkpoint (safetensors + JSON, atomically) that `load` and `resume` restore exactly."""
        optimizer_tensors, param_groups = optimizer_state("optimizer", self.optimizer)
        tensors = {
            **module_tensors("model", self.model),
            **{k: v for name, module in self._extra_modules().items() for k, v in module_tensors(name, module).items()},
            **optimizer_tensors,
            **numpy_arrays_to_tensors(self.obs_normalizer.stats.state("obs_normalizer")),
            **numpy_arrays_to_tensors(self.reward_scaler.stats.state("reward_scaler")),
            "generator": self.generator.get_state(),
        }
        save_checkpoint(Path(directory), tensors, agent_state(self, {}, param_groups))

    @classmethod
    def load(cls, directory: str | Path, **config_overrides):
        """Rebuild an agent from a checkpoint directory; refuse one of another algorithm or other spaces."""
        agent, tensors, state = rebuild_agent(cls, directory, config_overrides)
        with reading_tensors(directory):
            load_module_tensors("model", agent.model, tensors)
            for name, module in agent._extra_modules().items():
                load_module_tensors(name, module, tensors)
            load_optimizer_state("optimizer", agent.optimizer, tensors, state["optimizer_param_groups"])
            agent.obs_normalizer.stats.load_state("obs_normalizer", tensors_to_numpy(tensors, "obs_normalizer"))
            agent.reward_scaler.stats.load_state("reward_scaler", tensors_to_numpy(tensors, "reward_scaler"))
            agent.generator.set_state(tensors["generator"])
        return agent
