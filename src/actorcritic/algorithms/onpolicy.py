"""The on-policy engine of the policy-gradient family (lecture sections 2-5): PPO, REINFORCE, TRPO and GRPO
share the environments, the actor-critic model, the loop and the checkpoints. An algorithm is two parts,
composed by the engine:

    while not converged:
        batch = collector.collect()          T steps of N actors (`RolloutCollector`), or GRPO's groups
        metrics = learner.update(batch)      estimate advantages, improve the policy (and the value)

* its learner (`OnPolicyLearner`): the networks (the engine's `ActorCritic`, built from the spaces), the
  optimiser of its choice (`optimizer_name`), and `update(batch, update_index, generator) -> metrics`;
* its collector: `RolloutCollector` by default; GRPO declares its own (whole episodes in groups).

The engine (with `engine.Agent`) owns everything else: the learning-rate schedule, the NumPy acting copy
(dropped after every update), the metrics rows (one per update, or per `log_every` steps), evaluations,
checkpoints and callbacks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal

import gymnasium as gym
import numpy as np
import torch

from actorcritic.algorithms.buffers import Rollout, RolloutBuffer
from actorcritic.algorithms.engine import Agent, build_quietly, crossed_multiple, require_memory
from actorcritic.config import BUILT_IN_ENCODERS, AgentConfig, check_positive_int, check_range
from actorcritic.core.estimators import gae, k_step_advantages, normalize
from actorcritic.core.normalization import ObservationNormalizer, RewardScaler, RunningMeanStd
from actorcritic.core.optim import FlatParameters, make_optimizer
from actorcritic.envs.episodes import EpisodeStatistics, check_finite_step, final_observations
from actorcritic.envs.make import is_image
from actorcritic.envs.masks import no_masks
from actorcritic.errors import ActorCriticError
from actorcritic.nets.actor_critic import ActorCritic, NormalizedPolicy
from actorcritic.nets.cnn import NatureCNN
from actorcritic.nets.encoders import build_user_encoder
from actorcritic.nets.mlp import ACTIVATIONS
from actorcritic.nets.recurrent import STATES_PER_CELL, RecurrentActorCritic, RecurrentNormalizedPolicy, Sequences
from actorcritic.storage.checkpoint import numpy_arrays_to_tensors, tensors_to_numpy

MAX_ENVS = 4096
"""Most parallel environment copies in one process (each is a Python object stepped in turn)."""


@dataclass(frozen=True)
class OnPolicyConfig(AgentConfig):
    """Fields every on-policy algorithm reads (with `AgentConfig`'s)."""

    anneal_lr: bool = True
    """Decay the learning rate linearly to zero over total_steps (a number's: a schedule given replaces it)."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clipping threshold."""
    normalize_observations: bool = True
    """Running mean/std observation normalisation; statistics are saved and frozen at evaluation."""
    log_std_init: float = 0.0
    """Initial log standard deviation of the Gaussian policy (continuous actions)."""
    orthogonal_init: bool = True
    """Orthogonal weights (gain √2, policy output 0.01, value output 1) and zero biases (Huang et al. 2022); off:
    PyTorch's nn.Linear initialisation."""
    log_every: int = 0
    """Environment steps per metrics row, the means over that window's updates (0: one row per update)."""
    action_masks: bool = False
    """Invalid-action masking: read which actions are allowed before every action (one boolean per action, per
    choice for MultiDiscrete), from the environment's `action_masks()` (sb3-contrib's convention), its
    `info["action_mask"]` (Gymnasium's Taxi) or an "action_mask" key of its Dict observation (PettingZoo's), and
    give the actions it forbids probability 0 in acting, training, evaluation and export. Discrete spaces only."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("log_every", self.log_every, 0)
        check_range("max_grad_norm", self.max_grad_norm, 0, math.inf, low_inclusive=False)
        check_range("log_std_init", self.log_std_init, -20, 20)  # σ from 2e-9 to 5e8: beyond is no policy


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
    recurrent: Literal["none", "lstm", "gru"] = "none"
    """A recurrent policy: an LSTM or GRU cell in front of the policy's MLP and another in front of the value's
    (sb3-contrib's RecurrentPPO arrangement), its state reset at every episode start. PPO, A2C and REINFORCE."""
    recurrent_size: int = 256
    """H: units of each recurrent cell (sb3-contrib's lstm_hidden_size)."""
    sequence_length: int = 0
    """L: steps per training sequence of a recurrent policy, a divisor of --num-steps (0: the whole rollout of
    each copy). Each sequence starts from the state stored when it was collected, so shorter ones mean more,
    smaller minibatches (--minibatch-size counts steps: minibatch_size / L sequences each)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("num_steps", "k", "recurrent_size"):
            check_positive_int(name, getattr(self, name))
        check_range("num_envs", self.num_envs, 1, MAX_ENVS)
        check_range("gae_lambda", self.gae_lambda, 0, 1)
        check_range("sequence_length", self.sequence_length, 0, self.num_steps)
        if self.sequence_length and self.num_steps % self.sequence_length:
            raise ActorCriticError(
                f"--sequence-length {self.sequence_length} does not divide --num-steps {self.num_steps}: choose a "
                "divisor (or 0, the whole rollout)"
            )

    @property
    def training_sequence_length(self) -> int:
        """L of a recurrent policy's training sequences: --sequence-length, or the whole rollout."""
        return self.sequence_length or self.num_steps


# ---------------------------------------------------------------- estimating advantages (lecture section 4)


def _gae(rollout: Rollout, config: RolloutConfig) -> torch.Tensor:
    return gae(*_estimator_inputs(rollout, config), config.gae_lambda)


def _k_step(rollout: Rollout, config: RolloutConfig) -> torch.Tensor:
    return k_step_advantages(*_estimator_inputs(rollout, config), config.k)


def _monte_carlo(rollout: Rollout, config: RolloutConfig) -> torch.Tensor:
    return k_step_advantages(*_estimator_inputs(rollout, config), None)


def _estimator_inputs(rollout: Rollout, config: RolloutConfig) -> tuple:
    return rollout.rewards, rollout.values, rollout.next_values, rollout.terminated, rollout.truncated, config.gamma


ADVANTAGE_ESTIMATORS: dict[str, Callable[[Rollout, RolloutConfig], torch.Tensor]] = {
    "gae": _gae,
    "kstep": _k_step,
    "mc": _monte_carlo,
}
"""--advantage name -> the estimator of lecture section 4 on a rollout [T, N]."""


def estimate_advantages(batch: Rollout, config: RolloutConfig) -> torch.Tensor:
    """The advantage estimator the config names, on a rollout [T, N] (lecture section 4)."""
    if config.advantage not in ADVANTAGE_ESTIMATORS:
        choices = ", ".join(ADVANTAGE_ESTIMATORS)
        raise ActorCriticError(f"--advantage {config.advantage!r} is not an estimator: choose one of {choices}")
    return ADVANTAGE_ESTIMATORS[config.advantage](batch, config)


def advantages_and_returns(
    batch: Rollout, config: RolloutConfig, normalize_advantages: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Â (normalised over the rollout if asked, lecture section 5) and the value targets Â + V(s) (Eq. 20)."""
    advantages = estimate_advantages(batch, config)
    returns = advantages + batch.values
    return (normalize(advantages) if normalize_advantages else advantages), returns


def shuffled_minibatches(samples: list, minibatch_size: int, generator: torch.Generator):
    """One epoch of `Rollout.transitions` in minibatches of `minibatch_size` steps, in a random order: single
    transitions, or for a recurrent policy (`samples[0]` are `Sequences` of L steps) whole sequences,
    minibatch_size / L of them (at least one), so that each is replayed from its stored state."""
    first = samples[0]
    if isinstance(first, Sequences):
        length, count = first.episode_starts.shape
        order = torch.randperm(count, generator=generator).to(first.episode_starts.device)
        per_minibatch = max(1, minibatch_size // length)
        for start in range(0, count, per_minibatch):
            chosen = order[start : start + per_minibatch]
            yield [
                first.copies(chosen),
                *(x.reshape(length, count, *x.shape[1:])[:, chosen].reshape(-1, *x.shape[1:]) for x in samples[1:]),
            ]
        return
    size = len(first)
    order = torch.randperm(size, generator=generator).to(first.device)
    shuffled = [x[order] for x in samples]  # one gather per epoch; minibatches are then slices
    for start in range(0, size, minibatch_size):
        yield [x[start : start + minibatch_size] for x in shuffled]


def with_action_masks(observations: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The input of a policy trained with --action-masks: the (normalised) observations [B, obs_dim], then the
    masks [B, mask_width] as 0/1 columns (see `nets.actor_critic.ActorCritic`)."""
    return np.concatenate([observations, masks.astype(observations.dtype)], axis=1)


def check_action_masks(masks: np.ndarray, actions: "ActionSpace", env: str) -> None:
    """Refuse, in one line, action masks [B, width] of the wrong width or that forbid every action of a choice."""
    if masks.shape[1] != actions.mask_width:
        raise ActorCriticError(
            f"{env}'s action_masks() gave {masks.shape[1]} values, but {actions.space} needs {actions.mask_width} "
            "(one per action, per choice for MultiDiscrete)"
        )
    for choice in np.split(masks, np.cumsum(actions.nvec or (actions.mask_width,))[:-1], axis=1):
        if not choice.any(axis=1).all():
            raise ActorCriticError(f"{env}'s action_masks() forbade every action of a choice: allow at least one")


def current_action_masks(agent) -> np.ndarray:
    """Every copy's `action_masks()` [N, mask_width], checked: the right width, and something allowed."""
    masks = np.stack([np.asarray(mask, dtype=bool).reshape(-1) for mask in agent.envs.call("action_masks")])
    check_action_masks(masks, agent.actions, agent.config.env)
    return masks


def policy_input(agent, observations: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
    """What `agent`'s policy reads: the normalised observations [N, obs_dim], then (with --action-masks) each
    copy's action mask, the environments' current one unless `masks` are given."""
    if not agent.reads_action_masks:
        return observations
    return with_action_masks(observations, current_action_masks(agent) if masks is None else masks)


def check_action_masks_exist(agent) -> None:
    """Refuse, before anything is written, an environment without masks or whose first mask does not fit (read
    from a copy of its own, just reset, so the training copies' streams are untouched)."""
    env = agent.env_maker.single()
    try:
        env.reset(seed=agent.config.seed)
        try:
            read_masks = env.get_wrapper_attr("action_masks")
        except AttributeError:  # an environment built without its maker's mask conventions (a factory)
            raise no_masks(agent.config.env) from None
        check_action_masks(np.asarray(read_masks(), dtype=bool).reshape(1, -1), agent.actions, agent.config.env)
    finally:
        env.close()


# ---------------------------------------------------------------- the algorithm's part: its learner


class ActionSpace:
    """What the engine needs to know of an action space: discrete or not, and the choices of each discrete
    component (a MultiDiscrete's nvec; a MultiBinary(n) is MultiDiscrete([2] * n))."""

    def __init__(self, space: gym.Space):
        self.space = space
        self.discrete = isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary))
        if isinstance(space, gym.spaces.MultiDiscrete):
            self.nvec: tuple[int, ...] | None = tuple(int(n) for n in np.ravel(space.nvec))
        elif isinstance(space, gym.spaces.MultiBinary):
            self.nvec = (2,) * int(np.prod(space.shape))
        else:
            self.nvec = None

    @property
    def mask_width(self) -> int:
        """Columns of an action mask: one per action, or per action of each choice (discrete spaces)."""
        return sum(self.nvec) if self.nvec is not None else int(self.space.n)

    @property
    def stored_shape(self) -> tuple[int, ...]:
        """The shape of one action in the rollout buffer."""
        return (len(self.nvec),) if self.nvec is not None else () if self.discrete else self.space.shape

    def policy_head(self, log_std_init: float) -> dict:
        """The `ActorCritic` arguments of the policy's output layer."""
        if self.nvec is not None:
            return dict(action_nvec=self.nvec)
        if self.discrete:
            return dict(num_actions=int(self.space.n))
        return dict(action_dim=int(np.prod(self.space.shape)), log_std_init=log_std_init)

    def to_environment(self, actions: np.ndarray) -> np.ndarray:
        """The Gaussian policy is unbounded: the environment receives actions clipped to its bounds, the
        buffer keeps the sampled ones (their log-probabilities are the ones the ratio needs)."""
        space = self.space
        if isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete)):
            if np.any(space.start) or len(space.shape) > 1:
                return actions.reshape(actions.shape[0], *space.shape) + space.start
            return actions
        if self.discrete:  # MultiBinary
            return actions.reshape(actions.shape[0], *space.shape).astype(space.dtype)
        return np.clip(actions, space.low, space.high)


