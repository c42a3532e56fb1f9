"""Where vmat may write, and outputs that appear under their final name only when complete.

The output policy every command follows (docs/reliability.md says it to users):

- vmat writes, replaces or deletes only what the user named as an output, and the outputs a command
  documents beside it (an edit's ``NAME.vlayers``, ``vmat run``'s ``CLIP.*``). A named output that exists
  already is an error unless the command is given ``--overwrite`` (:func:`check_new_output`).
- A folder is replaced only when vmat wrote it: every folder vmat commits gets a :data:`MARKER` file listing
  what vmat put in it, and a folder holding anything else (or no marker) is never replaced, ``--overwrite``
  or not (:func:`check_replaceable`). Files are recognised by their exact names.
- An input is never an output, and never inside a folder output: paths are compared resolved and by
  (st_dev, st_ino), before any work.
- Every output is written under a hidden temporary name beside its final one and renamed when complete
  (:func:`atomic_output`; :func:`atomic_outputs` for several that appear together). A failure or an
  interrupt removes the temporary output, so a half-written file never sits under the name the user asked
  for, and an existing output stays untouched until its replacement is finished.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from vmat.errors import ConfigError, OutputError
from vmat.io.metadata import VIDEO_SUFFIXES

# Written into every folder vmat commits: its first line says what it is, the others list the folder's entries.
MARKER = ".vmat-output"
_MARKER_HEADER = "# vmat output folder: with --overwrite vmat replaces it only while it holds nothing but these names"

PathLike = str | os.PathLike[str]


def check_output_path(path: PathLike, *, is_dir: bool = False) -> Path:
    """Check that ``path`` can be written, before any work is done, and return it as a :class:`Path`.

    Raises :class:`OutputError` when ``path`` names no file or folder (``.``, ``..``), when the parent folder
    is missing, is not a folder or cannot be written to, or when ``path`` is an existing folder (for a file
    output) or an existing file (for a folder output).
    """
    path = Path(path)
    if path.name in ("", ".", ".."):
        raise OutputError(f"the output {str(path)!r} names no file or folder of its own: give a new name")
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


def check_new_output(
    path: PathLike, *, overwrite: bool, inputs: Iterable[PathLike | None] = (), is_dir: bool | None = None
) -> Path:
    """Apply the output policy to ``path`` before any work: raise :class:`OutputError` when it is one of
    ``inputs`` or a folder holding one, is the current folder or holds it, or exists while ``overwrite`` is
    false; with ``overwrite``, an existing folder must be one :func:`check_replaceable` allows. With ``is_dir``
    (whether the output is a folder) it must also pass :func:`check_output_path`.

    ``inputs`` that do not exist (or are not paths, like a colour given where a file may be) are skipped.
    """
    path = Path(path)
    _check_policy(path, overwrite, inputs)
    return path if is_dir is None else check_output_path(path, is_dir=is_dir)


def _check_policy(path: Path, overwrite: bool, inputs: Iterable[PathLike | None]) -> None:
    for given in inputs:
        if given is not None:
            _check_not_input(path, Path(given))
    if not os.path.lexists(path):
        return
    real_folder = path.is_dir() and not path.is_symlink()
    if real_folder:
        here, target = Path.cwd().resolve(), path.resolve()
        if here == target or target in here.parents:
            raise OutputError(f"the output folder {str(path)!r} is the current folder or holds it: give a new name")
    if not overwrite:
        raise OutputError(f"{str(path)!r} exists; pass --overwrite to replace it")
    if real_folder:
        check_replaceable(path)


def check_replaceable(folder: Path) -> None:
    """Raise :class:`OutputError` unless replacing ``folder`` loses nothing vmat did not write: it is empty,
    or its :data:`MARKER` lists every entry in it."""
    try:
        entries = {entry.name for entry in folder.iterdir()} - {MARKER}
    except OSError as error:
        raise OutputError(f"cannot read the output folder {str(folder)!r}: {error.strerror}") from None
    if not entries:
        return
    listed = _listed_entries(folder)
    if listed is None:
        raise OutputError(
            f"{str(folder)!r} is a folder vmat did not write (it has no {MARKER} file), and vmat replaces only its "
            "own outputs: move it away or give a new name"
        )
    unknown = sorted(entries - listed)
    if unknown:
        more = f" and {len(unknown) - 1} more" if len(unknown) > 1 else ""
        raise OutputError(
            f"{str(folder)!r} holds {unknown[0]!r}{more}, which vmat did not write there, and vmat replaces only its "
            "own outputs: move it away or give a new name"
        )


def temporary_sibling(path: Path) -> Path:
    """A hidden, unique name next to ``path`` that keeps its extension (muxers pick formats by extension)."""
    return path.with_name(f".{path.stem}.partial-{secrets.token_hex(4)}{path.suffix}")


def commit(temporary: Path, final: Path) -> None:
    """Move a finished temporary output to its final name.

    A file replaces the file of that name (commands check names before any work: :func:`check_new_output`).
    A folder gets a :data:`MARKER` listing its entries, and replaces an existing folder only when
    :func:`check_replaceable` allows it. When the move cannot happen the temporary output is removed and the
    error raised: the work is lost, never what was there.
    """
    try:
        if not temporary.is_dir():
            os.replace(temporary, final)
            return
        _write_marker(temporary)
        if not os.path.lexists(final):
            temporary.rename(final)
            return
        if not final.is_symlink():  # a link is replaced by the folder; what it points to is left alone
            if not final.is_dir():
                raise OutputError(f"output {str(final)!r} is a file, expected a folder name")
            check_replaceable(final)
        # A folder cannot be renamed over a non-empty one: move the old one aside, then remove it.
        old = temporary_sibling(final)
        final.rename(old)
        try:
            temporary.rename(final)
        except BaseException:
            old.rename(final)
            raise
        discard(old)
    except BaseException:
        discard(temporary)
        raise


def discard(temporary: Path) -> None:
    """Remove an unfinished temporary output, whatever it is (a link is removed, not what it points to)."""
    if temporary.is_dir() and not temporary.is_symlink():
        shutil.rmtree(temporary, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


@contextlib.contextmanager
def atomic_output(path: PathLike, *, is_dir: bool = False) -> Iterator[Path]:
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
        commit(temporary, final)
    except BaseException:
        discard(temporary)
        raise


@dataclass(frozen=True)
class Staging:
    """Outputs being written together: each goes into ``folder`` (hidden, inside ``final``) under its final name."""

    folder: Path
    final: Path

    def shown(self, text: str) -> str:
        """``text`` (a message about what was written) with staged paths named by their final names."""
        final = "" if str(self.final) == "." else os.path.join(self.final, "")  # "out.mp4", not "./out.mp4"
        return text.replace(os.path.join(self.folder, ""), final)


@contextlib.contextmanager
def atomic_outputs(folder: PathLike) -> Iterator[Staging]:
    """Several outputs that appear in ``folder`` together, only when all are complete.

    They are written into a hidden staging folder inside ``folder`` (same filesystem, so each final move is
    a rename) and committed one by one (:func:`commit`) at the end; on any error none of them appears.
    """
    final = Path(folder)
    staging = temporary_sibling(final / "vmat")
    try:
        staging.mkdir()
    except OSError as error:
        raise OutputError(f"cannot write to output folder {str(final)!r}: {error.strerror}") from None
    try:
        yield Staging(staging, final)
        for entry in sorted(staging.iterdir()):
            commit(entry, final / entry.name)
    finally:
        discard(staging)


@contextlib.contextmanager
def created_folder(folder: PathLike) -> Iterator[Path]:
    """Create ``folder`` (and its parents) when missing; when what follows fails and leaves it empty, remove it
    again, so that a failed command leaves no empty output folder behind."""
    folder = Path(folder)
    existed = os.path.lexists(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create output folder {str(folder)!r}: {error.strerror}") from None
    try:
        yield folder
    except BaseException:
        if not existed:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only succeeds while it is empty
        raise


def _check_not_input(output: Path, source: Path) -> None:
    if not os.path.lexists(source):
        return
    if os.path.lexists(output):
        try:
            same = os.path.samefile(output, source)  # resolves links; equal (st_dev, st_ino) also catches hard links
        except OSError:
            same = output.resolve() == source.resolve()
        if same:
            raise OutputError(f"the output {str(output)!r} is the input {str(source)!r}: give the output a new name")
    if output.is_dir():
        # Both resolved and as written: a folder is removed through the names it was given, links and all.
        folders = {output.resolve(), Path(os.path.abspath(output))}
        places = {source.resolve(), Path(os.path.abspath(source))}
        if any(folder in place.parents for folder in folders for place in places):
            raise OutputError(f"the output folder {str(output)!r} holds the input {str(source)!r}: give the output a new name")


def _write_marker(folder: Path) -> None:
    names = sorted(entry.name for entry in folder.iterdir() if entry.name != MARKER)
    (folder / MARKER).write_text("\n".join([_MARKER_HEADER, *names]) + "\n")


def _listed_entries(folder: Path) -> set[str] | None:
    """The entries ``folder``'s marker lists, or ``None`` when it has no readable marker."""
    try:
        with open(folder / MARKER, encoding="utf-8") as marker:
            if marker.readline().rstrip("\n") != _MARKER_HEADER:
                return None
            return {line.rstrip("\n") for line in marker if line.strip()}
    except (OSError, UnicodeDecodeError):
        return None


def check_output_folder(output: str | os.PathLike[str], named_by: str) -> Path:
    """``output`` is a folder for several outputs: a name that looks like a video file (``out.mp4``) is refused
    rather than made a folder. ``named_by`` says where the name came from (``-o``, ``output_dir``)."""
    path = Path(output)
    if path.suffix.lower() in VIDEO_SUFFIXES and not path.is_dir():
        folder = path.with_suffix("")
        raise ConfigError(
            f"{named_by} names the output folder (several files are written into it), and {str(path)!r} looks like a "
            f"video file: use {named_by} {str(folder)!r} (the edited video is then {str(folder / '<clip>.vmat.mp4')!r})"
        )
    return path
