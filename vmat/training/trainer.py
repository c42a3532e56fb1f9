"""The resumable training loop shared by every task.

An output folder holds::

    checkpoint.pt                 model, optimiser, step, torch RNG state, config (tensors and plain values
                                  only, read back with ``torch.load(weights_only=True)``); replaced atomically
    train.jsonl                   one line per ``log_every`` steps: step, lr, mean loss and loss parts
    <task>-<model>.safetensors    the final weights, written by the task's save function
    train.json                    command line, config, data seeds, final losses, wall time
    best-<task>-<model>.safetensors   with ``validate_on``: the checkpointed weights that scored best on it

With ``validate_on`` (a real-alpha folder, :mod:`vmat.training.validation`) every checkpoint's weights are
scored there too; the scores go into ``train.jsonl`` as ``{"step", "validation": {...}}`` lines and the best
(by :data:`~vmat.training.validation.SELECT_BY`) are kept.

Resuming continues exactly where the checkpoint left off: batch ``k`` depends only on ``(seed, k)``
(:class:`~vmat.training.data.BatchSampler`) and the learning rate only on the step, so the only state is what
the checkpoint holds. With the same thread count, a run resumed after 3 of 6 steps ends with the same
weights, bit for bit, as 6 steps straight.
"""

from __future__ import annotations

import json
import math
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from vmat.errors import ConfigError, OutputError, VmatError
from vmat.io.atomic import atomic_output
from vmat.progress import progress
from vmat.training.cache import TrainingCache, build_cache
from vmat.training.config import RESUMABLE, TrainConfig, learning_rate
from vmat.training.data import BatchSampler, SamplerConfig
from vmat.training.perturb import REALISTIC, GuidanceConfig
from vmat.training.tasks import Task, get_task
from vmat.training.validation import SELECT_BY
from vmat.training.warm_start import warm_start

CHECKPOINT = "checkpoint.pt"
LOG = "train.jsonl"
SUMMARY = "train.json"
CHECKPOINT_FORMAT = 1


class TrainingDivergedError(VmatError):
    """The loss stopped being a finite number."""


class _Validation:
    """Scores checkpointed weights on ``config.validate_on`` and keeps the best as ``best-<task>-<model>.safetensors``."""

    def __init__(self, task: Task, config: TrainConfig, out: Path) -> None:
        if task.validate is None:
            raise ConfigError(f"the {task.name} task has no validation on real data.")
        if not Path(config.validate_on).is_dir():
            raise ConfigError(f"the validation folder {str(config.validate_on)!r} does not exist.")
        self.task, self.folder, self.out = task, Path(config.validate_on), out
        self.best_path = out / f"best-{task.name}-{config.model}.safetensors"
        self.best = math.inf
        for line in (out / LOG).read_text().splitlines() if (out / LOG).is_file() else []:
            scores = json.loads(line).get("validation")
            if scores is not None:  # a resumed run remembers what it has already kept
                self.best = min(self.best, scores[SELECT_BY])

    def score(self, model: torch.nn.Module) -> dict[str, float]:
        scratch = self.out / "validation.safetensors"
        self.task.save(model, scratch)
        scores = self.task.validate(scratch, self.folder)
        if scores[SELECT_BY] < self.best:
            self.best = scores[SELECT_BY]
            scratch.replace(self.best_path)
        else:
            scratch.unlink()
        return scores


def make_optimizer(parameters, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW, or the MP-Mat paper's SGD with momentum 0.9, for a resolved config."""
    parameters = list(parameters)
    if config.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)
    return torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)


def _identity(config: TrainConfig) -> dict:
    """The settings a resumed run must share with the run it continues."""
    return {key: value for key, value in config.to_json().items() if key not in RESUMABLE}


def _save_checkpoint(path: Path, task: Task, config: TrainConfig, step: int, seconds: float, model, optimizer) -> None:
    state = {
        "format": CHECKPOINT_FORMAT,
        "task": task.name,
        "step": step,
        "seconds": seconds,
        "config": _identity(config),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
    }
    with atomic_output(path) as tmp:
        torch.save(state, tmp)


def _load_checkpoint(path: Path, task: Task, config: TrainConfig) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any unreadable file means the same thing to the user
        raise ConfigError(f"{str(path)!r} is not a readable training checkpoint ({type(error).__name__}).") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"{str(path)!r} is not a vmat training checkpoint of format {CHECKPOINT_FORMAT}.")
    if state["task"] != task.name:
        raise ConfigError(f"{str(path)!r} is a {state['task']} run, not {task.name}; choose another --out.")
    differs = sorted(key for key, value in _identity(config).items() if state["config"].get(key) != value)
    if differs:
        raise ConfigError(f"cannot resume: the run in {str(path.parent)!r} used other {', '.join(differs)}.")
    return state


def _keep_log_until(path: Path, step: int) -> None:
    """Drop log lines past ``step`` (written after the last checkpoint of an interrupted run)."""
    if not path.is_file():
        return
    lines = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
    with atomic_output(path) as tmp:
        tmp.write_text("".join(line + "\n" for line in lines))


def _prepare_output(folder: Path, resume: bool) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the training output folder {str(folder)!r}: {error.strerror}.") from None
    has_run = (folder / CHECKPOINT).is_file()
    if resume and not has_run:
        raise ConfigError(f"there is no training checkpoint in {str(folder)!r} to resume.")
    if not resume and has_run:
        raise ConfigError(f"{str(folder)!r} already holds a training run: pass --resume or choose another --out.")


