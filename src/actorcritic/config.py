"""Validation helpers shared by the algorithm configs (frozen dataclasses, one per algorithm).

Every config validates itself on construction; a bad field raises `ActorCriticError` with a message that
names the field, the bad value and the allowed range, so the CLI and the Python API report it the same way.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from actorcritic.errors import ActorCriticError
from actorcritic.schedules import SCHEDULE_FORMS, parse_schedule


def check_range(
    name: str,
    value: float,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> None:
    """Raise `ActorCriticError` unless low <= value <= high (bounds inclusive or not, as said)."""
    above = value >= low if low_inclusive else value > low
    below = value <= high if high_inclusive else value < high
    if isinstance(value, float) and math.isnan(value) or not (above and below):
        left = "[" if low_inclusive else "("
        right = "]" if high_inclusive else ")"
        flag = "--" + name.replace("_", "-")
        raise ActorCriticError(
            f"{flag} {value} is out of range: "
            f"{name} must be in {left}{_format_bound(low)}, {_format_bound(high)}{right}"
        )


def check_positive_int(name: str, value: int) -> None:
    check_range(name, value, 1)


def check_choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        flag = "--" + name.replace("_", "-")
        raise ActorCriticError(f"{flag} {value!r} is not allowed: choose one of {', '.join(map(str, choices))}")


def _format_bound(bound: float) -> str:
    """A range bound as a message writes it: inf, -inf, an integer without its .0, else %g."""
    if bound == math.inf:
        return "inf"
    if bound == -math.inf:
        return "-inf"
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def check_device(device: str) -> None:
    if not re.fullmatch(r"cpu|cuda(:\d+)?|mps", device):
        raise ActorCriticError(f"--device {device!r} is not a device: use cpu, cuda or cuda:N")


MAX_SEED = 2**32 - 1
MAX_WIDTH = 65_536
"""Largest hidden layer width accepted (a 65k x 65k float32 layer is already 16 GiB)."""


MAX_SEEDS = 1024


def check_seeds(seeds: tuple[int, ...]) -> None:
    """Seeds of a multi-seed run: each a valid seed, none twice, at most MAX_SEEDS."""
    for seed in seeds:
        check_range("seeds", seed, 0, MAX_SEED)
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if repeated:
        raise ActorCriticError(
            f"--seeds lists seed {repeated[0]} twice: give each seed once (a repeated seed is the same run)"
        )
    if len(seeds) > MAX_SEEDS:
        raise ActorCriticError(
            f"--seeds lists {len(seeds)} seeds: at most {MAX_SEEDS} train in one process; split them into several runs"
        )


def check_finite_fields(config: Any) -> None:
    """Every float field holds a finite number: inf or nan is never a meaningful setting."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ActorCriticError(
                f"--{field.name.replace('_', '-')} {value} is not a finite number: give a finite {field.name}"
            )


def check_field_types(config: Any) -> None:
    """Every field holds a value of its annotated type, so that a wrong one (`num_envs=2.5`,
    `hidden_sizes="64"`) is named here, not met later as a failed comparison or a fractional count. What
    the Python API hands over naturally is taken: a list for a tuple, NumPy scalars for numbers (converted,
    so the config stays JSON-able). `Literal` fields are left to `check_literal_choices`, which lists them."""
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        hint = hints[field.name]
        if typing.get_origin(hint) is Literal:
            continue
        value = _plain(getattr(config, field.name))
        if callable(value) and (hint == float | str or field.name == "encoder"):  # Python-only objects, checked apart
            continue
        if not fits_type(value, hint):
            raise ActorCriticError(
                f"--{field.name.replace('_', '-')} {value!r} does not fit the field ({_type_name(hint)})"
            )
        object.__setattr__(config, field.name, value)


def _plain(value: Any) -> Any:
    """A list as a tuple and NumPy scalars as Python numbers, also inside a list or tuple."""
    if isinstance(value, (list, tuple)):
        return tuple(_plain(item) for item in value)
    if hasattr(value, "dtype") and hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # a NumPy scalar
        return value.item()
    return value


def _type_name(hint: Any) -> str:
    """A config field's type as a reader writes it: float, int | None, tuple[int, ...]."""
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


def check_literal_choices(config: Any) -> None:
    """Every field annotated `Literal[...]` holds one of the listed values (the annotation is the only list)."""
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        hint = hints[field.name]
        if typing.get_origin(hint) is Literal:
            check_choice(field.name, getattr(config, field.name), typing.get_args(hint))


