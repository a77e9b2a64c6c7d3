"""What both engines share: the agent's opening (device, threads, environments, spaces), the training loop
with its logging windows, evaluations, checkpoints and callbacks, evaluation, and checkpoints of any agent.

The loop, for either engine:

    while global_step < the end of this learn call:
        advance                     on-policy: one rollout and one update; off-policy: one step (and its updates)
        every logging window:       one metrics row, with an evaluation every eval_every steps
                                    -> callbacks.on_log, then callbacks.on_evaluation (if evaluated)
        every checkpoint_every steps:                                      -> callbacks.on_checkpoint
    callbacks.on_end

Callbacks are any objects with some of these methods, called with the agent (see `Callbacks`):

    on_evaluation(agent, metrics)   after each periodic evaluation (metrics["eval_return_mean"] is set)
    on_log(agent, metrics)          after each logging window; `metrics` is that metrics.csv row
    on_checkpoint(agent)            every `checkpoint_every` environment steps (a run directory saves here)
    on_end(agent)                   when training stops

`on_log` and `on_evaluation` may return False to stop training after that window (Stable-Baselines3's
convention); so does an evaluation return at or above `stop_at_return`."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol

import gymnasium as gym
import numpy as np
import torch

from actorcritic.algorithms.allocator import retain_freed_memory
from actorcritic.algorithms.checkpoints import (
    EPISODES,
    checkpoint_directory,
    is_seed_group_checkpoint,
    reading_tensors,
    rebuild_agent,
    saved_episodes,
)
from actorcritic.algorithms.precision import check_precision, resolve_precision
from actorcritic.config import MAX_SEED, AgentConfig, check_range, config_to_dict
from actorcritic.envs.episodes import EpisodeStatistics
from actorcritic.envs.evaluation import evaluate_policy
from actorcritic.envs.goals import GoalLayout
from actorcritic.envs.make import EnvMaker, space_signature
from actorcritic.envs.observations import policy_observations
from actorcritic.envs.resume import (
    episode_record,
    resume_episodes,
)
from actorcritic.envs.seeding import TRAINING_RESETS, reset_seeds
from actorcritic.errors import ActorCriticError
from actorcritic.storage.checkpoint import (
    load_module_tensors,
    load_optimizer_state,
    module_tensors,
    optimizer_state,
    save_checkpoint,
)

EMPTY_METRIC = None
"""Value of a metric with no data in a logging window (e.g. no episode ended); written as an empty CSV cell.
A non-finite value is data: it is written as nan or inf, and it stops training (`Agent.learn`)."""


def refuse_unfit_environment(agent_class: type, env_id: str) -> None:
    """The complaint that comes first: where `env_id`, built alone (no wrappers), has an action space
    `agent_class` cannot act in, say that, before any complaint about budgets or sizes that a config would
    raise for the same command (`td3 --env CartPole-v1` needs a Box action space, whatever its step counts)."""
    if not hasattr(agent_class, "refuse_action_space"):  # a trainer without environments (grpo-lm)
        return
    maker = EnvMaker(env_id)
    maker.check()
    env = maker.single()
    try:
        action_space = env.action_space
    finally:
        env.close()
    agent_class.refuse_action_space(env_id, action_space)


def resolve_device(device: str) -> torch.device:
    """The torch device of `--device`, or a one-line error where this machine has no such device."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ActorCriticError(f"--device {device} asked for a GPU but torch sees none: use --device cpu")
    if device.startswith("cuda:") and int(device[5:]) >= (count := torch.cuda.device_count()):
        raise ActorCriticError(
            f"--device {device}: torch sees {count} GPU(s), cuda:0 to cuda:{count - 1}: pick one of those"
        )
    if device == "mps" and not torch.backends.mps.is_available():
        raise ActorCriticError("--device mps asked for Apple's GPU but torch sees none: use --device cpu")
    return torch.device(device)


def build_quietly(build: Callable[[], Any], seed: int) -> Any:
    """Run `build()` (network construction) under `seed` without touching the global torch RNG stream."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def require_memory(nbytes: int, what: str) -> None:
    """Refuse, before allocating, a buffer larger than this machine's memory, with the estimate."""
    available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if nbytes > available:
        raise ActorCriticError(
            f"{what} needs {nbytes / 2**30:,.1f} GiB but this machine has {available / 2**30:,.1f} GiB: lower it"
        )


