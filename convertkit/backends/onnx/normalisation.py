"""ONNX's expression of Caffe's normalising and affine layers: BN, BatchNorm, Scale,
Bias, MVN, LRN and Normalize."""
from __future__ import annotations

import numpy as np

from ..base import Context
from .core import BACKEND, _fixed, _g, _unary, _varies


def _batchnorm(ctx: Context, scale, bias, mean, var, eps) -> None:
    g, layer = _g(ctx), ctx.layer
    x = g.value(layer.bottoms[0])
    g.node("BatchNormalization", [x, scale, bias, mean, var], [g.write(layer.tops[0])],
           name=layer.name, epsilon=float(eps))


@BACKEND.register("BN")
def bn(ctx: Context) -> None:
    """PSPNet's BN kept as BatchNormalization (eps from the prototxt); SegNet's BN in
    INFERENCE mode as Mul and Add."""
    g, layer = _g(ctx), ctx.layer
    if layer.hparams.dialect == "segnet":
        ndim = len(ctx.bottom_shapes[0])
        view = (1, -1) + (1,) * (ndim - 2)
        x = g.value(layer.bottoms[0])
        if layer.hparams.mode != "INFERENCE":
            # LEARN: the batch's own statistics, var = E[x^2] - E[x]^2 over N, H, W.
            axes = g.const(layer, "axes", np.array([0] + list(range(2, ndim)), np.int64))
            mean, sq, ex2, m2, var, ve, std, cen, xn = (g.tmp(layer, t) for t in (
                "mean", "sq", "ex2", "mean_sq", "var", "var_eps", "std", "centred", "normed"))
            g.node("ReduceMean", [x, axes], [mean], keepdims=1)
            g.node("Mul", [x, x], [sq])
            g.node("ReduceMean", [sq, axes], [ex2], keepdims=1)
            g.node("Mul", [mean, mean], [m2])
            g.node("Sub", [ex2, m2], [var])
            g.node("Add", [var, g.const(layer, "eps", np.array(layer.hparams.eps, np.float32))], [ve])
            g.node("Sqrt", [ve], [std])
            g.node("Sub", [x, mean], [cen])
            g.node("Div", [cen, std], [xn])
            x = xn
        scaled = g.tmp(layer, "scaled")
        g.node("Mul", [x, g.param(
            layer, "gamma", np.asarray(layer.param("gamma"), np.float32).reshape(view))], [scaled])
        g.node("Add", [scaled, g.param(layer, "beta", np.asarray(layer.param("beta"),
                                                                 np.float32).reshape(view))],
               [g.write(layer.tops[0])], name=layer.name)
        return
    flat = {r: np.asarray(layer.param(r), np.float32).reshape(-1) for r in layer.roles}
    _batchnorm(ctx, *(g.param(layer, r, flat[r]) for r in ("gamma", "beta", "mean", "variance")),
               eps=np.float32(layer.hparams.eps))


@BACKEND.register("BatchNorm")
def batchnorm(ctx: Context) -> None:
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    if not p.use_global_stats:
        raise ctx.refuse("BatchNorm with use_global_stats: false (batch statistics at "
                         "inference) is not expressed", BACKEND.name)
    factor = float(np.asarray(layer.param("scale_factor")).ravel()[0])
    factor = 0.0 if factor == 0 else 1.0 / factor
    mean = (np.asarray(layer.param("mean"), np.float32).ravel() * np.float32(factor))
    var = (np.asarray(layer.param("variance"), np.float32).ravel() * np.float32(factor))
    c = mean.size
    _batchnorm(ctx, g.const(layer, "gamma", np.ones(c, np.float32)),
               g.const(layer, "beta", np.zeros(c, np.float32)),
               g.param(layer, "mean", mean), g.param(layer, "variance", var),
               eps=np.float32(p.eps))


