"""PyTorch ``.pt``: an ordered ``state_dict`` of tensors, in target order.

Loads with ``torch.load(path, weights_only=True)`` into an ``OrderedDict[str, Tensor]``
that ``module.load_state_dict`` takes. ``torch.save`` writes a zip whose members carry
no timestamps and whose folder is named "archive" when it writes to an open file (as
here): the same targets give the same bytes. The tensors share memory with the
targets' arrays; nothing is copied before writing.
"""
from __future__ import annotations

import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..fileio import atomic_write
from .base import register


def state_dict(targets) -> "OrderedDict[str, object]":
    import torch

    out: OrderedDict = OrderedDict()
    with warnings.catch_warnings():
        # Arrays viewing a read-only caffemodel buffer: torch.save only reads them.
        warnings.filterwarnings("ignore", message=".*not writable.*")
        for t in targets:
            a = np.asarray(t.array)
            # Not ascontiguousarray: it makes a 0-d array (num_batches_tracked) 1-d.
            out[t.key] = torch.from_numpy(a if a.flags.c_contiguous else a.copy(order="C"))
    return out


@register("torch", suffix=".pt", about="PyTorch state_dict (.pt), torch.load(weights_only=True)",
          needs=("torch",))
def write(targets, path: Path, meta) -> None:
    import torch

    sd = state_dict(targets)
    with atomic_write(path, "wb") as fh:
        torch.save(sd, fh)
