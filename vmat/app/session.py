"""One tab's state: its clip, its prompt file and the masks made from it, all inside its own folder.

Layout of a session folder (inside the app's work folder)::

    prompt.json          the prompt, in the format `vmat run --prompt` reads (rewritten on every change)
    uploads/             files this tab uploaded (sanitised names)
    frames/NNNNNN.jpg    frames decoded for display, filled forwards as the user scrubs
    prompted/NNNNNN.png  each prompted frame's id mask after its rounds (what the user sees at once),
                         named as `vmat masks` names them
    jobs/N/              one folder per job: spec, result, masks/ (propagation) or out/ (a run)
"""

from __future__ import annotations

import json
import secrets
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Generator
from pathlib import Path

import numpy as np

from vmat.app import engine
from vmat.errors import ConfigError
from vmat.propagation.prompts import PromptError, prompts_by_frame

_UNDO_DEPTH = 100


class Session:
    """A tab's clip and prompt. Methods that change either hold :attr:`lock`."""

    def __init__(self, id: str, folder: Path) -> None:
        self.id, self.folder = id, folder
        self.lock = threading.RLock()
        self.clip: engine.ClipInfo | None = None
        self.document: dict = {"prompts": []}
        self.version = 0  # bumped on every prompt change; masks remember the version they were made from
        self.undo: list[str] = []
        self.masks: Path | None = None
        self.masks_version = -1
        self.last_run: Path | None = None
        self.jobs = 0
        self.touched = time.time()
        self.opened_at = 0.0  # when the current clip was opened: older jobs are not this clip's
        self._decoder: Generator[np.ndarray, None, None] | None = None
        self._decoded = 0  # the index of the frame the decoder yields next
        self._images: OrderedDict[int, np.ndarray] = OrderedDict()
        folder.mkdir(parents=True)

    @property
    def prompt_file(self) -> Path:
        return self.folder / "prompt.json"

    def open(self, path: Path) -> engine.ClipInfo:
        """Make ``path`` this tab's clip; the prompt and masks of an earlier clip are dropped."""
        info = engine.probe_clip(path)
        with self.lock:
            self._close_decoder()
            for sub in ("frames", "prompted"):
                shutil.rmtree(self.folder / sub, ignore_errors=True)
            self.clip, self.document, self.undo = info, {"prompts": []}, []
            self.masks, self.masks_version, self.last_run = None, -1, None
            self.opened_at = time.time()
            self._images.clear()
            self._changed()
        return info

    def require_clip(self) -> engine.ClipInfo:
        if self.clip is None:
            raise ConfigError("open a clip first.")
        return self.clip

    def check_frame(self, index: int) -> int:
        clip = self.require_clip()
        if not 0 <= index < clip.frames:
            raise ConfigError(f"the clip has frames 0 to {clip.frames - 1}, not {index}.")
        return index

    def frame_jpeg(self, index: int) -> Path:
        """Frame ``index`` as a JPEG for display, decoding forwards (and keeping every frame on the way)."""
        clip = self.require_clip()
        self.check_frame(index)
        path = self.folder / "frames" / f"{index:06d}.jpg"
        with self.lock:
            if path.is_file():
                return path
            path.parent.mkdir(exist_ok=True)
            if self._decoder is None or self._decoded > index:
                self._close_decoder()
                self._decoder, self._decoded = engine.frames_of(clip.path), 0
            for image in self._decoder:
                (path.parent / f"{self._decoded:06d}.jpg").write_bytes(engine.jpeg(image))
                self._decoded += 1
                if self._decoded > index:
                    break
            if not path.is_file():
                raise ConfigError(f"frame {index} could not be decoded.")
        return path

    def image(self, index: int) -> np.ndarray:
        """Frame ``index`` decoded exactly (prompts segment the frame the pipeline sees, not a JPEG)."""
        with self.lock:
            if index not in self._images:
                self._images[index] = engine.read_frame(self.require_clip().path, self.check_frame(index))
                while len(self._images) > 2:
                    self._images.popitem(last=False)
            return self._images[index]

    # --- prompts -------------------------------------------------------------------------------------

    def add_prompt(self, frame: int, instance: int, kind: str, value: object, new_round: bool = False) -> None:
        """Add a box, click or scribble for person ``instance`` on ``frame`` to the last round when it is on
        this frame (a new round otherwise, or when ``new_round``), then recompute the frame's mask."""
        self.check_frame(frame)
        with self.lock:
            document = json.loads(json.dumps(self.document))
            rounds = document["prompts"]
            if new_round or not rounds or rounds[-1].get("frame") != frame:
                rounds.append({"frame": frame, "instances": []})
            instances = rounds[-1]["instances"]
            entry = next((item for item in instances if item.get("id") == instance), None)
            if entry is None:
                entry = {"id": instance}
                instances.append(entry)
            if kind == "box":
                entry["box"] = value
            elif kind == "click":
                entry.setdefault("clicks", []).append(value)
            elif kind == "scribble":
                entry.setdefault("scribbles", []).append(value)
            else:
                raise ConfigError(f"unknown prompt kind {kind!r}: box, click or scribble.")
            self.set_document(document, frames=[frame])

    def set_document(self, document: dict, frames: list[int] | None = None, record: bool = True) -> None:
        """Replace the prompt (checked as `vmat run --prompt` checks it; the undo stack keeps the old one)
        and recompute the masks of ``frames`` (every prompted frame when ``None``)."""
        engine.check_document(document)
        with self.lock:
            clip = self.require_clip()
            text = json.dumps(document, indent=1)
            staged = self.folder / ".prompt.checking.json"
            staged.write_text(text)
            try:
                rounds = engine.load_rounds(staged)
            finally:
                staged.unlink(missing_ok=True)
            by_frame = prompts_by_frame(rounds)
            first = min(by_frame) if by_frame else None
            if frames is not None and first != (min(self.prompted_frames()) if self.document["prompts"] else None):
                frames = None  # the first prompted frame moved: every prompted frame's starting mask changed
            beyond = [frame for frame in by_frame if frame >= clip.frames]
            if beyond:
                raise PromptError(f"a prompt is on frame {beyond[0]}, but the clip ends at frame {clip.frames - 1}.")
            masks = {}
            for frame in sorted(by_frame) if frames is None else frames:
                # Propagation applies later frames' rounds on top of the propagated mask there.
                previous = engine.read_ids(engine.mask_file(self.masks, frame)) if self.masks and frame != first else None
                masks[frame] = (
                    engine.frame_ids(self.image(frame), by_frame.get(frame, []), previous) if frame in by_frame else None
                )
            if record:
                self.undo = (self.undo + [json.dumps(self.document)])[-_UNDO_DEPTH:]
            self.document = document
            engine.write_json(self.prompt_file, document)
            prompted = self.folder / "prompted"
            prompted.mkdir(exist_ok=True)
            if frames is None:
                for stale in prompted.glob("*.png"):
                    stale.unlink()
            for frame, ids in masks.items():
                if ids is None:
                    engine.mask_file(prompted, frame).unlink(missing_ok=True)
                else:
                    engine.write_ids(engine.mask_file(prompted, frame), ids)
            self._changed()

    def undo_last(self) -> None:
        with self.lock:
            if not self.undo:
                raise ConfigError("nothing to undo.")
            self.set_document(json.loads(self.undo[-1]), record=False)
            self.undo.pop()

    def clear_frame(self, frame: int) -> None:
        """Drop every round on ``frame``."""
        self.check_frame(frame)
        with self.lock:
            self.set_document({"prompts": [r for r in self.document["prompts"] if r.get("frame") != frame]})

    def ids(self) -> list[int]:
        """Every person the prompt names."""
        return sorted({item["id"] for round_ in self.document["prompts"] for item in round_.get("instances", [])})

    def prompted_frames(self) -> list[int]:
        return sorted({round_["frame"] for round_ in self.document["prompts"]})

    def frame_mask(self, index: int) -> tuple[np.ndarray | None, str]:
        """What the page shows on frame ``index``: its prompt's mask on a prompted frame, else the propagated
        mask, else nothing; and which of these it is."""
        prompted = engine.read_ids(engine.mask_file(self.folder / "prompted", index))
        if prompted is not None:
            return prompted, "prompt"
        if self.masks is not None:
            ids = engine.read_ids(engine.mask_file(self.masks, index))
            if ids is not None:
                return ids, "propagated"
        return None, "none"

    def job_folder(self) -> Path:
        self.jobs += 1
        return self.folder / "jobs" / str(self.jobs)

    def state(self) -> dict:
        ids = self.ids()
        return {
            "session": self.id,
            "clip": None if self.clip is None else self.clip.to_json(),
            "prompt": self.document,
            "version": self.version,
            "ids": ids,
            "colours": {str(k): engine.colour(k) for k in range(1, max(ids + [0]) + 9)},
            "prompted": self.prompted_frames(),
            "masks": None if self.masks is None else {"current": self.masks_version == self.version},
            "can_undo": bool(self.undo),
        }

    def _changed(self) -> None:
        self.version += 1
        self.touched = time.time()

    def _close_decoder(self) -> None:
        if self._decoder is not None:
            self._decoder.close()  # closes the clip's reader
            self._decoder = None

    def close(self) -> None:
        with self.lock:
            self._close_decoder()
        shutil.rmtree(self.folder, ignore_errors=True)


class SessionStore:
    """The app's sessions: a new one per page load; past ``limit`` the least recently used idle one goes."""

    def __init__(self, work: Path, limit: int = 16) -> None:
        self.work, self.limit = work, limit
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, busy: set[str]) -> Session:
        with self._lock:
            idle = sorted((s for s in self._sessions.values() if s.id not in busy), key=lambda s: s.touched)
            while len(self._sessions) >= self.limit and idle:
                self._sessions.pop(idle.pop(0).id).close()
            if len(self._sessions) >= self.limit:
                raise ConfigError(f"{self.limit} tabs have jobs running; close one and try again.")
            sid = secrets.token_urlsafe(16)
            session = Session(sid, self.work / sid)
            self._sessions[sid] = session
            return session

    def get(self, sid: str) -> Session | None:
        session = self._sessions.get(sid)
        if session is not None:
            session.touched = time.time()
        return session

    def all(self) -> list[Session]:
        return list(self._sessions.values())
