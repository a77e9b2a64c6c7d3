"""Environments: building Gymnasium vector environments, episode statistics, termination vs truncation.

Autoreset. Gymnasium 1.x vector environments reset a finished sub-environment automatically. We use the
``SAME_STEP`` mode: the step that ends an episode already returns the first observation of the next one,
and the true last observation of the finished episode comes in ``info["final_obs"]`` (marked by
``info["_final_obs"]``). The collector reads V of that final observation for truncated episodes, so that
``next_values[t]`` is always V of the true successor of step t (section 2 of the lecture; STYLE.md).
In ``NEXT_STEP`` mode (Gymnasium's default) every episode end would cost an extra step whose reward is
meaningless, which would have to be masked out of every estimator.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import gymnasium as gym
import numpy as np

from actorcritic.checkpoint import describe_os_error
from actorcritic.errors import ActorCriticError

PLUGIN_PACKAGES = {"ALE": ("ale_py", "ale-py")}
"""Environment namespaces whose ids a package registers when imported: namespace -> (module, pip name)."""


def check_env_id(env_id: str) -> None:
    """Refuse an id `gymnasium.make` would not accept, with one line: suggest the closest registered ids
    (only those whose packages are installed), name the module of a `module:Id` that cannot be imported,
    and the package of a plugin namespace (`ALE/...`) that is not installed."""
    if not isinstance(env_id, str):
        raise ActorCriticError(f"env must be an environment id (a string), not {type(env_id).__name__}: "
                               "pass a factory returning a gymnasium.Env as env_fn=... instead")
    name = env_id
    if ":" in env_id:
        module, name = env_id.split(":", 1)
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ActorCriticError(f"--env {env_id}: cannot import module {module!r} ({error}): run from the directory that "
                                   "holds it, or install the package") from None
    namespace = name.split("/", 1)[0] if "/" in name else None
    if namespace in PLUGIN_PACKAGES and name not in gym.registry:
        module, package = PLUGIN_PACKAGES[namespace]
        try:
            gym.register_envs(importlib.import_module(module))
        except ImportError:
            raise ActorCriticError(f"{env_id} needs the {package} package, which is not installed: pip install {package}") from None
    if name in gym.registry:
        if namespace == "ALE":
            from actorcritic.atari import quiet_ale

            quiet_ale()
        return
    close = [match for match in difflib.get_close_matches(name, list(gym.registry), n=6) if _installed(match)][:3]
    hint = f"did you mean {', '.join(close)}?" if close else "see gymnasium.pprint_registry() for the ids"
    raise ActorCriticError(f"unknown environment id {env_id!r}: {hint}")


def _installed(env_id: str) -> bool:
    """Whether a registered id's entry point imports (Box2D ids do not without Box2D)."""
    entry_point = gym.registry[env_id].entry_point
    if not isinstance(entry_point, str):
        return True
    try:
        importlib.import_module(entry_point.split(":")[0])
        return True
    except (ImportError, gym.error.DependencyNotInstalled):
        return False


