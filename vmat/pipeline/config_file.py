"""A run's configuration as a TOML file: every :class:`~vmat.pipeline.run.RunConfig` field by name, the edits
in an ``[edit]`` table. Keys left out keep their defaults; on the command line, flags override the file::

    depth = "ground-plane"
    process_size = 640
    temporal = "fusion"

    [edit]
    remove = [2]
    background = "#00b140"

``vmat run --print-config`` writes the configuration a command line would use in this form.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from vmat.errors import ConfigError
from vmat.pipeline.edits import EditSpec
from vmat.pipeline.run import RunConfig

_EDIT_KEYS = ("remove", "reorder", "background", "keep_shadow")  # the edits a file can name (drag is Python-only)


def _allowed(annotation: Any) -> tuple[type, ...]:
    """The plain Python types a field's annotation admits, ``type(None)`` included for optional fields."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return tuple(t for arg in typing.get_args(annotation) for t in _allowed(arg))
    if origin is typing.Literal:
        return tuple({type(value) for value in typing.get_args(annotation)})
    if origin is tuple:
        return (list,)
    return (origin or annotation,)


def _check_value(name: str, value: Any, annotation: Any, source: str) -> Any:
    choices = typing.get_args(annotation) if typing.get_origin(annotation) is typing.Literal else None
    if choices is not None and value not in choices:
        raise ConfigError(f"{source}: {name} must be one of {', '.join(map(str, choices))}, not {json.dumps(value)}")
    allowed = _allowed(annotation)
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    # bool is an int subclass in Python but not a number here; a TOML integer is fine where a float is wanted.
    fits = isinstance(value, allowed) and (bool in allowed or not isinstance(value, bool))
    if not (fits or (is_number and float in allowed)):
        names = " or ".join(sorted("none" if t is type(None) else t.__name__ for t in allowed))
        raise ConfigError(f"{source}: {name} must be {names}, not {json.dumps(value)}")
    return value


def run_config_from_mapping(data: dict[str, Any], source: str = "config") -> RunConfig:
    """A :class:`RunConfig` from plain data (a parsed TOML file), checking every key and type."""
    hints = typing.get_type_hints(RunConfig)
    edit_hints = typing.get_type_hints(EditSpec)
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name == "edit":
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: edit must be a table ([edit])")
            unknown = sorted(set(value) - set(_EDIT_KEYS))
            if unknown:
                raise ConfigError(f"{source}: unknown edit key(s) {', '.join(unknown)}; known: {', '.join(_EDIT_KEYS)}")
            edit = {key: _check_value(f"edit.{key}", item, edit_hints[key], source) for key, item in value.items()}
            if "remove" in edit:
                edit["remove"] = tuple(_int_list(edit["remove"], "edit.remove", source))
            if "reorder" in edit:
                pair = _int_list(edit["reorder"], "edit.reorder", source)
                if len(pair) != 2:
                    raise ConfigError(f"{source}: edit.reorder must name two people, e.g. [1, 2]")
                edit["reorder"] = tuple(pair)
            values["edit"] = EditSpec(**edit)
        elif name in hints:
            values[name] = _check_value(name, value, hints[name], source)
        else:
            known = ", ".join(field.name for field in dataclasses.fields(RunConfig))
            raise ConfigError(f"{source}: unknown key {name!r}; known keys: {known}")
    return RunConfig(**values)


def _int_list(value: list, name: str, source: str) -> list[int]:
    if not all(isinstance(item, int) and not isinstance(item, bool) for item in value):
        raise ConfigError(f"{source}: {name} must be a list of person ids")
    return list(value)


def read_run_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The raw contents of a TOML run-configuration file (checked by :func:`run_config_from_mapping`)."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file {str(path)!r}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {error}") from None


def config_to_toml(config: RunConfig) -> str:
    """``config`` as a TOML file that :func:`run_config_from_mapping` reads back to the same config.

    Fields that are ``None`` (TOML has no null) are written as comments."""
    lines: list[str] = []
    edit_lines: list[str] = []
    for field in dataclasses.fields(RunConfig):
        value = getattr(config, field.name)
        if field.name == "edit":
            for key in _EDIT_KEYS:
                item = getattr(value, key)
                edit_lines.append(f"# {key} =" if item is None else f"{key} = {_toml_value(item)}")
        else:
            lines.append(f"# {field.name} =" if value is None else f"{field.name} = {_toml_value(value)}")
    return "\n".join([*lines, "", "[edit]", *edit_lines]) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return json.dumps(value)  # ints, floats and strings are written the same in JSON and TOML
