"""The person prior's public API: find people in frames, and segment each one with its landmarks.

    model = PersonModel.load(device="cpu")
    detections = model.detect(frames)                      # list[Detections], one per frame
    people = model.segment(frames, rois_from_detections(detections))
    people.masks                                           # (N, H, W) soft person masks in [0, 1]

``frames`` are ``(B, 3, H, W)`` RGB, float in [0, 1] (or uint8). :meth:`PersonModel.segment` takes the
people as :class:`~vmat.person.roi.Rois` (from detections, from the previous frame's landmarks with
:func:`~vmat.person.roi.rois_from_landmarks`, or from a user's box or click with :func:`roi_from_box` and
:func:`roi_from_click`) and runs the landmark network on all of them, of all frames, in one batch. Like
MediaPipe's pose graph it then re-centres each ROI on the person's own landmarks and runs again
(``refine_passes``), which matters when the first ROI came from a box or a click rather than from the
body's keypoints. To follow people from frame to frame, as MediaPipe does, segment the next frame from
``rois_from_landmarks(people.landmarks, people.rois.frame)`` with ``refine_passes=0``: one network run
per person and frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor, nn

from vmat.person.detector import Detections, PoseDetector, TileConfig, detect_people
from vmat.person.landmarks import INPUT_SIZE, PoseLandmarker, refine_from_heatmap
from vmat.person.roi import (
    ROI_SCALE,
    Rois,
    crop_rois,
    project_points,
    rois_from_boxes,
    rois_from_keypoints,
    rois_from_landmarks,
    rois_from_points,
    uncrop,
)


@dataclass(frozen=True)
class PersonModelConfig:
    """Settings of :class:`PersonModel`.

    ``min_score`` and ``nms_threshold`` are the detector's; ``tiles`` adds tiles for small people (see
    :class:`~vmat.person.detector.TileConfig`). ``refine_passes``: how often :meth:`PersonModel.segment`
    re-centres the ROIs on the landmarks it found and runs again (MediaPipe's graph does this from frame
    to frame; one pass within the frame is what the issue measured). ``min_presence``: below this
    presence a pass's landmarks are not trusted to move the ROI.
    """

    min_score: float = 0.5
    nms_threshold: float = 0.3
    tiles: TileConfig | None = None
    refine_passes: int = 1
    min_presence: float = 0.5


@dataclass
class PersonSegmentation:
    """``N`` people of a batch of frames, in frame pixels.

    ``masks (N, H, W)``: soft person masks in [0, 1] (0 outside each person's ROI). ``landmarks
    (N, 39, 5)``: x, y (continuous frame pixels), z (same scale, relative to the hips, smaller = nearer
    the camera), visibility and presence probabilities; 0..32 are BlazePose's body landmarks, 33 and 34
    the auxiliary points that place the next ROI. ``presence (N,)``: probability that the ROI holds a
    person. ``rois``: the ROIs of the last pass (``rois.frame`` says which frame each person is in).
    """

    masks: Tensor
    landmarks: Tensor
    presence: Tensor
    rois: Rois = field(repr=False)


def roi_from_box(boxes: Tensor, frame: Tensor | None = None) -> Rois:
    """Upright square ROIs around the people in ``boxes (N, 4)`` ``x0, y0, x1, y1`` (frame pixels).

    The square is 1.25 times the box's longer side: a tight box's longer side is about the diameter of
    the circle around the body that MediaPipe's ROIs are built from (measured on DAVIS: the landmark
    ROI is 1.25-1.3 times the mask box's longer side for people alone).
    """
    return rois_from_boxes(boxes, frame, scale=ROI_SCALE)


def roi_from_click(points: Tensor, frame_size: tuple[int, int], frame: Tensor | None = None, fraction: float = 0.8) -> Rois:
    """Upright square ROIs centred on clicks ``points (N, 2)`` (x, y frame pixels), of side ``fraction``
    times the frame's shorter side; segment them with at least two refine passes, which re-centre the
    square on the clicked person and fit it to their size."""
    return rois_from_points(points, fraction * min(frame_size), frame)


def rois_from_detections(detections: list[Detections]) -> Rois:
    """The ROIs of every detected person of every frame (MediaPipe's ``pose_detection_to_roi``)."""
    keypoints = torch.cat([d.keypoints for d in detections])
    device = keypoints.device
    frame = torch.cat([torch.full((len(d),), b, dtype=torch.long, device=device) for b, d in enumerate(detections)])
    return rois_from_keypoints(keypoints[:, 0], keypoints[:, 1], frame)


def image_to_frames(image: np.ndarray, device: str | torch.device | None = None) -> Tensor:
    """One ``(H, W, 3)`` RGB uint8 image as the ``(1, 3, H, W)`` uint8 batch the models take."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].to(device)


def _checked(frames: Tensor) -> Tensor:
    """``frames`` as uint8 or float32 ``(B, 3, H, W)``."""
    if frames.ndim != 4 or frames.shape[1] != 3:
        raise ValueError(f"frames must be (B, 3, H, W), got {tuple(frames.shape)}")
    return frames if frames.dtype == torch.uint8 else frames.float()


class PersonModel(nn.Module):
    """The BlazePose detector and landmark/segmentation networks with MediaPipe's ROI logic around them."""

    def __init__(self, detector: PoseDetector, landmarker: PoseLandmarker, config: PersonModelConfig | None = None) -> None:
        super().__init__()
        self.detector = detector.eval()
        self.landmarker = landmarker.eval()
        self.config = config or PersonModelConfig()

    @classmethod
    def load(cls, device: str | torch.device = "cpu", config: PersonModelConfig | None = None) -> PersonModel:
        """Both networks with the weights that ship with vmat (see :mod:`vmat.person.weights`)."""
        from vmat.person.weights import load_person_state

        detector, landmarker = PoseDetector(), PoseLandmarker()
        detector.load_state_dict(load_person_state("pose_detection"))
        landmarker.load_state_dict(load_person_state("pose_landmark_full"))
        return cls(detector, landmarker, config).to(device)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.no_grad()
    def detect(self, frames: Tensor, tiles: TileConfig | None = None) -> list[Detections]:
        """People in each of ``frames (B, 3, H, W)``: one :class:`Detections` per frame (frame pixels). ``tiles``:
        look in these tiles too (default: the config's)."""
        c = self.config
        return detect_people(self.detector, frames, min_score=c.min_score, nms_threshold=c.nms_threshold, tiles=tiles or c.tiles)

    @torch.no_grad()
    def segment(
        self,
        frames: Tensor,
        rois: Rois | Tensor,
        frame: Tensor | None = None,
        refine_passes: int | None = None,
        mask_size: tuple[int, int] | None = None,
    ) -> PersonSegmentation:
        """Masks, landmarks and presence of the people in ``rois`` of ``frames (B, 3, H, W)``.

        ``rois``: :class:`Rois`, or boxes ``(N, 4)`` (frame pixels; ``frame (N,)`` says which frame each
        is in, default all frame 0) that :func:`roi_from_box` turns into ROIs. All people of all frames
        go through the network together; ``refine_passes`` (default the config's) re-centre each ROI on
        the person's auxiliary landmarks and run again, except where the person was not found.
        ``mask_size`` ``(h, w)``: the masks on a grid of that size over the frame (for a caller that works
        on a smaller copy of it; the network still crops each person from ``frames``); default ``(H, W)``.
        Only the pixels the ROIs reach are read from ``frames``, so uint8 frames cost less than float ones.
        """
        frames = _checked(frames).to(self.device)
        if not isinstance(rois, Rois):
            rois = roi_from_box(rois, frame)
        rois = rois.to(self.device)
        frame_size = (frames.shape[-2], frames.shape[-1])
        height, width = mask_size or frame_size
        if len(rois) == 0:
            empty = torch.zeros(0, device=frames.device)
            return PersonSegmentation(empty.new_zeros(0, height, width), empty.new_zeros(0, 39, 5), empty, rois)
        passes = self.config.refine_passes if refine_passes is None else refine_passes
        for step in range(passes + 1):
            output = self.landmarker(crop_rois(frames, rois, INPUT_SIZE), segment=step == passes)
            landmarks = refine_from_heatmap(output.landmarks, output.heatmap)
            landmarks = torch.cat([project_points(landmarks[..., :3], rois, INPUT_SIZE), torch.sigmoid(landmarks[..., 3:])], -1)
            if step < passes:
                rois = _refined(rois, landmarks, output.presence >= self.config.min_presence)
        masks = uncrop(torch.sigmoid(output.segmentation), rois, frame_size, (height, width))[:, 0]
        return PersonSegmentation(masks, landmarks, output.presence, rois)


def _refined(rois: Rois, landmarks: Tensor, found: Tensor) -> Rois:
    """ROIs from ``landmarks`` where a person was ``found``; the others keep their ROI."""
    moved = rois_from_landmarks(landmarks, rois.frame)
    keep = ~found
    return Rois(
        torch.where(keep[:, None], rois.center, moved.center),
        torch.where(keep, rois.size, moved.size),
        torch.where(keep, rois.rotation, moved.rotation),
        rois.frame,
    )


@lru_cache(maxsize=2)
def default_person_model(device: str = "cpu") -> PersonModel:
    """The shipped person model on ``device``, loaded once per process and shared by every stage."""
    return PersonModel.load(device=device)
