"""``Interp``: the PSPNet/DeepLab-v2 fork's bilinear resize (align_corners=True).

Output size (``interp_layer.cpp`` Reshape). The branch is chosen by which fields are
*present* in the prototxt (``has_*``), never by their values, in this order::

    H_eff = H + pad_beg + pad_end                  (pad_beg, pad_end <= 0: cropping only)
    shrink_factor only:   Ho = (H_eff - 1) / shrink + 1                    (integer division)
    zoom_factor only:     Ho = H_eff + (H_eff - 1) * (zoom - 1)
    height and width:     Ho = height, Wo = width   (reached when neither or both factors)
    shrink and zoom:      Ho = (H_eff - 1) / shrink + 1; Ho = Ho + (Ho - 1) * (zoom - 1)
    anything else:        error

The input window is rows/columns ``[-pad_beg, -pad_beg + H_eff)`` (the fork passes
``-pad_beg`` as the offset of both axes).

Forward (``util/interp.cpp``, ``caffe_cpu_interp2``): a plain copy of the window when
its size equals the output size; otherwise, per axis, in float32::

    ratio = (In - 1) / (Out - 1)  if Out > 1 else 0
    r = ratio * o;  i = int(r);  step = 1 if i < In - 1 else 0;  lam = r - i
    out = (1-lam_h) * ((1-lam_w) * x[i, j] + lam_w * x[i, j+step_w])
          + lam_h * ((1-lam_w) * x[i+step_h, j] + lam_w * x[i+step_h, j+step_w])

This module evaluates the same products and sums in the same order (the inner brackets
as a horizontal pass over the rows that are needed, then the vertical blend), so the
result equals Caffe's CPU result bit for bit. Shrinking 1025 -> 513 has ratio exactly 2
and lambdas exactly 0: pure decimation ``x[..., ::2, ::2]``.

MACs convention: 4 multiply-adds per output element (two lerps per axis); 0 for the
copy case.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import PrototxtError
from .base import LayerImpl, Shape, fmt_shape, register

#: Output elements blended per step of the vertical pass (4 MiB of float32).
_BAND_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class InterpParams:
    #: "shrink", "zoom", "size" or "shrink_zoom": the Caffe branch the present fields select.
    rule: str
    height: int
    width: int
    zoom_factor: int
    shrink_factor: int
    pad_beg: int
    pad_end: int


@register("Interp")
class InterpLayer(LayerImpl):
    def channel_map(self) -> str:
        return "linear"

    def read_params(self, proto: Any) -> InterpParams:
        ip = proto.interp_param
        has = ip.HasField

        def bad(msg: str) -> PrototxtError:
            return PrototxtError(msg, layer=self.name)

        if has("shrink_factor") and not has("zoom_factor"):
            rule = "shrink"
        elif has("zoom_factor") and not has("shrink_factor"):
            rule = "zoom"
        elif has("height") and has("width"):
            rule = "size"
        elif has("shrink_factor") and has("zoom_factor"):
            rule = "shrink_zoom"
        else:
            raise bad("Interp needs height and width, zoom_factor, shrink_factor, or "
                      "shrink_factor and zoom_factor"
                      + (" (height and width must be given together)"
                         if has("height") or has("width") else ""))
        if ip.pad_beg > 0 or ip.pad_end > 0:
            raise bad(f"pad_beg {ip.pad_beg} / pad_end {ip.pad_end}: only non-positive "
                      "padding (cropping) is supported")
        if rule in ("shrink", "shrink_zoom") and ip.shrink_factor < 1:
            raise bad(f"shrink_factor {ip.shrink_factor} must be positive")
        if rule in ("zoom", "shrink_zoom") and ip.zoom_factor < 1:
            raise bad(f"zoom_factor {ip.zoom_factor} must be positive")
        if rule == "size" and (ip.height <= 0 or ip.width <= 0):
            raise bad(f"height {ip.height} and width {ip.width} must be positive")
        return InterpParams(rule=rule, height=int(ip.height), width=int(ip.width),
                            zoom_factor=int(ip.zoom_factor), shrink_factor=int(ip.shrink_factor),
                            pad_beg=int(ip.pad_beg), pad_end=int(ip.pad_end))

    def _sizes(self, shape: Shape) -> tuple[int, int, int, int]:
        """(H_eff, W_eff, Ho, Wo) for a bottom shape."""
        p = self.p
        if len(shape) != 4:
            raise self.fail(f"Interp needs a 4-axis NxCxHxW bottom, got {fmt_shape(shape)}")
        h_eff = shape[2] + p.pad_beg + p.pad_end
        w_eff = shape[3] + p.pad_beg + p.pad_end
        if h_eff <= 0 or w_eff <= 0:
            raise self.fail(f"pad_beg {p.pad_beg} and pad_end {p.pad_end} crop away all of "
                            f"bottom {fmt_shape(shape)}")

        def out(size: int) -> int:
            if p.rule in ("shrink", "shrink_zoom"):
                size = (size - 1) // p.shrink_factor + 1
            if p.rule in ("zoom", "shrink_zoom"):
                size = size + (size - 1) * (p.zoom_factor - 1)
            return size

        if p.rule == "size":
            return h_eff, w_eff, p.height, p.width
        return h_eff, w_eff, out(h_eff), out(w_eff)

    def fixed_output(self, bottom_shapes: Sequence[Shape]) -> str | None:
        if self.p.rule == "size":
            return f"Interp to an explicit {self.p.height}x{self.p.width}"
        return None

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        shape = tuple(bottom_shapes[0])
        _, _, ho, wo = self._sizes(shape)
        return [(shape[0], shape[1], ho, wo)]

    def macs(self, bottom_shapes: Sequence[Shape], top_shapes: Sequence[Shape]) -> int:
        h_eff, w_eff, ho, wo = self._sizes(tuple(bottom_shapes[0]))
        if (h_eff, w_eff) == (ho, wo):
            return 0
        n, c = (int(d) for d in bottom_shapes[0][:2])
        return 4 * n * c * ho * wo

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = np.asarray(bottoms[0], dtype=np.float32)
        h_eff, w_eff, ho, wo = self._sizes(x.shape)
        b = -self.p.pad_beg
        window = x[:, :, b:b + h_eff, b:b + w_eff]
        return [interp_bilinear(window, ho, wo)]


def _axis_weights(size_in: int, size_out: int):
    """Caffe's per-axis source index, step (0 or 1) and weights, in float32."""
    ratio = (np.float32(size_in - 1) / np.float32(size_out - 1)
             if size_out > 1 else np.float32(0))
    pos = ratio * np.arange(size_out, dtype=np.float32)  # float32 product, as in Caffe
    idx = pos.astype(np.int64)  # truncation; pos >= 0
    step = (idx < size_in - 1).astype(np.int64)
    lam1 = pos - idx.astype(np.float32)
    lam0 = np.float32(1) - lam1
    return idx, step, lam0, lam1