def _operand(ctx: Context, arr_shape, axis: int) -> tuple[int, ...]:
    """The broadcast shape of a Scale/Bias operand over the bottom (Caffe's axis rule)."""
    ndim = len(ctx.bottom_shapes[0])
    start = 0 if len(arr_shape) == 0 else axis % ndim
    return (1,) * start + tuple(arr_shape) + (1,) * (ndim - start - len(arr_shape))


def _operand_view(ctx: Context, axis: int) -> tuple[int, ...]:
    """The Reshape target of a second-bottom operand: its broadcast shape, with 0
    (copy) where its size follows the input (the operand's own axes from 0 on)."""
    operand = ctx.bottom_shapes[1]
    shape = list(_operand(ctx, operand, axis))
    sizes = ctx.options.get("sizes")
    changing = sizes.varies.get(ctx.layer.bottoms[1], set()) if sizes else set()
    if changing:
        start = 0 if len(operand) == 0 else axis % len(ctx.bottom_shapes[0])
        if start:
            raise _fixed(ctx, "its operand's sizes follow the input")
        for a in changing:
            shape[a] = 0
    return tuple(shape)


@BACKEND.register("Scale")
def scale(ctx: Context) -> None:
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    x = g.value(layer.bottoms[0])
    if len(layer.bottoms) > 1:
        shape = _operand_view(ctx, p.axis)
        s = g.tmp(layer, "operand")
        g.node("Reshape", [g.value(layer.bottoms[1]), g.const(layer, "operand_shape",
                                                               np.array(shape, np.int64))], [s])
        operand_shape = ctx.bottom_shapes[1]
    else:
        operand_shape = ctx.layer.impl.param_shapes(ctx.bottom_shapes)[0]
        shape = _operand(ctx, operand_shape, p.axis)
        s = g.param(layer, "gamma", np.asarray(layer.param("gamma"), np.float32).reshape(shape))
    if not p.bias_term:
        g.node("Mul", [x, s], [g.write(layer.tops[0])], name=layer.name)
        return
    y = g.tmp(layer, "scaled")
    g.node("Mul", [x, s], [y])
    shape = _operand(ctx, operand_shape, p.axis)
    b = g.param(layer, "beta", np.asarray(layer.param("beta"), np.float32).reshape(shape))
    g.node("Add", [y, b], [g.write(layer.tops[0])], name=layer.name)


@BACKEND.register("Bias")
def bias(ctx: Context) -> None:
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    x = g.value(layer.bottoms[0])
    if len(layer.bottoms) > 1:
        shape = _operand_view(ctx, p.axis)
        b = g.tmp(layer, "operand")
        g.node("Reshape", [g.value(layer.bottoms[1]),
                           g.const(layer, "operand_shape", np.array(shape, np.int64))], [b])
    else:
        arr_shape = ctx.layer.impl.param_shapes(ctx.bottom_shapes)[0]
        shape = _operand(ctx, arr_shape, p.axis)
        b = g.param(layer, "bias", np.asarray(layer.param("bias"), np.float32).reshape(shape))
    g.node("Add", [x, b], [g.write(layer.tops[0])], name=layer.name)


