"""ONNX's expression of each Caffe type, written directly (no other converter between).

Handlers add nodes to the :class:`~convertkit.backends.onnx.graph.GraphBuilder` in
``ctx.options["graph"]``: ``g.value(blob)`` is the ONNX value currently holding a
Caffe blob, ``g.write(top)`` a fresh value name that becomes it (ONNX values are
written once, so Caffe's in-place layers get new names), and ``g.param(layer, role,
array)`` an initializer named ``<layer>/<role>``.

Caffe's semantics, kept exactly: ``Resize`` with ``coordinate_transformation_mode =
align_corners`` to explicit sizes (never scales), ceil-mode pools with Caffe's output
size and AVE divisor (explicit padding where ONNX's rule differs), BN eps from the
prototxt, Eltwise coefficients, grouped and dilated convolution.
"""
from __future__ import annotations

import numpy as np

from ...layers.pooling import ave_divisor, pooled_size, trailing_padding
from ..base import Backend, Context, FixedSize, varies

BACKEND = Backend("onnx")


def _g(ctx: Context):
    return ctx.options["graph"]


def _channels_view(c: int, ndim: int) -> tuple[int, ...]:
    return (c,) + (1,) * (ndim - 2)


def _varies(ctx: Context, blob: str, axes=(2, 3)) -> bool:
    return varies(ctx, blob, axes)


def _fixed(ctx: Context, why: str) -> FixedSize:
    return FixedSize(ctx.layer, why)


def _dims(ctx: Context, value: str, start: int, end: int, what: str) -> str:
    """The int64 sizes of axes [start, end) of ``value``, from its shape at run time."""
    g = _g(ctx)
    out = g.tmp(ctx.layer, what)
    g.node("Shape", [value], [out], start=start, end=end)
    return out


def _int_op(ctx: Context, op: str, a: str, b, what: str) -> str:
    """``a op b`` on int64 tensors (``b`` a Python int becomes a constant)."""
    g = _g(ctx)
    if not isinstance(b, str):
        b = g.const(ctx.layer, f"{what}_k", np.array(b, np.int64))
    out = g.tmp(ctx.layer, what)
    g.node(op, [a, b], [out])
    return out


def _int_vec(ctx: Context, values, what: str) -> str:
    return _g(ctx).const(ctx.layer, what, np.array(values, np.int64))


@BACKEND.register("Input")
def input_(ctx: Context) -> None:
    return None


@BACKEND.register("Convolution", "Deconvolution")
def convolution(ctx: Context) -> None:
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    inputs = [g.value(layer.bottoms[0]), g.param(layer, "weight")]
    if p.bias_term:
        inputs.append(g.param(layer, "bias"))
    op = "Conv" if layer.type == "Convolution" else "ConvTranspose"
    g.node(op, inputs, [g.write(layer.tops[0])], name=layer.name, kernel_shape=list(p.kernel),
           strides=list(p.stride), pads=[p.pad[0], p.pad[1], p.pad[0], p.pad[1]],
           dilations=list(p.dilation), group=p.group)


@BACKEND.register("InnerProduct")
def inner_product(ctx: Context) -> None:
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    bottom, top = ctx.bottom_shapes[0], ctx.top_shapes[0]
    axis = p.axis % len(bottom)
    flat = g.tmp(layer, "flat")
    g.node("Flatten", [g.value(layer.bottoms[0])], [flat], axis=axis)
    inputs = [flat, g.param(layer, "weight")]
    if p.bias_term:
        inputs.append(g.param(layer, "bias"))
    if axis == 1:
        g.node("Gemm", inputs, [g.write(layer.tops[0])], name=layer.name,
               transB=0 if p.transpose else 1)
        return
    out = g.tmp(layer, "gemm")
    g.node("Gemm", inputs, [out], transB=0 if p.transpose else 1)
    if ctx.options.get("sizes") is None:
        shape = g.const(layer, "shape", np.array(top, np.int64))
    else:  # the leading axes, as they come
        shape = g.tmp(layer, "shape_now")
        g.node("Concat", [_dims(ctx, g.value(layer.bottoms[0]), 0, axis, "lead"),
                          _int_vec(ctx, [p.num_output], "units")], [shape], axis=0)
    g.node("Reshape", [out, shape], [g.write(layer.tops[0])], name=layer.name)


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


