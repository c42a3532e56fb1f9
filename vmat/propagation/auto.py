"""Automatic people finding for when the user gives no prompt.

The default (``method="detector"``) is the BlazePose person detector (:mod:`vmat.person`), run on the
whole first frame and on overlapping tiles for small people; each person it finds is segmented by the
landmark network inside their ROI, and ids are given left to right.

The weight-free FALLBACK (``method="motion"``) uses two cues without any weights:

* Motion against a median background of the first frames: foreground blobs of person-like size become
  boxes. Each sampled frame is first aligned to the first one by a homography (ORB features + RANSAC), so
  slowly panning cameras work too. A moving dog or car is found as well; a person who never moves is not.
* OpenCV's built-in HOG + linear-SVM pedestrian detector (Dalal & Triggs), where the installed OpenCV has
  it (4.x; OpenCV 5 moved it out to the contrib modules). It finds upright, mostly unoccluded people
  roughly 100-400 px tall and misses sitting, bent or cropped people.

The boxes are turned into masks by GrabCut, seeded by the moving pixels where there are any
(:func:`find_people_ids`). Use real prompts when the result matters; this only gives the propagation a
start.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vmat.propagation.prompts import Box, InstancePrompt, SegmentConfig, segment_instance


@dataclass
class PeopleFinderConfig:
    """Settings of the automatic people finder."""

    # "detector" (the person prior) or "motion" (the weight-free fallback: motion blobs and HOG).
    method: str = "detector"
    # Detector: people scoring below this are not taken; tiles find people down to about 40 px tall at 480p.
    min_score: float = 0.5
    tiles: bool = True

    # Both cues run on frames scaled so their shorter side is this many pixels (speed).
    detect_short_side: int = 480
    hog_threshold: float = 0.5
    # Motion cue: pixels differing from the median background by more than this (0-255 grey levels).
    motion_threshold: float = 25.0
    # Motion blobs smaller than this fraction of the frame are noise, not people.
    min_blob_fraction: float = 0.002
    # Detections overlapping more than this (intersection over the smaller box) are one person.
    merge_overlap: float = 0.6


def hog_available() -> bool:
    """Whether the installed OpenCV ships the HOG people detector (OpenCV 4.x does, 5.x does not)."""
    return hasattr(cv2, "HOGDescriptor")


def detect_people_hog(image: np.ndarray, config: PeopleFinderConfig | None = None) -> list[tuple[Box, float]]:
    """Upright people in an ``(H, W, 3)`` RGB uint8 image by OpenCV's default HOG detector, with scores.

    Returns no detections where the installed OpenCV has no HOG detector (see :func:`hog_available`).
    """
    config = config or PeopleFinderConfig()
    if not hog_available():
        return []
    scale = config.detect_short_side / min(image.shape[:2])
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image
    scale = min(scale, 1.0)
    hog = cv2.HOGDescriptor()
    window_width, window_height = hog.winSize
    if small.shape[0] < window_height or small.shape[1] < window_width:
        return []  # no window fits (and OpenCV 4 crashes on images smaller than its window)
    # OpenCV returns a float32 array (its stub says a sequence): asarray only retypes it.
    hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), np.float32))
    rects, weights = hog.detectMultiScale(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), winStride=(8, 8), padding=(8, 8), scale=1.05)
    found = []
    for (x, y, w, h), weight in zip(np.asarray(rects).reshape(-1, 4), np.asarray(weights).reshape(-1)):
        if weight < config.hog_threshold:
            continue
        # The HOG window has ~1/8 padding around the body on each side: trim it.
        x0, y0, x1, y1 = x + w * 0.1, y + h * 0.05, x + w * 0.9, y + h * 0.95
        found.append((Box(int(x0 / scale), int(y0 / scale), int(x1 / scale), int(y1 / scale)), float(weight)))
    return found


def align_to(reference: np.ndarray, image: np.ndarray, max_features: int = 1500) -> np.ndarray | None:
    """The 3x3 homography taking ``image`` onto ``reference`` (both ``(H, W, 3)`` uint8), or ``None``
    when too few features match (then the frame is not used)."""
    orb = cv2.ORB.create(max_features)
    key_ref, desc_ref = orb.detectAndCompute(cv2.cvtColor(reference, cv2.COLOR_RGB2GRAY), None)
    key_img, desc_img = orb.detectAndCompute(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), None)
    if desc_ref is None or desc_img is None:
        return None
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(desc_img, desc_ref)
    if len(matches) < 12:
        return None
    source = np.array([key_img[m.queryIdx].pt for m in matches], np.float32)
    target = np.array([key_ref[m.trainIdx].pt for m in matches], np.float32)
    homography, inliers = cv2.findHomography(source, target, cv2.RANSAC, 3.0)
    if homography is None or inliers.sum() < 12:
        return None
    return homography


def _mostly_unchanged(reference: np.ndarray, image: np.ndarray, tolerance: int = 6, share: float = 0.6) -> bool:
    """Whether most pixels of two frames are equal up to noise, as with a still camera and small movers."""
    difference = np.abs(reference.astype(np.int16) - image.astype(np.int16)).max(axis=2)
    return float((difference <= tolerance).mean()) >= share


def median_background(images: Iterable[np.ndarray]) -> np.ndarray:
    """Per-pixel median of a few ``(H, W, 3)`` uint8 frames, each aligned to the first: the background
    behind whatever moves. Pixels no aligned frame covers keep the first frame's value."""
    frames = list(images)
    reference = frames[0]
    height, width = reference.shape[:2]
    layers: list[np.ndarray] = [reference.astype(np.float32)]
    corners = np.array([[0, 0], [width, 0], [0, height], [width, height]], np.float32).reshape(-1, 1, 2)
    for image in frames[1:]:
        if _mostly_unchanged(reference, image):
            # A static camera: alignment could only blur (or fail on plain scenes).
            layers.append(image.astype(np.float32))
            continue
        homography = align_to(reference, image)
        if homography is None:
            continue
        if np.abs(cv2.perspectiveTransform(corners, homography) - corners).max() < 0.5:
            layers.append(image.astype(np.float32))
            continue
        warped = cv2.warpPerspective(
            image.astype(np.float32), homography, (width, height), flags=cv2.INTER_LINEAR, borderValue=(np.nan,) * 3
        )
        layers.append(warped)
    stack = np.stack(layers)
    if len(layers) == 1:
        return reference.copy()
    median = np.nanmedian(stack, axis=0)
    return np.where(np.isnan(median), reference, median).round().astype(np.uint8)


