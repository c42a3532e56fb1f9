"""Which files the page may read and how uploads are stored.

A path typed into the page is opened only when it resolves (symbolic links followed) inside one of the
app's allowed roots. An upload is streamed into its session's folder under a sanitised name, refused past
the size limit while it arrives, and kept only when its first bytes are those of the type its name says;
a video must then open with vmat (:func:`vmat.app.engine.probe_clip`).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import anyio

from vmat.errors import VmatError

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


class FileRefused(VmatError):
    """A path or upload the page may not use (``status`` is the HTTP answer)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def allowed_path(text: object, roots: Sequence[Path], suffixes: Sequence[str]) -> Path:
    """``text`` as an existing file inside one of ``roots`` with one of ``suffixes``, or :class:`FileRefused`."""
    if not isinstance(text, str) or not text or "\x00" in text:
        raise FileRefused("give the path of a file.")
    try:
        path = Path(os.path.expanduser(text)).resolve(strict=True)
    except (OSError, RuntimeError):
        raise FileRefused(f"{text!r} does not exist.", 404) from None
    if not any(path.is_relative_to(root) for root in roots):
        raise FileRefused(f"{text!r} is outside the folders this app may read ({', '.join(map(str, roots))}).", 403)
    if not path.is_file():
        raise FileRefused(f"{text!r} is not a file.")
    if path.suffix.lower() not in suffixes:
        raise FileRefused(f"{path.name!r} is not one of {', '.join(suffixes)}.", 415)
    return path


def safe_name(name: str, suffixes: Sequence[str]) -> str:
    """A file name made of letters, digits, ``.``, ``_`` and ``-`` with an allowed suffix, from whatever the
    browser sent (no folders, no leading dot, at most 80 characters)."""
    base = re.split(r"[\\/]", name or "")[-1]
    stem, suffix = os.path.splitext(base)
    suffix = suffix.lower()
    if suffix not in suffixes:
        raise FileRefused(f"{base!r} is not one of {', '.join(suffixes)}.", 415)
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")[:80] or "upload"
    return stem + suffix


def sniff(head: bytes, suffix: str) -> bool:
    """Whether a file's first bytes are those of the type its suffix names."""
    if suffix in (".mp4", ".mov", ".m4v"):
        return head[4:8] == b"ftyp" or head[4:8] in (b"moov", b"mdat", b"wide", b"free")
    if suffix in (".mkv", ".webm"):
        return head.startswith(b"\x1a\x45\xdf\xa3")
    if suffix == ".avi":
        return head.startswith(b"RIFF") and head[8:12] == b"AVI "
    if suffix == ".png":
        return head.startswith(b"\x89PNG\r\n\x1a\n")
    if suffix in (".jpg", ".jpeg"):
        return head.startswith(b"\xff\xd8\xff")
    if suffix == ".bmp":
        return head.startswith(b"BM")
    if suffix == ".webp":
        return head.startswith(b"RIFF") and head[8:12] == b"WEBP"
    return False


async def save_upload(chunks: AsyncIterator[bytes], folder: Path, name: str, suffixes: Sequence[str], limit: int) -> Path:
    """Stream an upload into ``folder`` under :func:`safe_name` (made unique), refusing it past ``limit``
    bytes or when its content is not its suffix's type. Nothing is left behind on refusal."""
    name = safe_name(name, suffixes)
    folder.mkdir(parents=True, exist_ok=True)
    stem, suffix = os.path.splitext(name)
    path, number = folder / name, 1
    while path.exists():
        number += 1
        path = folder / f"{stem}-{number}{suffix}"
    partial = folder / f".{path.name}.partial"
    size, head = 0, b""
    try:
        async with await anyio.open_file(partial, "xb") as file:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise FileRefused(f"the upload is larger than the limit of {limit >> 20} MiB.", 413)
                if len(head) < 16:
                    head = (head + chunk)[:16]
                await file.write(chunk)
        if size == 0:
            raise FileRefused("the upload is empty.")
        if not sniff(head, suffix):
            raise FileRefused(f"{name!r} does not hold what its name says ({suffix}).", 415)
        partial.rename(path)
    finally:
        partial.unlink(missing_ok=True)
    return path