@BACKEND.register("PReLU")
def prelu(ctx: Context) -> None:
    g, layer = _g(ctx), ctx.layer
    ndim = len(ctx.bottom_shapes[0])
    slope = np.asarray(layer.param("slope"), np.float32).reshape(-1)
    shape = (1,) if slope.size == 1 else _channels_view(slope.size, ndim)
    g.node("PRelu", [g.value(layer.bottoms[0]), g.param(layer, "slope", slope.reshape(shape))],
           [g.write(layer.tops[0])], name=layer.name)


# Element-wise -----------------------------------------------------------------------------

def _unary(ctx: Context, op: str, **attrs) -> None:
    g, layer = _g(ctx), ctx.layer
    g.node(op, [g.value(layer.bottoms[0])], [g.write(layer.tops[0])], name=layer.name, **attrs)


@BACKEND.register("ReLU")
def relu(ctx: Context) -> None:
    slope = ctx.layer.hparams.negative_slope
    if slope == 0:
        _unary(ctx, "Relu")
    else:
        _unary(ctx, "LeakyRelu", alpha=float(slope))


BACKEND.register("ELU")(lambda ctx: _unary(ctx, "Elu", alpha=float(ctx.layer.hparams.alpha)))
BACKEND.register("Sigmoid")(lambda ctx: _unary(ctx, "Sigmoid"))
BACKEND.register("TanH")(lambda ctx: _unary(ctx, "Tanh"))
BACKEND.register("AbsVal")(lambda ctx: _unary(ctx, "Abs"))
BACKEND.register("BNLL")(lambda ctx: _unary(ctx, "Softplus"))
@BACKEND.register("Dropout")
def dropout(ctx: Context) -> None:
    s = ctx.layer.impl.test_scale()  # py-faster-rcnn's scale_train: false
    if s is None:
        _unary(ctx, "Identity")
        return
    g, layer = _g(ctx), ctx.layer
    g.node("Mul", [g.value(layer.bottoms[0]), g.const(layer, "scale", np.array(s, np.float32))],
           [g.write(layer.tops[0])], name=layer.name)


@BACKEND.register("Threshold")
def threshold(ctx: Context) -> None:
    g, layer = _g(ctx), ctx.layer
    t = g.const(layer, "threshold", np.array(ctx.layer.hparams.threshold, np.float32))
    above = g.tmp(layer, "above")
    g.node("Greater", [g.value(layer.bottoms[0]), t], [above])
    g.node("Cast", [above], [g.write(layer.tops[0])], name=layer.name, to=1)


def _affine_chain(ctx: Context, x: str, scale: float, shift: float, tag: str) -> str:
    """x * scale + shift, each step skipped when it is the identity."""
    g, layer = _g(ctx), ctx.layer
    if scale != 1:
        y = g.tmp(layer, f"{tag}_scaled")
        g.node("Mul", [x, g.const(layer, f"{tag}_scale", np.array(scale, np.float32))], [y])
        x = y
    if shift != 0:
        y = g.tmp(layer, f"{tag}_shifted")
        g.node("Add", [x, g.const(layer, f"{tag}_shift", np.array(shift, np.float32))], [y])
        x = y
    return x


@BACKEND.register("Power")
def power(ctx: Context) -> None:
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    x = g.value(layer.bottoms[0])
    if p.power * p.scale == 0:  # Caffe: constant output
        value = 1.0 if p.power == 0 else float(np.power(np.float32(p.shift), np.float32(p.power)))
        zero = g.tmp(layer, "zero")
        g.node("Mul", [x, g.const(layer, "zeros", np.array(0, np.float32))], [zero])
        g.node("Add", [zero, g.const(layer, "value", np.array(value, np.float32))],
               [g.write(layer.tops[0])], name=layer.name)
        return
    y = _affine_chain(ctx, x, p.scale, p.shift, "in")
    if p.power != 1:
        g.node("Pow", [y, g.const(layer, "power", np.array(p.power, np.float32))],
               [g.write(layer.tops[0])], name=layer.name)
    else:
        g.node("Identity", [y], [g.write(layer.tops[0])], name=layer.name)


@BACKEND.register("Exp")
def exp(ctx: Context) -> None:
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    ln_base = 1.0 if p.base == -1 else float(np.log(np.float32(p.base)))
    y = _affine_chain(ctx, g.value(layer.bottoms[0]), p.scale, p.shift, "in")
    y = _affine_chain(ctx, y, ln_base, 0.0, "base")
    g.node("Exp", [y], [g.write(layer.tops[0])], name=layer.name)


