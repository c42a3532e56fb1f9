"""Instance-level multiplane layers (MP-Mat Inst-MP): the per-frame stack, compositing, depth sorting,
the layers file, and a labelled preview.

Plane 0 is the background; planes 1..S are people with stable instance ids. Colour is straight
(unpremultiplied); alpha is each plane's own coverage, and the paper's ``alpha_i`` is the effective weight
``LayerStack.weights()`` that satisfies the integration property ``I = sum_i c_i alpha_i``.
"""

from vmat.layers.compositing import (
    check_integration,
    composite,
    effective_weights,
    image_to_tensor,
    own_alpha_from_weights,
    tensor_to_image,
)
from vmat.layers.depth import depth_order, plane_depths
from vmat.layers.errors import InstanceNotFoundError, LayerError, LayersFileError
from vmat.layers.preview import label_preview
from vmat.layers.stack import BACKGROUND_ID, LayerStack
from vmat.layers.store import FORMAT_VERSION, LayersInfo, LayersReader, LayersWriter

__all__ = [
    "BACKGROUND_ID",
    "FORMAT_VERSION",
    "InstanceNotFoundError",
    "LayerError",
    "LayerStack",
    "LayersFileError",
    "LayersInfo",
    "LayersReader",
    "LayersWriter",
    "check_integration",
    "composite",
    "depth_order",
    "effective_weights",
    "image_to_tensor",
    "label_preview",
    "own_alpha_from_weights",
    "plane_depths",
    "tensor_to_image",
]
