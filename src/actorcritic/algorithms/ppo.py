"""PPO (Schulman et al. 2017; lecture section 5, Algorithm 1).

    while not converged:
        collect T steps from N actors                                   -> `_collect_rollout`
        compute advantages for all N·T transitions with GAE (Eq. 32)   -> `_update`
        K epochs of minibatch steps on the clipped surrogate (Eq. 19)
        and on the value regression (Eq. 20), separate value network
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from actorcritic.algorithms.common import (
    EMPTY_METRIC,
    LearningRun,
    apply_preset,
    build_quietly,
    check_device,
    resolve_device,
)
from actorcritic.buffers import Rollout, RolloutBuffer
from actorcritic.checkpoint import (
    load_checkpoint,
    load_module_tensors,
    load_optimizer_state,
    module_tensors,
    numpy_arrays_to_tensors,
    optimizer_state,
    save_checkpoint,
    tensors_to_numpy,
)
from actorcritic.config import check_choice, check_positive_int, check_range, config_from_dict, config_to_dict
from actorcritic.envs import EpisodeStatistics, evaluate_policy, final_observations, make_vector_env, space_signature
from actorcritic.errors import ActorCriticError
from actorcritic.estimators import gae, normalize
from actorcritic.losses import clipped_surrogate, value_loss
from actorcritic.networks import ActorCritic
from actorcritic.normalization import ObservationNormalizer, RewardScaler
from actorcritic.optim import FlatParameters


@dataclass(frozen=True)
class PPOConfig:
    """PPO hyperparameters. Defaults are the MuJoCo set of Schulman et al. (2017) as used by SB3 and CleanRL;
    `PPOConfig.for_env` applies a tuned per-environment preset (see `PRESETS`)."""

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
    minibatch_size: int = 64
    """Transitions per gradient step."""
    epochs: int = 10
    """K: passes over each rollout."""
    learning_rate: float = 3e-4
    """Adam step size for the policy and the value network."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to zero over total_steps."""
    gamma: float = 0.99
    """Discount factor γ."""
    gae_lambda: float = 0.95
    """GAE's λ (Eq. 32): 0 is the TD residual, 1 is Monte Carlo minus V."""
    clip_eps: float = 0.2
    """ε of the clipped surrogate (Eq. 19)."""
    clip_value_loss: bool = False
    """Clip the value update around the old values with the same ε (PPO implementation detail 9)."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus."""
    vf_coef: float = 0.5
    """Weight of the value loss (Eq. 20) in the combined loss."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clipping threshold."""
    normalize_advantages: bool = True
    """Subtract the rollout's mean advantage and divide by its std (lecture section 5)."""
    normalize_observations: bool = True
    """Running mean/std observation normalisation; statistics are saved and frozen at evaluation."""
    normalize_rewards: bool = True
    """Scale rewards by the running std of the discounted return; statistics are saved with the model."""
    target_kl: float = 0.0
    """Stop an update's epochs early once the approximate KL exceeds this (0 turns it off)."""
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
        for name in ("total_steps", "num_envs", "num_steps", "minibatch_size", "epochs", "eval_episodes", "num_threads"):
            check_positive_int(name, getattr(self, name))
        check_range("learning_rate", self.learning_rate, 0, math.inf, low_inclusive=False)
        check_range("gamma", self.gamma, 0, 1)
        check_range("gae_lambda", self.gae_lambda, 0, 1)
        check_range("clip_eps", self.clip_eps, 0, math.inf, low_inclusive=False)
        check_range("ent_coef", self.ent_coef, 0)
        check_range("vf_coef", self.vf_coef, 0)
        check_range("max_grad_norm", self.max_grad_norm, 0, math.inf, low_inclusive=False)
        check_range("target_kl", self.target_kl, 0)
        check_range("checkpoint_every", self.checkpoint_every, 0)
        if self.minibatch_size > self.num_envs * self.num_steps:
            raise ActorCriticError(
                f"--minibatch-size {self.minibatch_size} is larger than a rollout (num_envs·num_steps = {self.num_envs * self.num_steps}): lower it or collect more steps"
            )
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise ActorCriticError(f"--hidden-sizes {list(self.hidden_sizes)} is invalid: give one or more positive layer widths")
        check_device(self.device)

    @classmethod
    def for_env(cls, env: str, **overrides) -> "PPOConfig":
        """The defaults, then the tuned preset for `env` if there is one, then `overrides`."""
        return apply_preset(cls, PRESETS, env, overrides)