@BACKEND.register("Log")
def log(ctx: Context) -> None:
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    y = _affine_chain(ctx, g.value(layer.bottoms[0]), p.scale, p.shift, "in")
    if p.base == -1:
        g.node("Log", [y], [g.write(layer.tops[0])], name=layer.name)
        return
    ln = g.tmp(layer, "ln")
    g.node("Log", [y], [ln])
    g.node("Mul", [ln, g.const(layer, "base", np.array(1 / np.log(np.float32(p.base)), np.float32))],
           [g.write(layer.tops[0])], name=layer.name)


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


@BACKEND.register("Softmax")
def softmax(ctx: Context) -> None:
    _unary(ctx, "Softmax", axis=ctx.layer.hparams.axis % len(ctx.bottom_shapes[0]))


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


# Spatial -------------------------------------------------------------------------------------

@BACKEND.register("Pooling")
def pooling(ctx: Context) -> None:
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    shape, top = ctx.bottom_shapes[0], ctx.top_shapes[0]
    if p.method == "STOCHASTIC":
        raise ctx.refuse("STOCHASTIC pooling has no ONNX expression", BACKEND.name)
    kernel = [shape[2], shape[3]] if p.kernel is None else list(p.kernel)
    stride, pad = list(p.stride), list(p.pad)
    op = "MaxPool" if p.method == "MAX" else "AveragePool"
    x = g.value(layer.bottoms[0])
    if _varies(ctx, layer.bottoms[0]):
        return _pooling_any_size(ctx, x, op)
    # onnxruntime's ceil mode drops a window starting in the right padding, padded or
    # not: Caffe's rule with its clip always on. ONNX's shape inference does not clip:
    # where the clip matters, the declared shapes would contradict the computed ones
    # (and the next Gemm or Reshape fails to load), so the padding is made explicit.
    native = all(pooled_size(shape[2 + i], kernel[i], stride[i], pad[i], padded=clip,
                             ceil=p.ceil) == top[2 + i]
                 for i in range(2) for clip in (True, False)) and all(
                     pad[i] < kernel[i] for i in range(2))
    attrs = {"kernel_shape": kernel, "strides": stride}
    if p.method == "AVE":
        attrs["count_include_pad"] = 1
    if len(layer.tops) > 1:  # MAX with the mask of max positions (SegNet)
        if not native:
            raise ctx.refuse("a MAX pooling mask with this window layout", BACKEND.name)
        flat_idx, plane_idx = g.tmp(layer, "indices"), g.tmp(layer, "plane_indices")
        g.node(op, [x], [g.write(layer.tops[0]), flat_idx], name=layer.name,
               ceil_mode=int(p.ceil), pads=[pad[0], pad[1], pad[0], pad[1]], **attrs)
        # MaxPool's indices count over the whole N x C x H x W input; Caffe's mask is
        # h * W + w within the plane.
        g.node("Mod", [flat_idx, g.const(layer, "plane", np.array(shape[2] * shape[3], np.int64))],
               [plane_idx])
        g.node("Cast", [plane_idx], [g.write(layer.tops[1])], name=f"{layer.name}.1", to=1)
        return
    if native:
        g.node(op, [x], [g.write(layer.tops[0])], name=layer.name, ceil_mode=int(p.ceil),
               pads=[pad[0], pad[1], pad[0], pad[1]], **attrs)
        return
    # Explicit padding to exactly the windows Caffe visits, then pool without padding.
    in_hw, out_hw = tuple(shape[2:]), tuple(top[2:])
    extra = trailing_padding(in_hw, kernel, stride, pad, out_hw)
    if min(extra) < 0:
        raise ctx.refuse("a pooling window layout ONNX cannot express", BACKEND.name)
    padded = g.tmp(layer, "padded")
    value = -3.4028234663852886e38 if p.method == "MAX" else 0.0
    g.node("Pad", [x, g.const(layer, "pads", np.array([0, 0, pad[0], pad[1], 0, 0, extra[0], extra[1]],
                                                       np.int64)),
                   g.const(layer, "pad_value", np.array(value, np.float32))], [padded])
    if p.method == "MAX":
        g.node(op, [padded], [g.write(layer.tops[0])], name=layer.name, **attrs)
        return
    summed = g.tmp(layer, "mean")
    g.node(op, [padded], [summed], **attrs)
    factor = np.float32(kernel[0] * kernel[1]) / ave_divisor(in_hw, kernel, stride, pad, out_hw)
    g.node("Mul", [summed, g.const(layer, "divisor", factor.astype(np.float32))],
           [g.write(layer.tops[0])], name=layer.name)


