"""ONNX's expression of BVLC's Tile, Reduction and Embed."""
from __future__ import annotations

import numpy as np

from ..base import Context
from . import BACKEND, _dims, _g, _int_vec


@BACKEND.register("Tile")
def tile(ctx: Context) -> None:
    """ONNX's Tile along the axis copies the whole block from the axis on, as Caffe's."""
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    nd = len(ctx.bottom_shapes[0])
    reps = [1] * nd
    reps[p.axis % nd] = p.tiles
    g.node("Tile", [g.value(layer.bottoms[0]), _int_vec(ctx, reps, "repeats")],
           [g.write(layer.tops[0])], name=layer.name)


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
