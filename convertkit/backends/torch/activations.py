"""PyTorch's expression of BVLC's Swish and Clip."""
from __future__ import annotations

import torch

from ..base import Context
from . import BACKEND, Op, _pointwise


@BACKEND.register("Swish")
def swish(ctx: Context) -> Op:
    beta = float(ctx.layer.hparams.beta)
    return _pointwise(lambda x: x * torch.sigmoid(x * beta))


@BACKEND.register("Clip")
def clip(ctx: Context) -> Op:
    # max(min, min(x, max)), as Caffe: torch.clamp gives max where min > max.
    p = ctx.layer.hparams
    return _pointwise(lambda x: torch.clamp_min(torch.clamp_max(x, p.max), p.min))