@dataclass(frozen=True)
class AgentConfig:
    """Fields every control algorithm reads. Each algorithm's config adds its own and may change defaults;
    `for_env` applies the tuned preset of an environment (the class's `PRESETS`)."""

    env: str = "CartPole-v1"
    """Gymnasium environment id: a registered id, a plugin id (ALE/Pong-v5, popgym-RepeatPreviousEasy-v0) or
    module:EnvName-v0 (imports module)."""
    env_kwargs: tuple[str, ...] = ()
    """KEY=VALUE arguments for gymnasium.make (values read as JSON when they parse, else as strings)."""
    wrappers: tuple[str, ...] = dataclasses.field(default=(), metadata={"flag": "--wrapper", "repeatable": True})
    """module:Class wrapper applied to each environment copy (repeat the flag for several; applied in order), with
    arguments as module:Class:key=value,key=value (values read as in --env-kwargs)."""
    training_wrappers: tuple[str, ...] = dataclasses.field(
        default=(), metadata={"flag": "--training-wrapper", "repeatable": True}
    )
    """module:Class[:key=value,...] wrapper applied after those to the training copies only (e.g. reward
    clipping); evaluation plays without."""
    seed: int = 0
    """Seed of the network initialisation, the exploration, the batch sampling and the environments."""
    seeds: tuple[int, ...] = ()
    """Several seeds trained in one process, each an independent agent (empty: just --seed); see
    actorcritic.runs.seeds."""
    total_steps: int = 1_000_000
    """Environment steps to train for, summed over all parallel actors."""
    learning_rate: float | str = 3e-4
    """Step size of the optimisers: a number or a schedule over the run (linear:3e-4:0, cosine:3e-4:1e-5,
    constant:3e-4, the zoo's lin_3e-4; in Python also a callable of the remaining progress, not saved)."""
    gamma: float = 0.99
    """Discount factor γ."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of every network: the actor's (policy's) and the critics' (value's), unless set apart."""
    actor_hidden_sizes: tuple[int, ...] | None = None
    """Hidden layer widths of the actor (the policy network); None: --hidden-sizes."""
    critic_hidden_sizes: tuple[int, ...] | None = None
    """Hidden layer widths of the critics (the value network, the Q-functions); None: --hidden-sizes."""
    activation: Literal["tanh", "relu", "elu", "gelu", "silu"] = "tanh"
    """Activation of every hidden layer."""
    layer_norm: bool = False
    """Layer normalisation after each hidden layer's product, before its activation, in every network."""
    encoder: str = "auto"
    """Observation encoder: cnn (the Nature-DQN CNN, for uint8 images of at least 36x36), mlp (observations
    flattened), auto (cnn for images), or module:Name, a callable of the observation space returning a torch
    module whose output feeds the networks (on-policy algorithms; in Python also the callable itself, not saved)."""
    eval_episodes: int = 10
    """Episodes of the deterministic policy per evaluation."""
    eval_max_steps: int = 0
    """Steps after which an evaluation episode is cut, its return so far counted, with a warning (0: the
    environment's time limit, or 100,000 steps where it has none)."""
    eval_every: int = 0
    """Evaluate every this many environment steps (column eval_return_mean; 0: only at the end). On-policy runs
    evaluate at the end of the rollout that crosses each multiple (--eval-every 5000 with 8 x 256-step rollouts:
    at 6144, 10240, ...)."""
    stop_at_return: float | None = None
    """Stop training once a periodic evaluation's mean return reaches this (needs eval_every; None: never)."""
    checkpoint_every: int = 20_000
    """Save a checkpoint every this many environment steps (0: only at the end); on-policy runs save at the end
    of the rollout that crosses each multiple."""
    device: str = "cpu"
    """Torch device: cpu (fastest for small MLPs) or cuda / cuda:N."""
    num_threads: int = 1
    """Torch intra-op threads."""
    vectorization: Literal["sync", "async"] = "sync"
    """How the training copies of the environment step: sync (in this process) or async (one worker process each;
    faster where stepping is slow, as Atari's)."""
    precision: Literal["fp32", "bf16", "auto"] = "fp32"
    """Arithmetic of the updates: fp32, or bf16 autocast for the matrix products (fp32 master weights and
    optimiser state; acting stays fp32), refused on a CPU that would emulate it; auto: bf16 where the device
    has hardware bf16 and the algorithm has shown learning parity in it (td3, sac), else fp32. config.json
    records the one that ran."""
    force_bf16: bool = dataclasses.field(default=False, metadata={"flag": "--force"})
    """Run --precision bf16 even on a CPU without hardware bf16 (emulated: tens of times slower), with a warning."""

    PRESETS: ClassVar[dict[str, dict]] = {}
    """Tuned settings per environment id, applied by `for_env` over the defaults."""

    def __post_init__(self) -> None:
        check_finite_fields(self)
        if not isinstance(self.env, str):
            raise ActorCriticError(
                f"env must be an environment id (a string), not {type(self.env).__name__}: "
                "pass a factory returning a gymnasium.Env as env_fn=... to the agent instead"
            )
        check_field_types(self)
        check_positive_int("total_steps", self.total_steps)
        check_range("seed", self.seed, 0, MAX_SEED)
        check_seeds(self.seeds)
        if self.seeds:  # one seed listed is the single-seed run of that seed; several: `seed` is the first
            object.__setattr__(self, "seed", self.seeds[0])
            if len(self.seeds) == 1:
                object.__setattr__(self, "seeds", ())
        check_range("num_threads", self.num_threads, 1, 1024)
        check_range("eval_episodes", self.eval_episodes, 1, 100_000)
        for name in ("eval_every", "checkpoint_every", "eval_max_steps"):
            check_range(name, getattr(self, name), 0)
        check_scheduled("learning_rate", self.learning_rate, 0, low_inclusive=False)
        check_range("gamma", self.gamma, 0, 1)
        for name in ("hidden_sizes", "actor_hidden_sizes", "critic_hidden_sizes"):
            check_widths(name, getattr(self, name))
        check_encoder(self.encoder)
        check_device(self.device)
        check_literal_choices(self)
        if self.stop_at_return is not None and self.eval_every == 0:  # (a non-finite one is refused above)
            raise ActorCriticError(
                f"--stop-at-return {self.stop_at_return} needs periodic evaluations: add --eval-every STEPS"
            )

    @property
    def actor_widths(self) -> tuple[int, ...]:
        """The actor's (the policy network's) hidden layer widths."""
        return self.hidden_sizes if self.actor_hidden_sizes is None else self.actor_hidden_sizes

    @property
    def critic_widths(self) -> tuple[int, ...]:
        """The critics' (the value network's, the Q-functions') hidden layer widths."""
        return self.hidden_sizes if self.critic_hidden_sizes is None else self.critic_hidden_sizes

    def at(self, progress: float) -> "AgentConfig":
        """This config with every scheduled field (`scheduled_fields`) as its number at training progress p ∈ [0,
        1]: what the learners read. Made without validation (each field was validated), so it is cheap."""
        current = copy.copy(self)
        for name in scheduled_fields(type(self)):
            object.__setattr__(current, name, scheduled_value(getattr(self, name), progress))
        return current

    @property
    def has_schedules(self) -> bool:
        """Whether a scheduled field holds a schedule (text or callable) rather than a number."""
        return any(not isinstance(getattr(self, name), (int, float)) for name in scheduled_fields(type(self)))

    @classmethod
    def for_env(cls, env: str, **overrides):
        """The defaults, then the tuned preset for `env` (or for its namespace, `ALE/*`) if there is one,
        then `overrides` (which win; `env_kwargs` key by key, see `env_kwargs_over`)."""
        namespace = env.split(":")[-1].split("/")[0] + "/*" if "/" in env else None
        preset = cls.PRESETS.get(env, cls.PRESETS.get(namespace, {}))
        env_kwargs = env_kwargs_over(preset.get("env_kwargs", ()), overrides.get("env_kwargs", ()))
        return cls(**{**preset, **overrides, "env": env, **({"env_kwargs": env_kwargs} if env_kwargs else {})})