@dataclass(frozen=True)
class EnvMaker:
    """How to build one copy of the environment: a Gymnasium id (with `make` keyword arguments) or a
    factory, then the user's wrappers, then flattening of any observation that is not a flat Box (Dict,
    Discrete, MultiDiscrete, MultiBinary, multi-dimensional Box: `gym.wrappers.FlattenObservation`)."""

    env_id: str
    kwargs: dict = field(default_factory=dict)
    wrappers: tuple[str, ...] = ()
    env_fn: Callable[[], gym.Env] | None = None
    keep_images: bool = False
    """Leave image observations as images (for a CNN encoder) instead of flattening them."""
    training_wrappers: tuple[str, ...] = ()
    """Wrappers of the training copies only (after `wrappers`)."""
    asynchronous: bool = False
    """Step the training copies in worker processes (one each) instead of this process."""

    @classmethod
    def from_config(cls, config, env_fn: Callable[[], gym.Env] | None = None) -> "EnvMaker":
        return cls(config.env, parse_env_kwargs(config.env_kwargs), tuple(config.wrappers), env_fn, config.encoder != "mlp",
                   tuple(config.training_wrappers), config.vectorization == "async")

    def check(self) -> None:
        if self.env_fn is None:
            check_env_id(self.env_id)
        elif not callable(self.env_fn):
            raise ActorCriticError(f"env_fn must be a zero-argument callable returning a gymnasium.Env, not {type(self.env_fn).__name__}")
        for path in self.wrappers + self.training_wrappers:
            _import_object(path, "--wrapper")

    def _wrap_training(self, env: gym.Env) -> gym.Env:
        return self._wrap(env, training=True)

    def _training_copy(self) -> gym.Env:
        env = self.env_fn() if self.env_fn is not None else gym.make(self.env_id, **self.kwargs)
        return EpisodeRecorder(self._wrap_training(env))

    def _wrap(self, env: gym.Env, training: bool = False) -> gym.Env:
        if not isinstance(env, gym.Env):
            raise ActorCriticError(f"env_fn returned {type(env).__name__}, not a gymnasium.Env")
        for path in self.wrappers + (self.training_wrappers if training else ()):
            wrapper = _import_object(path, "--wrapper")
            try:
                env = wrapper(env)
            except Exception as error:  # the user's class: whatever it raises is the user's to see, in one line
                raise ActorCriticError(f"--wrapper {path} cannot wrap {self.env_id} by itself ({type(error).__name__}: {error}): "
                                       "give a wrapper that takes only the environment") from None
        space = env.observation_space
        if self.keep_images and is_image(space):
            return env
        if not (isinstance(space, gym.spaces.Box) and len(space.shape) == 1):
            if not isinstance(space, (gym.spaces.Box, gym.spaces.Dict, gym.spaces.Tuple, gym.spaces.Discrete,
                                      gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)):
                raise ActorCriticError(f"{self.env_id}'s observation space {space} cannot be flattened: wrap it into a Box")
            env = gym.wrappers.FlattenObservation(env)
        return env

    def single(self, render_mode: str | None = None) -> gym.Env:
        """One copy (for evaluation)."""
        with missing_dependency_as_one_line(self.env_id), _bad_kwargs_as_one_line(self.env_id):
            if self.env_fn is not None:
                return self._wrap(self.env_fn())
            extra = {"render_mode": render_mode} if render_mode else {}
            return self._wrap(gym.make(self.env_id, **self.kwargs, **extra))

    def vector(self, num_envs: int, seed: int) -> gym.vector.VectorEnv:
        """N copies with same-step autoreset, stepped in this process or (`asynchronous`) in N workers. The
        copies are the same either way, and so are the numbers of a run."""
        self.check()
        route_mujoco_warnings()
        autoreset = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}
        with missing_dependency_as_one_line(self.env_id), _bad_kwargs_as_one_line(self.env_id):
            if self.asynchronous:
                self._training_copy().close()  # a bad id, argument or wrapper fails here, in one line, not in a worker
                envs = gym.vector.AsyncVectorEnv([self._training_copy] * num_envs, **autoreset)
            elif self.env_fn is not None:
                envs = gym.vector.SyncVectorEnv([self._training_copy] * num_envs, **autoreset)
            else:
                envs = gym.make_vec(self.env_id, num_envs=num_envs, vectorization_mode="sync", vector_kwargs=autoreset,
                                    wrappers=[self._wrap_training, EpisodeRecorder], **self.kwargs)
        envs.action_space.seed(seed)
        return envs


def is_image(space: gym.Space) -> bool:
    """A uint8 Box of shape HxW, HxWxC or CxHxW (C <= 4) with both sides at least 36 pixels: what the
    Nature-DQN CNN takes (its three convolutions need 36x36)."""
    if not isinstance(space, gym.spaces.Box) or space.dtype != np.uint8 or len(space.shape) not in (2, 3):
        return False
    shape = space.shape
    if len(shape) == 3:
        shape = shape[:2] if shape[2] <= 4 else shape[1:] if shape[0] <= 4 else (0, 0)
    return min(shape) >= 36


TRAINING_RESETS, EVALUATION_RESETS, GROUP_RESETS = 0, 1, 2
"""Kinds of environment resets of a run, each a family of random streams of its own (`reset_seeds`)."""


