"""Dataclass fields that carry their own help text, so each default and its description live once.

A config dataclass (``TrainConfig``, ``SamplingConfig``, ``PrepareOptions``) declares a field with
:func:`setting`; ``midiforge.cli.dataclass_options`` turns such fields into click options. This
module knows nothing of click, so core code can describe its settings without importing the CLI.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import tomllib

from midiforge.errors import MidiforgeError

#: Metadata key under which a field's :class:`Describe` is stored.
KEY = "midiforge"


@dataclasses.dataclass(frozen=True)
class Describe:
    """How a field reads on the command line: its help, its flags (default ``--field-name``), a closed
    set of choices, integer bounds, and whether it names a file or folder."""

    help: str
    flags: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    path: bool = False
    metavar: str | None = None


def setting(default: Any = dataclasses.MISSING, help: str = "", *, flags: str = "", choices: tuple[str, ...] = (),
            minimum: int | None = None, maximum: int | None = None, path: bool = False,
            metavar: str | None = None, default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with its help text; ``flags`` is space-separated (``"-o --out"``)."""
    about = Describe(help, tuple(flags.split()), tuple(choices), minimum, maximum, path, metavar)
    return dataclasses.field(default=default, default_factory=default_factory, metadata={KEY: about})


def described(field: dataclasses.Field) -> Describe | None:
    """The help of a field declared with :func:`setting` (None for a plain field)."""
    return field.metadata.get(KEY)


def default_of(field: dataclasses.Field) -> Any:
    """A field's default value (calling its factory)."""
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None if field.default is dataclasses.MISSING else field.default


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A TOML, YAML or JSON file of settings (``train --config``, ``generate --config``) as a dict."""
    path = Path(path)
    if not path.is_file():
        raise MidiforgeError(f"config file {path} not found")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        elif path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            raise MidiforgeError(f"config file {path} must end in .toml, .yaml, .yml or .json")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise MidiforgeError(f"cannot parse {path}: {exc}") from None
    if not isinstance(data, dict):
        raise MidiforgeError(f"{path} must hold a table of options")
    return data