@functools.cache
def scheduled_fields(config_class: type) -> tuple[str, ...]:
    """The fields of a config class that take a schedule: those annotated `float | str` (the annotation is the list)."""
    hints = typing.get_type_hints(config_class)
    return tuple(field.name for field in dataclasses.fields(config_class) if hints[field.name] == float | str)


def scheduled_value(value: Any, progress: float) -> float:
    """A scheduled field's value at training progress p: a number as it is, a schedule text (`actorcritic.schedules`) at
    p, a Python callable at the remaining progress 1 - p (Stable-Baselines3's convention)."""
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        return parse_schedule(value).at(progress)
    return float(value(1.0 - progress))


def check_scheduled(name: str, value: Any, low: float, low_inclusive: bool = True) -> None:
    """A scheduled field: a number in [low, inf) (or (low, inf)); a schedule text whose start is such a number and
    whose end is not negative; or a callable whose values at the start and at the end are."""
    flag = "--" + name.replace("_", "-")
    if isinstance(value, (int, float)):
        check_range(name, value, low, math.inf, low_inclusive=low_inclusive)
        return
    if isinstance(value, str):
        try:
            schedule = parse_schedule(value)
        except ValueError as error:
            raise ActorCriticError(f"{flag} {error}") from None
        start, end = schedule.start, schedule.end
    else:
        try:
            start, end = float(value(1.0)), float(value(0.0))
        except Exception as error:  # the user's function, whatever it raises
            raise ActorCriticError(
                f"{name}: the callable failed at remaining progress 1.0 ({error!s:.60}): give a function of the "
                "remaining progress (1 at the start, 0 at the end) that returns a number"
            ) from None
        if not (math.isfinite(start) and math.isfinite(end)):
            raise ActorCriticError(
                f"{name}: the callable returned {start} at the start and {end} at the end: return finite numbers"
            )
    check_range(name, start, low, math.inf, low_inclusive=low_inclusive)
    check_range(name, end, 0, math.inf)


