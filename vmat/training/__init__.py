"""Training the learned stages on train-namespace synthetic data.

- :func:`build_cache` / :class:`TrainingCache`: rendered training clips as compact shards on disk.
- :class:`BatchSampler`: seeded batches of the shared contract (frames for decomposition, ``T``-frame
  sequences for temporal) with crops, flips, guidance perturbation, instance-wise compositing, noisy depth.
- :func:`train` / :class:`TrainConfig`: the resumable trainer for a :data:`TASKS` entry.
"""

from vmat.training.cache import CacheSettings, TrainingCache, build_cache
from vmat.training.compositing import LayeredSample, paste_person
from vmat.training.config import TrainConfig, learning_rate, parse_crop
from vmat.training.data import BatchSampler, SamplerConfig, normalise_depth
from vmat.training.perturb import GuidanceConfig, Perturbation, draw_perturbation, perturb_guidance
from vmat.training.tasks import TASKS, Task, get_task
from vmat.training.trainer import TrainingDivergedError, train

__all__ = [
    "TASKS",
    "BatchSampler",
    "CacheSettings",
    "GuidanceConfig",
    "LayeredSample",
    "Perturbation",
    "SamplerConfig",
    "Task",
    "TrainConfig",
    "TrainingCache",
    "TrainingDivergedError",
    "build_cache",
    "draw_perturbation",
    "get_task",
    "learning_rate",
    "normalise_depth",
    "parse_crop",
    "paste_person",
    "perturb_guidance",
    "train",
]
