"""Writing outputs safely: a temp file beside the target, then an atomic rename.

A crash, a full disk or Ctrl-C never leaves a half-written output under the real
name, and never destroys an earlier good file. A failed write is one
:class:`~convertkit.errors.OutputFileError` naming the output (never its hidden temp
file) and the cause; the folders a failed command created for its outputs are removed
again when they are empty (:func:`remove_created_dirs`, called by the CLI).
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterable, Iterator

from .errors import InputFileError, OutputFileError


#: Folders this process created for its outputs, parents first.
_CREATED: list[Path] = []


def make_dirs(directory: str | os.PathLike) -> Path:
    """``mkdir -p`` for an output folder, remembering the folders it creates, so that
    a command that fails can remove the empty ones it left (:func:`remove_created_dirs`)."""
    directory = Path(directory)
    missing, p = [], directory
    while not os.path.lexists(p) and p != p.parent:
        missing.append(p)
        p = p.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        remove_created_dirs(missing)
        raise OutputFileError(f"cannot create the folder: {_cause(exc)}", path=directory) from None
    _CREATED.extend(reversed(missing))
    return directory


def remove_created_dirs(dirs: Iterable[Path] | None = None) -> None:
    """Remove the empty folders among those :func:`make_dirs` created (deepest first)."""
    dirs = list(_CREATED if dirs is None else dirs)
    for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            d.rmdir()  # only when empty
    if dirs is _CREATED or dirs == _CREATED:
        _CREATED.clear()


def _cause(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


@contextlib.contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """OS errors while writing output ``path`` (a full disk, a read-only folder, no
    permission) become one OutputFileError naming ``path`` and the cause."""
    try:
        yield
    except OSError as exc:
        raise OutputFileError(f"cannot write: {_cause(exc)}", path=path) from None


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temp file for writing; on success rename it to ``path``."""
    path = Path(path)
    make_dirs(path.parent)
    with writing(path):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes 0600 files; give the output the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OutputFileError(f"cannot write: {_cause(exc)}", path=path) from None
        raise


def read_bytes(path: str | os.PathLike, what: str = "file") -> bytes:
    """Read a whole input file, turning OS errors into one-line InputFileErrors."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputFileError(f"{what} not found", path=path) from None
    except IsADirectoryError:
        raise InputFileError(f"{what} is a directory", path=path) from None
    except OSError as exc:
        raise InputFileError(f"cannot read {what}: {exc.strerror}", path=path) from None


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file: equal once resolved (symlinks, ``..``), or
    the same inode (hard links, case-insensitive file systems)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def check_outputs(outputs: Iterable[str | os.PathLike], *,
                  inputs: Iterable[str | os.PathLike | None] = (), force: bool = False,
                  suffix: str | None = None, what: str | None = None,
                  directories: bool = False) -> None:
    """The one check every command runs before it writes (the CLI convention).

    For each output, in this order: it must not be one of ``inputs``, even with
    ``force``; its extension must be ``suffix`` (when given; ``what`` says what is
    written, for the message); an existing one is replaced only with ``force``. The
    outputs are files, and a directory in the way is refused; with ``directories``
    they are folders (a SavedModel), and a file in the way is refused. Raises
    OutputFileError naming the output.
    """
    inputs = [p for p in inputs if p is not None]
    for out in outputs:
        out = Path(out)
        for inp in inputs:
            if same_file(out, inp):
                which = "an input" if str(inp) == str(out) else f"the input {inp} (the same file)"
                raise OutputFileError(f"this is {which}; an output never replaces an input, "
                                      "even with --force: choose another output", path=out)
        if suffix is not None and out.suffix.lower() != suffix:
            got = f"'{out.suffix}'" if out.suffix else "no extension"
            raise OutputFileError(f"the output must end in {suffix} ({what or suffix + ' file'}), "
                                  f"not {got}", path=out)
        if out.is_dir() and not directories:
            raise OutputFileError("a directory of that name is in the way", path=out)
        if directories and os.path.lexists(out) and not out.is_dir():
            raise OutputFileError("a file of that name is in the way (this output is a "
                                  "directory)", path=out)
        if os.path.lexists(out) and not force:
            raise OutputFileError("already exists; pass --force to replace it", path=out)


def check_output_dir(directory: str | os.PathLike, file_suffixes: Iterable[str] = ()) -> Path:
    """An output directory (created later, when written): not an existing file, and
    not named like one of the files written in it (``-o net.prototxt`` by mistake)."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise OutputFileError("a file of that name is in the way; -o/--output takes a "
                              "directory here", path=directory)
    if not directory.exists() and directory.suffix.lower() in {s.lower() for s in file_suffixes}:
        raise OutputFileError(f"-o/--output takes a directory here, not a {directory.suffix} "
                              "file (the files in it are named for you)", path=directory)
    return directory