def train(task: str | Task, config: TrainConfig, *, resume: bool = False) -> Path:
    """Train ``task`` ("decomposition", "temporal" or a :class:`Task`) as ``config`` says; return the weights path.

    Builds (or reuses) the training cache, streams batches, steps the optimiser, checkpoints every
    ``config.checkpoint_every`` steps and at the end. With ``config.stop_after`` the run ends early and
    returns the checkpoint path instead; ``resume=True`` continues the run in ``config.out``.
    """
    threads = torch.get_num_threads()
    try:
        return _train(get_task(task), config, resume)
    finally:
        torch.set_num_threads(threads)


def _train(task: Task, config: TrainConfig, resume: bool) -> Path:
    started = time.perf_counter()
    config.validate()
    config = config.resolved(task.adamw_lr)
    out = Path(config.out)
    _prepare_output(out, resume)
    torch.set_num_threads(config.threads)

    # The model comes first: a wrong model name fails before minutes of cache rendering.
    torch.manual_seed(config.seed)
    model = task.build(config.model)
    fresh = None if config.init is None else warm_start(model, task.read_weights(config.init), str(config.init))
    if fresh:
        # Said now, not only in the summary: a wrong --init would otherwise train a whole run mostly from scratch.
        total = len(model.state_dict())
        print(f"--init {config.init}: {len(fresh)} of {total} tensors do not fit {config.model!r} and start fresh: "
              f"{', '.join(fresh)}", file=sys.stderr)
    model = model.to(config.device)
    optimizer = make_optimizer(model.parameters(), config)
    start, seconds_before = 0, 0.0
    if resume:
        state = _load_checkpoint(out / CHECKPOINT, task, config)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        start, seconds_before = int(state["step"]), float(state["seconds"])
        _keep_log_until(out / LOG, start)

    # Before the cache: a run that cannot validate fails before minutes of rendering.
    validation = _Validation(task, config, out) if config.validate_on is not None else None
    width, height = config.cache_size
    build_cache(
        config.cache,
        clips=config.cache_clips,
        frames_per_clip=config.cache_frames,
        width=width,
        height=height,
        seed=config.cache_seed,
    )
    cache = TrainingCache(config.cache)
    sampler = BatchSampler(cache, SamplerConfig(
        batch_size=config.batch_size, crop=config.crop, slots=config.slots,
        sequence_length=config.sequence_length if task.sequences else None, coarse_alpha=task.sequences, seed=config.seed,
        guidance=REALISTIC if config.guidance == "realistic" else GuidanceConfig(), zoom=config.zoom,
    ))
    stop = config.stop_after or config.steps

    completed, window, last = start, {}, {}
    try:
        with open(out / LOG, "a") as log:
            for step in progress(range(start, stop), total=stop - start, desc=f"train {task.name}", unit="step"):
                rate = learning_rate(config, step)
                for group in optimizer.param_groups:
                    group["lr"] = rate
                batch = {key: value.to(config.device) for key, value in sampler.batch(step).items()}
                loss, parts = task.loss(model, batch)
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise TrainingDivergedError(f"the {task.name} loss became {value} at step {step + 1}; try a lower --lr.")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                completed = step + 1
                # "total" repeats the loss under the loss function's own name.
                for name, part in {"loss": value, **{k: v for k, v in parts.items() if k != "total"}}.items():
                    window.setdefault(name, []).append(float(part))
                if completed % config.log_every == 0 or completed == stop:
                    last = {name: sum(values) / len(values) for name, values in window.items()}
                    log.write(json.dumps({"step": completed, "lr": rate, **last}) + "\n")
                    log.flush()
                    window = {}
                if completed % config.checkpoint_every == 0 or completed == stop:
                    seconds = seconds_before + time.perf_counter() - started
                    _save_checkpoint(out / CHECKPOINT, task, config, completed, seconds, model, optimizer)
                    if validation is not None:
                        log.write(json.dumps({"step": completed, "validation": validation.score(model)}) + "\n")
                        log.flush()
    except KeyboardInterrupt:
        # Keep what was learnt: the next --resume continues from the last finished step.
        if completed > start:
            _save_checkpoint(
                out / CHECKPOINT, task, config, completed, seconds_before + time.perf_counter() - started, model, optimizer
            )
        raise

    weights = out / f"{task.name}-{config.model}.safetensors" if stop == config.steps else None
    if weights is not None:
        task.save(model.cpu(), weights)
    _write_summary(
        out / SUMMARY, task, config, cache, start if resume else None, stop, last, seconds_before, started, weights, fresh
    )
    return weights if weights is not None else out / CHECKPOINT


def _write_summary(path: Path, task: Task, config: TrainConfig, cache: TrainingCache, resumed_from: int | None,
                   steps_done: int, losses: dict, seconds_before: float, started: float, weights: Path | None,
                   fresh: list[str] | None) -> None:
    wall = time.perf_counter() - started
    summary = {
        "command": shlex.join(sys.argv),
        "task": task.name,
        "config": config.to_json(),
        "data": {
            "cache": str(config.cache),
            "cache_settings": asdict(cache.settings),
            "clips": cache.clips,
            "batch_seed": config.seed,
        },
        "resumed_from_step": resumed_from,
        # With --init: the model's tensors that did not fit the init weights and started fresh.
        "init_fresh": fresh,
        "steps_done": steps_done,
        "finished": steps_done == config.steps,
        "final_losses": losses,
        "wall_seconds": wall,
        "total_seconds": seconds_before + wall,
        "threads": config.threads,
        "torch": torch.__version__,
        "weights": None if weights is None else str(weights),
        "checkpoint": str(path.parent / CHECKPOINT),
    }
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(summary, indent=1))
