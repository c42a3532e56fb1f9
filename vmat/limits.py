"""Bounds on every size that comes from a user's file or flag, checked before anything is allocated.

A number in a layers header, a prompt file, a checkpoint's config or a command-line flag can ask for any
amount of memory; vmat refuses one outside these bounds with a one-line error instead of allocating it.
Each bound sits far above what real footage needs (docs/reliability.md lists them).
"""

from __future__ import annotations

# Frame size (layers headers, prompt coordinates). 16384 is twice the width of 8K UHD; the area bound is
# 8K UHD's, so a crafted 16384x16384 header cannot ask for 8 bytes x 268 M pixels per plane.
MAX_FRAME_SIDE = 16384
MAX_FRAME_PIXELS = 7680 * 4320

# One decoded layers frame is P planes of float32 colour + alpha (16 bytes a pixel). 4 GiB holds 129
# people at 1080p or 31 at 4K; a file asking for more is refused before its frame is decoded.
MAX_LAYER_STACK_BYTES = 4 << 30

# header.json holds one presentation time per frame (about 22 bytes each): 64 MiB is a 10-hour clip at
# 60 fps with room to spare, and keeps a crafted header from filling memory with parsed JSON.
MAX_LAYERS_HEADER_BYTES = 64 << 20

# A prompt file is boxes, clicks and scribbles; hand-made ones are kilobytes.
MAX_PROMPT_FILE_BYTES = 16 << 20

# Instance ids are stored in 16-bit id-mask PNGs.
MAX_INSTANCE_ID = 65535

# A scribble is a stroke, not a fill; OpenCV refuses lines wider than 32767 px.
MAX_SCRIBBLE_WIDTH = 1024

# blur:SIGMA. The kernel is cut at the frame's size, so memory is bounded whatever the sigma; past a few
# thousand pixels every supported frame is blurred to its mean colour anyway.
MAX_BLUR_SIGMA = 2048.0

# Learned models built from a checkpoint's config: the paper MP-Mat is 17.5 M parameters; 250 M (1 GB of
# float32 weights) leaves room for larger variants and refuses a config with a million channels.
MAX_MODEL_PARAMETERS = 250_000_000

# The temporal refiner grows its uncertain band by this many pixels with a max-pool whose cost grows with
# the square of the band; the shipped refiner uses 3.
MAX_REFINER_BAND = 64

# OpenCV's DIS optical flow, which carries masks between frames, needs at least 12 px on each side.
MIN_TRACKED_SIDE = 12
