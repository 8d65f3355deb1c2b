"""PyTorch's expression of Caffe's neuron layers: ReLU, PReLU, ELU, Sigmoid, TanH,
AbsVal, BNLL, Threshold, Power, Exp, Log, ReLU6, Swish, Clip and Dropout."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..base import Context
from .core import BACKEND, Op, _pointwise


@BACKEND.register("ReLU")
def relu(ctx: Context) -> Op:
    slope = ctx.layer.hparams.negative_slope
    return _pointwise(F.relu if slope == 0 else (lambda x: F.leaky_relu(x, slope)))


@BACKEND.register("PReLU")
def prelu(ctx: Context) -> Op:
    channels = 1 if ctx.layer.hparams.channel_shared else ctx.bottom_shapes[0][1]
    mod = nn.PReLU(channels)
    return Op(mod, lambda xs: [mod(xs[0])])


@BACKEND.register("ELU")
def elu(ctx: Context) -> Op:
    alpha = ctx.layer.hparams.alpha
    return _pointwise(lambda x: F.elu(x, alpha))


@BACKEND.register("Sigmoid")
def sigmoid(ctx: Context) -> Op:
    return _pointwise(torch.sigmoid)


@BACKEND.register("TanH")
def tanh(ctx: Context) -> Op:
    return _pointwise(torch.tanh)


@BACKEND.register("AbsVal")
def absval(ctx: Context) -> Op:
    return _pointwise(torch.abs)


@BACKEND.register("BNLL")
def bnll(ctx: Context) -> Op:
    return _pointwise(F.softplus)  # log(1 + e^x), computed stably as Caffe does


@BACKEND.register("Threshold")
def threshold(ctx: Context) -> Op:
    t = ctx.layer.hparams.threshold
    return _pointwise(lambda x: (x > t).to(x.dtype))


@BACKEND.register("Power")
def power(ctx: Context) -> Op:
    p = ctx.layer.hparams
    if p.power * p.scale == 0:  # Caffe: a constant, 1 if power == 0 else shift ** power
        value = 1.0 if p.power == 0 else float(np.power(np.float32(p.shift), np.float32(p.power)))
        return _pointwise(lambda x: torch.full_like(x, value))

    def run(x):
        y = x * p.scale if p.scale != 1 else x
        y = y + p.shift if p.shift != 0 else y
        return torch.pow(y, p.power) if p.power != 1 else y

    return _pointwise(run)


def _base_log(base: float) -> float:
    return 1.0 if base == -1 else float(np.log(np.float32(base)))


@BACKEND.register("Exp")
def exp(ctx: Context) -> Op:
    p = ctx.layer.hparams
    ln_base = _base_log(p.base)
    return _pointwise(lambda x: torch.exp((x * p.scale + p.shift) * ln_base))


@BACKEND.register("Log")
def log(ctx: Context) -> Op:
    p = ctx.layer.hparams
    ln_base = _base_log(p.base)
    return _pointwise(lambda x: torch.log(x * p.scale + p.shift) / ln_base)


@BACKEND.register("ReLU6")
def relu6(ctx: Context) -> Op:
    return _pointwise(lambda x: torch.clamp(x, 0.0, 6.0))


@BACKEND.register("Swish")
def swish(ctx: Context) -> Op:
    beta = float(ctx.layer.hparams.beta)
    return _pointwise(lambda x: x * torch.sigmoid(x * beta))


@BACKEND.register("Clip")
def clip(ctx: Context) -> Op:
    # max(min, min(x, max)), as Caffe: torch.clamp gives max where min > max.
    p = ctx.layer.hparams
    return _pointwise(lambda x: torch.clamp_min(torch.clamp_max(x, p.max), p.min))


@BACKEND.register("Dropout")
def dropout(ctx: Context) -> Op:
    s = ctx.layer.impl.test_scale()  # py-faster-rcnn's scale_train: false
    if s is None:
        return _pointwise(lambda x: x)  # identity at TEST
    return _pointwise(lambda x: x * float(s))
