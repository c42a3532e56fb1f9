"""Ray pipelines: actor pools over the same stage code the in-process runner uses, and batch jobs.

- :class:`RayRunner` (:mod:`vmat.pipelines.runner`): a :class:`~vmat.pipeline.stage.StageRunner` on Ray actors.
- :func:`ray_cluster` (:mod:`vmat.pipelines.cluster`): an embedded local cluster, or a connection to one.
- :func:`run_batch` (:mod:`vmat.pipelines.batch`): ``vmat batch``, resumable, fault tolerant and stopped cleanly
  by SIGINT or SIGTERM (:class:`BatchInterrupted`, :mod:`vmat.pipelines.signals`).

Ray is imported only when a Ray runner or cluster is used, so in-process batch jobs do not pay for it.
"""

from vmat.pipelines.batch import BatchConfig, BatchReport, run_batch
from vmat.pipelines.clips import ClipJob, find_clips
from vmat.pipelines.cluster import ClusterConfig, ray_cluster
from vmat.pipelines.runner import RayRunner, RayRunnerConfig, WorkerLostError
from vmat.pipelines.signals import BatchInterrupted

__all__ = [
    "BatchConfig",
    "BatchInterrupted",
    "BatchReport",
    "ClipJob",
    "ClusterConfig",
    "RayRunner",
    "RayRunnerConfig",
    "WorkerLostError",
    "find_clips",
    "ray_cluster",
    "run_batch",
]
