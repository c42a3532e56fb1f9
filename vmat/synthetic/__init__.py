"""A synthetic multi-person video benchmark whose every layer is known exactly.

- :class:`SceneConfig` / :class:`SyntheticScene`: seeded scenes of articulated people over textured
  backgrounds, rendered frame by frame (:meth:`SyntheticScene.frames`).
- :func:`write_clip` / :class:`SyntheticClip`: lossless clip folders and streamed reading.
- :func:`ensure_suite`: the named, fixed-seed benchmark suites, generated on demand.
"""

from vmat.synthetic.scene import LEVELS, LevelSpec, SceneConfig, SyntheticFrame, SyntheticScene
from vmat.synthetic.storage import SyntheticClip, write_clip
from vmat.synthetic.suites import SUITES, ClipSpec, derive_seed, describe_occlusion, ensure_suite, occlusion_by_level, suite_specs

__all__ = [
    "LEVELS",
    "SUITES",
    "ClipSpec",
    "LevelSpec",
    "SceneConfig",
    "SyntheticClip",
    "SyntheticFrame",
    "SyntheticScene",
    "derive_seed",
    "describe_occlusion",
    "ensure_suite",
    "occlusion_by_level",
    "suite_specs",
    "write_clip",
]