def reset_seeds(seed: int, kind: int, count: int, position: int = 0) -> list[int]:
    """Reset seeds for `count` environment copies (or evaluation episodes) of the run with seed `seed`: the
    children of numpy.random.SeedSequence([seed, kind, position]). With the common `seed + i`, seed 0's copy 1
    and seed 1's copy 0 would share one stream of start states, and two "independent" seeds of a run would
    be correlated. `position` tells apart the resets of one kind within a run (e.g. a restart's step)."""
    children = np.random.SeedSequence([seed, kind, position]).spawn(count)
    return [int(child.generate_state(1)[0]) for child in children]


def make_vector_env(env_id: str, num_envs: int, seed: int) -> gym.vector.VectorEnv:
    """N copies of `env_id` stepped in this process with same-step autoreset."""
    return EnvMaker(env_id).vector(num_envs, seed)


def parse_env_kwargs(pairs: tuple[str, ...]) -> dict:
    """("KEY=VALUE", ...) -> {KEY: VALUE}, each value read as JSON when it parses (numbers, true, null,
    lists), else kept as a string. A number that is not finite (NaN, inf, 1e400, also inside a list) is
    refused: no environment parameter means it, and it would surface later as a NaN observation."""
    kwargs = {}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        if not equals or not key.isidentifier():
            raise ActorCriticError(f"--env-kwargs {pair!r} is not KEY=VALUE: write e.g. --env-kwargs max_episode_steps=500")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        if not _all_finite(value):
            raise ActorCriticError(f"--env-kwargs {pair!r} is not a finite number: give {key} a finite value")
        kwargs[key] = value
    return kwargs


def _all_finite(value) -> bool:
    """Whether every number in a value read by `parse_env_kwargs` is finite; a string that Python reads as
    a non-finite float ("nan", "-inf", "Infinity") counts as that number."""
    if isinstance(value, str):
        try:
            return math.isfinite(float(value))
        except ValueError:
            return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_all_finite(item) for item in value)
    if isinstance(value, dict):
        return all(_all_finite(item) for item in value.values())
    return True


def _import_object(path: str, flag: str):
    module, colon, name = path.partition(":")
    if not colon:
        raise ActorCriticError(f"{flag} {path!r} is not module:Name: write e.g. {flag} gymnasium.wrappers:ClipReward")
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as error:
        raise ActorCriticError(f"{flag} {path}: cannot import module {module!r} ({error})") from None
    except AttributeError:
        raise ActorCriticError(f"{flag} {path}: module {module!r} has no {name!r}") from None


@contextlib.contextmanager
def _bad_kwargs_as_one_line(env_id: str):
    try:
        yield
    except TypeError as error:
        if "argument" not in str(error):
            raise
        raise ActorCriticError(f"{env_id} does not take these arguments ({error}): check --env-kwargs") from None


@contextlib.contextmanager
def missing_dependency_as_one_line(env_id: str):
    """An environment whose optional package is missing (Box2D for LunarLander-v3 and CarRacing-v3, ...):
    one line naming what to install, instead of Gymnasium's traceback."""
    try:
        yield
    except gym.error.DependencyNotInstalled as error:
        raise ActorCriticError(f"{env_id} needs a package that is not installed: {' '.join(str(error).split())}") from None


