"""Temporal-coherence errors of a predicted alpha sequence: dtSSD and MESSDdt (Erofeev et al., BMVC 2015),
which need the true alpha, and the flow-warping error, which does not (it needs only the source frames).

MaGGIe (``shared/seeds/002``, tables 13-15) reports both on V-HIM60 but does not restate them; we use
the definitions of the video-matting benchmark they come from, per pixel and per frame pair, averaged
over the frame pairs of a clip:

- ``dtSSD_t = sqrt(mean_p ((a_t - a_{t-1}) - (g_t - g_{t-1}))^2)``, reported x 100.
- ``MESSDdt_t = mean_p |E_t(p) - E_{t-1}(p + v_t(p))|`` with ``E = (a - g)^2`` and ``v_t`` the motion of
  the ground truth from frame ``t`` back to ``t - 1``, reported x 1000. It ignores errors that move with
  the object and counts errors that flicker. ``v_t`` is estimated on the ground-truth alphas with
  Farneback optical flow unless the caller passes the exact motion.
- ``warp_t = mean over M_t of (a_t - warp(a_{t-1}))^2`` with the flow of the source frames and ``M_t`` the
  pixels its forward-backward check says frame t-1 saw, reported x 1000 (:func:`warp_error`).
"""

from __future__ import annotations

import cv2
import numpy as np

DTSSD_SCALE = 1e2
MESSDDT_SCALE = 1e3


def dtssd(pred: np.ndarray, pred_prev: np.ndarray, gt: np.ndarray, gt_prev: np.ndarray) -> float:
    """dtSSD of one frame pair, x 100. All inputs ``(H, W)`` alphas in [0, 1]."""
    change_error = (np.asarray(pred, np.float64) - pred_prev) - (np.asarray(gt, np.float64) - gt_prev)
    return float(np.sqrt(np.mean(change_error**2)) * DTSSD_SCALE)


FLOW_MARGIN = 16


def ground_truth_motion(gt: np.ndarray, gt_prev: np.ndarray) -> np.ndarray:
    """Backward flow ``(H, W, 2)`` (x, y) such that ``gt(p) ~ gt_prev(p + v(p))``, from the alphas alone.

    The flow is estimated in the box around either matte (plus a margin) and is zero elsewhere, where
    the ground truth is empty in both frames and nothing moves.
    """
    gt = np.asarray(gt)
    flow = np.zeros((*gt.shape, 2), np.float32)
    rows, cols = np.nonzero((gt > 0) | (np.asarray(gt_prev) > 0))
    if rows.size == 0:
        return flow
    y0, y1 = max(rows.min() - FLOW_MARGIN, 0), min(rows.max() + FLOW_MARGIN + 1, gt.shape[0])
    x0, x1 = max(cols.min() - FLOW_MARGIN, 0), min(cols.max() + FLOW_MARGIN + 1, gt.shape[1])
    current = np.clip(gt[y0:y1, x0:x1] * 255.0 + 0.5, 0, 255).astype(np.uint8)
    previous = np.clip(np.asarray(gt_prev)[y0:y1, x0:x1] * 255.0 + 0.5, 0, 255).astype(np.uint8)
    # OpenCV's stubs type the output flow as required; OpenCV itself allocates it when given None.
    flow[y0:y1, x0:x1] = cv2.calcOpticalFlowFarneback(  # type: ignore[call-overload]
        current, previous, None, 0.5, 5, 10, 2, 7, 1.5, cv2.OPTFLOW_FARNEBACK_GAUSSIAN
    )
    return flow


def warp_backward(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample ``image`` at ``p + flow(p)`` (bilinear, border repeated), ``(H, W)`` float32."""
    height, width = image.shape
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(
        np.asarray(image, np.float32),
        grid_x + flow[..., 0].astype(np.float32),
        grid_y + flow[..., 1].astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def messddt(
    pred: np.ndarray,
    pred_prev: np.ndarray,
    gt: np.ndarray,
    gt_prev: np.ndarray,
    flow: np.ndarray | None = None,
) -> float:
    """MESSDdt of one frame pair, x 1000. ``flow`` ``(H, W, 2)`` is the backward motion (estimated when ``None``)."""
    if flow is None:
        flow = ground_truth_motion(gt, gt_prev)
    error = (np.asarray(pred, np.float64) - gt) ** 2
    error_prev = (np.asarray(pred_prev, np.float64) - gt_prev) ** 2
    return float(np.mean(np.abs(error - warp_backward(error_prev, flow))) * MESSDDT_SCALE)


WARP_SCALE = 1e3
# DIS "medium": accurate enough that the warp error of a steady matte is mostly the matte's own change.
WARP_FLOW_PRESET = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM


def source_flows(image: np.ndarray, image_prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Backward (frame t -> t-1) and forward (t-1 -> t) optical flows ``(H, W, 2)`` of two ``(H, W, 3)`` uint8
    RGB frames (OpenCV DIS on grey): the source frames' motion, which a matte should follow."""
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    grey_prev = cv2.cvtColor(np.ascontiguousarray(image_prev), cv2.COLOR_RGB2GRAY)
    dis = cv2.DISOpticalFlow.create(WARP_FLOW_PRESET)
    # OpenCV's stubs type the output flow as required; OpenCV itself allocates it when given None.
    backward = dis.calc(grey, grey_prev, None)  # type: ignore[call-overload]
    return backward, dis.calc(grey_prev, grey, None)  # type: ignore[call-overload]


def warp_error(alpha: np.ndarray, alpha_prev: np.ndarray, backward: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Flow-warping error of a matte, x1e3 (Lai et al., ECCV 2018, eq. 6, as video-matting papers report it):
    ``sum_p M(p) (a_t(p) - a_{t-1}(p + v(p)))^2 / sum_p M(p)``.

    ``alpha``, ``alpha_prev`` ``(H, W)`` in [0, 1]; ``backward`` ``(H, W, 2)`` the flow from frame t back to
    t-1 (x, y); ``valid`` ``(H, W)`` bool ``M``, the pixels of t seen in t-1 (all when ``None``). A matte that
    moves with the picture scores 0 whatever its quality; one that changes where the picture does not,
    flickers. 0 when no pixel is valid.
    """
    mask = np.ones(alpha.shape, bool) if valid is None else np.asarray(valid, bool)
    if not mask.any():
        return 0.0
    error = (np.asarray(alpha, np.float64) - warp_backward(alpha_prev, backward)) ** 2
    return float(error[mask].mean() * WARP_SCALE)


def frame_warp_error(alpha: np.ndarray, alpha_prev: np.ndarray, flows: tuple[np.ndarray, np.ndarray]) -> float:
    """:func:`warp_error` with ``flows = source_flows(image, image_prev)`` and the occlusion mask of their
    forward-backward check (:func:`vmat.propagation.flow.occlusion_mask`), so pixels that t-1 did not see
    (disoccluded, or out of frame) are left out."""
    from vmat.propagation.flow import occlusion_mask  # the propagation package imports its models; only now

    backward, forward = flows
    return warp_error(alpha, alpha_prev, backward, ~occlusion_mask(backward, forward))
