"""Building environments: ids checked with one-line errors, wrappers and keyword arguments, Gymnasium vector
environments with same-step autoreset, the spaces' signatures.

Autoreset. Gymnasium 1.x vector environments reset a finished sub-environment automatically. We use the
``SAME_STEP`` mode: the step that ends an episode already returns the first observation of the next one,
and the true last observation of the finished episode comes in ``info["final_obs"]`` (marked by
``info["_final_obs"]``). The collector reads V of that final observation for truncated episodes, so that
``next_values[t]`` is always V of the true successor of step t (section 2 of the lecture; STYLE.md).
In ``NEXT_STEP`` mode (Gymnasium's default) every episode end would cost an extra step whose reward is
meaningless, which would have to be masked out of every estimator."""

from __future__ import annotations

import contextlib
import difflib
import importlib
import io
import json
import math
import sys
import warnings
from dataclasses import dataclass, field
from typing import Callable

import gymnasium as gym
import numpy as np

from actorcritic.envs.masks import with_action_masks
from actorcritic.envs.resume import EpisodeRecorder
from actorcritic.errors import ActorCriticError

PLUGIN_PACKAGES = {
    "ALE/": ("ale_py", "ale-py"),
    "popgym-": ("popgym", "popgym"),
    "Fetch": ("gymnasium_robotics", "gymnasium-robotics"),
}
"""Environment id prefixes whose ids a package registers when imported: prefix -> (module, pip name). ALE's Atari
games, POPGym's memory tasks (`popgym-RepeatPreviousEasy-v0`) and Gymnasium-Robotics' Fetch tasks
(`FetchReach-v4`) need no `module:` in front of the id."""


def check_env_id(env_id: str) -> None:
    """Refuse an id `gymnasium.make` would not accept, with one line: suggest the closest registered ids
    (only those whose packages are installed), name the module of a `module:Id` that cannot be imported,
    and the package of a plugin prefix (`ALE/...`, `popgym-...`) that is not installed."""
    if not isinstance(env_id, str):
        raise ActorCriticError(
            f"env must be an environment id (a string), not {type(env_id).__name__}: "
            "pass a factory returning a gymnasium.Env as env_fn=... instead"
        )
    name = env_id
    if ":" in env_id:
        module, name = env_id.split(":", 1)
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ActorCriticError(
                f"--env {env_id}: cannot import module {module!r} ({error}): run from the directory that "
                "holds it, or install the package"
            ) from None
    prefix = next((prefix for prefix in PLUGIN_PACKAGES if name.startswith(prefix)), None)
    if prefix is not None and name not in gym.registry:
        module, package = PLUGIN_PACKAGES[prefix]
        try:
            # gymnasium-robotics prints a notice about its Adroit tasks on import: keep stderr for errors
            with contextlib.redirect_stderr(io.StringIO()):
                gym.register_envs(importlib.import_module(module))
        except ImportError:
            raise ActorCriticError(
                f"{env_id} needs the {package} package, which is not installed: pip install {package}"
            ) from None
    if name in gym.registry:
        if prefix == "ALE/":
            from actorcritic.envs.atari import quiet_ale

            quiet_ale()
        if prefix == "Fetch":
            check_fetch_mujoco(env_id)
        return
    close = [match for match in difflib.get_close_matches(name, list(gym.registry), n=6) if _installed(match)][:3]
    hint = f"did you mean {', '.join(close)}?" if close else "see gymnasium.pprint_registry() for the ids"
    raise ActorCriticError(f"unknown environment id {env_id!r}: {hint}")


FETCH_MUJOCO_LIMIT = (3, 12)
"""gymnasium-robotics 1.4.2 (the latest release) cannot build its Fetch tasks on MuJoCo 3.12 or later: it checks a
joint's type with `numpy_int in (mjtJoint.mjJNT_HINGE, mjtJoint.mjJNT_SLIDE)`, which MuJoCo's enums stopped
answering True at 3.12, and the construction fails on a bare AssertionError."""


def check_fetch_mujoco(env_id: str) -> None:
    """Refuse a Fetch task where the installed MuJoCo and gymnasium-robotics cannot build it (`FETCH_MUJOCO_LIMIT`),
    with the pin that fixes it, instead of gymnasium-robotics' AssertionError from inside its constructor."""
    import mujoco
    from gymnasium_robotics import __version__ as robotics_version

    def version(text: str) -> tuple[int, ...]:
        return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())

    if version(mujoco.__version__)[:2] >= FETCH_MUJOCO_LIMIT and version(robotics_version) <= (1, 4, 2):
        raise ActorCriticError(
            f"{env_id}: gymnasium-robotics {robotics_version} cannot build the Fetch tasks on MuJoCo "
            f"{mujoco.__version__} (its joint-type check fails from 3.12 on): pip install 'mujoco<3.12' "
            "(the robotics extra, pip install 'actorcritic[robotics]', pins it)"
        )


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


