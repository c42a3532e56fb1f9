"""Mask propagators by name, so that commands and benchmarks can pick one with a string.

A module that defines a propagator registers a factory for it next to the class::

    register_propagator("prior", PriorPropagator)

and the name is usable everywhere (``vmat bench masks --method prior``) once the module is imported;
``vmat.propagation`` imports every module of the package that registers one. A factory takes no
arguments and returns a fresh propagator with its default settings, the ones ``vmat masks`` uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from vmat.errors import ConfigError

if TYPE_CHECKING:
    from vmat.propagation.propagator import MaskPropagator

PropagatorFactory = Callable[[], "MaskPropagator"]

_FACTORIES: dict[str, PropagatorFactory] = {}


def register_propagator(name: str, factory: PropagatorFactory) -> None:
    """Make ``factory`` available as ``name``; registering the same factory twice is harmless."""
    known = _FACTORIES.get(name)
    if known is not None and known is not factory:
        raise ValueError(f"a different propagator is already registered as {name!r}")
    _FACTORIES[name] = factory


def propagator_names() -> list[str]:
    """The registered names, in the order they were registered."""
    return list(_FACTORIES)


def make_propagator(name: str) -> MaskPropagator:
    """A fresh propagator registered as ``name``; :class:`ConfigError` for an unknown name."""
    if name not in _FACTORIES:
        raise ConfigError(f"unknown propagator {name!r}: choose one of {', '.join(_FACTORIES) or '(none registered)'}.")
    return _FACTORIES[name]()