class OnPolicyLearner:
    """The algorithm's part of the on-policy engine: its networks, its optimiser and its update.

    A subclass says what makes it that algorithm: `update`, and where it differs from the defaults, the
    optimiser (`optimizer_name`, one of `core.optim.OPTIMIZERS`), whether there is a value function, and the
    modules it keeps besides the model (GRPO's reference policy). The engine builds it under the run's seed."""

    optimizer_name = "adam"
    """The optimiser of every parameter (fused Adam with ε = 1e-5, as in PPO's implementations)."""
    uses_value_function = True
    """False for a policy alone (GRPO): the model then has no value network."""
    recurrent_policies = True
    """Whether its update can train a recurrent policy (it reads `Rollout.transitions`' sequences whole)."""

    def __init__(
        self, config: OnPolicyConfig, observation_space: gym.spaces.Box, action_space: gym.Space, device: torch.device
    ):
        self.config, self.device, self.actions = config, device, ActionSpace(action_space)
        if getattr(config, "recurrent", "none") != "none" and not self.recurrent_policies:
            raise ActorCriticError(
                f"--recurrent {config.recurrent} is for PPO, A2C and REINFORCE, whose updates replay whole sequences; "
                f"{type(self).__name__} trains on single steps: drop --recurrent"
            )
        self.model = build_actor_critic(config, observation_space, self.actions, self.uses_value_function).to(device)
        self.flat_parameters = FlatParameters(self.model)
        self.optimizer = make_optimizer(self.optimizer_name, self.flat_parameters.parameter, config.learning_rate)

    def update(self, batch, update_index: int, generator: torch.Generator) -> dict[str, float]:
        """The algorithm's improvement step on one batch of the collector (update_index counts from 1)."""
        raise NotImplementedError

    def modules(self) -> dict[str, torch.nn.Module]:
        """Every network, by checkpoint name."""
        return {"model": self.model}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Every optimiser, by checkpoint name (the engine's learning-rate schedule sets their rate)."""
        return {"optimizer": self.optimizer}


def build_actor_critic(
    config: OnPolicyConfig, observation_space: gym.spaces.Box, actions: ActionSpace, value: bool
) -> ActorCritic:
    """The policy (and value) networks for these spaces: MLPs, behind a Nature CNN for image observations."""
    images = is_image(observation_space)
    if config.action_masks and (not actions.discrete or len(observation_space.shape) != 1):
        what = f"the action space {actions.space}" if not actions.discrete else f"observations {observation_space}"
        raise ActorCriticError(
            f"--action-masks needs a discrete action space and vector observations, but {config.env} has {what}"
        )
    mask_width = actions.mask_width if config.action_masks else 0
    if config.encoder == "cnn" and not images:
        raise ActorCriticError(
            f"--encoder cnn needs uint8 image observations of at least 36x36, but {config.env} has "
            f"{observation_space}: use --encoder mlp or auto"
        )
    if config.encoder not in BUILT_IN_ENCODERS:  # the user's: module:Name, or in Python the callable
        encoder, features = build_user_encoder(config.encoder, observation_space)
    else:
        encoder = NatureCNN(observation_space.shape) if images else None
        features = encoder.out_features if encoder is not None else int(np.prod(observation_space.shape))
    heads = dict(
        value=value,
        encoder=encoder,
        activation=ACTIVATIONS[config.activation],
        orthogonal_init=config.orthogonal_init,
        mask_width=mask_width,
        value_hidden_sizes=config.critic_widths,
        layer_norm=config.layer_norm,
        **actions.policy_head(config.log_std_init),
    )
    recurrent = getattr(config, "recurrent", "none")
    if recurrent != "none":
        return RecurrentActorCritic(features, config.actor_widths, recurrent, config.recurrent_size, **heads)
    return ActorCritic(features, config.actor_widths, **heads)


# ---------------------------------------------------------------- collecting rollouts


class RolloutCollector:
    """T steps of N actors into a rollout buffer, with reward scaling: the collector of PPO, REINFORCE and TRPO.

    `next_values[t]` is V of the true successor of step t: at a truncation, of the final observation."""

    episode_values = ("returns", "discounted_returns")
    """The values [N] per copy that a checkpoint keeps of the episodes in flight, besides the observations."""

    def __init__(self, agent: "OnPolicyAgent"):
        self.agent = agent
        cfg, actions = agent.config, agent.actions
        obs_floats = int(np.prod(agent.observation_space.shape))
        action_floats = len(actions.nvec or (0,)) if actions.discrete else int(np.prod(actions.space.shape))
        require_memory(
            cfg.num_steps * cfg.num_envs * 4 * (obs_floats + action_floats + 6),
            f"--num-steps {cfg.num_steps} x --num-envs {cfg.num_envs} (the rollout buffer)",
        )
        self.reward_scaler = RewardScaler(cfg.num_envs, cfg.gamma, cfg.normalize_rewards)
        self.mask_width = agent.model.mask_width
        if self.mask_width:
            check_action_masks_exist(agent)
        policy_input_shape = (agent.observation_space.shape[0] + self.mask_width,) if self.mask_width else None
        model = agent.model
        recurrent = isinstance(model, RecurrentActorCritic)
        self.buffer = RolloutBuffer(
            cfg.num_steps,
            cfg.num_envs,
            policy_input_shape or agent.observation_space.shape,
            actions.stored_shape,
            np.int64 if actions.discrete else np.float32,
            np.uint8 if isinstance(model.encoder, NatureCNN) else np.float32,
            (model.state_size, model.recurrent_size) if recurrent else None,
        )
        self.observations: np.ndarray | None = None  # normalised (then the action masks), as the policy sees them
        self.raw_observations: np.ndarray | None = None  # as the environments returned them
        # a recurrent policy's state [S, N, H] after the last step, and which copies start an episode next
        self.state = np.zeros((model.state_size, cfg.num_envs, model.recurrent_size), np.float32) if recurrent else None
        self.episode_starts = np.ones(cfg.num_envs, dtype=bool)

    def start(self) -> None:
        agent = self.agent
        agent.episodes = EpisodeStatistics(agent.config.num_envs)
        self.reward_scaler.returns[:] = 0.0
        self.raw_observations = agent._start_episodes()
        if agent.resumed_episodes != "continued":  # new episodes: the state a checkpoint kept is not theirs
            self.episode_starts[:] = True
        # A resumed run's normaliser has already seen the observations its episodes started from.
        self.observations = self.policy_input(
            agent.obs_normalizer(self.raw_observations, update=agent.global_step == 0)
        )

    def episodes_in_flight(self) -> dict[str, np.ndarray]:
        # the raw observations (the normaliser's statistics are saved with the agent), and reward scaling's
        # running return
        agent = self.agent
        return {
            "observations": self.raw_observations,
            "returns": agent.episodes.running_return,
            "discounted_returns": self.reward_scaler.returns,
        }

    def continue_episodes(self, record: list[dict], saved: dict[str, np.ndarray]) -> None:
        self.reward_scaler.returns[:] = saved["discounted_returns"]

    def running_statistics(self) -> dict[str, RunningMeanStd]:
        return {"reward_scaler": self.reward_scaler.stats}

    def memory(self) -> dict[str, np.ndarray]:
        """What a checkpoint keeps of a recurrent policy's episodes in flight: the state after the last step and
        the copies whose next observation starts an episode."""
        return {"recurrent.state": self.state, "recurrent.episode_starts": self.episode_starts.astype(np.float32)}

    def load_memory(self, arrays: dict[str, np.ndarray]) -> None:
        state, starts = arrays.get("recurrent.state"), arrays.get("recurrent.episode_starts")
        if (
            state is None
            or starts is None
            or state.shape != self.state.shape
            or starts.shape != self.episode_starts.shape
        ):
            raise ValueError("its recurrent state is missing or of another shape than the policy's")
        self.state[:], self.episode_starts[:] = state, starts > 0.5

    def _act(self, acting, obs: np.ndarray, noise: np.ndarray, t: int):
        """Actions, log π and V of step t; a recurrent policy also advances (and stores) its state."""
        if self.state is None:
            return acting.sample(obs, noise)
        self.buffer.states[t] = self.state.transpose(1, 0, 2)
        self.buffer.episode_starts[t] = self.episode_starts
        actions, log_probs, values, self.state = acting.sample(obs, noise, self.state, self.episode_starts)
        return actions, log_probs, values

    def _values(self, acting, obs: np.ndarray, copies: np.ndarray | None = None) -> np.ndarray:
        """V of the observations that follow the last step, of every copy or of `copies` (final observations
        at a truncation, which continue their episode's state)."""
        if self.state is None:
            return acting.value(obs)
        if copies is None:
            return acting.value(obs, self.state, self.episode_starts)
        return acting.value(obs, self.state[:, copies], np.zeros(int(copies.sum()), dtype=bool))

    def policy_input(self, observations: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
        """What the policy reads: the normalised observations, then (with --action-masks) each copy's action mask,
        the environments' current one unless `masks` are given."""
        return policy_input(self.agent, observations, masks)

    def collect(self) -> Rollout:
        """T steps of N actors into the buffer; `next_values[t]` = V(true successor of step t)."""
        agent, cfg, buf, obs = self.agent, self.agent.config, self.buffer, self.observations
        acting, normalizer = agent._acting(), agent.obs_normalizer
        noise = acting.draw_noise((cfg.num_steps, cfg.num_envs), agent.generator)
        for t in range(cfg.num_steps):
            actions, log_probs, values = self._act(acting, obs, noise[t], t)
            buf.observations[t] = obs
            buf.actions[t] = actions
            buf.log_probs[t] = log_probs
            buf.values[t] = values
            raw_obs, rewards, terminated, truncated, info = agent.envs.step(agent.actions.to_environment(actions))
            check_finite_step(cfg.env, agent.global_step + (t + 1) * cfg.num_envs, raw_obs, rewards)
            dones = terminated | truncated
            self.episode_starts = dones
            agent.episodes.step(rewards, dones)
            buf.rewards[t] = self.reward_scaler(rewards, dones)
            buf.terminated[t] = terminated
            buf.truncated[t] = truncated
            obs = self.policy_input(normalizer(raw_obs, update=True))
            if truncated.any():  # bootstrap from the final observation, not the reset one
                final_obs = normalizer(final_observations(raw_obs, info)[truncated], update=False)
                # V reads the observation alone: any mask will do
                final_obs = self.policy_input(final_obs, np.ones((len(final_obs), self.mask_width), dtype=bool))
                buf.next_values[t, truncated] = self._values(acting, final_obs, truncated)
        self.observations, self.raw_observations = obs, raw_obs
        agent.global_step += cfg.num_steps * cfg.num_envs
        # Inside an episode the successor's value is the next step's value; the last step's successor is
        # the current observation. Truncated steps keep the value of their final observation from above.
        successor_values = np.concatenate([buf.values[1:], self._values(acting, obs)[None]])
        buf.next_values[:] = np.where(buf.truncated, buf.next_values, successor_values)
        return buf.rollout(agent.device, cfg.training_sequence_length if self.state is not None else 0)


# ---------------------------------------------------------------- the engine


class OnPolicyAgent(Agent):
    """The engine. An algorithm names itself and its parts: `algo`, `config_class`, `learner_class` and, where
    it is not `RolloutCollector`, `collector_class`."""

    learner_class: type[OnPolicyLearner]
    collector_class: type = RolloutCollector

    def __init__(self, config: OnPolicyConfig, env_fn=None):
        super().__init__(config, config.num_envs, env_fn)
        self.actions = ActionSpace(self.action_space)
        self.learner = build_quietly(
            lambda: self.learner_class(self.config.at(0.0), self.observation_space, self.action_space, self.device),
            config.seed,
        )
        # pixels are scaled to [0, 1] by the encoder, not by running statistics
        images = isinstance(self.model.encoder, NatureCNN)
        self.obs_normalizer = ObservationNormalizer(
            self.observation_space.shape, config.normalize_observations and not images
        )
        self._acting_copy = None
        self.collector = self.collector_class(self)

    @property
    def model(self) -> ActorCritic:
        """The learner's policy (and value) networks."""
        return self.learner.model

    @property
    def recurrent(self) -> bool:
        return isinstance(self.model, RecurrentActorCritic)

    @property
    def reads_action_masks(self) -> bool:
        return self.model.mask_width > 0

    # ---------------------------------------------------------------- acting

    def act(
        self,
        obs: np.ndarray,
        deterministic: bool = True,
        action_masks: np.ndarray | None = None,
        state: np.ndarray | None = None,
        episode_start: np.ndarray | None = None,
        flat: bool | None = None,
    ):
        """Actions for observations, ready for `env.step`: the environment's own (one, or a vector environment's
        batch: a Discrete index, a Dict, ..., flattened as training flattened it) or the policy's flat input
        ([*obs_shape] or [B, *obs_shape]; `flat` True: only these, False: only the environment's, None: the flat
        reading where both fit, e.g. a Discrete task's integer array of length n is one one-hot row, not n
        indices). Normalisation statistics are frozen here. A policy trained with --action-masks takes the mask
        of each observation (`env.action_masks()`, [mask_width] or [B, mask_width]); without one every action is
        allowed, as in sb3-contrib's MaskablePPO.predict.

        A recurrent policy (--recurrent) returns `(actions, state)`, as sb3-contrib's RecurrentPPO.predict: give
        back the state it returned with the next observations, and `episode_start` (one boolean per observation)
        True where an observation starts an episode, where the state is reset (None: zeros, a first step)."""
        obs, single = self.policy_observations(obs, flat)
        if self.recurrent:
            return self._act_recurrent(obs, single, deterministic, action_masks, state, episode_start)
        if state is not None or episode_start is not None:
            raise ActorCriticError(f"{self.algo} was trained without --recurrent: act without state or episode_start")
        return self._act_feed_forward(obs, single, deterministic, action_masks)

    def _policy_batch(self, obs: np.ndarray, action_masks: np.ndarray | None) -> np.ndarray:
        """Observations [B, *obs_shape] -> the policy's input batch (normalised, with the masks it reads)."""
        batch = self.obs_normalizer(np.asarray(obs, dtype=np.float64), update=False)
        if self.model.mask_width:
            allowed = np.ones((len(batch), self.model.mask_width), dtype=bool)
            if action_masks is not None:
                allowed = np.asarray(action_masks, dtype=bool).reshape(len(batch), -1)
                check_action_masks(allowed, self.actions, self.config.env)
            batch = with_action_masks(batch, allowed)
        elif action_masks is not None:
            raise ActorCriticError(f"{self.algo} was trained without --action-masks: act without action_masks")
        return batch

    def _act_feed_forward(self, obs, single: bool, deterministic: bool, action_masks) -> np.ndarray:
        batch = self._policy_batch(obs, action_masks)
        acting = self._acting()
        if deterministic:
            actions = acting.mode(batch)
        else:
            actions = acting.sample(batch, acting.draw_noise((batch.shape[0],), self.generator))[0]
        actions = self.actions.to_environment(actions)
        return actions[0] if single else actions

    def _act_recurrent(self, obs, single: bool, deterministic: bool, action_masks, state, episode_start):
        batch = self._policy_batch(obs, action_masks)
        model, rows = self.model, len(batch)
        shape = (STATES_PER_CELL[model.cell], rows, model.recurrent_size)
        state = np.zeros(shape, np.float32) if state is None else np.asarray(state, dtype=np.float32)
        starts = np.zeros(rows, bool) if episode_start is None else np.asarray(episode_start, bool).reshape(-1)
        if state.shape != shape or starts.shape != (rows,):
            raise ActorCriticError(
                f"a state of shape {state.shape} and {starts.size} episode starts do not fit {rows} observation(s): "
                f"give the state act returned last, {shape}, and one episode_start per observation"
            )
        noise = None if deterministic else self._acting().draw_noise((rows,), self.generator)
        actions, state = self._acting().act(batch, state, starts, noise)
        actions = self.actions.to_environment(actions)
        return (actions[0] if single else actions), state

    def _evaluation_policy(self):
        if not self.recurrent:
            return super()._evaluation_policy()
        memory = {"state": None}  # the episode's state; None at its start (zeros)

        def act(obs, *masks):
            actions, memory["state"] = self.act(obs, True, *masks, state=memory["state"], flat=True)
            return actions

        return act, lambda: memory.update(state=None)

    def _acting(self):
        """The NumPy copy of the model for acting (see `nets`), rebuilt after the parameters change."""
        if self._acting_copy is None:
            self._acting_copy = self.model.acting_copy()
        return self._acting_copy

    def _parameters_changed(self) -> None:
        self._acting_copy = None

    def deterministic_policy(self) -> torch.nn.Module:
        """A standalone module: raw observations [B, obs_dim] (and, with --action-masks, the masks [B, width]) ->
        the actions `act` returns, with the frozen observation normalisation folded in (what `actorcritic
        export` writes)."""
        stats = self.obs_normalizer.stats if self.obs_normalizer.enabled else None
        low, high = (None, None) if self.actions.discrete else (self.action_space.low, self.action_space.high)
        policy = NormalizedPolicy(
            self.model.body,
            stats,
            self.obs_normalizer.clip,
            self.obs_normalizer.eps,
            low,
            high,
            self.actions.nvec,
            self.model.encoder,
            self.model.mask_width,
        )
        if self.recurrent:
            policy = RecurrentNormalizedPolicy(self.model, policy)
        return policy.eval()

    # ---------------------------------------------------------------- the loop

    def _advance(self) -> None:
        """One batch and one update: the collector's batch, then the learner's `update`."""
        cfg = self.config
        current = self._follow_schedules()
        learning_rate = current.learning_rate
        if cfg.anneal_lr and isinstance(cfg.learning_rate, (int, float)):  # a schedule given replaces the anneal
            learning_rate = cfg.learning_rate * (1.0 - self.global_step / cfg.total_steps)
        self._set_learning_rate(learning_rate)  # every update: a resume may have been given another rate
        batch = self.collector.collect()
        self.clock.lap("collecting")  # acting, environment and storing, interleaved over the rollout
        self.updates += 1
        with self._update_precision():
            metrics = self.learner.update(batch, self.updates, self.generator)
        self._parameters_changed()
        self.clock.lap("update")
        self.window_metrics.add({"learning_rate": learning_rate, **metrics})

    def _log_due(self, step_before: int) -> bool:
        return not self.config.log_every or crossed_multiple(step_before, self.global_step, self.config.log_every)

    # ---------------------------------------------------------------- save and load

    def _running_statistics(self) -> dict[str, RunningMeanStd]:
        return {"obs_normalizer": self.obs_normalizer.stats, **self.collector.running_statistics()}

    def _extra_state(self, policy_only: bool = False) -> tuple[dict[str, torch.Tensor], dict]:
        arrays = {k: v for name, stats in self._running_statistics().items() for k, v in stats.state(name).items()}
        memory = self.collector.memory() if self.recurrent else {}
        return numpy_arrays_to_tensors({**arrays, **memory}), {}

    def _load_extra_state(self, tensors: dict[str, torch.Tensor], counters: dict) -> None:
        for name, stats in self._running_statistics().items():
            stats.load_state(name, tensors_to_numpy(tensors, name))
        if self.recurrent:
            self.collector.load_memory(tensors_to_numpy(tensors, "recurrent"))
