"""The method interface of ``vmat eval`` and the trivial baselines.

A method is a callable that takes a stream of :class:`MethodInput` (one per frame, in order) and yields
one :class:`MethodOutput` per input, in the same order. It may look ahead (hold a few inputs before
yielding) but must not hold the whole clip. Instance ``k`` of an output is the instance of guidance
mask ``k``; where the guidance masks come from is the harness's choice (:mod:`vmat.evaluation.guidance`).

Register a method with :func:`register_method`; its factory takes keyword options and returns a
fresh method per clip, so recurrent state never leaks between clips. On the command line a method is
named with its options as ``NAME[:key=value,...]`` (e.g. ``blurred-mask:sigma=3``), so several
configurations of one pipeline can share a table::

    @register_method("my-matting", "one line on what it is")
    def make_my_matting() -> Method:
        def run(inputs):
            state = None
            for item in inputs:
                alphas, state = my_model(item.image, item.guidance, state)
                yield MethodOutput(alpha=alphas)
        return run
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from vmat.errors import ConfigError
from vmat.filters import guided_filter


@dataclass(frozen=True)
class MethodInput:
    """One frame for a method: ``image`` ``(H, W, 3)`` uint8 RGB, ``guidance`` ``(N, H, W)`` bool masks of
    ``instance_ids``, and the occlusion swaps ``(nearer id, farther id)`` the harness will score if the
    method returns them."""

    index: int
    image: np.ndarray
    guidance: np.ndarray
    instance_ids: list[int]
    swap_requests: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class MethodOutput:
    """A method's answer for one frame; only ``alpha`` is required.

    ``alpha`` ``(N, H, W)`` float in [0, 1], instance ``k`` for guidance mask ``k`` (an all-zero alpha is
    "not found"). ``instance_depth`` ``(N,)`` any depth-like value, smaller nearer, NaN unknown.
    ``removed`` maps an instance id to the frame without it, ``swapped`` maps ``(p, q)`` to the frame with
    the two exchanging depth places; both ``(H, W, 3)`` uint8.
    """

    alpha: np.ndarray
    instance_depth: np.ndarray | None = None
    removed: dict[int, np.ndarray] | None = None
    swapped: dict[tuple[int, int], np.ndarray] | None = None


Method = Callable[[Iterable[MethodInput]], Iterator[MethodOutput]]


@dataclass(frozen=True)
class MethodEntry:
    name: str
    description: str
    factory: Callable[..., Method]


METHODS: dict[str, MethodEntry] = {}


def register_method(name: str, description: str) -> Callable[[Callable[..., Method]], Callable[..., Method]]:
    """Decorator adding a method factory to :data:`METHODS` under ``name``."""

    def add(factory: Callable[..., Method]) -> Callable[..., Method]:
        if name in METHODS:
            raise ValueError(f"method {name!r} is registered twice")
        METHODS[name] = MethodEntry(name, description, factory)
        return factory

    return add


def _option_value(text: str) -> object:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_method_spec(spec: str) -> tuple[str, dict[str, object]]:
    """``"name:key=value,key2=value2"`` -> ``("name", {"key": value, ...})``; values become int/float/bool when they read so."""
    name, _, rest = spec.partition(":")
    options: dict[str, object] = {}
    for item in filter(None, rest.split(",")):
        key, equals, value = item.partition("=")
        if not equals or not key:
            raise ConfigError(f"method option {item!r} in {spec!r} is not key=value.")
        options[key.strip()] = _option_value(value.strip())
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}: choose from {', '.join(sorted(METHODS))}.")
    return name, options


def method_factory(spec: str) -> Callable[[], Method]:
    """A zero-argument factory for the method named by ``spec`` (see :func:`parse_method_spec`)."""
    name, options = parse_method_spec(spec)
    factory = METHODS[name].factory
    try:
        factory(**options)  # fail now, with the user's spelling, not half-way through a suite
    except TypeError as error:
        raise ConfigError(f"method {name!r} does not take the options {sorted(options)}: {error}.") from None
    return lambda: factory(**options)


def inpaint_removal(image: np.ndarray, alpha: np.ndarray, radius: int = 3) -> np.ndarray:
    """Remove a person the naive way: fill ``alpha > 0`` (grown by 2 px) from its surroundings (Telea)."""
    region = cv2.dilate((alpha > 0).astype(np.uint8), np.ones((5, 5), np.uint8))
    return cv2.inpaint(image, region, radius, cv2.INPAINT_TELEA)


def lowest_row_depth(alpha: np.ndarray) -> np.ndarray:
    """Depth proxy per instance ``(N,)`` from the ground-plane prior: the lower the feet, the nearer.

    Returns minus the lowest covered row (smaller is nearer), NaN for an empty alpha.
    """
    depth = np.full(len(alpha), np.nan)
    for k, a in enumerate(alpha):
        rows = np.flatnonzero((a > 0).any(axis=1))
        if rows.size:
            depth[k] = -float(rows[-1])
    return depth


def _baseline(make_alpha: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Method:
    """A method whose alphas are ``make_alpha(image, guidance)``, with the naive removals and the feet's depth order."""

    def run(inputs: Iterable[MethodInput]) -> Iterator[MethodOutput]:
        for item in inputs:
            alpha = make_alpha(item.image, item.guidance)
            yield MethodOutput(
                alpha=alpha,
                instance_depth=lowest_row_depth(alpha),
                removed={i: inpaint_removal(item.image, a) for i, a in zip(item.instance_ids, alpha)},
            )

    return run


@register_method("gt-hard", "the guidance masks as hard 0/1 alphas (with exact guidance: ground-truth alpha > 0)")
def make_gt_hard() -> Method:
    return _baseline(lambda image, guidance: guidance.astype(np.float32))


@register_method("blurred-mask", "the guidance masks blurred with a Gaussian (option sigma, px, default 1.5) as soft alphas")
def make_blurred_mask(sigma: float = 1.5) -> Method:
    if sigma <= 0:
        raise ConfigError(f"blurred-mask needs a positive sigma, not {sigma}.")

    def blur(image: np.ndarray, guidance: np.ndarray) -> np.ndarray:
        soft = [cv2.GaussianBlur(m.astype(np.float32), (0, 0), sigma) for m in guidance]
        # Tiny tails far from the mask would count as detections in the IoU of alpha > 0.
        return np.stack([np.where(s > 1e-3, s, 0.0) for s in soft]).astype(np.float32) if soft else guidance.astype(np.float32)

    return _baseline(blur)


@register_method(
    "guided-filter",
    "each guidance mask through a plain colour guided filter (options radius, px, default 8; eps, default 1e-4) as soft alphas",
)
def make_guided_filter(radius: int = 8, eps: float = 1e-4) -> Method:
    if radius < 1 or eps <= 0:
        raise ConfigError(f"guided-filter needs a radius of 1 px or more and a positive eps, not {radius} and {eps}.")

    def filtered(image: np.ndarray, guidance: np.ndarray) -> np.ndarray:
        rgb = image.astype(np.float32) / 255.0
        soft = [np.clip(guided_filter(rgb, m.astype(np.float32), radius, eps), 0.0, 1.0) for m in guidance]
        return np.stack(soft) if soft else guidance.astype(np.float32)

    return _baseline(filtered)