def interp_bilinear(x: np.ndarray, ho: int, wo: int) -> np.ndarray:
    """Caffe Interp of NCHW float32 ``x`` (already cropped) to ``ho x wo``."""
    n, c, h, w = x.shape
    if (h, w) == (ho, wo):
        return np.array(x, dtype=np.float32, copy=True)
    planes = x.reshape(n * c, h, w)
    hi, hstep, h0, h1 = _axis_weights(h, ho)
    wi, wstep, w0, w1 = _axis_weights(w, wo)

    # Only the source rows some output row reads take part in the horizontal pass.
    top_rows, bot_rows = hi, hi + hstep
    rows = np.unique(np.concatenate([top_rows, bot_rows]))
    if len(rows) < h:
        planes = planes[:, rows, :]
        top_rows = np.searchsorted(rows, top_rows)
        bot_rows = np.searchsorted(rows, bot_rows)

    # (1-lam_w) * x[., j] + lam_w * x[., j+step]
    # (indices are in range by construction; mode="clip" lets take() write unbuffered)
    horiz = np.take(planes, wi, axis=2, mode="clip")
    horiz *= w0
    right = np.take(planes, wi + wstep, axis=2, mode="clip")
    right *= w1
    horiz += right
    del right

    # (1-lam_h) * upper + lam_h * lower, a band of output rows at a time so that the
    # temporaries stay small (and mostly in cache) even at 19x1025x2049.
    out = np.empty((n * c, ho, wo), np.float32)
    band = max(1, _BAND_ELEMENTS // (n * c * wo))
    lower = np.empty((n * c, min(band, ho), wo), np.float32)
    for r0 in range(0, ho, band):
        r1 = min(ho, r0 + band)
        upper, low = out[:, r0:r1], lower[:, :r1 - r0]
        np.take(horiz, top_rows[r0:r1], axis=1, out=upper, mode="clip")
        upper *= h0[r0:r1, None]
        np.take(horiz, bot_rows[r0:r1], axis=1, out=low, mode="clip")
        low *= h1[r0:r1, None]
        upper += low
    return out.reshape(n, c, ho, wo)

