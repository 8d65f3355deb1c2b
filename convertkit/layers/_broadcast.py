"""Shape rules Scale and Bias share: an operand (learned blob or second bottom)
whose shape matches ``bottom[0].shape[axis : axis + operand.ndim]``, broadcast over
the axes before and after it (``scale_layer.cpp`` / ``bias_layer.cpp``).
"""
from __future__ import annotations

import numpy as np

from .base import LayerImpl, Shape, canonical_axis, count, fmt_shape


def learned_shape(impl: LayerImpl, bottom: Shape, axis: int, num_axes: int, what: str) -> Shape:
    """Shape of the learned operand of a one-bottom Scale/Bias (LayerSetUp).

    ``num_axes == -1`` takes every axis from ``axis`` to the end; 0 makes a scalar.
    """
    start = canonical_axis(axis, len(bottom), impl)
    if num_axes < -1:
        raise impl.fail(f"{what} num_axes must be >= -1 (-1 means all remaining axes), got {num_axes}")
    if num_axes == -1:
        return tuple(bottom[start:])
    if len(bottom) < start + num_axes:
        raise impl.fail(
            f"{what} axis {axis} + num_axes {num_axes} exceeds the {len(bottom)} axes "
            f"of bottom {fmt_shape(bottom)}"
        )
    return tuple(bottom[start:start + num_axes])


def operand_axis(impl: LayerImpl, bottom: Shape, operand: Shape, axis: int, what: str) -> int:
    """Where ``operand`` lines up in ``bottom`` (Reshape); fails naming both shapes.

    A scalar operand (0 axes) always sits at axis 0, whatever ``axis`` says.
    """
    if len(operand) == 0:
        return 0
    start = canonical_axis(axis, len(bottom), impl)
    if len(bottom) < start + len(operand) or tuple(bottom[start:start + len(operand)]) != tuple(operand):
        raise impl.fail(
            f"{what} shape {fmt_shape(operand)} does not match bottom {fmt_shape(bottom)} "
            f"from axis {start} (needs {fmt_shape(bottom[start:start + len(operand)]) or 'nothing'})"
        )
    return start


def as_broadcast(x: np.ndarray, operand: np.ndarray, start: int, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    """x as (outer, operand_count, inner) and the operand as (1, operand_count, 1)."""
    outer = count(x.shape, 0, start)
    dim = count(x.shape, start, start + ndim)
    return x.reshape(outer, dim, -1), np.asarray(operand).reshape(1, dim, 1)