BUILT_IN_ENCODERS = ("auto", "mlp", "cnn")


def check_encoder(encoder: Any) -> None:
    """--encoder: auto, mlp, cnn, module:Name (imported when the networks are built), or a Python callable."""
    if callable(encoder) or encoder in BUILT_IN_ENCODERS:
        return
    if not (isinstance(encoder, str) and re.fullmatch(r"[\w.]+:[\w.]+", encoder)):
        raise ActorCriticError(
            f"--encoder {encoder!r} is not an encoder: choose auto, mlp or cnn, or name your own as module:Name (a "
            "callable of the observation space that returns a torch module)"
        )


def check_widths(name: str, widths: tuple[int, ...] | None) -> None:
    """Hidden layer widths each in [1, MAX_WIDTH] (none given: linear heads; None: unset)."""
    if widths and (min(widths) < 1 or max(widths) > MAX_WIDTH):
        raise ActorCriticError(
            f"--{name.replace('_', '-')} {list(widths)} is invalid: "
            f"give layer widths in [1, {MAX_WIDTH}] (none: linear heads)"
        )


def env_kwargs_over(preset: tuple[str, ...], given: tuple[str, ...]) -> tuple[str, ...]:
    """KEY=VALUE environment arguments `given` over a preset's: added to them key by key rather than
    replacing them all, so `max_episode_steps=2000` on an Atari game keeps the preset's frameskip=1 (which
    its frame-skipping wrapper needs); a key both name takes the given value."""
    named = {pair.partition("=")[0] for pair in given}
    return tuple(pair for pair in preset if pair.partition("=")[0] not in named) + tuple(given)


RENAMED_FIELDS = {"ent_coef": "entropy_coef", "vf_coef": "value_coef"}
"""Old config field names that are still understood (flags and saved configs): old -> new."""


def config_to_dict(config: Any) -> dict:
    """A JSON-able dict of a config dataclass (tuples become lists). A callable schedule (Python only) is refused
    in one line: config.json and checkpoints hold data, never code."""
    for field in dataclasses.fields(config):
        if callable(getattr(config, field.name)):
            instead = (
                "as module:Name, importable when the run is loaded"
                if field.name == "encoder"
                else (f"as a schedule text ({SCHEDULE_FORMS})")
            )
            raise ActorCriticError(
                f"{field.name} is a Python object, which config.json and checkpoints cannot hold (they never store "
                f"code): give it {instead} to save this run"
            )
    return dataclasses.asdict(config)


def config_from_dict(cls: type, data: dict) -> Any:
    """Rebuild a config dataclass from `config_to_dict` output; unknown or missing fields are refused."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    data = {RENAMED_FIELDS.get(name, name): value for name, value in data.items()}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        shown = ", ".join(unknown[:3]) + (", ..." if len(unknown) > 3 else "")
        raise ActorCriticError(
            f"saved config does not fit {cls.__name__} (unknown fields {shown}): "
            "the file was written by another algorithm or version"
        )
    values = {}
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        if isinstance(value, list):
            value = tuple(value)
        if not fits_type(value, hints[name]):
            raise ActorCriticError(
                f"saved config field {name} = {value!r} does not fit its type {hints[name]}: the file is damaged"
            )
        values[name] = value
    return cls(**values)


def fits_type(value: Any, hint: Any) -> bool:
    """Whether a value read from JSON has the type a config field declares (an int may stand for a float)."""
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return value in arguments
    if origin is tuple:
        return isinstance(value, tuple) and all(fits_type(v, arguments[0]) for v in value)
    if origin in (typing.Union, types.UnionType):
        return any(fits_type(value, a) for a in arguments)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint) if isinstance(hint, type) else True
