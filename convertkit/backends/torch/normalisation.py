"""PyTorch's expression of Caffe's normalising and affine layers: BN, BatchNorm, Scale,
Bias, MVN, LRN and Normalize."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..base import Context
from .core import BACKEND, Op, Tensors, _axis, _pointwise


@BACKEND.register("BN")
def bn(ctx: Context) -> Op:
    """PSPNet's BN kept as BatchNorm2d (eps from the prototxt), for fine-tuning.
    SegNet's BN: in INFERENCE mode a per-channel scale and shift; in LEARN mode a
    BatchNorm2d that always uses the statistics of the batch (eps 1e-9)."""
    shape = ctx.bottom_shapes[0]
    p = ctx.layer.hparams
    if p.dialect == "segnet":
        if p.mode == "INFERENCE":
            mod = ChannelAffine((shape[1],), 1, True, True)
            return Op(mod, lambda xs: [mod(xs[0])])
        norm = nn.BatchNorm2d(shape[1], eps=p.eps, track_running_stats=False)
        return Op(norm, lambda xs: [norm(xs[0])])
    norm = nn.BatchNorm2d(shape[1], eps=p.eps)

    def run(xs: Tensors) -> Tensors:
        x = xs[0]
        if x.dim() == 4:
            return [norm(x)]
        return [norm(x.reshape(x.shape[0], x.shape[1], -1, 1)).reshape(x.shape)]

    return Op(norm, run)


@BACKEND.register("BatchNorm")
def batchnorm(ctx: Context) -> Op:
    """BVLC BatchNorm: statistics divided by the scale factor (the mapping does it),
    no affine part (the Scale after it has one)."""
    p = ctx.layer.hparams
    shape = ctx.bottom_shapes[0]
    norm = nn.BatchNorm2d(shape[1], eps=p.eps, affine=False,
                          track_running_stats=True)
    if not p.use_global_stats:
        norm.track_running_stats = False  # batch statistics, as Caffe at TRAIN

    def run(xs: Tensors) -> Tensors:
        x = xs[0]
        y = norm(x.reshape(x.shape[0], x.shape[1], -1, 1) if x.dim() != 4 else x)
        return [y.reshape(x.shape)]

    return Op(norm, run)


class ChannelAffine(nn.Module):
    """Caffe's Scale / Bias with a learned operand: ``weight`` and ``bias`` keep Caffe's
    shape and broadcast over the axes Caffe gives them (axis, num_axes)."""

    def __init__(self, shape: tuple[int, ...], start: int, scale: bool, bias: bool):
        super().__init__()
        self.shape, self.start = tuple(shape), start
        self.weight = nn.Parameter(torch.ones(self.shape)) if scale else None
        self.bias = nn.Parameter(torch.zeros(self.shape)) if bias else None

    def operand_shape(self, x: torch.Tensor) -> tuple[int, ...]:
        return (1,) * self.start + self.shape + (1,) * (x.dim() - self.start - len(self.shape))

    def forward(self, x: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
        view = self.operand_shape(x)
        if scale is not None:  # a second bottom: its own sizes (any batch, any size)
            x = x * scale.reshape((1,) * self.start + tuple(scale.shape)
                                  + (1,) * (x.dim() - self.start - scale.dim()))
        elif self.weight is not None:
            x = x * self.weight.reshape(view)
        if self.bias is not None:
            x = x + self.bias.reshape(view)
        return x


def _operand_start(ctx: Context, axis: int, operand_ndim: int) -> int:
    ndim = len(ctx.bottom_shapes[0])
    return 0 if operand_ndim == 0 else _axis(axis, ndim)


@BACKEND.register("Scale")
def scale(ctx: Context) -> Op:
    p = ctx.layer.hparams
    shapes = ctx.layer.impl.param_shapes(ctx.bottom_shapes)
    if len(ctx.bottom_shapes) > 1:
        operand = tuple(ctx.bottom_shapes[1])
        mod = ChannelAffine(operand, _operand_start(ctx, p.axis, len(operand)), False, p.bias_term)
        return Op(mod if p.bias_term else None, lambda xs: [mod(xs[0], xs[1])])
    operand = tuple(shapes[0])
    mod = ChannelAffine(operand, _operand_start(ctx, p.axis, len(operand)), True, p.bias_term)
    return Op(mod, lambda xs: [mod(xs[0])])


@BACKEND.register("Bias")
def bias(ctx: Context) -> Op:
    p = ctx.layer.hparams
    if len(ctx.bottom_shapes) > 1:
        operand = tuple(ctx.bottom_shapes[1])
        start = _operand_start(ctx, p.axis, len(operand))
        return Op(None, lambda xs: [xs[0] + xs[1].reshape(
            (1,) * start + tuple(xs[1].shape) + (1,) * (xs[0].dim() - start - xs[1].dim()))])
    operand = tuple(ctx.layer.impl.param_shapes(ctx.bottom_shapes)[0])
    mod = ChannelAffine(operand, _operand_start(ctx, p.axis, len(operand)), False, True)
    return Op(mod, lambda xs: [mod(xs[0])])


@BACKEND.register("MVN")
def mvn(ctx: Context) -> Op:
    p = ctx.layer.hparams

    def run(x):
        rows = x.shape[0] if p.across_channels or x.dim() < 2 else x.shape[0] * x.shape[1]
        v = x.reshape(rows, -1)
        v = v - v.mean(dim=1, keepdim=True)
        if p.normalize_variance:
            v = v / (v.square().mean(dim=1, keepdim=True).sqrt() + p.eps)
        # MVNLayer::Reshape uses the legacy accessors: the top has 4 axes.
        return v.reshape(tuple(x.shape) + (1,) * (4 - x.dim()))

    return _pointwise(run)


@BACKEND.register("LRN")
def lrn(ctx: Context) -> Op:
    p, impl = ctx.layer.hparams, ctx.layer.impl
    size = p.local_size

    def run(x):
        sq = x * x
        reach = impl.reach(tuple(x.shape))  # the window cut to the blob (layers/lrn.py)
        kernel = 2 * reach + 1
        if p.norm_region == "ACROSS_CHANNELS":
            # k + alpha/size * sum over the channel window, zero-padded as Caffe does.
            padded = F.pad(sq, (0, 0, 0, 0, reach, reach))
            windows = padded.unfold(1, kernel, 1).sum(-1)
            scale = windows * (p.alpha / size) + p.k
        else:  # Caffe divides by size^2 whatever the window holds
            avg = F.avg_pool2d(sq, kernel, 1, reach, count_include_pad=True)
            scale = avg * (p.alpha * kernel * kernel / (size * size)) + 1.0
        return scale.pow(-p.beta) * x

    return _pointwise(run)


class Normalize(nn.Module):
    """SSD's Normalize: L2 over (C, H, W) or over C per pixel, then ``weight``."""

    def __init__(self, channels: int, across_spatial: bool, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.across_spatial, self.eps = across_spatial, eps

    def forward(self, x):
        dims = tuple(range(1, x.dim())) if self.across_spatial else (1,)
        norm = torch.sqrt(x.square().sum(dim=dims, keepdim=True) + self.eps)
        return x / norm * self.weight.reshape((1, -1) + (1,) * (x.dim() - 2))


@BACKEND.register("Normalize")
def normalize(ctx: Context) -> Op:
    p = ctx.layer.hparams
    mod = Normalize(1 if p.channel_shared else ctx.bottom_shapes[0][1], p.across_spatial, p.eps)
    return Op(mod, lambda xs: [mod(xs[0])])
