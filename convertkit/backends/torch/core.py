"""What PyTorch's family modules share: the backend, :class:`Op`, the types that run
eagerly only, and the helpers several families use."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..base import Backend


BACKEND = Backend("torch")
Tensors = list[torch.Tensor]


@dataclass
class Op:
    """One layer in PyTorch: its parameter module (or None) and its forward."""

    module: nn.Module | None
    fn: Callable[[Tensors], Tensors]


#: Types whose expression here leaves PyTorch for numpy on data-dependent work, and
#: why: a net with one runs eagerly (from its .pt) but torch.export cannot trace it.
EAGER_ONLY = {
    "ROIPooling": "each ROI's bins are read from the ROI values",
}


def _axis(axis: int, ndim: int) -> int:
    return axis % ndim


def _pointwise(fn: Callable[[torch.Tensor], torch.Tensor]) -> Op:
    return Op(None, lambda xs: [fn(xs[0])])