def _pooling_any_size(ctx: Context, x: str, op: str) -> None:
    """Pooling of a bottom whose size changes with the input: Caffe's output size at
    every size. Global pooling is Global*Pool; a layout whose ONNX ceil mode is
    Caffe's at every size (padded, or kernel >= stride, and pad < kernel) is the
    native op; any other is padded in the graph to exactly the windows Caffe visits,
    sizes computed from the input's shape by Caffe's integer rule."""
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    if len(layer.tops) > 1:  # the mask: MaxPool's indices modulo the plane, at run time
        kernel, stride, pad = list(p.kernel or ()), list(p.stride), list(p.pad)
        if p.kernel is None or not all((pad[0] or pad[1] or kernel[i] >= stride[i] or not p.ceil)
                                       and pad[i] < kernel[i] for i in range(2)):
            raise _fixed(ctx, "a MAX pooling mask with this window layout")
        flat_idx, plane_idx = g.tmp(layer, "indices"), g.tmp(layer, "plane_indices")
        g.node("MaxPool", [x], [g.write(layer.tops[0]), flat_idx], name=layer.name,
               ceil_mode=int(p.ceil), pads=[pad[0], pad[1], pad[0], pad[1]],
               kernel_shape=kernel, strides=stride)
        hw = _dims(ctx, x, 2, 4, "hw")
        plane = g.tmp(layer, "plane")
        g.node("ReduceProd", [hw], [plane], keepdims=1)
        g.node("Mod", [flat_idx, plane], [plane_idx])
        g.node("Cast", [plane_idx], [g.write(layer.tops[1])], name=f"{layer.name}.1", to=1)
        return
    top = g.write(layer.tops[0])
    if p.kernel is None:
        g.node("Global" + op, [x], [top], name=layer.name)
        return
    kernel, stride, pad = list(p.kernel), list(p.stride), list(p.pad)
    padded = bool(pad[0] or pad[1])
    attrs = {"kernel_shape": kernel, "strides": stride}
    if p.method == "AVE":
        attrs["count_include_pad"] = 1
    # ONNX's shape inference does not clip the last window: where the clip matters at
    # the planned size, a static size declared after it would contradict it.
    shape = ctx.bottom_shapes[0]
    clip_free = all(pooled_size(shape[2 + i], kernel[i], stride[i], pad[i], padded=True,
                                ceil=p.ceil)
                    == pooled_size(shape[2 + i], kernel[i], stride[i], pad[i], padded=False,
                                   ceil=p.ceil) for i in range(2))
    if clip_free and all((padded or kernel[i] >= stride[i] or not p.ceil) and pad[i] < kernel[i]
                         for i in range(2)):
        g.node(op, [x], [top], name=layer.name, ceil_mode=int(p.ceil),
               pads=[pad[0], pad[1], pad[0], pad[1]], **attrs)
        return
    # In-graph: out = ceil((H + 2p - k) / s) + 1, clipped to ceil((H + p) / s) when
    # padded (the last window starts inside the padded input); floor mode without
    # the clip. The trailing pad (out - 1) * s + k - (H + p) may be negative (crop).
    hw = _dims(ctx, x, 2, 4, "hw")
    k, st, pd = (_int_vec(ctx, v, n) for v, n in ((kernel, "k"), (stride, "s"), (pad, "p")))
    span = _int_op(ctx, "Sub", _int_op(ctx, "Add", hw, _int_vec(ctx, [2 * q for q in pad], "2p"),
                                       "hw2p"), k, "span")
    if p.ceil:
        span = _int_op(ctx, "Add", span, _int_op(ctx, "Sub", st, 1, "s1"), "span_up")
    out = _int_op(ctx, "Add", _int_op(ctx, "Div", span, st, "steps"), 1, "out")
    if p.ceil and padded:
        last = _int_op(ctx, "Div", _int_op(ctx, "Add", _int_op(ctx, "Add", hw, pd, "hwp"),
                                           _int_op(ctx, "Sub", st, 1, "s1b"), "hwp_up"),
                       st, "last")
        out = _int_op(ctx, "Min", out, last, "out_clipped")
    extra = _int_op(ctx, "Sub", _int_op(ctx, "Add", _int_op(ctx, "Mul", _int_op(
        ctx, "Sub", out, 1, "out1"), st, "reach"), k, "end"), _int_op(ctx, "Add", hw, pd, "hwp2"),
        "extra")
    pads = g.tmp(layer, "pads")
    g.node("Concat", [_int_vec(ctx, [0, 0, pad[0], pad[1], 0, 0], "lead"), extra], [pads], axis=0)
    value = -3.4028234663852886e38 if p.method == "MAX" else 0.0
    padded_x = g.tmp(layer, "padded")
    g.node("Pad", [x, pads, g.const(layer, "pad_value", np.array(value, np.float32))], [padded_x])
    if p.method == "MAX":
        g.node(op, [padded_x], [top], name=layer.name, **attrs)
        return
    # Caffe's divisor: the window's cells inside [-pad, H + pad), i.e. the average of
    # a map of ones over the padded input, zeros over the overhang.
    ones_shape = g.tmp(layer, "ones_shape")
    g.node("Concat", [_int_vec(ctx, [1, 1], "one_one"),
                      _int_op(ctx, "Add", hw, _int_vec(ctx, [2 * q for q in pad], "2p_b"), "hw2p_b")],
           [ones_shape], axis=0)
    ones, ones_padded, share, mean = (g.tmp(layer, t) for t in ("ones", "ones_padded", "share", "mean"))
    from onnx import numpy_helper

    g.node("ConstantOfShape", [ones_shape], [ones], value=numpy_helper.from_array(np.ones(1, np.float32)))
    tail = g.tmp(layer, "tail_pads")
    # Ones over [-pad, H + pad), zeros (or a crop) up to where the windows end.
    g.node("Concat", [_int_vec(ctx, [0, 0, 0, 0, 0, 0], "zeros6"),
                      _int_op(ctx, "Sub", extra, pd, "past_pad")], [tail], axis=0)
    g.node("Pad", [ones, tail, g.const(layer, "zero", np.array(0, np.float32))], [ones_padded])
    g.node("AveragePool", [ones_padded], [share], kernel_shape=kernel, strides=stride)
    g.node("AveragePool", [padded_x], [mean], kernel_shape=kernel, strides=stride)
    g.node("Div", [mean, share], [top], name=layer.name)