@BACKEND.register("MVN")
def mvn(ctx: Context) -> None:
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    shape = ctx.bottom_shapes[0]
    start = 1 if p.across_channels or len(shape) < 2 else 2
    axes = g.const(layer, "axes", np.arange(start, len(shape), dtype=np.int64))
    x = g.value(layer.bottoms[0])
    mean, centred = g.tmp(layer, "mean"), g.tmp(layer, "centred")
    # MVNLayer::Reshape uses the legacy accessors: the top has 4 axes.
    grow = len(shape) < 4
    out = g.tmp(layer, "mvn") if grow else g.write(layer.tops[0])
    named = {} if grow else {"name": layer.name}
    # Rows of one value (an N x C bottom per channel): the mean of each value is itself;
    # ONNX reads empty axes as "all axes" unless told otherwise.
    g.node("ReduceMean", [x, axes], [mean], keepdims=1, noop_with_empty_axes=1)
    if not p.normalize_variance:
        g.node("Sub", [x, mean], [out], **named)
    else:
        g.node("Sub", [x, mean], [centred])
        sq, var, std, std_eps = (g.tmp(layer, t) for t in ("sq", "var", "std", "std_eps"))
        g.node("Mul", [centred, centred], [sq])
        g.node("ReduceMean", [sq, axes], [var], keepdims=1, noop_with_empty_axes=1)
        g.node("Sqrt", [var], [std])
        g.node("Add", [std, g.const(layer, "eps", np.array(p.eps, np.float32))], [std_eps])
        g.node("Div", [centred, std_eps], [out], **named)
    if grow:
        new_axes = g.const(layer, "legacy_axes", np.arange(len(shape), 4, dtype=np.int64))
        g.node("Unsqueeze", [out, new_axes], [g.write(layer.tops[0])], name=layer.name)


@BACKEND.register("LRN")
def lrn(ctx: Context) -> None:
    p = ctx.layer.hparams
    # The window cut to the blob (layers/lrn.py): a huge local_size sees only zeros.
    reach = ctx.layer.impl.reach(ctx.bottom_shapes[0])
    kernel = 2 * reach + 1
    if p.norm_region == "ACROSS_CHANNELS":
        # ONNX's LRN is Caffe's: x / (bias + alpha/size * sum of squares)^beta over
        # channels [c - (size-1)//2, c + size//2]; a cut window keeps Caffe's alpha/size.
        _unary(ctx, "LRN", size=kernel, alpha=float(p.alpha) * kernel / p.local_size,
               beta=float(p.beta), bias=float(p.k))
        return
    if kernel != p.local_size and _varies(ctx, ctx.layer.bottoms[0]):
        raise _fixed(ctx, "its window is cut to the blob's planned size")
    g, layer = _g(ctx), ctx.layer
    x = g.value(layer.bottoms[0])
    sq, avg, scaled, base, powed = (g.tmp(layer, t) for t in ("sq", "avg", "scaled", "base", "pow"))
    g.node("Mul", [x, x], [sq])
    g.node("AveragePool", [sq], [avg], kernel_shape=[kernel] * 2, strides=[1, 1],
           pads=[reach] * 4, count_include_pad=1)
    # Caffe divides by size^2 whatever the window holds.
    alpha = np.float32(p.alpha * kernel * kernel / (float(p.local_size) ** 2))
    g.node("Mul", [avg, g.const(layer, "alpha", np.array(alpha, np.float32))], [scaled])
    g.node("Add", [scaled, g.const(layer, "one", np.array(1, np.float32))], [base])
    g.node("Pow", [base, g.const(layer, "beta", np.array(-p.beta, np.float32))], [powed])
    g.node("Mul", [powed, x], [g.write(layer.tops[0])], name=layer.name)


@BACKEND.register("Normalize")
def normalize(ctx: Context) -> None:
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    ndim = len(ctx.bottom_shapes[0])
    x = g.value(layer.bottoms[0])
    axes = list(range(1, ndim)) if p.across_spatial else [1]
    ss, sse, norm, unit = (g.tmp(layer, t) for t in ("sumsq", "sumsq_eps", "norm", "unit"))
    g.node("ReduceSumSquare", [x, g.const(layer, "axes", np.array(axes, np.int64))], [ss], keepdims=1)
    g.node("Add", [ss, g.const(layer, "eps", np.array(p.eps, np.float32))], [sse])
    g.node("Sqrt", [sse], [norm])
    g.node("Div", [x, norm], [unit])
    scale = np.asarray(layer.param("gamma"), np.float32).reshape((1, -1) + (1,) * (ndim - 2))
    g.node("Mul", [unit, g.param(layer, "gamma", scale)], [g.write(layer.tops[0])], name=layer.name)