def crossed_multiple(before: int, after: int, every: int) -> bool:
    """Whether a counter going from `before` to `after` passed a multiple of `every` (never when every is 0)."""
    return every > 0 and after // every > before // every


def copied_states(states: dict[str, dict[str, torch.Tensor]]) -> dict[str, dict[str, torch.Tensor]]:
    """`get_parameters`' answer: each tensor of `states` (name -> tensor name -> tensor) copied, detached, on CPU."""
    return {name: {key: value.detach().cpu().clone() for key, value in state.items()} for name, state in states.items()}


def check_parameters(algo: str, states: dict[str, dict[str, torch.Tensor]], parameters: dict, exact: bool) -> None:
    """Refuse, in one line, `set_parameters` input that does not fit `states` (what `get_parameters` copies):
    an unknown entry, a missing one (with `exact`), other tensor names, other shapes or non-finite values."""
    if not isinstance(parameters, dict):
        raise ActorCriticError(
            f"set_parameters takes what get_parameters() returns (a dict), not {type(parameters).__name__}"
        )
    unknown = sorted(set(parameters) - set(states))
    missing = sorted(set(states) - set(parameters)) if exact else []
    if unknown or missing:
        problem = f"unknown entries {', '.join(map(str, unknown))}" if unknown else f"no {', '.join(missing)}"
        raise ActorCriticError(
            f"set_parameters got {problem}: {algo}'s are {', '.join(states)} (pass exact=False to load only some)"
        )
    for name, state in parameters.items():
        check_state(name, states[name], state)


