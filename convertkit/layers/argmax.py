"""ArgMax: indices (and optionally values) of the ``top_k`` largest entries.

Caffe's two modes (``argmax_layer.cpp``):
* no ``axis``: per image over all of C*H*W; the top has max(num_axes, 3) axes, all 1
  except (N, 1, top_k), or (N, 2, top_k) with ``out_max_val``: indices then values;
* with ``axis``: along that axis, top shape = bottom shape with shape[axis] = top_k;
  ``out_max_val`` then gives the values *instead of* the indices.
Indices are written as floats. Ties go to the larger index (std::partial_sort with
std::greater on (value, index) pairs).
MACs: 1 per bottom element (one comparison each).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._elementwise import F32, f32
from .base import LayerImpl, Shape, canonical_axis, count, fmt_shape, gather_indices, register


@dataclass(frozen=True)
class ArgMaxParams:
    out_max_val: bool = False
    top_k: int = 1
    #: None where the prototxt does not set axis (a presence test in Caffe).
    axis: int | None = None


@register("ArgMax")
class ArgMax(LayerImpl):
    def read_params(self, proto) -> ArgMaxParams:
        ap = proto.argmax_param
        return ArgMaxParams(
            out_max_val=bool(ap.out_max_val), top_k=int(ap.top_k),
            axis=int(ap.axis) if ap.HasField("axis") else None,
        )

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        bottom, p = tuple(bottom_shapes[0]), self.p
        if p.top_k < 1:
            raise self.fail(f"ArgMax top_k must be at least 1, got {p.top_k}")
        if p.axis is not None:
            axis = canonical_axis(p.axis, len(bottom), self)
            if p.top_k > bottom[axis]:
                raise self.fail(
                    f"ArgMax top_k {p.top_k} exceeds axis {axis} of bottom {fmt_shape(bottom)}"
                )
            top = list(bottom)
            top[axis] = p.top_k
            return [tuple(top)]
        if p.top_k > count(bottom, 1):
            raise self.fail(
                f"ArgMax top_k {p.top_k} exceeds the {count(bottom, 1)} values per image "
                f"of bottom {fmt_shape(bottom)}"
            )
        top = [1] * max(len(bottom), 3)
        top[0], top[1], top[2] = bottom[0], 2 if p.out_max_val else 1, p.top_k
        return [tuple(top)]

    def macs(self, bottom_shapes: Sequence[Shape], top_shapes: Sequence[Shape]) -> int:
        return count(bottom_shapes[0])

    @staticmethod
    def _top_k(v: np.ndarray, k: int) -> np.ndarray:
        """Indices of the k largest along the last axis; ties: larger index first."""
        dim = v.shape[-1]
        rev = v[..., ::-1]  # reversed, so the first hit is the largest original index
        if k == 1:
            pos = np.argmax(rev, axis=-1)[..., None]
        else:
            pos = np.argsort(-rev, axis=-1, kind="stable")[..., :k]
        return (dim - 1) - pos

    def output_hint(self, k: int = 0) -> str | None:
        # Indices alone; with out_max_val the top mixes indices and values.
        return None if self.p.out_max_val else "indices"

    def indexed_values(self, bottoms: Sequence[np.ndarray], top: np.ndarray, k: int) -> np.ndarray:
        x = f32(bottoms[0])
        if self.p.axis is not None:
            axis = canonical_axis(self.p.axis, x.ndim, self)
            got = gather_indices(np.moveaxis(x, axis, -1), np.moveaxis(np.asarray(top), axis, -1))
            return np.ascontiguousarray(np.moveaxis(got, -1, axis))
        flat = np.asarray(top).reshape(x.shape[0], -1)
        return gather_indices(x.reshape(x.shape[0], -1), flat).reshape(np.shape(top))

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = f32(bottoms[0])
        p = self.p
        top_shape = self.reshape([tuple(x.shape)])[0]
        if p.axis is not None:
            axis = canonical_axis(p.axis, x.ndim, self)
            v = np.moveaxis(x, axis, -1)
            idx = self._top_k(v, p.top_k)
            out = np.take_along_axis(v, idx, axis=-1) if p.out_max_val else idx.astype(F32)
            return [np.ascontiguousarray(np.moveaxis(out, -1, axis))]
        v = x.reshape(x.shape[0], -1)
        idx = self._top_k(v, p.top_k)
        if p.out_max_val:
            out = np.stack([idx.astype(F32), np.take_along_axis(v, idx, axis=-1)], axis=1)
        else:
            out = idx.astype(F32)[:, None, :]
        return [out.reshape(top_shape)]
