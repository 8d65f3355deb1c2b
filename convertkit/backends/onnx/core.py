"""What ONNX's family modules share: the backend and the graph-builder helpers
(the graph in ``ctx.options``, sizes read from a value's shape at run time, int64
arithmetic, one-node layers)."""
from __future__ import annotations

import numpy as np

from ..base import Backend, Context, FixedSize, varies


BACKEND = Backend("onnx")


def _g(ctx: Context):
    return ctx.options["graph"]


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


def _unary(ctx: Context, op: str, **attrs) -> None:
    g, layer = _g(ctx), ctx.layer
    g.node(op, [g.value(layer.bottoms[0])], [g.write(layer.tops[0])], name=layer.name, **attrs)