def moving_pixels(image: np.ndarray, background: np.ndarray, config: PeopleFinderConfig | None = None) -> np.ndarray:
    """``(H, W)`` bool: where ``image`` differs from a static ``background`` (both ``(H, W, 3)`` uint8),
    cleaned of specks and with small holes closed."""
    config = config or PeopleFinderConfig()
    difference = np.abs(image.astype(np.int16) - background.astype(np.int16)).max(axis=2)
    moving = (difference > config.motion_threshold).astype(np.uint8)
    moving = cv2.morphologyEx(moving, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    return cv2.morphologyEx(moving, cv2.MORPH_CLOSE, np.ones((15, 15), np.uint8)) > 0


def blob_boxes(moving: np.ndarray, config: PeopleFinderConfig | None = None) -> list[Box]:
    """Boxes around the connected blobs of an ``(H, W)`` bool mask that are large enough to be people."""
    config = config or PeopleFinderConfig()
    count, _, stats, _ = cv2.connectedComponentsWithStats(moving.astype(np.uint8), connectivity=8)
    minimum = config.min_blob_fraction * moving.size
    return [Box(int(x), int(y), int(x + w), int(y + h)) for x, y, w, h, area in stats[1:count] if area >= minimum]


def detect_motion_blobs(image: np.ndarray, background: np.ndarray, config: PeopleFinderConfig | None = None) -> list[Box]:
    """Boxes around foreground blobs of ``image`` against a static ``background`` (both ``(H, W, 3)`` uint8)."""
    return blob_boxes(moving_pixels(image, background, config), config)


def _overlap(a: Box, b: Box) -> float:
    ix = max(0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0, min(a.y1, b.y1) - max(a.y0, b.y0))
    smaller = min((a.x1 - a.x0) * (a.y1 - a.y0), (b.x1 - b.x0) * (b.y1 - b.y0))
    return ix * iy / max(smaller, 1)


def first_frame_motion(first_frames: Sequence[np.ndarray], config: PeopleFinderConfig | None = None) -> np.ndarray | None:
    """``(H, W)`` bool moving pixels of the first frame against the aligned median of all of them, or
    ``None`` with fewer than 3 frames. Works on frames scaled to ``detect_short_side`` (the median is slow)."""
    config = config or PeopleFinderConfig()
    if len(first_frames) < 3:
        return None
    first = first_frames[0]
    scale = min(1.0, config.detect_short_side / min(first.shape[:2]))
    small = (
        [cv2.resize(f, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) for f in first_frames]
        if scale < 1
        else list(first_frames)
    )
    moving = moving_pixels(small[0], median_background(small), config)
    return cv2.resize(moving.astype(np.uint8), first.shape[1::-1], interpolation=cv2.INTER_NEAREST) > 0


def find_people(
    first_frames: Iterable[np.ndarray], config: PeopleFinderConfig | None = None, moving: np.ndarray | None = None
) -> list[Box]:
    """FALLBACK: boxes around the people of the first of ``first_frames`` (``(H, W, 3)`` RGB uint8 each).

    HOG detections (where available) come first, largest score first; blobs of moving pixels (``moving``,
    or :func:`first_frame_motion` of the frames) are added where they overlap no detection. Give 10-30
    frames spread over the first seconds for the motion cue (at least 3). Boxes are ordered left to right,
    so ids are predictable.
    """
    config = config or PeopleFinderConfig()
    frames = list(first_frames)
    if not frames:
        return []
    boxes: list[Box] = []
    for box, _ in sorted(detect_people_hog(frames[0], config), key=lambda found: -found[1]):
        if all(_overlap(box, kept) < config.merge_overlap for kept in boxes):
            boxes.append(box)
    moving = first_frame_motion(frames, config) if moving is None else moving
    if moving is not None:
        for blob in blob_boxes(moving, config):
            if all(_overlap(blob, kept) < config.merge_overlap for kept in boxes):
                boxes.append(blob)
    return sorted(boxes, key=lambda b: (b.x0, b.y0))


def find_people_ids(
    first_frames: Iterable[np.ndarray], config: PeopleFinderConfig | None = None, segment: SegmentConfig | None = None
) -> np.ndarray:
    """FALLBACK: an ``(H, W)`` uint16 id mask of the people on the first of ``first_frames``.

    Each box of :func:`find_people` is cut out by GrabCut; where the box holds moving pixels those seed it
    ("probably person", the rest of the box "probably background"), which keeps GrabCut from taking the
    whole box.
    """
    frames = list(first_frames)
    if not frames:
        return np.zeros((0, 0), np.uint16)
    first = frames[0]
    if (config or PeopleFinderConfig()).method == "detector":
        return detect_people_ids(first, config)
    moving = first_frame_motion(frames, config)
    ids = np.zeros(first.shape[:2], np.uint16)
    for k, box in enumerate(find_people(frames, config, moving), start=1):
        inside = np.zeros(first.shape[:2], bool)
        inside[box.y0 : box.y1, box.x0 : box.x1] = True
        seed = moving & inside if moving is not None else None
        if seed is not None and seed.any():
            mask = segment_instance(first, InstancePrompt(k), previous=seed, blocked=(ids > 0) | ~inside, config=segment)
        else:
            mask = segment_instance(first, InstancePrompt(k, box=box), blocked=ids > 0, config=segment)
        ids[mask & (ids == 0)] = k
    return ids


def detect_people_ids(image: np.ndarray, config: PeopleFinderConfig | None = None, model=None) -> np.ndarray:
    """An ``(H, W)`` uint16 id mask of the people the person detector finds on an ``(H, W, 3)`` RGB uint8
    image, each segmented by the landmark network in their ROI; ids 1, 2, ... from left to right. Where
    two people's masks overlap, the more confident one keeps the pixel."""
    from vmat.person.detector import TileConfig, detect_people
    from vmat.person.model import default_person_model, image_to_frames, rois_from_detections

    config = config or PeopleFinderConfig()
    model = model or default_person_model()
    frames = image_to_frames(image)
    tiles = TileConfig() if config.tiles else None
    detections = detect_people(
        model.detector, frames, min_score=config.min_score, nms_threshold=model.config.nms_threshold, tiles=tiles
    )[0]
    ids = np.zeros(image.shape[:2], np.uint16)
    if len(detections) == 0:
        return ids
    people = model.segment(frames, rois_from_detections([detections]))
    probability = people.masks.cpu().numpy()
    found = (probability > 0.5) & (people.presence.cpu().numpy() >= 0.5)[:, None, None]
    order = sorted((i for i in range(len(found)) if found[i].any()), key=lambda i: np.nonzero(found[i].any(axis=0))[0][0])
    if not order:
        return ids
    best = np.argmax(np.where(found[order], probability[order], 0), axis=0)
    covered = found[order].any(axis=0)
    ids[covered] = best[covered] + 1
    return ids
