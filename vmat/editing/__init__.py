"""Edits on instance layers (MP-Mat section 4 and appendix A), per frame and streamed over whole clips.

* :func:`remove` / :func:`remove_clip`: take people out (eq. 9-10);
* :func:`reorder` / :func:`reorder_clip`: exchange who occludes whom (Algorithm 1, general case);
* :func:`drag`, :func:`paste` and their clip drivers: move people within a frame, bring them in from
  another clip, along a trajectory over time (eq. 14);
* :func:`replace_background` and friends: colour, image, video or blurred background;
* :func:`complete_background`: recover what was behind people from other frames, before removal;
  :class:`CompletionStream` / :func:`complete_stream`: the same in a one-pass stream.

Each per-frame edit takes and returns a :class:`vmat.layers.LayerStack`; render with ``.render()``.
"""

from vmat.editing.background import (
    blur_background_clip,
    blurred_background,
    check_blur_sigma,
    fit_background,
    replace_background,
    replace_background_clip,
    solid_background,
    video_backgrounds,
)
from vmat.editing.clip import edit_frames
from vmat.editing.completion import (
    CompletedFrame,
    CompletionConfig,
    Filled,
    complete_background,
    complete_layers_file,
)
from vmat.editing.completion_stream import CompletionStream, complete_stream
from vmat.editing.dragging import (
    Cutout,
    Placement,
    Trajectory,
    cut_out,
    drag,
    drag_clip,
    keyframe_trajectory,
    paste,
    paste_clip,
    place,
)
from vmat.editing.removal import remove, remove_clip
from vmat.editing.reordering import reorder, reorder_clip, with_order

__all__ = [
    "CompletedFrame",
    "CompletionConfig",
    "CompletionStream",
    "Cutout",
    "Filled",
    "Placement",
    "Trajectory",
    "blur_background_clip",
    "blurred_background",
    "check_blur_sigma",
    "complete_background",
    "complete_layers_file",
    "complete_stream",
    "cut_out",
    "drag",
    "drag_clip",
    "edit_frames",
    "fit_background",
    "keyframe_trajectory",
    "paste",
    "paste_clip",
    "place",
    "remove",
    "remove_clip",
    "reorder",
    "reorder_clip",
    "replace_background",
    "replace_background_clip",
    "solid_background",
    "video_backgrounds",
    "with_order",
]