class DeclaredSpacesCheck(gym.Wrapper):
    """Checks a user's environment against what it declares, once: its first reset returns (observation, info)
    and its first step the five values of Gymnasium's API, with observations of the declared space's shape and
    dtype. A mistake becomes one line naming the environment, what it returned and what it declared, instead of
    NumPy's "Output array is the wrong shape" from inside the vector environment. Afterwards the calls go
    straight to the environment."""

    def __init__(self, env: gym.Env, env_id: str):
        super().__init__(env)
        self.env_id = env_id

    def reset(self, **kwargs):
        with warnings.catch_warnings():  # gymnasium's passive checker warns of what is said here in one line
            warnings.simplefilter("ignore")
            result = self.env.reset(**kwargs)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise ActorCriticError(
                f"{self.env_id}'s reset returned {_described(result)}, not (observation, info): update it to "
                "Gymnasium's API (reset(seed=None, options=None) -> (obs, info))"
            )
        self._check_observation(result[0], "reset")
        self.reset = self.env.reset  # checked once: the next resets go straight through
        return result

    def step(self, action):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = self.env.step(action)
        except ValueError as error:
            if "values to unpack" not in str(error):
                raise
            result = None  # a wrapper of gymnasium.make unpacked the environment's result and failed
        if not (isinstance(result, tuple) and len(result) == 5):
            returned = _described(result) if result is not None else "another number of values"
            raise ActorCriticError(
                f"{self.env_id}'s step returned {returned}, not the 5 of Gymnasium's API (obs, reward, terminated, "
                "truncated, info): update it (the old Gym API's done is terminated or truncated)"
            )
        self._check_observation(result[0], "step")
        self.step = self.env.step
        return result

    def _check_observation(self, observation, where: str) -> None:
        space = self.observation_space
        if not isinstance(space, gym.spaces.Box):
            return
        array = np.asarray(observation)
        if array.shape != space.shape or not np.can_cast(array.dtype, space.dtype, casting="same_kind"):
            raise ActorCriticError(
                f"{self.env_id}'s {where} returned an observation of shape {array.shape} and dtype {array.dtype}, "
                f"but its observation_space declares shape {space.shape} and dtype {space.dtype}: make them agree"
            )


def _described(result) -> str:
    return f"a tuple of {len(result)} values" if isinstance(result, tuple) else f"a {type(result).__name__}"


