"""Click options generated from dataclass fields declared with :func:`midiforge.settings.setting`.

The dataclass holds each default and help text; commands only pick which fields they offer.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any

import click

from midiforge.settings import Describe, default_of, described


def dataclass_options(cls: type, *names: str, layered: bool = False) -> Callable:
    """A decorator adding one option per field of ``cls``: the ``names`` given, in that order, or else
    every described field in field order.

    ``layered``: the option's default is None and the dataclass's default is shown in the help, so a
    command that merges layers (recipe < config file < flags) can tell a typed flag from a default.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [n for n in names if n not in fields or described(fields[n]) is None]
    if unknown:
        raise TypeError(f"{cls.__name__} has no described field(s) {', '.join(unknown)}")
    chosen = [fields[n] for n in names] if names else [f for f in fields.values() if described(f)]
    hints = typing.get_type_hints(cls)

    def decorate(fn: Callable) -> Callable:
        for field in reversed(chosen):
            fn = _option(field, described(field), hints[field.name], layered)(fn)
        return fn

    return decorate


def _option(field: dataclasses.Field, about: Describe, hint: Any, layered: bool) -> Callable:
    flags = about.flags or ("--" + field.name.replace("_", "-"),)
    default = default_of(field)
    kind = _click_type(about, hint)
    if layered:
        return click.option(*flags, field.name, type=kind, default=None, metavar=about.metavar,
                            help=f"{about.help} [default: {default}]")
    return click.option(*flags, field.name, type=kind, default=default, show_default=True,
                        metavar=about.metavar, help=about.help)


def _click_type(about: Describe, hint: Any) -> Any:
    if about.choices:
        return click.Choice(list(about.choices))
    if about.path:
        return click.Path()
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    kind = hint if hint in (int, float, str) else None
    if kind is int and (about.minimum, about.maximum) != (None, None):
        return click.IntRange(about.minimum, about.maximum)
    return kind
