"""From command-line arguments to a config: the environment's preset under the flags, renamed flags in their
current spelling, unknown flags refused with the closest known one, `--num-seeds`."""

from __future__ import annotations

import dataclasses

from actorcritic.cli.flags import config_parser, parse_fields
from actorcritic.config import MAX_SEED, check_range, env_kwargs_over
from actorcritic.errors import ActorCriticError


def _with_seed_count(config, count: str):
    """`--num-seeds S`: the seeds seed, seed+1, ..., seed+S-1."""
    from actorcritic.config import MAX_SEEDS

    if not hasattr(config, "seeds"):
        raise ActorCriticError(f"--num-seeds is not available for {type(config).__name__}: train one --seed per run")
    if config.seeds:
        raise ActorCriticError("--num-seeds and --seeds both name the seeds: give one of them")
    if not count.isdigit():
        raise ActorCriticError(
            f"--num-seeds {count!r} is not a whole number: give how many seeds to train, e.g. --num-seeds 5"
        )
    check_range("num_seeds", int(count), 1, MAX_SEEDS)
    check_range("seed", config.seed + int(count) - 1, 0, MAX_SEED)
    return dataclasses.replace(config, seeds=tuple(range(config.seed, config.seed + int(count))))


def parse_config(config_class: type, args: list[str], prog: str, epilog: str = "", defaults=None):
    """A config from command-line flags over `defaults`, or else the preset of the environment (--env, or
    the config's default environment); None after printing --help. Errors become one-line `ActorCriticError`s."""
    args = [_current_flag(arg) for arg in args]
    env, _ = _pop_option(list(args), "--env")
    if defaults is None and hasattr(config_class, "for_env"):
        defaults = config_class.for_env(env or config_class().env)
    elif defaults is None:
        defaults = config_class()
    if "-h" in args or "--help" in args:
        preset_of = getattr(defaults, "env", None) if hasattr(config_class, "PRESETS") else None
        parser = config_parser(config_class, defaults, prog, preset_of=preset_of)
        parser.epilog = epilog or None
        parser.print_help()
        return None
    _check_flags(config_class, args, prog)
    config = parse_fields(config_class, defaults, args, prog)
    if not hasattr(config, "env_kwargs"):
        return config
    # --env-kwargs adds to the preset's
    return dataclasses.replace(config, env_kwargs=env_kwargs_over(defaults.env_kwargs, config.env_kwargs))


def _current_flag(arg: str) -> str:
    """An old spelling of a renamed flag (`--ent-coef`) in its current form (`--entropy-coef`)."""
    from actorcritic.config import RENAMED_FIELDS

    flag, equals, value = arg.partition("=")
    old = flag[2:].replace("-", "_") if flag.startswith("--") else None
    if old in RENAMED_FIELDS:
        return "--" + RENAMED_FIELDS[old].replace("_", "-") + equals + value
    return arg


def _check_flags(config_class: type, args: list[str], prog: str) -> None:
    """Refuse unknown flags (suggesting the closest) and flags without a value, before parsing."""
    from actorcritic.cli.flags import flag_of

    fields = {flag_of(f)[2:]: f for f in dataclasses.fields(config_class)}
    boolean = {name for name, f in fields.items() if f.type in (bool, "bool")}
    known = {f"--{name}" for name in fields} | {f"--no-{name}" for name in boolean}
    for index, arg in enumerate(args):
        if not arg.startswith("--"):
            continue
        flag = arg.split("=", 1)[0]
        if flag not in known:
            import difflib

            close = difflib.get_close_matches(flag, sorted(known), n=1)
            hint = f"did you mean {close[0]}?" if close else f"see `{prog} --help`"
            raise ActorCriticError(f"unknown flag {flag} for `{prog}`: {hint}")
        takes_value = flag[2:] not in boolean and not flag.startswith("--no-")
        if takes_value and "=" not in arg and (index + 1 >= len(args) or args[index + 1].startswith("--")):
            raise ActorCriticError(f"{flag} needs a value (see `{prog} --help`)")


def _pop_option(args: list[str], name: str) -> tuple[str | None, list[str]]:
    """Remove `name VALUE` or `name=VALUE` from args; return (VALUE or None, remaining args)."""
    rest, value, index = [], None, 0
    while index < len(args):
        arg = args[index]
        if arg == name:
            if index + 1 >= len(args):
                raise ActorCriticError(f"{name} needs a value")
            value = args[index + 1]
            index += 2
            continue
        if arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        index += 1
    return value, rest
