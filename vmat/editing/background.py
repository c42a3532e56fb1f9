"""Background replacement: a colour, an image, a video (looped or held), or a blur of the original.

Only the background plane (instance 0) changes; people keep their straight colour and weights, so a
half-transparent edge becomes ``w c + (1 - w) B_new`` exactly, with no dark fringe from premultiplied
colour and no trace of the old background.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Literal

import cv2
import numpy as np
import torch
from kornia.filters import gaussian_blur2d

from vmat.layers.compositing import image_to_tensor
from vmat.layers.errors import LayerError
from vmat.layers.stack import LayerStack
from vmat.limits import MAX_BLUR_SIGMA

Fit = Literal["cover", "stretch"]


def replace_background(stack: LayerStack, background: torch.Tensor) -> LayerStack:
    """The frame with its background plane replaced.

    Args:
        stack: the frame's layers.
        background: ``(3, H, W)`` new background, straight RGB in [0, 1], the frame's size.
    """
    if background.shape != (3, stack.height, stack.width):
        raise LayerError(
            f"The new background is {tuple(background.shape)}, the frame needs (3, {stack.height}, {stack.width})."
        )
    colour = stack.colour.clone()
    colour[0] = background.to(colour)
    return stack.replace(colour=colour)


def solid_background(rgb: tuple[int, int, int], width: int, height: int) -> torch.Tensor:
    """``(3, H, W)`` plane of one 8-bit RGB colour."""
    if any(not 0 <= c <= 255 for c in rgb):
        raise LayerError(f"A background colour needs three values from 0 to 255, got {tuple(rgb)}.")
    return torch.tensor(rgb, dtype=torch.float32)[:, None, None].expand(3, height, width) / 255.0


def fit_background(image: np.ndarray, width: int, height: int, fit: Fit = "cover") -> torch.Tensor:
    """Resize an ``(h, w, 3)`` uint8 RGB image to the frame: ``cover`` scales to fill and crops the
    overflow evenly (no distortion), ``stretch`` scales each axis independently.

    Returns:
        ``(3, height, width)`` float32 in [0, 1].
    """
    src_h, src_w = image.shape[:2]
    if fit == "stretch":
        size = (width, height)
    elif fit == "cover":
        scale = max(width / src_w, height / src_h)
        size = (max(width, round(src_w * scale)), max(height, round(src_h * scale)))
    else:
        raise LayerError(f"Unknown background fit {fit!r}; use 'cover' or 'stretch'.")
    shrinking = size[0] < src_w
    resized = cv2.resize(image[..., :3], size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    x0, y0 = (size[0] - width) // 2, (size[1] - height) // 2
    return image_to_tensor(resized[y0 : y0 + height, x0 : x0 + width])


def video_backgrounds(
    open_frames: Callable[[], Iterable[np.ndarray]],
    width: int,
    height: int,
    *,
    at_end: Literal["loop", "hold"] = "loop",
    fit: Fit = "cover",
) -> Iterator[torch.Tensor]:
    """An endless stream of background planes from a video, one per edited frame.

    A background video longer than the clip is trimmed by the clip simply stopping; a shorter one is
    looped (re-opened with ``open_frames``) or its last frame held.

    Args:
        open_frames: opens the background video from its start and yields ``(h, w, 3)`` uint8 RGB images.
        at_end: ``loop`` or ``hold`` when the background video runs out.
    """
    last = None
    while True:
        for image in open_frames():
            last = fit_background(image, width, height, fit)
            yield last
        if last is None:
            raise LayerError("The background video has no frames.")
        if at_end == "hold":
            while True:
                yield last


def check_blur_sigma(sigma: float) -> None:
    """Refuse a blur sigma that is not a positive number of pixels up to :data:`~vmat.limits.MAX_BLUR_SIGMA`."""
    if not 0 < sigma <= MAX_BLUR_SIGMA:  # also refuses NaN
        raise LayerError(f"A background blur needs a positive sigma of at most {MAX_BLUR_SIGMA:g} pixels, got {sigma}.")


def blurred_background(stack: LayerStack, sigma: float) -> torch.Tensor:
    """``(3, H, W)`` the frame's own background, Gaussian-blurred with ``sigma`` pixels.

    Blurring is weighted by how visible the background is (normalised convolution), so the colour of
    people in front, which an incomplete background plane may still hold, does not bleed into it. The
    kernel reaches 3 sigma but never past the frame (its edges are mirrored), so its memory is bounded by
    the frame's size whatever the sigma.
    """
    check_blur_sigma(sigma)
    visible = stack.weights()[0][None, None]
    reach = max(1, int(3 * sigma))
    radii = (min(reach, stack.height - 1), min(reach, stack.width - 1))
    kernel, sigmas = (2 * radii[0] + 1, 2 * radii[1] + 1), (float(sigma), float(sigma))
    weighted = gaussian_blur2d(torch.cat([stack.colour[0][None] * visible, visible], 1), kernel, sigmas)[0]
    plain = gaussian_blur2d(stack.colour[0][None], kernel, sigmas)[0]
    # Where no visible background is near, fall back to the plain blur rather than divide by ~0.
    return torch.where(weighted[3:] > 1e-3, weighted[:3] / weighted[3:].clamp_min(1e-3), plain)


def replace_background_clip(
    stacks: Iterable[LayerStack], backgrounds: torch.Tensor | Iterable[torch.Tensor]
) -> Iterator[LayerStack]:
    """Replace the background of every frame (streamed): one ``(3, H, W)`` plane for all frames, or an
    iterable with one per frame (e.g. :func:`video_backgrounds`)."""
    planes = itertools.repeat(backgrounds) if isinstance(backgrounds, torch.Tensor) else iter(backgrounds)
    for stack in stacks:
        plane = next(planes, None)
        if plane is None:
            raise LayerError("The background stream ended before the clip; loop or hold it.")
        yield replace_background(stack, plane)


def blur_background_clip(stacks: Iterable[LayerStack], sigma: float) -> Iterator[LayerStack]:
    """Blur the background of every frame (streamed), e.g. for a portrait look."""
    for stack in stacks:
        yield replace_background(stack, blurred_background(stack, sigma))