class EpisodeRecorder(gym.Wrapper):
    """Remembers what a checkpoint needs to continue this environment copy's episode on resume, exactly:

    - its last reset: the state of its random generator just before it and the seed it was given, replayed
      when the episode had just begun at the checkpoint (`reset_seed`, `pre_reset_rng`);
    - for one of Gymnasium's MuJoCo environments under stateless wrappers only, MuJoCo's integration state
      before its last step. Resuming sets the copy to that state and replays the last step's controls:
      this rebuilds the state and also what MuJoCo derived during that step and the next step reads (the
      "position before" of Ant and Humanoid), which setting the state alone would not (`episode_snapshot`,
      `continue_from`).

    Other environments' steps go straight to the environment: no extra call on their hot path."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.pre_reset_rng: dict | None = None
        self.reset_seed: int | None = None
        self.restore_rng: dict | None = None  # set by `resume_episodes`: the generator state to reset from
        self.continue_from: dict | None = None  # set by `resume_episodes`: the snapshot to continue after the reset
        self.continued = False  # whether the last reset continued its snapshot exactly
        self._time_limit = None
        self._mujoco = mujoco_physics(env)
        if self._mujoco is None:
            self.step = env.step
            self.physics_size = None
        else:
            self._time_limit = next((w for w in wrapper_chain(env) if isinstance(w, gym.wrappers.TimeLimit)), None)
            self.physics_size = len(self._mujoco.before)

    def step(self, action):
        self._mujoco.read(self._mujoco.before)
        return self.env.step(action)

    def reset(self, *, seed=None, options=None):
        if self.restore_rng is not None:
            self.env.unwrapped.np_random.bit_generator.state, self.restore_rng = self.restore_rng, None
        self.pre_reset_rng = self.env.unwrapped.np_random.bit_generator.state if seed is None else None
        self.reset_seed = seed
        observation, info = self.env.reset(seed=seed, options=options)
        snapshot, self.continue_from = self.continue_from, None
        self.continued = snapshot is None or self._continue(snapshot)
        return observation, info

    def episode_snapshot(self) -> dict | None:
        """The running episode's state (see the class): MuJoCo's state before the last step and now, the
        environment's generator state and the time limit's step count; None where this copy cannot continue
        its episodes exactly."""
        if self._mujoco is None:
            return None
        now = np.empty_like(self._mujoco.before)
        self._mujoco.read(now)
        return {"physics_before": self._mujoco.before.copy(), "physics": now, "rng": self.env.unwrapped.np_random.bit_generator.state,
                "elapsed_steps": self._time_limit._elapsed_steps if self._time_limit is not None else None}

    def _continue(self, snapshot: dict) -> bool:
        """Set this copy to `snapshot` (from `episode_snapshot`) by replaying its last step; whether the
        state reached is the snapshot's, bit for bit."""
        if self._mujoco is None or snapshot["physics"].shape != self._mujoco.before.shape or (
                (self._time_limit is None) != (snapshot["elapsed_steps"] is None)):
            return False
        physics = self._mujoco
        physics.write(snapshot["physics"])
        controls = physics.data.ctrl.copy()
        physics.write(snapshot["physics_before"])
        self.env.unwrapped.do_simulation(controls, self.env.unwrapped.frame_skip)
        physics.read(physics.before)
        if not np.array_equal(physics.before, snapshot["physics"]):
            return False
        physics.before[:] = snapshot["physics_before"]  # as in the run that saved it, for a checkpoint before the next step
        self.env.unwrapped.np_random.bit_generator.state = snapshot["rng"]
        if self._time_limit is not None:
            self._time_limit._elapsed_steps = snapshot["elapsed_steps"]
        return True


STATELESS_WRAPPERS = (
    gym.wrappers.TimeLimit,  # its step count is in the snapshot
    gym.wrappers.OrderEnforcing, gym.wrappers.PassiveEnvChecker, gym.wrappers.FlattenObservation, gym.wrappers.ClipAction,
    gym.wrappers.RescaleAction, gym.wrappers.ClipReward, gym.wrappers.DtypeObservation, gym.wrappers.RescaleObservation,
)
"""Wrappers that keep nothing from one step of an episode to the next, beyond what `EpisodeRecorder` saves."""


def wrapper_chain(env: gym.Env) -> list[gym.Wrapper]:
    """The wrappers around an environment, outermost first."""
    chain = []
    while isinstance(env, gym.Wrapper):
        chain.append(env)
        env = env.env
    return chain


class MujocoPhysics:
    """Reads and writes a MuJoCo simulation's integration state (`mj_getState` / `mj_setState` with
    mjSTATE_INTEGRATION: time, positions, velocities, actuator activations, controls, applied forces and
    the constraint solver's warm start), everything `mj_step` reads; `before` is a buffer of that size."""

    def __init__(self, model, data):
        import mujoco

        self._get, self._set, self._spec = mujoco.mj_getState, mujoco.mj_setState, mujoco.mjtState.mjSTATE_INTEGRATION
        self.model, self.data = model, data
        self.before = np.empty(mujoco.mj_stateSize(model, self._spec))

    def read(self, out: np.ndarray) -> None:
        self._get(self.model, self.data, out, self._spec)

    def write(self, state: np.ndarray) -> None:
        self._set(self.model, self.data, state, self._spec)


