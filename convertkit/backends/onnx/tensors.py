"""ONNX's expression of Caffe's data movement and blob arithmetic: Input, Split, Concat,
Slice, Crop, Reshape, Flatten, Permute, ShuffleChannel, Tile, Eltwise, Axpy, Softmax,
ArgMax, Reduction and Embed."""
from __future__ import annotations

import numpy as np

from ..base import Context
from .core import BACKEND, _dims, _fixed, _g, _int_op, _int_vec, _unary, _varies


@BACKEND.register("Input")
def input_(ctx: Context) -> None:
    return None


@BACKEND.register("Split")
def split(ctx: Context) -> None:
    g, layer = _g(ctx), ctx.layer
    x = g.value(layer.bottoms[0])
    for i, top in enumerate(layer.tops):
        g.node("Identity", [x], [g.write(top)], name=layer.name if i == 0 else f"{layer.name}.{i}")


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


@BACKEND.register("Permute")
def permute(ctx: Context) -> None:
    _unary(ctx, "Transpose", perm=list(ctx.layer.impl.axes(len(ctx.bottom_shapes[0]))))


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


@BACKEND.register("Tile")
def tile(ctx: Context) -> None:
    """ONNX's Tile along the axis copies the whole block from the axis on, as Caffe's."""
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    nd = len(ctx.bottom_shapes[0])
    reps = [1] * nd
    reps[p.axis % nd] = p.tiles
    g.node("Tile", [g.value(layer.bottoms[0]), _int_vec(ctx, reps, "repeats")],
           [g.write(layer.tops[0])], name=layer.name)


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


@BACKEND.register("Axpy")
def axpy(ctx: Context) -> None:
    g, layer = _g(ctx), ctx.layer
    a, x, y = (g.value(b) for b in layer.bottoms)
    ndim = len(ctx.bottom_shapes[1])
    a4, ax = g.tmp(layer, "a"), g.tmp(layer, "ax")
    g.node("Reshape", [a, g.const(layer, "a_shape", np.array([0, 0] + [1] * (ndim - 2), np.int64))], [a4])
    g.node("Mul", [a4, x], [ax])
    g.node("Add", [ax, y], [g.write(layer.tops[0])], name=layer.name)


@BACKEND.register("Softmax")
def softmax(ctx: Context) -> None:
    _unary(ctx, "Softmax", axis=ctx.layer.hparams.axis % len(ctx.bottom_shapes[0]))


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


@BACKEND.register("Reduction")
def reduction(ctx: Context) -> None:
    """Flatten from the axis, reduce the rows, and take the leading axes' shape."""
    g, layer = _g(ctx), ctx.layer
    impl = layer.impl
    p = impl.p
    bottom = ctx.bottom_shapes[0]
    axis = p.axis % len(bottom)
    x = g.value(layer.bottoms[0])
    rows = g.tmp(layer, "rows")
    g.node("Flatten", [x], [rows], axis=axis)
    if p.operation == "ASUM":
        absolute = g.tmp(layer, "abs")
        g.node("Abs", [rows], [absolute])
        rows = absolute
    elif p.operation == "SUMSQ":
        square = g.tmp(layer, "square")
        g.node("Mul", [rows, rows], [square])
        rows = square
    total = g.tmp(layer, "sum")
    g.node("ReduceSum", [rows, _int_vec(ctx, [1], "axes")], [total], keepdims=0)
    if p.operation == "MEAN" and ctx.options.get("sizes") is not None and axis < len(bottom):
        # The count follows the input: coeff / count, from the shape at run time.
        count = g.tmp(layer, "count")
        g.node("ReduceProd", [_dims(ctx, x, axis, len(bottom), "reduced")], [count], keepdims=0)
        count_f, factor = g.tmp(layer, "count_f"), g.tmp(layer, "factor")
        g.node("Cast", [count], [count_f], to=1)
        g.node("Div", [g.const(layer, "coeff", np.array(p.coeff, np.float32)), count_f], [factor])
    else:
        factor = g.const(layer, "coeff", np.array(impl.coeff(int(np.prod(bottom[axis:]))),
                                                   np.float32))
    scaled = g.tmp(layer, "scaled")
    g.node("Mul", [total, factor], [scaled])
    if axis == 0:
        shape = _int_vec(ctx, [], "shape")
    elif ctx.options.get("sizes") is None:
        shape = _int_vec(ctx, list(bottom[:axis]), "shape")
    else:
        shape = _dims(ctx, x, 0, axis, "lead")
    g.node("Reshape", [scaled, shape], [g.write(layer.tops[0])], name=layer.name)


@BACKEND.register("Embed")
def embed(ctx: Context) -> None:
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    index = g.tmp(layer, "index")
    g.node("Cast", [g.value(layer.bottoms[0])], [index], to=7)  # int64, truncated as Caffe's
    if not p.bias_term:
        g.node("Gather", [g.param(layer, "weight"), index], [g.write(layer.tops[0])],
               name=layer.name, axis=0)
        return
    rows = g.tmp(layer, "rows")
    g.node("Gather", [g.param(layer, "weight"), index], [rows], axis=0)
    g.node("Add", [rows, g.param(layer, "bias")], [g.write(layer.tops[0])], name=layer.name)