@BACKEND.register("Interp")
def interp(ctx: Context) -> None:
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    x = g.value(layer.bottoms[0])
    if p.pad_beg > 0 or p.pad_end > 0:
        raise ctx.refuse("Interp with positive pad_beg/pad_end (zero padding) is not expressed",
                         BACKEND.name)
    if p.pad_beg or p.pad_end:
        h, w = ctx.bottom_shapes[0][2:]
        # pad_end < 0 counts from the end (any size); 0 keeps the whole axis.
        ends = ([p.pad_end] * 2 if p.pad_end else [np.iinfo(np.int64).max] * 2) \
            if _varies(ctx, layer.bottoms[0]) else [h + p.pad_end, w + p.pad_end]
        cropped = g.tmp(layer, "cropped")
        g.node("Slice", [x, g.const(layer, "starts", np.array([-p.pad_beg] * 2, np.int64)),
                         g.const(layer, "ends", np.array(ends, np.int64)),
                         g.const(layer, "axes", np.array([2, 3], np.int64))], [cropped])
        x = cropped
    ho, wo = ctx.top_shapes[0][2:]
    if p.rule != "size" and _varies(ctx, layer.bottoms[0]):
        # Caffe's rule on the (cropped) input's size, in the graph.
        sizes = _dims(ctx, x, 2, 4, "hw")
        if p.rule in ("shrink", "shrink_zoom"):
            sizes = _int_op(ctx, "Add", _int_op(ctx, "Div", _int_op(ctx, "Sub", sizes, 1, "hw1"),
                                                p.shrink_factor, "shrunk"), 1, "shrink")
        if p.rule in ("zoom", "shrink_zoom"):
            sizes = _int_op(ctx, "Add", sizes, _int_op(ctx, "Mul", _int_op(
                ctx, "Sub", sizes, 1, "hw1z"), p.zoom_factor - 1, "grown"), "zoom")
    else:
        sizes = g.const(layer, "sizes", np.array([ho, wo], np.int64))
    g.node("Resize", [x, "", "", sizes],
           [g.write(layer.tops[0])], name=layer.name, mode="linear", axes=[2, 3],
           coordinate_transformation_mode="align_corners")