def mujoco_physics(env: gym.Env) -> MujocoPhysics | None:
    """The simulation of one of Gymnasium's own MuJoCo environments under `STATELESS_WRAPPERS` only; None
    otherwise, since another environment or wrapper may keep per-episode state that no checkpoint holds."""
    unwrapped, chain = env.unwrapped, wrapper_chain(env)
    if not type(unwrapped).__module__.startswith("gymnasium.envs.mujoco."):
        return None
    from gymnasium.envs.mujoco import MujocoEnv  # imports mujoco: only for Gymnasium's MuJoCo tasks

    if not isinstance(unwrapped, MujocoEnv) or not all(type(wrapper) in STATELESS_WRAPPERS for wrapper in chain):
        return None
    if sum(isinstance(wrapper, gym.wrappers.TimeLimit) for wrapper in chain) > 1:  # the snapshot holds one count
        return None
    return MujocoPhysics(unwrapped.model, unwrapped.data)


EPISODE_STATES = ("physics_before", "physics")
"""The arrays of `episode_record`; with them a checkpoint holds the agent's observations and `values`."""


def episode_record(envs: gym.vector.VectorEnv, steps_since_reset: np.ndarray) -> tuple[list[dict], dict[str, np.ndarray]]:
    """What a checkpoint keeps of the copies' episodes. JSON, one entry per copy: its last reset (generator
    state before it, seed) and the steps its episode has taken since (the running lengths of
    `EpisodeStatistics`). Where some episode is in flight and every copy can continue exactly
    (`EpisodeRecorder`), also each copy's generator state and time-limit count, and arrays
    [N, state size] of the MuJoCo states before each copy's last step and now; otherwise no arrays."""
    # get_attr and call reach the copies whether they live in this process or in workers
    record = [{"pre_reset_rng": rng, "reset_seed": seed, "steps_since_reset": int(steps)}
              for rng, seed, steps in zip(envs.get_attr("pre_reset_rng"), envs.get_attr("reset_seed"), steps_since_reset)]
    if not any(copy["steps_since_reset"] for copy in record):
        return record, {}
    snapshots = envs.call("episode_snapshot")
    if any(snapshot is None for snapshot in snapshots):
        return record, {}
    for copy, snapshot in zip(record, snapshots):
        copy["rng"], copy["elapsed_steps"] = snapshot["rng"], snapshot["elapsed_steps"]
    return record, {name: np.stack([snapshot[name] for snapshot in snapshots]) for name in EPISODE_STATES}


def checked_episode_record(record, arrays: dict[str, np.ndarray], copies: int, physics_size: int | None,
                           observation_shape: tuple[int, ...], values: tuple[str, ...]) -> tuple[list[dict] | None, dict[str, np.ndarray]]:
    """A checkpoint's `episode_record` (`arrays` with the agent's observations and `values` [N]) as read
    back: raises ValueError naming what is malformed; drops the arrays, so that new episodes start, where
    they are well formed but made for other environments (another number of copies or MuJoCo state size)."""
    if record is None:
        return None, {}
    if not isinstance(record, list) or not all(isinstance(copy, dict) for copy in record):
        raise ValueError("counters.environments is not a list of objects")
    for copy in record:
        steps, seed = copy.get("steps_since_reset"), copy.get("reset_seed")
        if type(steps) is not int or steps < 0:
            raise ValueError(f"steps_since_reset {steps!r} is not a count")
        if seed is None and not _generator_state(copy.get("pre_reset_rng")) or seed is not None and (type(seed) is not int or seed < 0):
            raise ValueError("a last reset has neither a seed (a count) nor a generator state")
    in_flight = [copy for copy in record if copy["steps_since_reset"] != 0]
    if not arrays or not in_flight:
        return record, {}
    names = {*EPISODE_STATES, "observations", *values}
    if set(arrays) != names:
        raise ValueError(f"episodes.* tensors are {sorted(arrays)}, not {sorted(names)}")
    rows = {name: len(array) if array.ndim else None for name, array in arrays.items()}
    if set(rows.values()) != {len(record)} or arrays["physics"].shape != arrays["physics_before"].shape or arrays["physics"].ndim != 2 \
            or any(arrays[name].ndim != 1 for name in values) or any(arrays[name].dtype != np.float64 for name in (*EPISODE_STATES, *values)):
        raise ValueError("episodes.* tensors are not one float64 row per environment copy")
    for copy in in_flight:
        if not _generator_state(copy.get("rng")) or "elapsed_steps" not in copy or not (
                copy["elapsed_steps"] is None or type(copy["elapsed_steps"]) is int and copy["elapsed_steps"] >= 0):
            raise ValueError("an episode in flight has no generator state or time-limit count")
    if len(record) != copies or arrays["physics"].shape[1] != physics_size or arrays["observations"].shape[1:] != observation_shape:
        return record, {}
    return record, arrays


