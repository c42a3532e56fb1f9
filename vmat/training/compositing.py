"""Training samples as exact layers, and instance-wise compositing to make more occlusion.

A :class:`LayeredSample` holds ``T`` frames of one scene as its layers. Pasting a person from another
sample (mask-guided matting in the wild, eq. 2) in front of the scene gives

    I' = a_p F_p + (1 - a_p) I,

and behind every person (in front of the background, whose weight is ``c_0``) gives

    I' = I + c_0 a_p (F_p - B),

both exact for the stored composite; the visible mattes then follow from the new depth order as
``a_2 (1 - a_1)`` products (:func:`vmat.synthetic.compose.visible_contributions`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from vmat.synthetic.compose import visible_contributions

# A pasted person stands this much nearer than the nearest / farther than the farthest person.
DEPTH_MARGIN = (0.05, 0.3)


@dataclass(frozen=True)
class LayeredSample:
    """``T`` frames of a scene with ``N`` people, float32 in [0, 1] unless noted.

    ``image``, ``background`` ``(T, H, W, 3)``; ``layer_alpha`` ``(T, N, H, W)`` own coverage;
    ``foreground`` ``(T, N, H, W, 3)`` straight colour; ``order`` ``(T, N)`` int layer indices nearest
    first; ``instance_depth`` ``(T, N)`` metres; ``background_depth`` ``(H, W)`` metres.
    """

    image: np.ndarray
    background: np.ndarray
    layer_alpha: np.ndarray
    foreground: np.ndarray
    order: np.ndarray
    instance_depth: np.ndarray
    background_depth: np.ndarray

    @property
    def people(self) -> int:
        return self.layer_alpha.shape[1]

    def visible(self) -> tuple[np.ndarray, np.ndarray]:
        """Visible mattes ``(T, N, H, W)`` and background weights ``(T, H, W)``; together they sum to 1."""
        pairs = [visible_contributions(alpha, order) for alpha, order in zip(self.layer_alpha, self.order)]
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])

    def depth_map(self) -> np.ndarray:
        """``(T, H, W)`` metres of whichever layer contributes most to each pixel."""
        visible, rest = self.visible()
        weights = np.concatenate([rest[:, None], visible], axis=1)
        dominant = np.argmax(weights, axis=1)
        depths = np.concatenate([np.zeros((len(dominant), 1), np.float32), self.instance_depth], axis=1)
        person_depth = np.take_along_axis(depths, dominant.reshape(len(dominant), -1), axis=1).reshape(dominant.shape)
        return np.where(dominant == 0, self.background_depth[None], person_depth).astype(np.float32)

    @classmethod
    def from_shard(cls, arrays: dict[str, np.ndarray]) -> LayeredSample:
        """From a cache window (:meth:`vmat.training.cache.TrainingCache.window`)."""
        return cls(
            image=arrays["image"].astype(np.float32) / 255.0,
            background=arrays["background"].astype(np.float32) / 255.0,
            layer_alpha=arrays["layer_alpha"].astype(np.float32) / 255.0,
            foreground=arrays["foreground"].astype(np.float32) / 255.0,
            order=arrays["order"].astype(np.int64),
            instance_depth=arrays["instance_depth"].astype(np.float32),
            background_depth=arrays["background_depth"].astype(np.float32),
        )

    def crop(self, top: int, left: int, height: int, width: int, flip: bool) -> LayeredSample:
        """A ``height x width`` window at ``(top, left)``, mirrored left-right when ``flip``."""
        rows, cols = slice(top, top + height), slice(left, left + width)
        step = -1 if flip else 1

        def cut(array: np.ndarray, channels: bool) -> np.ndarray:
            if channels:
                return np.ascontiguousarray(array[..., rows, cols, :][..., ::step, :])
            return np.ascontiguousarray(array[..., rows, cols][..., ::step])

        return replace(
            self,
            image=cut(self.image, True),
            background=cut(self.background, True),
            layer_alpha=cut(self.layer_alpha, False),
            foreground=cut(self.foreground, True),
            background_depth=cut(self.background_depth, False),
        )

    def resized(self, height: int, width: int) -> LayeredSample:
        """The sample scaled to ``height x width`` (bilinear): a zoom-in shows larger people with softer edges,
        as upsampled footage has. Colours are scaled premultiplied, and the image is composited again from the
        scaled layers, because a scaled composite is not the composite of scaled layers (it is bilinear in
        alpha and colour), and the layers must keep explaining the image."""

        def scale(array: np.ndarray, channels: bool) -> np.ndarray:
            images = array.reshape(-1, *array.shape[-3 if channels else -2 :])
            out = np.stack([cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR) for image in images])
            return out.reshape(*array.shape[: -3 if channels else -2], height, width, *array.shape[-1:] if channels else ())

        alpha = np.clip(scale(self.layer_alpha, False), 0.0, 1.0)
        premultiplied = scale(self.foreground * self.layer_alpha[..., None], True)
        foreground = np.where(alpha[..., None] > 0, np.clip(premultiplied / np.maximum(alpha[..., None], 1e-6), 0.0, 1.0), 0.0)
        scaled = replace(
            self,
            background=np.clip(scale(self.background, True), 0.0, 1.0),
            layer_alpha=alpha,
            foreground=foreground.astype(np.float32),
            background_depth=cv2.resize(self.background_depth, (width, height), interpolation=cv2.INTER_LINEAR),
        )
        visible, rest = scaled.visible()
        image = rest[..., None] * scaled.background + (visible[..., None] * scaled.foreground).sum(1)
        return replace(scaled, image=np.clip(image, 0.0, 1.0).astype(np.float32))


def paste_person(sample: LayeredSample, donor: LayeredSample, person: int, front: bool, depth_scale: float) -> LayeredSample:
    """``sample`` with ``donor``'s layer ``person`` added in front of everyone or behind everyone.

    Both samples must have the same ``T, H, W``. ``depth_scale`` in ``DEPTH_MARGIN`` sets how far the pasted
    person stands from the nearest (front) or farthest (behind) person.
    """
    alpha = donor.layer_alpha[:, person]
    colour = donor.foreground[:, person]
    a = alpha[..., None]
    if front:
        image = a * colour + (1.0 - a) * sample.image
    else:
        _, rest = sample.visible()
        image = sample.image + rest[..., None] * a * (colour - sample.background)
    image = np.clip(image, 0.0, 1.0)
    new = sample.people
    if sample.people:
        reference = sample.instance_depth.min(axis=1) if front else sample.instance_depth.max(axis=1)
    else:
        reference = donor.instance_depth[:, person]
    depth = reference * (1.0 - depth_scale if front else 1.0 + depth_scale)
    order = np.array([[new, *row] if front else [*row, new] for row in sample.order], np.int64)
    return replace(
        sample,
        image=image.astype(np.float32),
        layer_alpha=np.concatenate([sample.layer_alpha, alpha[:, None]], axis=1),
        foreground=np.concatenate([sample.foreground, colour[:, None]], axis=1),
        order=order,
        instance_depth=np.concatenate([sample.instance_depth, depth[:, None]], axis=1).astype(np.float32),
    )