# Other forks' layers ---------------------------------------------------------------------



@BACKEND.register("ReLU6")
def relu6(ctx: Context) -> None:
    g, layer = _g(ctx), ctx.layer
    g.node("Clip", [g.value(layer.bottoms[0]), g.const(layer, "min", np.array(0, np.float32)),
                    g.const(layer, "max", np.array(6, np.float32))],
           [g.write(layer.tops[0])], name=layer.name)


@BACKEND.register("Axpy")
def axpy(ctx: Context) -> None:
    g, layer = _g(ctx), ctx.layer
    a, x, y = (g.value(b) for b in layer.bottoms)
    ndim = len(ctx.bottom_shapes[1])
    a4, ax = g.tmp(layer, "a"), g.tmp(layer, "ax")
    g.node("Reshape", [a, g.const(layer, "a_shape", np.array([0, 0] + [1] * (ndim - 2), np.int64))], [a4])
    g.node("Mul", [a4, x], [ax])
    g.node("Add", [ax, y], [g.write(layer.tops[0])], name=layer.name)


@BACKEND.register("ShuffleChannel")
def shuffle_channel(ctx: Context) -> None:
    g, layer = _g(ctx), ctx.layer
    shape = ctx.bottom_shapes[0]
    grp = layer.hparams.group
    split, moved = g.tmp(layer, "split"), g.tmp(layer, "moved")
    g.node("Reshape", [g.value(layer.bottoms[0]), g.const(layer, "split_shape", np.array(
        [0, grp, shape[1] // grp, -1], np.int64))], [split])
    g.node("Transpose", [split], [moved], perm=[0, 2, 1, 3])
    if _varies(ctx, layer.bottoms[0]):
        final = _dims(ctx, g.value(layer.bottoms[0]), 0, len(shape), "shape_now")
    else:
        final = g.const(layer, "shape", np.array([0] + list(shape[1:]), np.int64))
    g.node("Reshape", [moved, final], [g.write(layer.tops[0])], name=layer.name)


@BACKEND.register("Permute")
def permute(ctx: Context) -> None:
    _unary(ctx, "Transpose", perm=list(ctx.layer.impl.axes(len(ctx.bottom_shapes[0]))))


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


@BACKEND.register("Upsample")
def upsample(ctx: Context) -> None:
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    n, c, ho, wo = ctx.top_shapes[0]
    if p.dialect == "nearest":  # an integer factor: nearest is exact
        if _varies(ctx, layer.bottoms[0]):
            sizes = _int_op(ctx, "Mul", _dims(ctx, g.value(layer.bottoms[0]), 2, 4, "hw"),
                            _int_vec(ctx, [p.scale_h, p.scale_w], "scale"), "hw_up")
        else:
            sizes = g.const(layer, "sizes", np.array([ho, wo], np.int64))
        g.node("Resize", [g.value(layer.bottoms[0]), "", "", sizes],
               [g.write(layer.tops[0])], name=layer.name, mode="nearest", axes=[2, 3],
               coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        return
    x, mask = (g.value(b) for b in layer.bottoms)
    dynamic = _varies(ctx, layer.bottoms[0]) and not p.upsample_h
    flat_x, flat_i, idx, dims, shape, zeros, scattered = (
        g.tmp(layer, t) for t in ("flat_x", "flat_mask", "index", "dims", "shape", "zeros", "top"))
    g.node("Reshape", [x, g.const(layer, "flat", np.array([0, 0, -1], np.int64))], [flat_x])
    g.node("Reshape", [mask, g.const(layer, "flat", np.array([0, 0, -1], np.int64))], [flat_i])
    g.node("Cast", [flat_i], [idx], to=7)
    g.node("Shape", [x], [dims], start=0, end=2)
    if dynamic:  # the top's size by Caffe's rule: H * scale - pad_out, at run time
        top_hw = _int_op(ctx, "Sub", _int_op(ctx, "Mul", _dims(ctx, x, 2, 4, "hw"),
                                             _int_vec(ctx, [p.scale_h, p.scale_w], "scale"), "hw_up"),
                         _int_vec(ctx, [int(p.pad_out_h), int(p.pad_out_w)], "pad_out"), "top_hw")
        plane = g.tmp(layer, "plane_now")
        g.node("ReduceProd", [top_hw], [plane], keepdims=1)
        top_shape = g.tmp(layer, "top_shape_now")
        g.node("Concat", [_int_vec(ctx, [0, 0], "keep"), top_hw], [top_shape], axis=0)
    else:
        plane = g.const(layer, "plane", np.array([ho * wo], np.int64))
        top_shape = g.const(layer, "top_shape", np.array([0, 0, ho, wo], np.int64))
    g.node("Concat", [dims, plane], [shape], axis=0)
    g.node("ConstantOfShape", [shape], [zeros],
           value=helper_tensor(np.zeros(1, np.float32)))
    g.node("ScatterElements", [zeros, idx, flat_x], [scattered], axis=2)
    g.node("Reshape", [scattered, top_shape], [g.write(layer.tops[0])], name=layer.name)


def helper_tensor(array: np.ndarray):
    from onnx import numpy_helper

    return numpy_helper.from_array(array)


@BACKEND.register("PriorBox")
def prior_box(ctx: Context) -> None:
    """The boxes depend on the shapes alone: an initializer."""
    g, layer = _g(ctx), ctx.layer
    feat, img = ctx.bottom_shapes
    if any(_varies(ctx, b) for b in layer.bottoms):
        raise _fixed(ctx, "its boxes are computed for one size")
    boxes = layer.impl.boxes(tuple(feat[2:]), tuple(img[2:]))
    g.node("Identity", [g.const(layer, "boxes", boxes)], [g.write(layer.tops[0])], name=layer.name)


@BACKEND.register("ROIPooling")
def roi_pooling(ctx: Context) -> None:
    """ONNX's MaxRoiPool computes Caffe's bins (round, floor, ceil, clipped)."""
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    rois = g.tmp(layer, "rois")
    g.node("Reshape", [g.value(layer.bottoms[1]), g.const(layer, "roi_shape", np.array([-1, 5], np.int64))],
           [rois])
    g.node("MaxRoiPool", [g.value(layer.bottoms[0]), rois], [g.write(layer.tops[0])],
           name=layer.name, pooled_shape=[p.pooled_h, p.pooled_w], spatial_scale=float(p.spatial_scale))


# Data movement ------------------------------------------------------------------------------

@BACKEND.register("Eltwise")
def eltwise(ctx: Context) -> None:
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    xs = [g.value(b) for b in layer.bottoms]
    if p.operation == "MAX":
        g.node("Max", xs, [g.write(layer.tops[0])], name=layer.name)
        return
    if p.operation == "PROD":
        _chain(ctx, "Mul", xs)
        return
    coeffs = p.coeffs or (1.0,) * len(xs)
    terms = []
    for i, (c, x) in enumerate(zip(coeffs, xs)):
        if c != 1:
            t = g.tmp(layer, f"term{i}")
            g.node("Mul", [x, g.const(layer, f"coeff{i}", np.array(c, np.float32))], [t])
            x = t
        terms.append(x)
    g.node("Sum", terms, [g.write(layer.tops[0])], name=layer.name)


def _chain(ctx: Context, op: str, xs: list[str]) -> None:
    """Binary ``op`` folded left over xs (Caffe multiplies in bottom order)."""
    g, layer = _g(ctx), ctx.layer
    y = xs[0]
    for i, x in enumerate(xs[1:], 1):
        out = g.write(layer.tops[0]) if i == len(xs) - 1 else g.tmp(layer, f"prod{i}")
        g.node(op, [y, x], [out], name=layer.name if i == len(xs) - 1 else None)
        y = out


@BACKEND.register("Concat")
def concat(ctx: Context) -> None:
    g, layer = _g(ctx), ctx.layer
    axis = layer.hparams.axis % len(ctx.bottom_shapes[0])
    g.node("Concat", [g.value(b) for b in layer.bottoms], [g.write(layer.tops[0])],
           name=layer.name, axis=axis)


@BACKEND.register("Slice")
def slice_(ctx: Context) -> None:
    g, layer = _g(ctx), ctx.layer
    axis = layer.hparams.axis % len(ctx.bottom_shapes[0])
    if _varies(ctx, layer.bottoms[0], (axis,)):
        raise _fixed(ctx, f"it slices axis {axis}, whose size follows the input")
    sizes = np.array([t[axis] for t in ctx.top_shapes], np.int64)
    g.node("Split", [g.value(layer.bottoms[0]), g.const(layer, "split", sizes)],
           [g.write(t) for t in layer.tops], name=layer.name, axis=axis)


@BACKEND.register("Split")
def split(ctx: Context) -> None:
    g, layer = _g(ctx), ctx.layer
    x = g.value(layer.bottoms[0])
    for i, top in enumerate(layer.tops):
        g.node("Identity", [x], [g.write(top)], name=layer.name if i == 0 else f"{layer.name}.{i}")


@BACKEND.register("Crop")
def crop(ctx: Context) -> None:
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    shape, ref = ctx.bottom_shapes
    start = p.axis % len(shape)
    axes = list(range(start, len(shape)))
    offs = [p.offset[0] if len(p.offset) == 1 else (p.offset[i - start] if p.offset else 0)
            for i in axes]
    if not _varies(ctx, layer.bottoms[1], axes):
        ends = g.const(layer, "ends", np.array([o + ref[i] for o, i in zip(offs, axes)], np.int64))
    else:  # the reference's size, at run time
        ends = _int_op(ctx, "Add", _dims(ctx, g.value(layer.bottoms[1]), start, len(shape), "ref"),
                       _int_vec(ctx, offs, "offsets"), "ends_now")
    g.node("Slice", [g.value(layer.bottoms[0]),
                     g.const(layer, "starts", np.array(offs, np.int64)),
                     ends,
                     g.const(layer, "axes", np.array(axes, np.int64))],
           [g.write(layer.tops[0])], name=layer.name)


@BACKEND.register("Flatten", "Reshape")
def reshape(ctx: Context) -> None:
    """Reshape to the planned shape; the batch axis is copied (0) when it is kept, so
    the model takes any batch size."""
    g, layer = _g(ctx), ctx.layer
    bottom, top = ctx.bottom_shapes[0], list(ctx.top_shapes[0])
    if top and top[0] == bottom[0]:
        top[0] = 0
    sizes = ctx.options.get("sizes")
    changing = sorted(a for a in (sizes.varies.get(layer.tops[0], set()) if sizes else ()) if a)
    if changing:  # sizes that follow the input: copied (0) where kept, else one -1
        left = [a for a in changing if not (a < len(bottom) and bottom[a] == top[a]
                                            and a in sizes.varies.get(layer.bottoms[0], ()))]
        for a in changing:
            if a not in left:
                top[a] = 0
        if len(left) > 1:
            raise _fixed(ctx, f"{len(left)} of its top's sizes follow the input")
        for a in left:
            top[a] = -1
    g.node("Reshape", [g.value(layer.bottoms[0]), g.const(layer, "shape", np.array(top, np.int64))],
           [g.write(layer.tops[0])], name=layer.name)


@BACKEND.register("ArgMax")
def argmax(ctx: Context) -> None:
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    x = g.value(layer.bottoms[0])
    k = g.const(layer, "k", np.array([p.top_k], np.int64))
    values, idx, fidx = g.tmp(layer, "values"), g.tmp(layer, "idx"), g.tmp(layer, "fidx")
    top = ctx.top_shapes[0]
    if p.axis is None:
        flat = g.tmp(layer, "flat")
        g.node("Flatten", [x], [flat], axis=1)
        g.node("TopK", [flat, k], [values, idx], axis=1)
        g.node("Cast", [idx], [fidx], to=1)
        both = fidx
        if p.out_max_val:
            both = g.tmp(layer, "both")
            g.node("Concat", [fidx, values], [both], axis=1)
        shape = [0] + list(top[1:])
        g.node("Reshape", [both, g.const(layer, "shape", np.array(shape, np.int64))],
               [g.write(layer.tops[0])], name=layer.name)
        return
    axis = p.axis % len(ctx.bottom_shapes[0])
    g.node("TopK", [x, k], [values, idx], axis=axis)
    if p.out_max_val:
        g.node("Identity", [values], [g.write(layer.tops[0])], name=layer.name)
    else:
        g.node("Cast", [idx], [g.write(layer.tops[0])], name=layer.name, to=1)


# Handlers grouped by family, in their own modules.
from . import activations, detection, tensors, python_layers  # noqa: E402,F401

# Expressions that plugins declared for this backend (convertkit.plugins).
from .. import apply_pending  # noqa: E402

apply_pending("onnx", BACKEND)
