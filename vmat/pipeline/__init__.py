"""Stages and runners: how the per-frame steps of vmat are chained over a clip.

A :class:`Stage` takes batches of :class:`FrameRecord`\\ s and returns records; the in-process runner here
and the Ray runner in ``pipelines/`` call the same stage objects, so both give the same results.
"""

from vmat.pipeline.record import FrameRecord
from vmat.pipeline.stage import InProcessRunner, Stage, StageFactory, StageRunner, run_stages

__all__ = ["FrameRecord", "InProcessRunner", "Stage", "StageFactory", "StageRunner", "run_stages"]