def _generator_state(state) -> bool:
    """Whether `state` is a NumPy bit generator's state: one PCG64 (Gymnasium's `np_random`) accepts, or
    one of another bit generator by name."""
    if not isinstance(state, dict) or not isinstance(state.get("bit_generator"), str):
        return False
    if state["bit_generator"] != "PCG64":
        return True
    try:
        np.random.PCG64().state = state
        return True
    except (TypeError, ValueError, KeyError):
        return False


def resume_episodes(envs: gym.vector.VectorEnv, record: list[dict] | None, saved: dict[str, np.ndarray]) -> np.ndarray | None:
    """Continue a checkpoint's episodes exactly: replay every copy's last reset, then set each copy whose
    episode was in flight back to its snapshot. `record` and `saved` are `episode_record`'s, `saved` with
    the observations [N, ...] the agent acted on. Returns the observations to act on next; None (nothing
    continued) where the checkpoint has no record of these copies, or an episode in flight and no snapshot
    (another environment, or wrappers with state of their own): the caller then starts new episodes."""
    if not record or len(record) != envs.num_envs:
        return None
    in_flight = np.array([copy["steps_since_reset"] != 0 for copy in record])
    if in_flight.any() and "physics" not in saved:
        return None
    envs.set_attr("restore_rng", [copy["pre_reset_rng"] if copy["reset_seed"] is None else None for copy in record])
    envs.set_attr("continue_from", [
        {**{name: saved[name][i] for name in EPISODE_STATES}, "rng": copy["rng"], "elapsed_steps": copy["elapsed_steps"]} if in_flight[i] else None
        for i, copy in enumerate(record)])
    observations, _ = envs.reset(seed=[copy["reset_seed"] for copy in record])
    if not all(envs.get_attr("continued")):
        print("actorcritic: warning: replaying the checkpoint's last environment step did not reach its saved MuJoCo state: "
              "new episodes start instead", file=sys.stderr)
        return None
    if in_flight.any():
        observations[in_flight] = saved["observations"][in_flight]
    return observations


def route_mujoco_warnings() -> None:
    """MuJoCo prints its warnings straight to stderr, among them a deprecation in the model files that
    Gymnasium ships ("compiler attribute 'settotalmass' is deprecated"), which is nothing the user can act
    on and would break the one-line error promise. Drop that one; say any other in one line."""
    try:
        import mujoco
    except ImportError:
        return

    def warn(message: str) -> None:
        if "is deprecated and will be removed" not in message:
            print(f"actorcritic: warning: MuJoCo: {' '.join(message.split())}", file=sys.stderr)

    mujoco.set_mju_user_warning(warn)


