"""Training batches from the cache: frame batches for decomposition, ``T``-frame sequences for temporal.

Batch ``step`` is a pure function of ``(seed, step)``: each sample draws from its own generator seeded with
``(seed, step, index)``, so a resumed run sees exactly the batches a straight run would, without saving
any data-loader state. Only the clips a batch needs are read (one shard at a time).

Each sample: a random clip window, a random crop and left-right flip, sometimes a person pasted from
another window in front of or behind everyone (:mod:`vmat.training.compositing`), people shuffled into
the guidance slots, perturbed guidance (:mod:`vmat.training.perturb`), and a noisy, blurred depth input.
Keys and shapes are the shared training contract (see :meth:`BatchSampler.batch`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from vmat.decomposition import MaskMattingDecomposer
from vmat.errors import ConfigError
from vmat.training.cache import TrainingCache
from vmat.training.compositing import DEPTH_MARGIN, LayeredSample, paste_person
from vmat.training.perturb import GuidanceConfig, draw_offsets, draw_perturbation, perturb_guidance


@dataclass(frozen=True)
class SamplerConfig:
    """How batches are drawn. ``sequence_length`` ``None`` gives frame batches without a time axis."""

    batch_size: int = 4
    crop: tuple[int, int] = (80, 128)  # (height, width)
    slots: int = 6  # M: the most people a sample can hold (the generator's 5 plus one pasted)
    sequence_length: int | None = None
    coarse_alpha: bool = False  # add the weight-free decomposer's mattes (temporal batches)
    paste_probability: float = 0.5
    flip_probability: float = 0.5
    depth_noise: float = 0.02  # standard deviation of the additive noise on the [0, 1] depth
    depth_blur: float = 2.0  # largest Gaussian blur sigma of the depth, in pixels
    guidance: GuidanceConfig = field(default_factory=GuidanceConfig)
    zoom: float = 1.0  # largest scale-up of a crop (1: none)
    seed: int = 0


def normalise_depth(metres: np.ndarray) -> np.ndarray:
    """``(H, W)`` metres -> [0, 1] over the frame, smaller = nearer (a flat frame becomes 0)."""
    low, high = float(metres.min()), float(metres.max())
    return ((metres - low) / max(high - low, 1e-6)).astype(np.float32)


class BatchSampler:
    """Batches of the shared training contract drawn from a :class:`TrainingCache`."""

    def __init__(self, cache: TrainingCache, config: SamplerConfig = SamplerConfig()) -> None:
        settings = cache.settings
        height, width = config.crop
        if height > settings.height or width > settings.width:
            raise ConfigError(f"crop {height}x{width} is larger than the cache's {settings.height}x{settings.width} frames.")
        length = config.sequence_length or 1
        if length > settings.frames_per_clip:
            raise ConfigError(f"sequences of {length} frames need clips that long; the cache has {settings.frames_per_clip}.")
        most = max(clip["people"] for clip in cache.clips)
        if config.slots < most:
            raise ConfigError(f"{config.slots} guidance slots cannot hold the {most} people of the cache's busiest clip.")
        self.cache = cache
        self.config = config
        self.length = length
        self._decomposer = MaskMattingDecomposer() if config.coarse_alpha else None

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        """Batch number ``step``.

        Frame batches: ``image (B, 3, H, W)``, ``depth (B, 1, H, W)``, ``guidance``/``alpha (B, M, H, W)``,
        ``foreground (B, M, 3, H, W)``, ``background (B, 3, H, W)``, ``present``/``guided (B, M)`` bool.
        Sequence batches put ``T`` after ``B`` in every key and add ``coarse_alpha (B, T, M, H, W)`` when
        configured.
        """
        samples = [self.sample(np.random.default_rng([self.config.seed, step, index])) for index in range(self.config.batch_size)]
        batch = {key: torch.from_numpy(np.stack([s[key] for s in samples])) for key in samples[0]}
        if self.config.sequence_length is None:
            batch = {key: value[:, 0] for key, value in batch.items()}
        return batch

    def _window(self, rng: np.random.Generator) -> LayeredSample:
        settings = self.cache.settings
        height, width = self.config.crop
        clip = int(rng.integers(len(self.cache)))
        start = int(rng.integers(settings.frames_per_clip - self.length + 1))
        # Drawn only when zooming, so unzoomed runs see the batches they always did.
        scale = float(rng.uniform(1.0, self.config.zoom)) if self.config.zoom > 1.0 else 1.0
        cut_height, cut_width = max(round(height / scale), 1), max(round(width / scale), 1)
        top = int(rng.integers(settings.height - cut_height + 1))
        left = int(rng.integers(settings.width - cut_width + 1))
        flip = bool(rng.random() < self.config.flip_probability)
        sample = LayeredSample.from_shard(self.cache.window(clip, start, self.length)).crop(
            top, left, cut_height, cut_width, flip
        )
        return sample if scale == 1.0 else sample.resized(height, width)

    def _maybe_paste(self, sample: LayeredSample, rng: np.random.Generator) -> LayeredSample:
        if sample.people >= self.config.slots or rng.random() >= self.config.paste_probability:
            return sample
        donor = self._window(rng)
        seen = np.flatnonzero(donor.layer_alpha.sum(axis=(0, 2, 3)) > 0)
        if seen.size == 0:
            return sample
        person = int(rng.choice(seen))
        front = bool(rng.random() < 0.5)
        return paste_person(sample, donor, person, front, float(rng.uniform(*DEPTH_MARGIN)))

    def _depth_input(self, metres: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        # Noise and blur stand in for a monocular estimator's errors, so the network does not over-trust depth.
        sigma = float(rng.uniform(0.0, self.config.depth_blur))
        frames = []
        for frame in metres:
            depth = normalise_depth(frame)
            if sigma > 0.3:
                depth = cv2.GaussianBlur(depth, (0, 0), sigma)
            depth = depth + rng.normal(0.0, self.config.depth_noise, depth.shape).astype(np.float32)
            frames.append(np.clip(depth, 0.0, 1.0))
        return np.stack(frames)

    def sample(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """One sample, every key with a leading time axis ``T`` (1 for frame batches)."""
        sample = self._maybe_paste(self._window(rng), rng)
        visible, _ = sample.visible()
        depth = self._depth_input(sample.depth_map(), rng)
        people, slots = sample.people, self.config.slots
        perturbation = draw_perturbation(rng, people, self.config.guidance)
        offsets = draw_offsets(rng, self.length, self.config.guidance)
        guidance = np.stack([perturb_guidance(v, perturbation, o) for v, o in zip(visible, offsets)])
        # Slot s holds person order[s]; the model must not learn that slot order means anything.
        order = rng.permutation(people)
        frames, height, width = visible.shape[0], *visible.shape[2:]
        out = {
            "image": sample.image.transpose(0, 3, 1, 2).copy(),
            "depth": depth[:, None],
            "guidance": np.zeros((frames, slots, height, width), np.float32),
            "alpha": np.zeros((frames, slots, height, width), np.float32),
            "foreground": np.zeros((frames, slots, 3, height, width), np.float32),
            "background": sample.background.transpose(0, 3, 1, 2).copy(),
        }
        out["guidance"][:, :people] = guidance[:, order]
        out["alpha"][:, :people] = visible[:, order]
        out["foreground"][:, :people] = sample.foreground[:, order].transpose(0, 1, 4, 2, 3)
        out["present"] = out["alpha"].sum(axis=(2, 3)) > 0
        out["guided"] = out["present"] & (out["guidance"].sum(axis=(2, 3)) > 0)
        if self._decomposer is not None:
            out["coarse_alpha"] = np.stack([self._coarse(out["image"][t], out["guidance"][t], depth[t]) for t in range(frames)])
        return out

    def _coarse(self, image: np.ndarray, guidance: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """The weight-free decomposer's visible mattes ``(M, H, W)`` for one frame's guidance ``(M, H, W)``."""
        assert self._decomposer is not None  # called only when the config asks for coarse alphas
        ids = list(range(1, len(guidance) + 1))
        id_mask = np.zeros(guidance.shape[1:], np.uint8)
        # Overlapping guidance goes to the nearer person: paint farthest first.
        medians = [float(np.median(depth[g > 0])) if g.any() else np.inf for g in guidance]
        for slot in np.argsort(medians)[::-1]:
            id_mask[guidance[slot] > 0] = slot + 1
        rgb = np.clip(np.rint(image.transpose(1, 2, 0) * 255.0), 0, 255).astype(np.uint8)
        stack = self._decomposer.decompose(rgb, id_mask, depth, instance_ids=ids)
        return stack.weights()[1:].numpy()
