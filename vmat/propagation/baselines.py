"""The simplest mask propagators, as yardsticks for the real ones (``vmat bench masks``).

* :class:`CopyPropagator`: every frame gets the start mask unchanged (what doing nothing scores).
* :class:`FarnebackPropagator`: the previous mask warped along OpenCV's Farneback flow from the new frame
  back to the previous one, at full size, nearest-neighbour; no occlusion handling, colour or edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vmat.errors import ConfigError
from vmat.propagation.flow import warp
from vmat.propagation.registry import register_propagator


class CopyPropagator:
    """Returns the start mask for every frame. State: the ``(H, W)`` uint16 mask."""

    def start(self, image: np.ndarray, ids: np.ndarray, state: np.ndarray | None = None) -> np.ndarray:
        if ids.shape != image.shape[:2]:
            raise ConfigError(f"the id mask is {ids.shape[1]}x{ids.shape[0]}, the frame {image.shape[1]}x{image.shape[0]}.")
        return ids.astype(np.uint16)

    def step(self, image: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return state.copy(), state


@dataclass
class FarnebackConfig:
    """``cv2.calcOpticalFlowFarneback`` settings; the defaults are OpenCV's sample values."""

    pyramid_scale: float = 0.5
    levels: int = 3
    window: int = 15
    iterations: int = 3
    poly_n: int = 5
    poly_sigma: float = 1.2


@dataclass
class FarnebackState:
    grey: np.ndarray  # (H, W) uint8: the previous frame
    ids: np.ndarray  # (H, W) uint16: the previous id mask


class FarnebackPropagator:
    """Warps the previous id mask along backward Farneback flow (see module doc)."""

    def __init__(self, config: FarnebackConfig | None = None) -> None:
        self.config = config or FarnebackConfig()

    def start(self, image: np.ndarray, ids: np.ndarray, state: FarnebackState | None = None) -> FarnebackState:
        if ids.shape != image.shape[:2]:
            raise ConfigError(f"the id mask is {ids.shape[1]}x{ids.shape[0]}, the frame {image.shape[1]}x{image.shape[0]}.")
        return FarnebackState(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), ids.astype(np.uint16))

    def step(self, image: np.ndarray, state: FarnebackState) -> tuple[np.ndarray, FarnebackState]:
        cfg = self.config
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        if grey.shape != state.grey.shape:
            raise ConfigError("the frame size changed mid-clip.")
        # The stub wants a flow array; None (OpenCV allocates it) is what its Python docs use.
        backward = cv2.calcOpticalFlowFarneback(  # type: ignore[call-overload]
            grey, state.grey, None, cfg.pyramid_scale, cfg.levels, cfg.window, cfg.iterations, cfg.poly_n, cfg.poly_sigma, 0
        )
        ids = warp(state.ids, backward, cv2.INTER_NEAREST)
        return ids, FarnebackState(grey, ids)


register_propagator("copy", CopyPropagator)
register_propagator("farneback", FarnebackPropagator)
