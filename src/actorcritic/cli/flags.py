"""Command-line flags generated from a config dataclass: every field a kebab-case flag, its docstring the
help, its default the config's (after the environment's preset), booleans as --x / --no-x, `Literal` fields
as choices. One argparse parser does all the parsing, so every error is argparse's one line."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import textwrap
import types
import typing
from typing import Any, Literal, NoReturn

from actorcritic.errors import ActorCriticError


class OneLineParser(argparse.ArgumentParser):
    """An argparse parser whose errors are one-line `ActorCriticError`s naming the command's --help."""

    def error(self, message: str) -> NoReturn:
        raise ActorCriticError(f"{self.prog}: {message} (see `{self.prog} --help`)")


def field_docs(config_class: type) -> dict[str, str]:
    """The docstring under each field of a dataclass and of its bases (a subclass's own wins)."""
    docs: dict[str, str] = {}
    for cls in reversed(config_class.__mro__):
        if not dataclasses.is_dataclass(cls):
            continue
        try:
            body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
        except (OSError, TypeError):
            continue
        for node, following in zip(body, body[1:]):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                docs[node.target.id] = " ".join(following.value.value.split())
    return docs


def config_parser(
    config_class: type, defaults: Any, prog: str, description: str = "", preset_of: str | None = None
) -> OneLineParser:
    """A parser whose namespace holds every field of `config_class`, defaulting to `defaults`' values. With
    `preset_of` (an environment id whose preset `defaults` holds), the help shows each field's class default and,
    where the preset changes it, the preset's value beside it."""
    description = description or (config_class.__doc__ or "").strip()
    if preset_of is not None:
        description += (
            f"\n\nThe defaults shown are {config_class.__name__}'s; where the tuned preset of {preset_of} (applied "
            f"with --env {preset_of}) changes one, its value is shown beside it and is what a run uses."
        )
    parser = OneLineParser(
        prog=prog,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    docs = field_docs(config_class)
    hints = typing.get_type_hints(config_class)
    for field in dataclasses.fields(config_class):
        flag = flag_of(field)
        default = getattr(defaults, field.name)
        hint, doc = hints[field.name], docs.get(field.name, "").replace("%", "%%")  # argparse formats help with %
        if hint is bool:
            parser.add_argument(flag, dest=field.name, action=argparse.BooleanOptionalAction, default=default, help=doc)
            continue
        kwargs = _value_kind(hint)
        if field.metadata.get("repeatable"):  # --wrapper A --wrapper B: each occurrence adds
            kwargs["action"], default = "extend", None  # and the default is only the default
        parser.add_argument(
            flag,
            dest=field.name,
            default=default,
            help=f"{doc} ({_shown_default(field, defaults, preset_of).replace('%', '%%')})",
            **kwargs,
        )
    return parser


def _shown_default(field: dataclasses.Field, defaults: Any, preset_of: str | None) -> str:
    """ "default: V", or with a preset that changes the field, "default: V; ENV preset: W"."""
    value = getattr(defaults, field.name)
    if preset_of is None or field.default is dataclasses.MISSING or field.name == "env":
        return f"default: {_as_typed(value)}"
    if value == field.default:
        return f"default: {_as_typed(value)}"
    return f"default: {_as_typed(field.default)}; {preset_of} preset: {_as_typed(value)}"


def flag_of(field: dataclasses.Field) -> str:
    """The command-line flag of a config field: its kebab-case name, or the one its metadata names."""
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def parse_fields(config_class: type, defaults: Any, args: list[str], prog: str) -> Any:
    """The config that `args` make of `defaults` (validated by the config itself)."""
    namespace = config_parser(config_class, defaults, prog).parse_args(args)
    values = {
        name: getattr(defaults, name) if value is None and _repeatable(config_class, name) else value
        for name, value in vars(namespace).items()
    }
    values = {name: _from_list(value) if isinstance(value, list) else value for name, value in values.items()}
    return config_class(**values)


def _from_list(values: list) -> tuple | None:
    """A tuple field's items; `None` alone (an optional tuple unset), None. A None among numbers stays, for the
    config's type check to name."""
    return None if values == [None] else tuple(values)


def _repeatable(config_class: type, name: str) -> bool:
    return any(f.name == name and f.metadata.get("repeatable") for f in dataclasses.fields(config_class))


def _value_kind(hint: Any) -> dict:
    """argparse keyword arguments for a field of type `hint`."""
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return {"choices": list(arguments), "type": type(arguments[0])}
    if hint == float | str:  # a number or a schedule (`actorcritic.schedules`), checked by the config
        return {"type": _number_or_text, "metavar": "NUMBER|SCHEDULE"}
    if origin is tuple:
        return {"nargs": "+", "type": arguments[0], "metavar": arguments[0].__name__.upper()}
    if origin in (typing.Union, types.UnionType) and type(None) in arguments:
        (inner,) = [a for a in arguments if a is not type(None)]
        if typing.get_origin(inner) is tuple:  # `--x 1024 1024`, or `--x None`
            item = typing.get_args(inner)[0]
            return {"nargs": "+", "type": _optional(item), "metavar": f"{item.__name__.upper()}|None"}
        return {"type": _optional(inner), "metavar": f"{inner.__name__.upper()}|None"}
    if hint in (int, float, str):
        return {"type": hint, "metavar": hint.__name__.upper()}
    raise TypeError(f"no command-line form for a field of type {hint}")


def _number_or_text(text: str) -> float | str:
    """A number where the text is one (so that config.json keeps numbers as numbers), else the text."""
    try:
        return float(text)
    except ValueError:
        return text


def _optional(inner: type):
    def parse(text: str):
        return None if text in ("None", "none") else inner(text)

    parse.__name__ = inner.__name__  # argparse names the type in "invalid float value" messages
    return parse


def _as_typed(value: Any) -> str:
    """A default as it would be typed after its flag: a tuple's items space-separated."""
    if isinstance(value, (tuple, list)):
        return " ".join(map(str, value))
    return str(value)
