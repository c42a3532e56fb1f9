"""A run's configuration from any source: one coercion (:func:`coerce_options`) for command-line flags, TOML
files, batch manifests and Python keyword arguments, so the same setting means the same thing everywhere.

Options are named like the fields of :class:`~vmat.pipeline.run.RunConfig` and of its edit
(:class:`~vmat.pipeline.edits.EditSpec`: ``remove``, ``reorder``, ``background``, ``keep_shadow``, ``keep_hidden``), given flat
or, in a TOML file, in an ``[edit]`` table. Keys left out keep their defaults; on the command line, flags
override the file::

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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vmat.errors import ConfigError
from vmat.pipeline.edits import EditSpec
from vmat.pipeline.run import RunConfig

_RUN_HINTS = {name: hint for name, hint in typing.get_type_hints(RunConfig).items() if name != "edit"}
_EDIT_HINTS = typing.get_type_hints(EditSpec)
_EDIT_KEYS = ("remove", "reorder", "background", "keep_shadow", "keep_hidden")  # the edits a file can name (drag is Python-only)
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def coerce_options(values: Mapping[str, Any], source: str, *, text: bool = False) -> dict[str, Any]:
    """``values`` checked and converted to the types of the options they name, as a flat dict (edits flat too).

    An ``edit`` entry is either a table of edit options (TOML's ``[edit]``) or an :class:`EditSpec`, kept whole.
    ``text``: string values are parsed as the option's type (CSV cells: ``"640"``, ``"false"``, ``"1,2"``);
    otherwise a value must already have it (TOML, JSON, argparse, Python; ``os.PathLike`` is a string).
    Raises :class:`ConfigError` as one line naming ``source``, the option and the expected type.
    """
    options: dict[str, Any] = {}
    for key, value in values.items():
        if key == "edit" and isinstance(value, EditSpec):
            options["edit"] = value
            continue
        if key == "edit":
            if not isinstance(value, Mapping):
                raise ConfigError(f"{source}: edit must be a table of edits ([edit]), not {_shown(value)}")
            entries = [(f"edit.{name}", name, item) for name, item in value.items()]
        else:
            entries = [(key, key, value)]
        for shown, name, item in entries:
            hint = _RUN_HINTS.get(name) if shown == name else None
            hint = hint or _EDIT_HINTS.get(name)
            if hint is None:
                known = ", ".join([*_RUN_HINTS, *_EDIT_KEYS])
                raise ConfigError(f"{source}: unknown option {shown!r}; known: {known}")
            if name in options:
                raise ConfigError(f"{source}: {name} is given twice")
            try:
                options[name] = _coerce(item, hint, text)
            except (TypeError, ValueError):
                raise ConfigError(f"{source}: {shown} must be {_describe(hint)}, not {_shown(item)}") from None
    return options


def apply_options(base: RunConfig, options: Mapping[str, Any]) -> RunConfig:
    """``base`` with ``options`` (as :func:`coerce_options` returns them) in place of its values."""
    run = {name: value for name, value in options.items() if name in _RUN_HINTS}
    edit = options.get("edit", base.edit)
    edit = dataclasses.replace(edit, **{name: value for name, value in options.items() if name in _EDIT_HINTS})
    return dataclasses.replace(base, edit=edit, **run)


def run_config_from_mapping(
    data: Mapping[str, Any], source: str = "config", base: RunConfig | None = None, *, text: bool = False
) -> RunConfig:
    """A :class:`RunConfig`: ``base`` (default: the defaults) with the options of ``data`` from ``source``
    (see :func:`coerce_options`)."""
    return apply_options(base or RunConfig(), coerce_options(data, source, text=text))


def load_run_config(path: str | os.PathLike[str], base: RunConfig | None = None) -> RunConfig:
    """The :class:`RunConfig` of a TOML file (over ``base``)."""
    return run_config_from_mapping(read_run_config(path), str(path), base)


def _coerce(value: Any, hint: Any, text: bool) -> Any:
    """``value`` as type ``hint``; raises ``TypeError``/``ValueError`` when it is not one (bool is no number)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is not type(None):
                try:
                    return _coerce(value, arg, text)
                except (TypeError, ValueError):
                    continue
        raise ValueError(value)
    if origin is typing.Literal:
        if isinstance(value, bool) or value not in typing.get_args(hint):
            raise ValueError(value)
        return value
    if origin is tuple:
        if text and isinstance(value, str):
            value = [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        if not isinstance(value, list | tuple):
            raise TypeError(value)
        args = typing.get_args(hint)
        fixed = not (len(args) == 2 and args[1] is Ellipsis)
        if fixed and len(value) != len(args):
            raise ValueError(value)
        return tuple(_coerce(item, args[i] if fixed else args[0], text) for i, item in enumerate(value))
    if hint is bool:
        if text and isinstance(value, str) and value.strip().lower() in (*_TRUE, *_FALSE):
            return value.strip().lower() in _TRUE
        if not isinstance(value, bool):
            raise TypeError(value)
        return value
    if hint in (int, float):
        if text and isinstance(value, str):
            return hint(value.strip())
        if isinstance(value, bool) or not isinstance(value, int | (float if hint is float else int)):
            raise TypeError(value)
        return hint(value)
    if hint is str:
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if not isinstance(value, str):
            raise TypeError(value)
        return value
    if isinstance(hint, type) and isinstance(value, hint):
        return value
    raise TypeError(value)


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(hint) if arg is not type(None))
    if origin is typing.Literal:
        return "one of " + ", ".join(map(str, typing.get_args(hint)))
    if origin is tuple:
        args = typing.get_args(hint)
        return "a list of integers" if args[-1] is Ellipsis else f"a list of {len(args)} integers"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names.get(hint) or f"a {getattr(hint, '__name__', hint)} (from Python)"


def _shown(value: Any) -> str:
    try:
        return json.dumps(value)
    except TypeError:
        return repr(value)


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
