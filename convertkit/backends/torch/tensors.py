"""PyTorch's expression of Caffe's data movement and blob arithmetic: Input, Split,
Concat, Slice, Crop, Reshape, Flatten, Permute, ShuffleChannel, Tile, Eltwise, Axpy,
Softmax, ArgMax, Reduction and Embed."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..base import Context
from .core import BACKEND, Op, Tensors, _axis, _pointwise


@BACKEND.register("Input")
def input_(ctx: Context) -> Op:
    return Op(None, lambda xs: [])


@BACKEND.register("Split")
def split(ctx: Context) -> Op:
    n = len(ctx.layer.tops)
    return Op(None, lambda xs: [xs[0]] * n)


@BACKEND.register("Concat")
def concat(ctx: Context) -> Op:
    axis = _axis(ctx.layer.hparams.axis, len(ctx.bottom_shapes[0]))
    return Op(None, lambda xs: [torch.cat(xs, dim=axis)])


@BACKEND.register("Slice")
def slice_(ctx: Context) -> Op:
    axis = _axis(ctx.layer.hparams.axis, len(ctx.bottom_shapes[0]))
    impl = ctx.layer.impl
    return Op(None, lambda xs: list(torch.split(xs[0], impl._sizes(tuple(xs[0].shape))[1],
                                                dim=axis)))


@BACKEND.register("Crop")
def crop(ctx: Context) -> Op:
    shape, ref = ctx.bottom_shapes
    p = ctx.layer.hparams
    start = _axis(p.axis, len(shape))
    offs = [p.offset[0] if len(p.offset) == 1 else (p.offset[i - start] if p.offset else 0)
            for i in range(start, len(shape))]

    def run(xs):  # the reference's own size, at call time
        x, ref_now = xs
        index = [slice(None)] * start + [slice(o, o + ref_now.shape[i])
                                         for o, i in zip(offs, range(start, x.dim()))]
        return [x[tuple(index)]]

    return Op(None, run)


@BACKEND.register("Reshape")
def reshape(ctx: Context) -> Op:
    """Caffe's dims on the bottom's own sizes: 0 copies an axis, one -1 is inferred
    (no size is read as a Python int, so a free size stays free in torch.export)."""
    p, nd = ctx.layer.hparams, len(ctx.bottom_shapes[0])
    start = p.axis if p.axis >= 0 else nd + p.axis + 1
    end = nd if p.num_axes == -1 else start + p.num_axes

    def run(x):
        shape = list(x.shape)
        mid = [shape[start + i] if d == 0 else d for i, d in enumerate(p.dims)]
        return x.reshape(shape[:start] + mid + shape[end:])

    return _pointwise(run)


@BACKEND.register("Flatten")
def flatten(ctx: Context) -> Op:
    """Caffe's Flatten is torch.flatten (any size: no size is fixed)."""
    p, nd = ctx.layer.hparams, len(ctx.bottom_shapes[0])
    start, end = p.axis % nd, p.end_axis % nd
    return _pointwise(lambda x: x.flatten(start, end))


@BACKEND.register("Permute")
def permute(ctx: Context) -> Op:
    axes = ctx.layer.impl.axes(len(ctx.bottom_shapes[0]))
    return _pointwise(lambda x: x.permute(*axes))


@BACKEND.register("ShuffleChannel")
def shuffle_channel(ctx: Context) -> Op:
    g = ctx.layer.hparams.group

    def run(x):
        n, c = x.shape[:2]
        return x.reshape(n, g, c // g, -1).transpose(1, 2).reshape(x.shape)

    return _pointwise(run)


@BACKEND.register("Tile")
def tile(ctx: Context) -> Op:
    """``Tensor.repeat`` along the axis copies the whole block from the axis on, as
    Caffe's Tile does."""
    nd = len(ctx.bottom_shapes[0])
    axis = _axis(ctx.layer.hparams.axis, nd)
    reps = [1] * nd
    reps[axis] = ctx.layer.hparams.tiles
    return _pointwise(lambda x: x.repeat(*reps))


@BACKEND.register("Eltwise")
def eltwise(ctx: Context) -> Op:
    p = ctx.layer.hparams

    def run(xs: Tensors) -> Tensors:
        if p.operation == "PROD":
            y = xs[0]
            for x in xs[1:]:
                y = y * x
        elif p.operation == "MAX":
            y = xs[0]
            for x in xs[1:]:
                y = torch.maximum(y, x)
        else:
            coeffs = p.coeffs or (1.0,) * len(xs)
            y = xs[0] * coeffs[0] if coeffs[0] != 1 else xs[0]
            for c, x in zip(coeffs[1:], xs[1:]):
                y = y + (x * c if c != 1 else x)
        return [y]

    return Op(None, run)


@BACKEND.register("Axpy")
def axpy(ctx: Context) -> Op:
    return Op(None, lambda xs: [xs[0].reshape(xs[0].shape[:2] + (1,) * (xs[1].dim() - 2))
                                * xs[1] + xs[2]])


@BACKEND.register("Softmax")
def softmax(ctx: Context) -> Op:
    axis = _axis(ctx.layer.hparams.axis, len(ctx.bottom_shapes[0]))
    return _pointwise(lambda x: F.softmax(x, dim=axis))


@BACKEND.register("ArgMax")
def argmax(ctx: Context) -> Op:
    p = ctx.layer.hparams
    top_shape = ctx.top_shapes[0]

    def run(xs: Tensors) -> Tensors:
        x = xs[0]
        if p.axis is None:
            flat = x.reshape(x.shape[0], -1)
            values, idx = torch.topk(flat, p.top_k, dim=1)
            out = torch.stack([idx.to(x.dtype), values], 1) if p.out_max_val else idx.to(x.dtype)
            return [out.reshape((x.shape[0],) + tuple(top_shape[1:]))]
        axis = _axis(p.axis, x.dim())
        values, idx = torch.topk(x, p.top_k, dim=axis)
        return [values if p.out_max_val else idx.to(x.dtype)]

    return Op(None, run)


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