def space_signature(space: gym.Space) -> dict:
    """A JSON description of a space, stored in checkpoints to refuse a model built for other spaces."""
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n)}
    if isinstance(space, gym.spaces.Box):
        return {"type": "Box", "shape": list(space.shape)}
    if isinstance(space, gym.spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": np.asarray(space.nvec).tolist()}
    if isinstance(space, gym.spaces.MultiBinary):
        return {"type": "MultiBinary", "shape": list(space.shape)}
    return {"type": type(space).__name__}


def check_finite_step(env_id: str, step: int, obs: np.ndarray, rewards: np.ndarray) -> None:
    """Refuse a non-finite reward or observation at the step it appears: one NaN reward would otherwise turn
    the parameters into NaN a few updates later, far from its cause."""
    if np.isfinite(rewards).all() and np.isfinite(obs).all():
        return
    what = "reward" if not np.isfinite(rewards).all() else "observation"
    values = rewards if what == "reward" else obs
    raise ActorCriticError(
        f"{env_id} returned a non-finite {what} ({values[~np.isfinite(values)].ravel()[0]}) at environment step {step}: "
        "fix the environment, or wrap it to clip or replace such values"
    )


def final_observations(obs: np.ndarray, info: dict) -> np.ndarray:
    """The true successor observation of every actor's last step: `obs`, except where an episode just
    ended, where it is the episode's final observation from ``info["final_obs"]``. [N, *obs_shape]."""
    ended = info.get("_final_obs")
    if ended is None or not ended.any():
        return obs
    successors = obs.copy()
    for index in np.flatnonzero(ended):
        successors[index] = info["final_obs"][index]
    return successors


class EpisodeStatistics:
    """Undiscounted returns and lengths of the episodes the actors finish, from the raw environment rewards."""

    def __init__(self, num_envs: int):
        self.running_return = np.zeros(num_envs, dtype=np.float64)
        self.running_length = np.zeros(num_envs, dtype=np.int64)
        self.returns: list[float] = []
        self.lengths: list[int] = []

    def step(self, rewards: np.ndarray, dones: np.ndarray) -> None:
        self.running_return += rewards
        self.running_length += 1
        if dones.any():
            self.returns.extend(self.running_return[dones].tolist())
            self.lengths.extend(self.running_length[dones].tolist())
            self.running_return[dones] = 0.0
            self.running_length[dones] = 0

    def pop(self) -> tuple[list[float], list[int]]:
        """The returns and lengths of the episodes finished since the last call."""
        returns, lengths = self.returns, self.lengths
        self.returns, self.lengths = [], []
        return returns, lengths


def evaluate_policy(act, env: str | EnvMaker, episodes: int, seed: int, video_dir: str | Path | None = None,
                    video_prefix: str = "episode") -> list[float]:
    """Undiscounted returns of `episodes` fresh episodes of `act(obs_batch) -> action_batch`, one
    environment (an id or an `EnvMaker`), episode i reset with `reset_seeds(seed, EVALUATION_RESETS, episodes)[i]`.
    With `video_dir`, each episode is also written there as `{video_prefix}-episode-{i}.mp4` (Gymnasium's
    RecordVideo; needs moviepy, the `video` extra)."""
    maker = env if isinstance(env, EnvMaker) else EnvMaker(env)
    maker.check()
    env = _video_env(maker, Path(video_dir), video_prefix) if video_dir is not None else maker.single()
    returns = []
    try:
        for episode_seed in reset_seeds(seed, EVALUATION_RESETS, episodes):  # rendering for a video may find its dependency missing only here
            obs, _ = env.reset(seed=episode_seed)
            total, done = 0.0, False
            while not done:
                action = act(obs[None])[0]
                obs, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
    except gym.error.DependencyNotInstalled as error:
        raise _missing_video_dependency(error) from None
    except OSError as error:
        if video_dir is None:
            raise
        raise _unwritable_video_directory(video_dir, error) from None  # the checks allowed it, the filesystem refused a file (a full disk)
    finally:
        env.close()
    return returns


def _video_env(maker: EnvMaker, video_dir: Path, prefix: str) -> gym.Env:
    # MuJoCo picks its OpenGL backend when it is first imported; EGL renders off-screen on a headless machine
    os.environ.setdefault("MUJOCO_GL", "egl")
    # classic control draws with pygame into an off-screen surface; without this SDL probes for a display
    # as pygame starts and prints "XDG_RUNTIME_DIR is invalid" to stderr on a headless machine
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    try:
        env = maker.single(render_mode="rgb_array")
        return gym.wrappers.RecordVideo(env, str(video_dir), episode_trigger=lambda _: True, name_prefix=prefix, disable_logger=True)
    except gym.error.DependencyNotInstalled as error:
        raise _missing_video_dependency(error) from None
    except OSError as error:
        raise _unwritable_video_directory(video_dir, error) from None


def _unwritable_video_directory(video_dir, error: OSError) -> ActorCriticError:
    return ActorCriticError(f"--video {video_dir} cannot be written ({describe_os_error(error)}): give a writable directory with free space")


def _missing_video_dependency(error: Exception) -> ActorCriticError:
    return ActorCriticError(f"--video needs moviepy and pygame ({str(error).splitlines()[0]}): pip install 'actorcritic[video]'")
