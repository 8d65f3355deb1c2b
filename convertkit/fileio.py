"""Writing outputs safely: a temp file beside the target, then an atomic rename.

A crash, a full disk or Ctrl-C never leaves a half-written output under the real
name, and never destroys an earlier good file.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

from .errors import InputFileError


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temp file for writing; on success rename it to ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputFileError(f"cannot create directory: {exc.strerror}", path=path.parent) from None
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
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
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
