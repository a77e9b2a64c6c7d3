"""The on-policy engine of the policy-gradient family (lecture sections 2-5): PPO, REINFORCE, TRPO and GRPO
share the environments, the actor-critic model, the rollout collection, the loop and the checkpoints;
each algorithm supplies its config and its `_update`.

    while not converged:
        collect T steps from N actors                      -> `_collect_rollout`
        estimate advantages (GAE, k-step or Monte Carlo)   -> `estimate_advantages`
        improve the policy (and the value function)        -> the algorithm's `_update`

The engine (with `common.Agent`) owns everything else: the learning-rate schedule, the NumPy acting copy
(rebuilt after every update), the metrics row of each update, evaluations, checkpoints and callbacks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal

import gymnasium as gym
import numpy as np
import torch

from actorcritic.algorithms.buffers import Rollout, RolloutBuffer
from actorcritic.algorithms.engine import Agent, build_quietly, require_memory
from actorcritic.config import AgentConfig, check_positive_int, check_range
from actorcritic.storage.checkpoint import numpy_arrays_to_tensors, tensors_to_numpy

MAX_ENVS = 4096
"""Most parallel environment copies in one process (each is a Python object stepped in turn)."""
from actorcritic.core.estimators import gae, k_step_advantages, normalize
from actorcritic.core.normalization import (
    ObservationNormalizer,
    RewardScaler,
    RunningMeanStd,
)
from actorcritic.core.optim import FlatParameters
from actorcritic.envs.episodes import (
    EpisodeStatistics,
    check_finite_step,
    final_observations,
)
from actorcritic.envs.make import is_image
from actorcritic.errors import ActorCriticError
from actorcritic.nets.actor_critic import ActorCritic, NormalizedPolicy
from actorcritic.nets.cnn import NatureCNN
from actorcritic.nets.mlp import ACTIVATIONS


@dataclass(frozen=True)
class OnPolicyConfig(AgentConfig):
    """Fields every on-policy algorithm reads (with `AgentConfig`'s)."""

    anneal_lr: bool = True
    """Decay the learning rate linearly to zero over total_steps."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clipping threshold."""
    normalize_observations: bool = True
    """Running mean/std observation normalisation; statistics are saved and frozen at evaluation."""
    log_std_init: float = 0.0
    """Initial log standard deviation of the Gaussian policy (continuous actions)."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the policy and of the value network, where there is one."""
    activation: Literal["tanh", "relu"] = "tanh"
    """Hidden-layer activation of the policy and value networks."""
    orthogonal_init: bool = True
    """Orthogonal weights (gain √2, policy output 0.01, value output 1) and zero biases (Huang et al. 2022); off: PyTorch's nn.Linear initialisation."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("max_grad_norm", self.max_grad_norm, 0, math.inf, low_inclusive=False)


@dataclass(frozen=True)
class RolloutConfig(OnPolicyConfig):
    """Fields of the algorithms that learn from rollouts of N actors x T steps with an advantage estimator
    (PPO, REINFORCE, TRPO)."""

    num_envs: int = 1
    """N: parallel actors (Gymnasium vector environment)."""
    num_steps: int = 2048
    """T: steps each actor collects per rollout; one update per rollout of N·T transitions."""
    advantage: Literal["gae", "kstep", "mc"] = "gae"
    """Advantage estimator: GAE(γ, λ) (Eq. 32), k-step (Eqs. 25-27) or Monte Carlo minus V (Eq. 28)."""
    gae_lambda: float = 0.95
    """GAE's λ (Eq. 32): 0 is the TD residual, 1 is Monte Carlo minus V."""
    k: int = 5
    """Steps of real reward before bootstrapping, for --advantage kstep."""
    normalize_rewards: bool = True
    """Scale rewards by the running std of the discounted return; statistics are saved with the model."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("num_steps", "k"):
            check_positive_int(name, getattr(self, name))
        check_range("num_envs", self.num_envs, 1, MAX_ENVS)
        check_range("gae_lambda", self.gae_lambda, 0, 1)


def _rollout_args(b: Rollout, c: RolloutConfig) -> tuple:
    return b.rewards, b.values, b.next_values, b.terminated, b.truncated, c.gamma


ADVANTAGE_ESTIMATORS: dict[str, Callable[[Rollout, RolloutConfig], torch.Tensor]] = {
    "gae": lambda b, c: gae(*_rollout_args(b, c), c.gae_lambda),
    "kstep": lambda b, c: k_step_advantages(*_rollout_args(b, c), c.k),
    "mc": lambda b, c: k_step_advantages(*_rollout_args(b, c), None),
}
"""--advantage name -> the estimator of lecture section 4 on a rollout [T, N]."""


def estimate_advantages(batch: Rollout, config: RolloutConfig) -> torch.Tensor:
    """The advantage estimator the config names, on a rollout [T, N] (lecture section 4)."""
    if config.advantage not in ADVANTAGE_ESTIMATORS:
        raise ActorCriticError(
            f"--advantage {config.advantage!r} is not an estimator: choose one of {', '.join(ADVANTAGE_ESTIMATORS)}"
        )
    return ADVANTAGE_ESTIMATORS[config.advantage](batch, config)


def advantages_and_returns(
    batch: Rollout, config: RolloutConfig, normalize_advantages: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Â (normalised over the rollout if asked, lecture section 5) and the value targets Â + V(s) (Eq. 20)."""
    advantages = estimate_advantages(batch, config)
    returns = advantages + batch.values
    return (normalize(advantages) if normalize_advantages else advantages), returns


class OnPolicyAgent(Agent):
    """The engine. Algorithms subclass it with `algo`, `config_class` and `_update(rollout) -> metrics`."""

    uses_value_function = True

    def __init__(self, config: OnPolicyConfig, env_fn=None):
        super().__init__(config, config.num_envs, env_fn)
        obs_shape = self.observation_space.shape
        obs_dim = int(np.prod(obs_shape))
        space = self.action_space
        self.discrete = isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary))
        # several discrete choices: one categorical each; a MultiBinary(n) is MultiDiscrete([2] * n)
        self.action_nvec = (
            tuple(int(n) for n in np.ravel(space.nvec))
            if isinstance(space, gym.spaces.MultiDiscrete)
            else (2,) * int(np.prod(space.shape))
            if isinstance(space, gym.spaces.MultiBinary)
            else None
        )

        images = is_image(self.observation_space)
        if config.encoder == "cnn" and not images:
            raise ActorCriticError(
                f"--encoder cnn needs uint8 image observations of at least 36x36, but {config.env} has "
                f"{self.observation_space}: use --encoder mlp or auto"
            )

        def build():
            encoder = NatureCNN(obs_shape) if images else None
            features = encoder.out_features if encoder is not None else obs_dim
            if self.action_nvec is not None:
                head = dict(action_nvec=self.action_nvec)
            elif self.discrete:
                head = dict(num_actions=int(self.action_space.n))
            else:
                head = dict(action_dim=int(np.prod(self.action_space.shape)), log_std_init=config.log_std_init)
            return ActorCritic(
                features,
                config.hidden_sizes,
                value=self.uses_value_function,
                encoder=encoder,
                activation=ACTIVATIONS[config.activation],
                orthogonal_init=config.orthogonal_init,
                **head,
            )

        self.model = build_quietly(build, config.seed).to(self.device)
        self.flat_parameters = FlatParameters(self.model)
        self.optimizer = torch.optim.Adam(
            [self.flat_parameters.parameter], lr=config.learning_rate, eps=1e-5, fused=True
        )
        # pixels are scaled to [0, 1] by the encoder, not by running statistics
        self.obs_normalizer = ObservationNormalizer(obs_shape, config.normalize_observations and not images)
        self._acting_copy = None
        self.reward_scaler: RewardScaler | None = None
        self._setup_collection()

    def _setup_collection(self) -> None:
        """The rollout buffer and the reward scaler of N actors x T steps."""
        cfg = self.config
        obs_floats = int(np.prod(self.observation_space.shape))
        action_floats = len(self.action_nvec or (0,)) if self.discrete else int(np.prod(self.action_space.shape))
        require_memory(
            cfg.num_steps * cfg.num_envs * 4 * (obs_floats + action_floats + 6),
            f"--num-steps {cfg.num_steps} x --num-envs {cfg.num_envs} (the rollout buffer)",
        )
        self.reward_scaler = RewardScaler(cfg.num_envs, cfg.gamma, cfg.normalize_rewards)
        action_shape = (
            (len(self.action_nvec),)
            if self.action_nvec is not None
            else ()
            if self.discrete
            else self.action_space.shape
        )
        self.buffer = RolloutBuffer(
            cfg.num_steps,
            cfg.num_envs,
            self.observation_space.shape,
            action_shape,
            np.int64 if self.discrete else np.float32,
            np.uint8 if self.model.encoder is not None else np.float32,
        )

    def _update(self, rollout) -> dict[str, float]:
        """The algorithm's improvement step on one rollout; returns its metrics."""
        raise NotImplementedError

    # ---------------------------------------------------------------- acting

    def _env_actions(self, actions: np.ndarray) -> np.ndarray:
        """The Gaussian policy is unbounded; the environment receives actions clipped to its bounds, the
        buffer keeps the sampled ones (their log-probabilities are the ones the ratio needs)."""
        space = self.action_space
        if isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete)):
            return (
                (actions.reshape(actions.shape[0], *space.shape) + space.start)
                if np.any(space.start) or len(space.shape) > 1
                else actions
            )
        if self.discrete:  # MultiBinary
            return actions.reshape(actions.shape[0], *space.shape).astype(space.dtype)
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
        """The NumPy copy of the model for acting (see `networks`), rebuilt after the parameters change."""
        if self._acting_copy is None:
            self._acting_copy = self.model.acting_copy()
        return self._acting_copy

    def _parameters_changed(self) -> None:
        self._acting_copy = None

    def deterministic_policy(self) -> torch.nn.Module:
        """A standalone module: raw observations [B, obs_dim] -> the actions `act` returns, with the frozen
        observation normalisation folded in (what `actorcritic export` writes)."""
        stats = self.obs_normalizer.stats if self.obs_normalizer.enabled else None
        low, high = (None, None) if self.discrete else (self.action_space.low, self.action_space.high)
        return NormalizedPolicy(
            self.model.body,
            stats,
            self.obs_normalizer.clip,
            self.obs_normalizer.eps,
            low,
            high,
            self.action_nvec,
            self.model.encoder,
        ).eval()

    # ---------------------------------------------------------------- collect

    def _reset_envs(self) -> None:
        self.episodes = EpisodeStatistics(self.config.num_envs)
        self.reward_scaler.returns[:] = 0.0
        self._raw_obs = self._start_episodes()
        # A resumed run's normaliser has already seen the observations its episodes started from.
        self._obs = self.obs_normalizer(self._raw_obs, update=self.global_step == 0)

    episode_values = ("returns", "discounted_returns")

    def _episodes_in_flight(self) -> dict[str, np.ndarray]:
        # the raw observations (the normaliser's statistics are saved with the agent), and reward scaling's running return
        return {
            **super()._episodes_in_flight(),
            "observations": self._raw_obs,
            "discounted_returns": self.reward_scaler.returns,
        }

    def _continue_episodes(self, record: list[dict], saved: dict[str, np.ndarray]) -> None:
        super()._continue_episodes(record, saved)
        self.reward_scaler.returns[:] = saved["discounted_returns"]

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
            check_finite_step(self.config.env, self.global_step + (t + 1) * self.config.num_envs, raw_obs, rewards)
            dones = terminated | truncated
            self.episodes.step(rewards, dones)
            buf.rewards[t] = self.reward_scaler(rewards, dones)
            buf.terminated[t] = terminated
            buf.truncated[t] = truncated
            obs = self.obs_normalizer(raw_obs, update=True)
            if truncated.any():  # bootstrap from the final observation, not the reset one
                final_obs = final_observations(raw_obs, info)[truncated]
                buf.next_values[t, truncated] = acting.value(self.obs_normalizer(final_obs, update=False))
        self._obs, self._raw_obs = obs, raw_obs
        self.global_step += self.config.num_steps * self.config.num_envs
        # Inside an episode the successor's value is the next step's value; the last step's successor is
        # the current observation. Truncated steps keep the value of their final observation from above.
        successor_values = np.concatenate([buf.values[1:], acting.value(obs)[None]])
        buf.next_values[:] = np.where(buf.truncated, buf.next_values, successor_values)
        return buf.rollout(self.device)

    # ---------------------------------------------------------------- the loop

    def _advance(self) -> None:
        """One rollout and one update: collect T steps of N actors, then the algorithm's `_update`."""
        cfg = self.config
        learning_rate = (
            cfg.learning_rate * (1.0 - self.global_step / cfg.total_steps) if cfg.anneal_lr else cfg.learning_rate
        )
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate
        rollout = self._collect_rollout()
        with self._update_precision():
            metrics = self._update(rollout)
        self._parameters_changed()
        self.updates += 1
        self.window.add({"learning_rate": learning_rate, **metrics})

    def _log_due(self) -> bool:
        return True  # one metrics row per update

    # ---------------------------------------------------------------- save and load

    def _modules(self) -> dict[str, torch.nn.Module]:
        return {"model": self.model}

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"optimizer": self.optimizer}

    def _running_statistics(self) -> dict[str, RunningMeanStd]:
        return {
            "obs_normalizer": self.obs_normalizer.stats,
            **({"reward_scaler": self.reward_scaler.stats} if self.reward_scaler else {}),
        }

    def _extra_state(self, policy_only: bool = False) -> tuple[dict[str, torch.Tensor], dict]:
        arrays = {k: v for name, stats in self._running_statistics().items() for k, v in stats.state(name).items()}
        return numpy_arrays_to_tensors(arrays), {}

    def _load_extra_state(self, tensors: dict[str, torch.Tensor], counters: dict) -> None:
        for name, stats in self._running_statistics().items():
            stats.load_state(name, tensors_to_numpy(tensors, name))