def check_state(name: str, expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> None:
    """Refuse, in one line, a state for entry `name` with other tensor names, other shapes or non-finite values."""
    if not isinstance(state, dict) or set(state) != set(expected):
        given = ", ".join(sorted(state)) if isinstance(state, dict) else type(state).__name__
        raise ActorCriticError(
            f"set_parameters: {name} takes the tensors {', '.join(expected)}, not {given}: pass what "
            "get_parameters() returned for an agent built alike"
        )
    for key, value in state.items():
        if not torch.is_tensor(value) or value.shape != expected[key].shape:
            shape = tuple(value.shape) if torch.is_tensor(value) else type(value).__name__
            raise ActorCriticError(
                f"set_parameters: {name}.{key} has shape {shape}, this agent's has {tuple(expected[key].shape)}: "
                "the networks were built with other sizes"
            )
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise ActorCriticError(f"set_parameters: {name}.{key} holds non-finite values: pass finite parameters")


@torch.no_grad()
def load_module_states(modules: dict[str, torch.nn.Module], parameters: dict[str, dict[str, torch.Tensor]]) -> None:
    """Copy checked `parameters` into the modules they name, in place (flat optimiser buffers keep backing them)."""
    for name, state in parameters.items():
        for key, value in modules[name].state_dict().items():
            value.copy_(state[key])


class PhaseClock:
    """Wall-clock seconds spent in each phase of the loop (acting, environment, storing, update, logging), for
    finding where the time goes (PufferLib's `with profile.env:` idea). A phase ends at a `lap`, which charges
    the time since the previous lap to it: one `perf_counter` call per phase, well under a microsecond, so the
    clock always runs. It never touches the numbers of training."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._mark = time.perf_counter()

    def restart(self) -> None:
        """Forget the time since the last lap (the loop is entered anew: time outside it is nobody's)."""
        self._mark = time.perf_counter()

    def lap(self, phase: str) -> None:
        """Charge the time since the last lap (or restart) to `phase`."""
        now = time.perf_counter()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self._mark
        self._mark = now


class MetricMeans:
    """Means of named scalar metrics over a window. Values may be tensors: they are summed as tensors and
    read back once, in `means`, so that no update waits on a `.item()`."""

    def __init__(self):
        self._sums: dict[str, Any] = {}
        self._counts: dict[str, int] = {}

    def add(self, metrics: dict[str, Any]) -> None:
        for name, value in metrics.items():
            self._sums[name] = self._sums[name] + value if name in self._sums else value
            self._counts[name] = self._counts.get(name, 0) + 1

    def means(self) -> dict[str, float]:
        """The mean of each metric since the last call (in the order first added), then start afresh."""
        names = list(self._sums)
        if names and all(torch.is_tensor(self._sums[n]) for n in names):
            sums = torch.stack([self._sums[n] for n in names]).cpu()
            values = (sums / torch.tensor([self._counts[n] for n in names])).tolist()
        else:
            values = [float(self._sums[n]) / self._counts[n] for n in names]
        self._sums, self._counts = {}, {}
        return dict(zip(names, values))


class Callbacks:
    """Calls the events of the module docstring on each callback that has them, in order."""

    def __init__(self, callbacks: Iterable[Any] = ()):
        self.callbacks = list(callbacks)

    def on_evaluation(self, agent: Any, metrics: dict[str, float]) -> bool:
        """False if a callback asked to stop."""
        return self._all_continue("on_evaluation", agent, metrics)

    def on_log(self, agent: Any, metrics: dict[str, float]) -> bool:
        """False if a callback asked to stop."""
        return self._all_continue("on_log", agent, metrics)

    def on_checkpoint(self, agent: Any) -> None:
        self._all_continue("on_checkpoint", agent)

    def on_end(self, agent: Any) -> None:
        self._all_continue("on_end", agent)

    def _all_continue(self, event: str, *args: Any) -> bool:
        results = [getattr(cb, event)(*args) for cb in self.callbacks if hasattr(cb, event)]
        return all(result is not False for result in results)


class Trainer(Protocol):
    """What run directories, sweeps and experiments use of every registered algorithm, and nothing more:
    `Agent` (both engines) and `GRPOLM` provide it, and so must any new algorithm."""

    algo: str
    config_class: type
    config: Any
    global_step: int
    records_video: bool

    def learn(self, steps: int | None = None, callbacks: Iterable[Any] = ()) -> Any:
        """Train `steps` more steps (default: to config.total_steps), sending the events of this module's docstring."""

    def evaluate(
        self, episodes: int | None = None, seed: int | None = None, video_dir: str | Path | None = None
    ) -> list[float]:
        """Scores of fresh evaluation episodes (returns; grpo-lm: 1.0 or 0.0 per held-out prompt)."""

    def save(self, directory: str | Path, policy_only: bool = False) -> None:
        """A checkpoint that `load` restores exactly (`policy_only`: without what only further training needs)."""

    @classmethod
    def load(cls, directory: str | Path, **config_overrides: Any) -> "Trainer":
        """The trainer saved in `directory`."""

    def summary_extras(self) -> dict:
        """summary.json's fields beyond every run's."""


class Agent:
    """What both engines share. Both compose two parts: `learner` (the algorithm's networks, optimisers and
    update; its `modules` and `optimizers` are what a checkpoint saves) and `collector` (how experience is
    gathered: it starts the environments and keeps the episodes in flight). An engine supplies `_advance`
    (one iteration of its loop: the collector's step or batch, the learner's updates), `_log_due` and, if it
    keeps any, `_extra_state` / `_load_extra_state`; an algorithm supplies `algo`, `config_class` and its parts'
    classes."""

    algo: str
    config_class: type
    learner: Any
    """The algorithm's part, built by the engine under the run's seed."""
    collector: Any
    """The engine's part that gathers experience (rollouts, GRPO's groups, steps into a replay buffer)."""
    action_spaces: tuple[type, ...] = (
        gym.spaces.Discrete,
        gym.spaces.MultiDiscrete,
        gym.spaces.MultiBinary,
        gym.spaces.Box,
    )
    """Action spaces the algorithm supports..."""
    action_space_description = "Discrete, MultiDiscrete, MultiBinary or Box"
    """... in words."""
    action_space_hint: str = ""
    """What to use instead, said when an unsupported action space is refused."""
    evaluation_successes: list[bool] = ()
    """Each episode's `info["is_success"]` in the last `evaluate`, where the environment reports one."""

    def __init__(self, config: AgentConfig, num_envs: int, env_fn: Callable[[], gym.Env] | None = None):
        """`env_fn`, when given, is a zero-argument callable returning a `gymnasium.Env` (Stable-Baselines3's
        `make_vec_env(factory)` habit): it replaces `config.env`, which then only names the environment;
        `load` needs the same `env_fn` again."""
        if len(getattr(config, "seeds", ())) > 1:
            raise ActorCriticError(
                f"{type(self).__name__}(config) is one agent, and the config lists seeds "
                f"{' '.join(map(str, config.seeds))}: "
                f"use SeedGroup({type(self).__name__}, config) for one agent per seed (from actorcritic import "
                "SeedGroup)"
            )
        self.device = resolve_device(config.device)
        if config.precision == "auto":  # resolved once, so that config.json says which precision ran
            config = dataclasses.replace(config, precision=resolve_precision("auto", self.algo, self.device))
        self.config = config
        torch.set_num_threads(config.num_threads)
        retain_freed_memory()  # large activations re-faulted on every update otherwise (algorithms/allocator.py)
        self.env_maker = EnvMaker.from_config(config, env_fn)
        self.envs = self.env_maker.vector(num_envs, config.seed)
        self.observation_space = self.envs.single_observation_space
        self.action_space = self.envs.single_action_space
        self.refuse_action_space(config.env, self.action_space)
        if not isinstance(self.observation_space, gym.spaces.Box):
            raise ActorCriticError(
                f"{self.algo} needs a Box observation space; {config.env} has {self.observation_space}: wrap it to "
                "flatten the observations"
            )
        # one CPU stream for every random draw (acting runs on the CPU; a CUDA model receives copies)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.episodes = EpisodeStatistics(num_envs)
        self.window_metrics = MetricMeans()
        """The metrics of the current logging window's updates (one metrics.csv row)."""
        self.clock = PhaseClock()
        """Seconds per phase of the loop since this agent was built (`PhaseClock`; the benchmarks print them)."""
        self.global_step = 0
        self.updates = 0
        self._started = False  # whether the environments have been started since this agent was built or loaded
        # a loaded checkpoint's `envs.episode_record`, with the agent's `_episodes_in_flight` among the arrays
        self._saved_episodes: tuple[list[dict] | None, dict[str, np.ndarray]] = (None, {})
        self.resumed_episodes: str | None = None
        """How this agent, loaded from a checkpoint, started its environments: "continued" (the checkpoint's
        episodes, exactly) or "restarted" (new episodes); None before that, and for a fresh run."""

    @classmethod
    def refuse_action_space(cls, env: str, action_space: gym.Space) -> None:
        """One line naming the algorithm, the space it needs and the space `env` has, where it cannot act there."""
        if not isinstance(action_space, cls.action_spaces):
            raise ActorCriticError(
                f"{cls.algo} needs a {cls.action_space_description} action space, but {env} has "
                f"{action_space}{cls.action_space_hint}"
            )

    def _episode_record(self) -> tuple[list[dict] | None, dict[str, np.ndarray]]:
        """What a checkpoint keeps of the episodes (`envs.episode_record`, plus `_episodes_in_flight` where
        they can be continued exactly), or, for an agent loaded and not trained since, what it was loaded with."""
        if not self._started:
            return self._saved_episodes
        record, arrays = episode_record(self.envs, self.episodes.running_length)
        return record, ({**arrays, **self._episodes_in_flight()} if arrays else {})

    @property
    def episode_values(self) -> tuple[str, ...]:
        """The values [N] per environment copy that a checkpoint keeps of the episodes in flight, besides the
        observations (the collector's: the returns so far, and e.g. reward scaling's discounted return)."""
        return self.collector.episode_values

    def _episodes_in_flight(self) -> dict[str, np.ndarray]:
        """The collector's side of the episodes in flight, [N, ...] each: the observations the environments
        returned last, the returns so far, and whatever else it keeps per episode."""
        return self.collector.episodes_in_flight()

    def _continue_episodes(self, record: list[dict], saved: dict[str, np.ndarray]) -> None:
        """Take back `_episodes_in_flight` from a checkpoint (the episode statistics having just been made)."""
        self.episodes.running_return[:] = saved["returns"]
        self.episodes.running_length[:] = [copy["steps_since_reset"] for copy in record]
        self.collector.continue_episodes(record, saved)

    def _start_episodes(self) -> np.ndarray:
        """The first observations of the environments: a fresh run resets them with `seed`; a resumed run
        continues its checkpoint's episodes exactly where it can (`envs.resume_episodes`: every episode had
        just begun, or the environment is one of Gymnasium's MuJoCo tasks), and otherwise restarts them with
        a seed derived from its step count (reproducible, yet not the uninterrupted run's episodes)."""
        record, saved = self._saved_episodes
        continued = resume_episodes(self.envs, record, saved)
        if self.global_step > 0:
            self.resumed_episodes = "restarted" if continued is None else "continued"
        if continued is not None:
            if saved:
                self._continue_episodes(record, saved)
            return continued
        observations, _ = self.envs.reset(
            seed=reset_seeds(self.config.seed, TRAINING_RESETS, self.envs.num_envs, self.global_step)
        )
        return observations

    # ---------------------------------------------------------------- what an engine supplies

    def _reset_envs(self) -> None:
        """Start the environments (or continue a checkpoint's episodes): the collector's `start`."""
        self.collector.start()

    def _advance(self) -> None:
        """One iteration of the loop: environment steps, updates, and their metrics into `self.window_metrics`."""
        raise NotImplementedError

    def _log_due(self, step_before: int) -> bool:
        """Whether the current logging window ends here, after an iteration that began at `step_before`."""
        raise NotImplementedError

    def _update_precision(self) -> contextlib.AbstractContextManager:
        """The context of every update: with `precision` bf16, autocast runs the matrix products in bfloat16
        (several times faster where the CPU has AMX or AVX-512 BF16) while the parameters, their gradients
        and the optimiser state stay float32."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.precision == "bf16")

    def _follow_schedules(self) -> AgentConfig:
        """Move every scheduled field (`config.scheduled_fields`) to the current progress, global_step /
        total_steps: the learning rate into every optimiser, the config the learner reads to the numbers of
        now. Returns that config. Nothing changes for a config without schedules (the learner keeps its own)."""
        current = self.config.at(self.global_step / self.config.total_steps)
        if self.config.has_schedules:
            self._set_learning_rate(current.learning_rate)
            self.learner.config = current
        return current

    def _set_learning_rate(self, learning_rate: float) -> None:
        for optimizer in self.learner.optimizers().values():
            for group in optimizer.param_groups:
                group["lr"] = learning_rate

    def _parameters_changed(self) -> None:
        """Called after every update and after loading: drop whatever caches the parameters."""

    state_migrations: dict[int, Callable[[dict], dict]] = {}
    """Format version N -> the algorithm's own upgrade of a state.json from format N to N + 1, after the
    engines' (`checkpoints.upgrade_state`): what a change of this algorithm's config needs of old checkpoints."""

    records_video = True
    """Whether `evaluate(video_dir=...)` can record the episodes (an algorithm without frames says False)."""

    def summary_extras(self) -> dict:
        """What summary.json holds for this algorithm beyond every run's fields (grpo-lm: its accuracies)."""
        return {}

    metric_names: tuple[str, ...] = ()
    """Metric columns that may be missing from a window (written empty then), in column order."""

    def _modules(self) -> dict[str, torch.nn.Module]:
        """Every network, by checkpoint name: the learner's."""
        return self.learner.modules()

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Every optimiser, by checkpoint name: the learner's."""
        return self.learner.optimizers()

    def _extra_state(self, policy_only: bool = False) -> tuple[dict[str, torch.Tensor], dict]:
        """Tensors and JSON counters besides modules, optimisers and the generator (normalisers, buffers)."""
        return {}, {}

    def _load_extra_state(self, tensors: dict[str, torch.Tensor], counters: dict) -> None:
        pass

    # ---------------------------------------------------------------- acting

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        raise NotImplementedError

    def policy_observations(self, obs, flat: bool | None = None) -> tuple[np.ndarray, bool]:
        """`obs` as the policy reads them, [B, *obs_shape], and whether one observation was given: what the
        environment returns (a Discrete index, a Dict, ..., one or a vector environment's batch), flattened as
        training flattened it, or the policy's own flat vectors; `flat` True: only these (what the evaluation
        copies, flattened themselves, return), False: only the environment's (`envs.observations`)."""
        if flat:
            return policy_observations(obs, self.observation_space.shape, None, flat=True)
        return policy_observations(obs, self.observation_space.shape, self.source_observation_space(), flat)

    def source_observation_space(self) -> gym.Space:
        """The environment's own observation space, before flattening (`EnvMaker.source_observation_space`)."""
        if getattr(self, "_source_observation_space", None) is None:  # one copy built, on the first call only
            self._source_observation_space = self.env_maker.source_observation_space()
        return self._source_observation_space

    @property
    def reports_success(self) -> bool:
        """Goal-conditioned tasks report `is_success`: metrics.csv then has an `eval_success_rate` column."""
        return GoalLayout.of(self.source_observation_space()) is not None

    def predict(self, obs: np.ndarray, deterministic: bool = True, **act_options) -> tuple[np.ndarray, Any]:
        """`(act(obs, deterministic), None)`: the call of Stable-Baselines3's `predict`, for code written for it
        (`action_masks=` too, as sb3-contrib's MaskablePPO takes it, for a policy trained with masks). A recurrent
        policy's is `act`'s `(actions, state)`, with `state=` and `episode_start=` as sb3-contrib's RecurrentPPO."""
        if self.recurrent:
            return self.act(obs, deterministic, **act_options)
        return self.act(obs, deterministic, **act_options), None

    reads_action_masks = False
    """Whether the policy takes each observation's action mask (on-policy agents trained with --action-masks)."""
    recurrent = False
    """Whether the policy keeps a state between steps (--recurrent): `act` then takes and returns it."""

    def evaluate(
        self, episodes: int | None = None, seed: int | None = None, video_dir: str | Path | None = None
    ) -> list[float]:
        """Returns of fresh episodes of the deterministic policy, their resets drawn from `seed` (default:
        the run's seed) in a family of streams apart from training's (`envs.reset_seeds`); with
        `video_dir`, an mp4 of each episode there."""
        episodes = episodes or self.config.eval_episodes
        seed = self.config.seed if seed is None else seed
        act, start_episode = self._evaluation_policy()
        self.evaluation_successes = []
        return evaluate_policy(
            act,
            self.env_maker,
            episodes,
            seed,
            video_dir,
            video_prefix=f"{self.algo}-{self.config.env.replace('/', '-')}",
            action_masks=self.reads_action_masks,
            max_steps=self.config.eval_max_steps,
            start_episode=start_episode,
            successes=self.evaluation_successes,
        )

    def _evaluation_policy(self):
        """`act(obs_batch, *masks) -> actions` of the deterministic policy, and what to call as each evaluation
        episode starts (None: nothing; a recurrent policy forgets its state there)."""
        return (lambda obs, *masks: self.act(obs, True, *masks, flat=True)), None

    # ---------------------------------------------------------------- the loop

    def learn(self, steps: int | None = None, callbacks: Iterable[Any] = ()):
        """Train `steps` more environment steps, or, without `steps`, until config.total_steps.

        The learning-rate schedule (where there is one) runs over config.total_steps; a call that would end
        beyond it moves config.total_steps to its end, so the schedule stretches from the current step to
        the new end instead of being cut. `callbacks` receive the events of the module docstring."""
        for _ in self.learning_windows(steps, callbacks):
            pass
        return self

    def learning_windows(self, steps: int | None = None, callbacks: Iterable[Any] = ()) -> Iterator[dict[str, float]]:
        """`learn`, one logging window at a time: yields each metrics row after its callbacks have run. A
        multi-seed run (`actorcritic.runs.seeds.SeedGroup`) interleaves its seeds' windows this way."""
        if steps is not None:
            if steps < 1:
                raise ActorCriticError(f"learn({steps}) is out of range: train at least one environment step")
            end = self.global_step + steps
            if end > self.config.total_steps:
                self.config = dataclasses.replace(self.config, total_steps=end)
        else:
            end = self.config.total_steps
        cfg, hooks = self.config, Callbacks(callbacks)
        check_precision(cfg.precision, self.device, cfg.force_bf16)
        if not self._started and self.global_step < end:
            self._reset_envs()
            self._started = True
        window_start, window_step = time.perf_counter(), self.global_step
        self.clock.restart()
        while self.global_step < end:
            step_before = self.global_step
            try:
                self._advance()
            except ActorCriticError:
                # A diverged policy acts with NaN, and many environments turn that into a NaN observation: the
                # divergence is the real cause, so its row is written (with its nan) and it is what is reported.
                if self._non_finite_modules():
                    self._stop_if_diverged(self._diverged_row(hooks, window_start, window_step))
                raise
            keep_going, metrics = True, None
            if self._log_due(step_before) or self.global_step >= end:
                now = time.perf_counter()
                metrics = self._window_row((self.global_step - window_step) / (now - window_start))
                evaluated = crossed_multiple(step_before, self.global_step, cfg.eval_every) or bool(
                    cfg.eval_every and self.global_step >= end
                )
                if evaluated:
                    metrics["eval_return_mean"] = float(np.mean(self.evaluate()))
                    if self.evaluation_successes:
                        metrics["eval_success_rate"] = float(np.mean(self.evaluation_successes))
                keep_going = hooks.on_log(self, metrics)
                self._stop_if_diverged(metrics)  # after the row is written (with its nan), before a best model is saved
                if evaluated:
                    reached = cfg.stop_at_return is not None and metrics["eval_return_mean"] >= cfg.stop_at_return
                    keep_going = hooks.on_evaluation(self, metrics) and keep_going and not reached
            if crossed_multiple(step_before, self.global_step, cfg.checkpoint_every):
                self._stop_if_diverged({})  # a checkpoint must never hold non-finite parameters
                hooks.on_checkpoint(self)
            self.clock.lap("logging")  # the row, its evaluation, the checkpoint and the callbacks
            if metrics is not None:
                yield metrics
                self.clock.restart()  # other seeds of a SeedGroup may have run in between
                window_start, window_step = time.perf_counter(), self.global_step
            if not keep_going:
                break
        hooks.on_end(self)

    def _stop_if_diverged(self, metrics: dict[str, float | None]) -> None:
        """Raise, naming what went non-finite, if a metric of the window or a parameter did: nothing after
        the last checkpoint is saved, so the run directory keeps its last good state."""
        bad = [name for name, value in metrics.items() if isinstance(value, float) and not math.isfinite(value)]
        bad += self._non_finite_modules()
        if bad:
            raise ActorCriticError(
                f"training diverged at environment step {self.global_step}: {', '.join(bad)} became non-finite; "
                "nothing after the "
                "last checkpoint was saved (try a lower --learning-rate, or check the environment's rewards)"
            )

    def _non_finite_modules(self) -> list[str]:
        return [
            name
            for name, module in self._modules().items()
            if not all(torch.isfinite(p).all() for p in module.parameters())
        ]

    def _diverged_row(self, hooks: Callbacks, window_start: float, window_step: int) -> dict[str, float]:
        """The row of the window cut short by a divergence, written like any other (`on_log`)."""
        steps = self.global_step - window_step
        metrics = self._window_row(steps / max(time.perf_counter() - window_start, 1e-9))
        hooks.on_log(self, metrics)
        return metrics

    def _window_row(self, steps_per_second: float) -> dict[str, float]:
        returns, lengths = self.episodes.pop()
        metrics = {
            "seed": self.config.seed,
            "global_step": self.global_step,
            "updates": self.updates,
            "episode_return_mean": float(np.mean(returns)) if returns else EMPTY_METRIC,
            "episode_length_mean": float(np.mean(lengths)) if lengths else EMPTY_METRIC,
            "episodes": len(returns),
            "steps_per_second": steps_per_second,
            **{name: EMPTY_METRIC for name in self.metric_names},
            **self.window_metrics.means(),
            "eval_return_mean": EMPTY_METRIC,
            **({"eval_success_rate": EMPTY_METRIC} if self.reports_success else {}),
        }
        return metrics

    # ---------------------------------------------------------------- parameters

    def get_parameters(self) -> dict[str, dict[str, torch.Tensor]]:
        """Every network's parameters and buffers, by module name (the checkpoint's: "model", "actor", "critic",
        "critic_target", ...) then by the module's `state_dict` name, and the running statistics the policy reads
        (on-policy: "obs_normalizer", "reward_scaler": mean, var, count): copies, detached, on the CPU.
        Stable-Baselines3's `get_parameters`, without its optimisers (those stay with `save`)."""
        return copied_states(self._states())

    def set_parameters(self, parameters: dict[str, dict[str, torch.Tensor]], exact: bool = True) -> None:
        """Load `get_parameters()` output (of this agent or one built alike) in place. With `exact`, every entry
        must be given, whole; without, the entries given are loaded and the rest kept. Names, shapes and
        finiteness are checked for all of them before any is changed."""
        check_parameters(self.algo, self._states(), parameters, exact)
        statistics = self._running_statistics()
        load_module_states(
            self._modules(), {name: state for name, state in parameters.items() if name not in statistics}
        )
        for name, state in parameters.items():
            if name in statistics:
                statistics[name].load_state(name, {f"{name}.{key}": value.numpy() for key, value in state.items()})
        self._parameters_changed()

    def reseed(self, seed: int) -> None:
        """Start the agent's random streams afresh from `seed` (Stable-Baselines3's `set_random_seed`): the
        exploration, minibatch and dropout draws, and the environments, whose episodes in flight are dropped and
        which reset from `seed`'s streams at the next `learn`; evaluations default to it too. The networks keep
        their weights (build a new agent for a new initialisation). Two copies reseeded alike train alike."""
        check_range("seed", seed, 0, MAX_SEED)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ActorCriticError(f"reseed({seed!r}): a seed is an integer in [0, {MAX_SEED}]")
        self.config = dataclasses.replace(self.config, seed=seed)
        self.generator.manual_seed(seed)
        self._started, self._saved_episodes = False, (None, {})

    def _states(self) -> dict[str, dict[str, torch.Tensor]]:
        """What `get_parameters` copies: each module's state dict, each running statistic's mean, var and count."""
        states = {name: module.state_dict() for name, module in self._modules().items()}
        for name, statistics in self._running_statistics().items():
            states[name] = {
                key.rpartition(".")[2]: torch.from_numpy(np.asarray(array))
                for key, array in statistics.state(name).items()
            }
        return states

    def _running_statistics(self) -> dict[str, Any]:
        """Running statistics besides the networks, by name (`core.normalization.RunningMeanStd`): none here."""
        return {}

    # ---------------------------------------------------------------- save and load

    def save(self, directory: str | Path, policy_only: bool = False) -> None:
        """Write a checkpoint (safetensors + JSON, atomically) that `load` and `resume` restore exactly.
        `policy_only` leaves out what only further training needs and is large (the replay buffer)."""
        tensors: dict[str, torch.Tensor] = {"generator": self.generator.get_state()}
        for name, module in self._modules().items():
            tensors.update(module_tensors(name, module))
        param_groups = {}
        for name, optimizer in self._optimizers().items():
            optimizer_tensors, param_groups[name] = optimizer_state(name, optimizer)
            tensors.update(optimizer_tensors)
        extra_tensors, extra_counters = self._extra_state(policy_only)
        tensors.update(extra_tensors)
        record, episode_arrays = self._episode_record()
        if not policy_only:  # only training continues episodes
            tensors.update(
                {
                    f"{EPISODES}.{name}": torch.from_numpy(np.ascontiguousarray(array))
                    for name, array in episode_arrays.items()
                }
            )
        state = {
            "algo": self.algo,
            "env": self.config.env,
            "env_factory": self.env_maker.env_fn is not None,  # then `env` only names it: load needs env_fn again
            "observation_space": space_signature(self.observation_space),
            "action_space": space_signature(self.action_space),
            "config": config_to_dict(self.config),
            "counters": {
                "global_step": self.global_step,
                "updates": self.updates,
                "environments": record,
                **extra_counters,
            },
            "optimizer_param_groups": param_groups,
        }
        save_checkpoint(Path(directory), tensors, state)

    @classmethod
    def load(cls, directory: str | Path, env_fn: Callable[[], gym.Env] | None = None, **config_overrides: Any):
        """Rebuild an agent from a checkpoint directory (or a run directory: its checkpoint/); refuse one of
        another algorithm or other spaces. An agent trained with `env_fn` needs it again here."""
        directory = checkpoint_directory(directory)
        if is_seed_group_checkpoint(directory):
            raise ActorCriticError(
                f"{directory} holds a multi-seed checkpoint: load it with SeedGroup.load({cls.__name__}, directory), "
                f"or one seed with {cls.__name__}.load(directory / 'seed-K')"
            )
        agent, tensors, state = rebuild_agent(cls, directory, config_overrides, env_fn)
        with reading_tensors(directory):
            for name, module in agent._modules().items():
                load_module_tensors(name, module, tensors)
            for name, optimizer in agent._optimizers().items():
                load_optimizer_state(name, optimizer, tensors, state["optimizer_param_groups"].get(name))
            agent._load_extra_state(tensors, state["counters"])
            agent.generator.set_state(tensors["generator"])
        agent._saved_episodes = saved_episodes(agent, directory, state["counters"].get("environments"), tensors)
        agent._parameters_changed()
        return agent
