"""Which runtimes a verification runs, and which formats a fresh conversion writes for
them."""
from __future__ import annotations

import importlib.util
from typing import Sequence

from ..errors import UsageError
from .subjects import FORMAT_RUNTIME


def select_runtimes(requested: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """(runtimes to use, notes). A runtime asked for by name that is not installed is
    an error; by default the missing ones are skipped with a note."""
    from ..runtime import runtime_infos

    infos = {i.name: i for i in runtime_infos()}
    if requested is not None:
        unknown = [r for r in requested if r not in infos]
        if unknown:
            raise UsageError(f"unknown runtime(s) {', '.join(unknown)} (known: {', '.join(infos)})")
        chosen, notes = [], []
        for r in dict.fromkeys(requested):
            if infos[r].installed:
                chosen.append(r)
            elif infos[r].own_build:  # a user's own build (pycaffe): a note, not a refusal
                notes.append(f"runtime {r} skipped: {infos[r].install_hint()}")
            else:
                raise UsageError(infos[r].install_hint())
        return chosen, notes
    chosen, notes = [], []
    for name, info in infos.items():
        if info.installed:
            chosen.append(name)
        elif not info.own_build:
            notes.append(f"runtime {name} skipped: not installed ({info.how_to_install})")
    return chosen, notes


def _format_ready(fmt: str) -> bool:
    from ..emit import convert as conv
    from .. import emit

    needs = conv.MODEL_FORMATS[fmt].needs if fmt in conv.MODEL_FORMATS else emit.get(fmt).needs
    return all(importlib.util.find_spec(m) is not None for m in needs)


def conversion_formats(runtimes: Sequence[str], formats: Sequence[str] | None) -> list[str]:
    """The formats a fresh conversion writes: those asked for, or every format one of
    the selected runtimes reads (and whose writer is installed)."""
    from ..emit import convert as conv

    known = conv.all_formats()
    if formats is not None:
        unknown = [f for f in formats if f not in known]
        if unknown:
            raise UsageError(f"unknown format(s) {', '.join(unknown)}; known: {', '.join(known)}")
        not_read = [f for f in formats if f not in FORMAT_RUNTIME]
        if not_read:
            raise UsageError(f"no runtime reads format(s) {', '.join(not_read)}")
        return list(dict.fromkeys(formats))
    return [f for f in known if FORMAT_RUNTIME.get(f) in runtimes and _format_ready(f)]