def _is_gymnasium_own(env_id: str) -> bool:
    """Whether `env_id` is one of Gymnasium's, ALE's or Gymnasium-Robotics' environments, tested by their authors:
    those skip `DeclaredSpacesCheck`."""
    try:
        entry_point = gym.spec(env_id).entry_point
    except Exception:  # an id gymnasium cannot resolve fails elsewhere, in its own line
        return False
    name = entry_point if isinstance(entry_point, str) else getattr(entry_point, "__module__", "")
    return name.startswith(("gymnasium.envs.", "ale_py", "gymnasium_robotics"))


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
    action_masks: bool = False
    """Give each copy an `action_masks()` method from whichever convention it uses (`envs.masks`)."""

    @classmethod
    def from_config(cls, config, env_fn: Callable[[], gym.Env] | None = None) -> "EnvMaker":
        return cls(
            config.env,
            parse_env_kwargs(config.env_kwargs),
            tuple(config.wrappers),
            env_fn,
            config.encoder != "mlp",
            tuple(config.training_wrappers),
            config.vectorization == "async",
            getattr(config, "action_masks", False),
        )

    def check(self) -> None:
        if self.env_fn is None:
            check_env_id(self.env_id)
        elif not callable(self.env_fn):
            raise ActorCriticError(
                f"env_fn must be a zero-argument callable returning a gymnasium.Env, not {type(self.env_fn).__name__}"
            )
        for spec in self.wrappers + self.training_wrappers:
            path, _ = parse_wrapper(spec)
            _import_object(path, "--wrapper")

    def _wrap_training(self, env: gym.Env) -> gym.Env:
        return self._wrap(env, training=True)

    def _training_copy(self) -> gym.Env:
        return EpisodeRecorder(self._wrap_training(self._new_copy()))

    def _new_copy(self, render_mode: str | None = None) -> gym.Env:
        """One copy as the id or the factory makes it, before any wrapper of ours."""
        if self.env_fn is not None:
            return self.env_fn()
        extra = {"render_mode": render_mode} if render_mode else {}
        return gym.make(self.env_id, **self.kwargs, **extra)

    def source_observation_space(self) -> gym.Space:
        """The observation space of one copy before flattening: what its `reset` and `step` return to a user who
        steps the environment (a Discrete index, a Dict, ...), with the user's wrappers applied."""
        with missing_dependency_as_one_line(self.env_id), _bad_kwargs_as_one_line(self.env_id):
            env = self._new_copy()
        try:
            return self._unflattened(env).observation_space
        finally:
            env.close()

    def _unflattened(self, env: gym.Env, training: bool = False) -> gym.Env:
        """`env` checked and wrapped as training and evaluation see it, but for the flattening."""
        if not isinstance(env, gym.Env):
            raise ActorCriticError(f"env_fn returned {type(env).__name__}, not a gymnasium.Env")
        if self.env_fn is not None or not _is_gymnasium_own(self.env_id):
            env = DeclaredSpacesCheck(env, self.env_id)
        for spec in self.wrappers + (self.training_wrappers if training else ()):
            path, kwargs = parse_wrapper(spec)
            wrapper = _import_object(path, "--wrapper")
            try:
                env = wrapper(env, **kwargs)
            except Exception as error:  # the user's class: whatever it raises is the user's to see, in one line
                given = "with these arguments" if kwargs else "by itself"
                raise ActorCriticError(
                    f"--wrapper {spec} cannot wrap {self.env_id} {given} ({type(error).__name__}: {error}): "
                    "give the arguments it needs as module:Class:key=value,key=value"
                ) from None
        if self.action_masks:  # before flattening: a Dict observation's mask is taken out of it
            env = with_action_masks(env, self.env_id)
        return env

    def _wrap(self, env: gym.Env, training: bool = False) -> gym.Env:
        env = self._unflattened(env, training)
        space = env.observation_space
        if self.keep_images and is_image(space):
            return env
        if not (isinstance(space, gym.spaces.Box) and len(space.shape) == 1):
            if not isinstance(
                space,
                (
                    gym.spaces.Box,
                    gym.spaces.Dict,
                    gym.spaces.Tuple,
                    gym.spaces.Discrete,
                    gym.spaces.MultiDiscrete,
                    gym.spaces.MultiBinary,
                ),
            ):
                raise ActorCriticError(
                    f"{self.env_id}'s observation space {space} cannot be flattened: wrap it into a Box"
                )
            env = gym.wrappers.FlattenObservation(env)
        return env

    def single(self, render_mode: str | None = None) -> gym.Env:
        """One copy (for evaluation)."""
        with missing_dependency_as_one_line(self.env_id), _bad_kwargs_as_one_line(self.env_id):
            return self._wrap(self._new_copy(render_mode))

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
                envs = gym.make_vec(
                    self.env_id,
                    num_envs=num_envs,
                    vectorization_mode="sync",
                    vector_kwargs=autoreset,
                    wrappers=[self._wrap_training, EpisodeRecorder],
                    **self.kwargs,
                )
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


def make_vector_env(env_id: str, num_envs: int, seed: int) -> gym.vector.VectorEnv:
    """N copies of `env_id` stepped in this process with same-step autoreset."""
    return EnvMaker(env_id).vector(num_envs, seed)


def parse_env_kwargs(
    pairs: tuple[str, ...], flag: str = "--env-kwargs", example: str = "--env-kwargs max_episode_steps=500"
) -> dict:
    """("KEY=VALUE", ...) -> {KEY: VALUE}, each value read as JSON when it parses (numbers, true, null,
    lists), else kept as a string. A number that is not finite (NaN, inf, 1e400, also inside a list) is
    refused: no environment parameter means it, and it would surface later as a NaN observation."""
    kwargs = {}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        if not equals or not key.isidentifier():
            raise ActorCriticError(f"{flag} {pair!r} is not KEY=VALUE: write e.g. {example}")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        if not _all_finite(value):
            raise ActorCriticError(f"{flag} {pair!r} is not a finite number: give {key} a finite value")
        kwargs[key] = value
    return kwargs


def parse_wrapper(spec: str) -> tuple[str, dict]:
    """`module:Class` or `module:Class:key=value,key=value` -> ("module:Class", {key: value}); values read as
    in --env-kwargs (JSON where they parse: numbers, true, lists such as [1, 2], whose commas do not split)."""
    module, _, rest = spec.partition(":")
    name, _, arguments = rest.partition(":")
    pairs = tuple(_top_level_items(arguments)) if arguments else ()
    example = "--wrapper gymnasium.wrappers:FrameStackObservation:stack_size=4"
    return f"{module}:{name}" if rest else spec, parse_env_kwargs(pairs, f"--wrapper {spec}:", example)


def _top_level_items(text: str) -> list[str]:
    """`text` split at the commas outside brackets and quotes."""
    items, depth, quoted, start = [], 0, False, 0
    for index, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "[{":
            depth += 1
        elif not quoted and char in "]}":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            items.append(text[start:index])
            start = index + 1
    return items + [text[start:]]


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
        raise ActorCriticError(
            f"{env_id} needs a package that is not installed: {' '.join(str(error).split())}"
        ) from None


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