PRESETS: dict[str, dict] = {
    # rl-baselines3-zoo's CartPole-v1 set (without its clip-range schedule); solves it well within 100k steps.
    "CartPole-v1": dict(
        total_steps=100_000, num_envs=8, num_steps=32, minibatch_size=256, epochs=20, learning_rate=1e-3,
        gamma=0.98, gae_lambda=0.8, ent_coef=0.0, normalize_observations=False, normalize_rewards=False,
    ),
}


class PPO:
    """Proximal policy optimisation with a separate value network, for Discrete and Box action spaces."""

    algo = "ppo"
    config_class = PPOConfig

    def __init__(self, config: PPOConfig):
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
                return ActorCritic(obs_dim, config.hidden_sizes, num_actions=int(self.action_space.n))
            action_dim = int(np.prod(self.action_space.shape))
            return ActorCritic(obs_dim, config.hidden_sizes, action_dim=action_dim, log_std_init=config.log_std_init)

        self.model = build_quietly(build, config.seed).to(self.device)
        self.flat = FlatParameters(self.model)
        self.optimizer = torch.optim.Adam([self.flat.parameter], lr=config.learning_rate, eps=1e-5, fused=True)
        self.generator = torch.Generator(device=self.device).manual_seed(config.seed)
        self.obs_normalizer = ObservationNormalizer(obs_shape, config.normalize_observations)
        self.reward_scaler = RewardScaler(config.num_envs, config.gamma, config.normalize_rewards)
        action_shape = () if self.discrete else self.action_space.shape
        self.buffer = RolloutBuffer(config.num_steps, config.num_envs, obs_shape, action_shape, np.int64 if self.discrete else np.float32)
        self.episodes = EpisodeStatistics(config.num_envs)
        self.global_step = 0
        self.updates = 0
        self._obs: np.ndarray | None = None  # normalised current observations of the N actors
        self._acting_copy = None

    def _check_spaces(self) -> None:
        if not isinstance(self.observation_space, gym.spaces.Box):
            raise ActorCriticError(f"ppo needs a Box observation space; {self.config.env} has {self.observation_space}: wrap it to flatten the observations")
        if not isinstance(self.action_space, (gym.spaces.Discrete, gym.spaces.Box)):
            raise ActorCriticError(f"ppo supports Discrete and Box action spaces; {self.config.env} has {self.action_space}")

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

    # ---------------------------------------------------------------- update

    def _update(self, batch: Rollout) -> dict[str, float]:
        cfg = self.config
        advantages = gae(batch.rewards, batch.values, batch.next_values, batch.terminated, batch.truncated, cfg.gamma, cfg.gae_lambda)
        returns = advantages + batch.values
        if cfg.normalize_advantages:
            advantages = normalize(advantages)
        size = cfg.num_steps * cfg.num_envs
        flat = (
            batch.observations.reshape(size, -1),
            batch.actions.reshape(size, *batch.actions.shape[2:]),
            batch.log_probs.reshape(size),
            advantages.reshape(size),
            returns.reshape(size),
            batch.values.reshape(size),
        )
        totals = torch.zeros(5, device=self.device)
        steps = 0
        for _ in range(cfg.epochs):
            order = torch.randperm(size, generator=self.generator, device=self.device)
            shuffled = [x[order] for x in flat]  # one gather per epoch; minibatches are then slices
            epoch_kl = torch.zeros((), device=self.device)
            for start in range(0, size, cfg.minibatch_size):
                obs, actions, old_log_probs, adv, ret, old_values = (x[start:start + cfg.minibatch_size] for x in shuffled)
                log_probs, entropy, values = self.model.evaluate_actions(obs, actions)
                policy_loss, info = clipped_surrogate(log_probs, old_log_probs, adv, cfg.clip_eps)
                v_loss, _ = value_loss(values, ret, old_values, cfg.clip_eps) if cfg.clip_value_loss else value_loss(values, ret)
                entropy = entropy.mean()
                loss = policy_loss + cfg.vf_coef * v_loss - cfg.ent_coef * entropy
                self.flat.zero_grad()
                loss.backward()
                self.flat.clip_grad_norm_(cfg.max_grad_norm)
                self.optimizer.step()
                totals += torch.stack([policy_loss.detach(), v_loss.detach(), entropy.detach(), info["approx_kl"], info["clip_fraction"]])
                epoch_kl += info["approx_kl"]
                steps += 1
            if cfg.target_kl > 0 and epoch_kl.item() / math.ceil(size / cfg.minibatch_size) > cfg.target_kl:
                break
        self._acting_copy = None
        policy_loss, v_loss, entropy, approx_kl, clip_fraction = (totals / steps).tolist()
        explained = 1.0 - (returns - batch.values).var() / returns.var().clamp_min(1e-8)
        return {
            "policy_loss": policy_loss, "value_loss": v_loss, "entropy": entropy, "approx_kl": approx_kl,
            "clip_fraction": clip_fraction, "explained_variance": float(explained), "gradient_steps": steps,
        }

    # ---------------------------------------------------------------- the loop

    def learn(self, total_steps: int | None = None, run: LearningRun | None = None) -> "PPO":
        """Train until `total_steps` environment steps (default: config.total_steps) have been taken.

        A larger `total_steps` than the config's replaces it, so the learning-rate schedule stretches to
        the new total. `run` (a `LearningRun`) receives one metrics row per update and saves checkpoints."""
        if total_steps is not None and total_steps != self.config.total_steps:
            self.config = replace(self.config, total_steps=total_steps)
        cfg = self.config
        if self._obs is None:
            self._reset_envs()
        while self.global_step < cfg.total_steps:
            started = time.perf_counter()
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
                "steps_per_second": cfg.num_steps * cfg.num_envs / elapsed,
                "learning_rate": learning_rate,
                **metrics,
            }
            if run is not None:
                run.after_update(self, metrics)
        return self

    # ---------------------------------------------------------------- save and load

    def save(self, directory: str | Path) -> None:
        """Write a checkpoint (safetensors + JSON, atomically) that `PPO.load` and `resume` restore exactly."""
        optimizer_tensors, param_groups = optimizer_state("optimizer", self.optimizer)
        tensors = {
            **module_tensors("model", self.model),
            **optimizer_tensors,
            **numpy_arrays_to_tensors(self.obs_normalizer.stats.state("obs_normalizer")),
            **numpy_arrays_to_tensors(self.reward_scaler.stats.state("reward_scaler")),
            "generator": self.generator.get_state(),
        }
        state = {
            "algo": self.algo,
            "env": self.config.env,
            "observation_space": space_signature(self.observation_space),
            "action_space": space_signature(self.action_space),
            "config": config_to_dict(self.config),
            "counters": {"global_step": self.global_step, "updates": self.updates},
            "optimizer_param_groups": param_groups,
        }
        save_checkpoint(Path(directory), tensors, state)

    @classmethod
    def load(cls, directory: str | Path, **config_overrides) -> "PPO":
        """Rebuild an agent from a checkpoint directory; refuse one of another algorithm or other spaces."""
        tensors, state = load_checkpoint(Path(directory), cls.algo)
        try:
            config = replace(config_from_dict(cls.config_class, state["config"]), **config_overrides)
            counters = state["counters"]
            param_groups = state["optimizer_param_groups"]
            global_step, updates = int(counters["global_step"]), int(counters["updates"])
            saved_spaces = (state["observation_space"], state["action_space"])
        except (KeyError, TypeError, ValueError) as error:
            raise ActorCriticError(f"corrupt checkpoint in {directory}: state.json lacks or garbles {error}") from None
        agent = cls(config)
        spaces = (space_signature(agent.observation_space), space_signature(agent.action_space))
        if spaces != saved_spaces:
            raise ActorCriticError(
                f"checkpoint in {directory} was built for spaces {saved_spaces}, but {config.env} has {spaces}: use the environment it was trained on"
            )
        try:
            load_module_tensors("model", agent.model, tensors)
            load_optimizer_state("optimizer", agent.optimizer, tensors, param_groups)
            agent.obs_normalizer.stats.load_state("obs_normalizer", tensors_to_numpy(tensors, "obs_normalizer"))
            agent.reward_scaler.stats.load_state("reward_scaler", tensors_to_numpy(tensors, "reward_scaler"))
            agent.generator.set_state(tensors["generator"])
        except (KeyError, RuntimeError) as error:
            raise ActorCriticError(f"corrupt checkpoint in {directory}: missing or malformed tensor {error}") from None
        agent.global_step, agent.updates = global_step, updates
        agent._acting_copy = None
        return agent
