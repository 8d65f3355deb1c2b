"""PyTorch's expression of BVLC's Tile, Reduction and Embed."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..base import Context
from . import BACKEND, Op, Tensors, _axis, _pointwise


@BACKEND.register("Tile")
def tile(ctx: Context) -> Op:
    """``Tensor.repeat`` along the axis copies the whole block from the axis on, as
    Caffe's Tile does."""
    nd = len(ctx.bottom_shapes[0])
    axis = _axis(ctx.layer.hparams.axis, nd)
    reps = [1] * nd
    reps[axis] = ctx.layer.hparams.tiles
    return _pointwise(lambda x: x.repeat(*reps))


@BACKEND.register("Reduction")
def reduction(ctx: Context) -> Op:
    impl = ctx.layer.impl
    p = impl.p
    axis = _axis(p.axis, len(ctx.bottom_shapes[0]))

    def run(xs: Tensors) -> Tensors:
        x = xs[0]
        rows = x.reshape(*x.shape[:axis], -1) if axis else x.reshape(-1)
        if p.operation == "ASUM":
            top = rows.abs().sum(-1)
        elif p.operation == "SUMSQ":
            top = (rows * rows).sum(-1)
        else:
            top = rows.sum(-1)
        dim = math.prod(x.shape[axis:])
        coeff = p.coeff / dim if p.operation == "MEAN" else p.coeff
        return [top * coeff if coeff != 1 else top]

    return Op(None, run)


class EmbedTable(nn.Module):
    """Caffe's Embed: rows of ``weight`` (input_dim x num_output), plus ``bias``."""

    def __init__(self, rows: int, width: int, bias: bool):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(rows, width))
        self.bias = nn.Parameter(torch.zeros(width)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.embedding(x.to(torch.int64), self.weight)  # the cast truncates, as Caffe's
        return y + self.bias if self.bias is not None else y


@BACKEND.register("Embed")
def embed(ctx: Context) -> Op:
    p = ctx.layer.hparams
    mod = EmbedTable(p.input_dim, p.num_output, p.bias_term)
    return Op(mod, lambda xs: [mod(xs[0])])
