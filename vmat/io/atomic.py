"""Outputs that appear under their final name only when complete.

Every file or folder vmat writes is first written under a hidden temporary name in the same folder (so the
final rename is atomic on one filesystem) and renamed when complete. A failure or an interrupt removes the
temporary output, so a half-written file never sits under the name the user asked for.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from vmat.errors import OutputError


def check_output_path(path: str | os.PathLike[str], *, is_dir: bool = False) -> Path:
    """Check that ``path`` can be written, before any work is done, and return it as a :class:`Path`.

    Raises :class:`OutputError` when the parent folder is missing, is not a folder or cannot be written to,
    or when ``path`` is an existing folder (for a file output) or an existing file (for a folder output).
    """
    path = Path(path)
    parent = path.parent
    if not parent.exists():
        raise OutputError(f"output folder {str(parent)!r} does not exist")
    if not parent.is_dir():
        raise OutputError(f"output folder {str(parent)!r} is not a folder")
    if path.is_dir() and not is_dir:
        raise OutputError(f"output {str(path)!r} is a folder, expected a file name")
    if path.exists() and is_dir and not path.is_dir():
        raise OutputError(f"output {str(path)!r} is a file, expected a folder name")
    # os.access is not enough: it says yes to root on a read-only mount. Creating a file is the real test.
    probe = parent / f".vmat-write-test-{secrets.token_hex(4)}"
    try:
        probe.touch(exist_ok=False)
    except OSError as error:
        raise OutputError(f"cannot write to output folder {str(parent)!r}: {error.strerror}") from None
    probe.unlink()
    return path


def temporary_sibling(path: Path) -> Path:
    """A hidden, unique name next to ``path`` that keeps its extension (muxers pick formats by extension)."""
    return path.with_name(f".{path.stem}.partial-{secrets.token_hex(4)}{path.suffix}")


def commit(temporary: Path, final: Path) -> None:
    """Move a finished temporary output to its final name, replacing what was there."""
    if temporary.is_dir():
        # A folder cannot be renamed over a non-empty one: move the old one aside, then remove it.
        old = None
        if final.exists():
            old = temporary_sibling(final)
            final.rename(old)
        temporary.rename(final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(temporary, final)


def discard(temporary: Path) -> None:
    """Remove an unfinished temporary output, whatever it is."""
    if temporary.is_dir():
        shutil.rmtree(temporary, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write to; rename it to ``path`` on success, remove it on any error.

    >>> with atomic_output("out.json") as tmp:  # doctest: +SKIP
    ...     tmp.write_text("{}")
    """
    final = check_output_path(path, is_dir=is_dir)
    temporary = temporary_sibling(final)
    if is_dir:
        temporary.mkdir()
    try:
        yield temporary
    except BaseException:
        discard(temporary)
        raise
    commit(temporary, final)
