"""Upsample: one Caffe type name, two forks' layers, told apart by their bottoms.

* ``unpool`` (SegNet/ENet, alexgkendall/caffe-segnet ``upsample_layer.cpp``): two
  bottoms, the values and the mask of max positions from a MAX Pooling's second top.
  The top, ``upsample_h x upsample_w`` (else ``H*scale - pad_out``), is zero except
  where the mask points: ``top[n, c].flat[mask[n, c, i]] = x[n, c, i]``, in order,
  so the last of two writes to one cell wins, as in the fork's loop.
* ``nearest`` (the YOLOv3 Caffe forks): one bottom, each pixel repeated ``scale``
  times along H and W.

MACs: 0 (data movement).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import PrototxtError
from ._elementwise import f32
from .base import LayerImpl, Shape, fmt_shape, register


@dataclass(frozen=True)
class UpsampleParams:
    dialect: str
    scale_h: int
    scale_w: int
    #: Explicit output size (unpool), or 0 to use scale and pad_out.
    upsample_h: int
    upsample_w: int
    pad_out_h: bool
    pad_out_w: bool


@register("Upsample")
class Upsample(LayerImpl):
    num_bottoms = (1, 2)

    def read_params(self, proto: Any) -> UpsampleParams:
        up = proto.upsample_param
        has = up.HasField

        def bad(msg: str) -> PrototxtError:
            return PrototxtError(msg, layer=self.name)

        dialect = "unpool" if len(proto.bottom) == 2 else "nearest"
        if has("upsample_h") != has("upsample_w"):
            raise bad("upsample_h and upsample_w go together")
        if has("scale_h") != has("scale_w"):
            raise bad("scale_h and scale_w go together")
        if has("scale_h") and has("scale"):
            raise bad("give scale or scale_h and scale_w, not both")
        sh, sw = (int(up.scale_h), int(up.scale_w)) if has("scale_h") else (int(up.scale),) * 2
        if not has("upsample_h") and (sh < 1 or sw < 1 or (dialect == "unpool" and min(sh, sw) < 2)):
            raise bad(f"scale {sh}x{sw} must be at least {2 if dialect == 'unpool' else 1}")
        if (up.pad_out_h and sh != 2) or (up.pad_out_w and sw != 2):
            raise bad("pad_out_h/pad_out_w need a scale of 2")
        if dialect == "nearest" and has("upsample_h"):
            raise bad("upsample_h/upsample_w are for SegNet's two-bottom (unpooling) Upsample")
        return UpsampleParams(dialect, sh, sw, int(up.upsample_h), int(up.upsample_w),
                              bool(up.pad_out_h), bool(up.pad_out_w))

    @property
    def dialect(self) -> str:
        return self.p.dialect

    def channel_map(self) -> str | None:
        return "linear" if self.p.dialect == "nearest" else None

    def fixed_output(self, bottom_shapes: Sequence[Shape]) -> str | None:
        if self.p.dialect == "unpool" and self.p.upsample_h:
            return f"Upsample to an explicit {self.p.upsample_h}x{self.p.upsample_w}"
        return None

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        x = tuple(bottom_shapes[0])
        if len(x) != 4:
            raise self.fail(f"Upsample needs a 4-axis NxCxHxW bottom, got {fmt_shape(x)}")
        n, c, h, w = x
        p = self.p
        if p.dialect == "nearest":
            return [(n, c, h * p.scale_h, w * p.scale_w)]
        if tuple(bottom_shapes[1]) != x:
            raise self.fail(f"the mask {fmt_shape(bottom_shapes[1])} must have the values' shape "
                            f"{fmt_shape(x)}")
        if p.upsample_h:
            return [(n, c, p.upsample_h, p.upsample_w)]
        return [(n, c, h * p.scale_h - int(p.pad_out_h), w * p.scale_w - int(p.pad_out_w))]

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = f32(bottoms[0])
        ((n, c, ho, wo),) = self.reshape([b.shape for b in bottoms])
        if self.p.dialect == "nearest":
            return [np.repeat(np.repeat(x, self.p.scale_h, axis=2), self.p.scale_w, axis=3)]
        idx = np.asarray(bottoms[1]).astype(np.int64).reshape(n, c, -1)
        if idx.size and (idx.min() < 0 or idx.max() >= ho * wo):
            raise self.fail(f"mask index {int(idx.max() if idx.max() >= ho * wo else idx.min())} "
                            f"is outside the {ho}x{wo} top: the pooling that made it does not "
                            "match this Upsample's scale")
        top = np.zeros((n, c, ho * wo), np.float32)
        np.put_along_axis(top, idx, x.reshape(n, c, -1), axis=2)
        return [top.reshape(n, c, ho, wo)]
