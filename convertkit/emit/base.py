"""The writers' registry and :func:`write`, which checks outputs before any writer runs."""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from ..errors import UsageError


@dataclass(frozen=True)
class Format:
    name: str
    #: The usual file name ending (the TF checkpoint's is the prefix's, e.g. ".ckpt").
    suffix: str
    about: str
    writer: Callable
    #: The files a write to ``path`` creates.
    files: Callable[[Path], list[Path]]
    #: Python packages the writer imports (for messages and pyproject extras).
    needs: tuple[str, ...] = ()


FORMATS: dict[str, Format] = {}


def register(name: str, *, suffix: str, about: str, needs: Sequence[str] = (),
             files: Callable[[Path], list[Path]] | None = None):
    """Decorator: register ``writer(targets, path, meta)`` as format ``name``."""

    def deco(fn):
        FORMATS[name] = Format(name, suffix, about, fn, files or (lambda p: [p]), tuple(needs))
        return fn

    return deco


def formats() -> list[str]:
    return list(FORMATS)


def get(fmt: str) -> Format:
    try:
        return FORMATS[fmt]
    except KeyError:
        raise UsageError(f"unknown output format '{fmt}'; known: {', '.join(FORMATS)}") from None


def output_files(fmt: str, path: str | os.PathLike) -> list[Path]:
    """The files ``write(fmt, ..., path)`` would create (check them before converting)."""
    return get(fmt).files(Path(path))


def write(fmt: str, targets: Sequence, path: str | os.PathLike, *,
          meta: Mapping[str, str] | None = None, force: bool = False,
          inputs: Iterable[str | os.PathLike | None] = ()) -> list[Path]:
    """Write ``targets`` as ``fmt`` to ``path``; returns the files written."""
    from ..fileio import check_outputs

    spec = get(fmt)
    targets = list(targets)
    counts = Counter(t.key for t in targets)
    dups = sorted(k for k, n in counts.items() if n > 1)
    if dups:
        raise UsageError(f"{len(dups)} keys appear more than once: {', '.join(dups)}")
    path = Path(path)
    files = spec.files(path)
    check_outputs(files, inputs=list(inputs), force=force)
    for name in spec.needs:
        _require(name, fmt)
    spec.writer(targets, path, dict(meta or {}))
    return files


def _require(module: str, fmt: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise UsageError(f"writing {fmt} needs the Python package '{module}', which is not "
                         f"installed (pip install {module})")
