"""Caffe ``Pooling``: MAX, AVE and (TEST-phase) STOCHASTIC, on NCHW bottoms.

Shape rule (``pooling_layer.cpp`` Reshape) is **ceil** mode::

    Ho = ceil((H + 2*pad_h - kernel_h) / stride_h) + 1
    if (pad_h or pad_w) and (Ho-1)*stride_h >= H + pad_h: Ho -= 1   (same for W)

so the last window always starts inside the image or its leading padding.

Window of output row ``oh``: ``hstart = oh*stride - pad``, ``hend = hstart + kernel``.

* MAX: the window clipped to ``[0, H)``, so padded cells never win; an empty window
  (possible only without padding and kernel < stride) gives ``-FLT_MAX``, Caffe's
  initial value. NaNs are skipped, as Caffe's ``>`` comparison skips them.
* AVE: the sum over the window clipped to ``[0, H)`` divided by the size of the window
  clipped to ``[-pad, H + pad)``: padding counts, the ceil overhang does not.
* STOCHASTIC: Caffe has no CPU forward for it (``NOT_IMPLEMENTED``); its GPU TEST-phase
  kernel (``StoPoolForwardTest``) gives each window the probability-weighted mean
  ``sum(x^2) / (FLT_MIN + sum(x))`` over the window clipped to ``[0, H)``, without padding.
  That is what is computed here; TRAIN-phase sampling is not reproduced.

MACs convention: one operation per window cell, ``N*C*Ho*Wo*kh*kw``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import PrototxtError
from .base import LayerImpl, Shape, fmt_shape, gather_indices, register

FLT_MAX = np.float32(np.finfo(np.float32).max)
FLT_MIN = np.float32(np.finfo(np.float32).tiny)

Pair = tuple[int, int]


@dataclass(frozen=True)
class PoolingParams:
    method: str  # "MAX", "AVE" or "STOCHASTIC"
    #: None with global_pooling (the kernel is then the bottom's H x W).
    kernel: Pair | None
    stride: Pair
    pad: Pair
    global_pooling: bool
    #: Caffe rounds the output size up (ceil, the default); BVLC's ``round_mode:
    #: FLOOR`` and other forks' ``ceil_mode: false`` round it down.
    ceil: bool = True


def pooled_size(size: int, kernel: int, stride: int, pad: int, padded: bool,
                ceil: bool = True) -> int:
    """Caffe's output size; ``padded`` is true when either pad is nonzero. In ceil mode
    a last window that would start in the trailing padding is dropped."""
    if not ceil:
        return (size + 2 * pad - kernel) // stride + 1
    # Integer ceil of (size + 2p - k) / s; for a negative numerator this equals C's
    # ceil() of the float quotient too (ceil(-0.5) == 0).
    out = -(-(size + 2 * pad - kernel) // stride) + 1
    if padded and (out - 1) * stride >= size + pad:
        out -= 1  # the last window would start in the trailing padding
    return out


@register("Pooling")
class PoolingLayer(LayerImpl):
    def channel_map(self) -> str:
        return "linear" if self.p.method == "AVE" else "pointwise"

    def read_params(self, proto: Any) -> PoolingParams:
        pp = proto.pooling_param

        def bad(msg: str) -> PrototxtError:
            return PrototxtError(msg, layer=self.name)

        method = pp.DESCRIPTOR.fields_by_name["pool"].enum_type.values_by_number[pp.pool].name
        has = pp.HasField
        kernel: Pair | None
        if pp.global_pooling:
            if has("kernel_size") or has("kernel_h") or has("kernel_w"):
                raise bad("with global_pooling: true the filter size cannot be specified")
            kernel = None
        else:
            if has("kernel_size") == (has("kernel_h") and has("kernel_w")):
                raise bad("filter size is kernel_size OR kernel_h and kernel_w; not both"
                          if has("kernel_size") else
                          "kernel_size is required (for non-square filters both kernel_h "
                          "and kernel_w)")
            kernel = ((pp.kernel_size, pp.kernel_size) if has("kernel_size")
                      else (pp.kernel_h, pp.kernel_w))
            if min(kernel) <= 0:
                raise bad(f"kernel {kernel[0]}x{kernel[1]}: filter dimensions cannot be zero")

        def pair(name: str) -> Pair:
            h, w = f"{name}_h", f"{name}_w"
            if has(h) or has(w):
                if has(name) or not (has(h) and has(w)):
                    raise bad(f"{name} is {name} OR {h} and {w} are required")
                return int(getattr(pp, h)), int(getattr(pp, w))
            v = int(getattr(pp, name))
            return v, v

        pad, stride = pair("pad"), pair("stride")
        if min(stride) <= 0:
            raise bad(f"stride {stride[0]}x{stride[1]} must be positive")
        if pp.global_pooling and (pad != (0, 0) or stride != (1, 1)):
            raise bad("with global_pooling: true only pad = 0 and stride = 1 are allowed")
        if pad != (0, 0):
            if method not in ("MAX", "AVE"):
                raise bad("padding is implemented only for average and max pooling")
            if kernel is not None and (pad[0] >= kernel[0] or pad[1] >= kernel[1]):
                raise bad(f"pad {pad[0]}x{pad[1]} must be smaller than the kernel "
                          f"{kernel[0]}x{kernel[1]}")
        if has("round_mode") and has("ceil_mode"):
            raise bad("give round_mode (BVLC) or ceil_mode (other forks), not both")
        ceil = pp.round_mode == pp.CEIL if has("round_mode") else bool(pp.ceil_mode)
        return PoolingParams(method=method, kernel=kernel, stride=stride, pad=pad, ceil=ceil,
                             global_pooling=bool(pp.global_pooling))

    def _kernel(self, shape: Shape) -> Pair:
        return (int(shape[2]), int(shape[3])) if self.p.kernel is None else self.p.kernel

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        shape = tuple(bottom_shapes[0])
        if len(shape) != 4:
            raise self.fail(f"Pooling needs a 4-axis NxCxHxW bottom, got {fmt_shape(shape)}")
        n, c, h, w = shape
        kh, kw = self._kernel(shape)
        (sh, sw), (ph, pw) = self.p.stride, self.p.pad
        padded = bool(ph or pw)
        ho = pooled_size(h, kh, sh, ph, padded, self.p.ceil)
        wo = pooled_size(w, kw, sw, pw, padded, self.p.ceil)
        if ho <= 0 or wo <= 0:
            raise self.fail(f"kernel {kh}x{kw} (stride {sh}x{sw}, pad {ph}x{pw}) does not fit "
                            f"bottom {fmt_shape(shape)}: output would be {ho}x{wo}")
        if len(self.tops) > 1 and self.p.method != "MAX":
            raise self.fail("only MAX pooling has a second top (the mask of max positions)")
        return [(n, c, ho, wo)] * min(len(self.tops), 2) if self.tops else [(n, c, ho, wo)]

    def output_hint(self, k: int = 0) -> str | None:
        return "indices" if k == 1 else None  # MAX's mask: flat positions in the bottom

    def indexed_values(self, bottoms: Sequence[np.ndarray], top: np.ndarray, k: int) -> np.ndarray:
        x = np.asarray(bottoms[0], np.float32)
        n, c = x.shape[:2]
        flat = gather_indices(x.reshape(n, c, -1), np.asarray(top).reshape(n, c, -1))
        return flat.reshape(np.shape(top))

    def macs(self, bottom_shapes: Sequence[Shape], top_shapes: Sequence[Shape]) -> int:
        kh, kw = self._kernel(bottom_shapes[0])
        n, c, ho, wo = (int(d) for d in top_shapes[0])
        return n * c * ho * wo * kh * kw

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = np.asarray(bottoms[0], dtype=np.float32)
        (_, _, ho, wo) = self.reshape([x.shape])[0]
        kernel = self._kernel(x.shape)
        if len(self.tops) > 1:  # MAX with a mask top (SegNet's unpooling reads it)
            return list(max_pool_with_mask(x, kernel, self.p.stride, self.p.pad, (ho, wo)))
        return [pool2d(x, self.p.method, kernel, self.p.stride, self.p.pad, (ho, wo))]


def pool2d(x: np.ndarray, method: str, kernel: Pair, stride: Pair, pad: Pair,
           out_size: Pair) -> np.ndarray:
    """Caffe CPU pooling of NCHW float32 ``x`` to ``out_size`` (see the module doc)."""
    n, c, h, w = x.shape
    kh, kw = kernel
    sh, sw = stride
    ph, pw = pad
    ho, wo = out_size
    # Every window lies inside rows [-ph, -ph + ext_h): lay x into a buffer covering
    # exactly that range, with cells outside the image set so that they never count.
    ext_h, ext_w = (ho - 1) * sh + kh, (wo - 1) * sw + kw
    if pad == (0, 0) and ext_h <= h and ext_w <= w:
        xp = x[:, :, :ext_h, :ext_w]  # every window lies inside x (e.g. PSP pooling)
    else:
        fill = -FLT_MAX if method == "MAX" else np.float32(0)
        xp = np.full((n, c, ext_h, ext_w), fill, np.float32)
        hh, ww = min(h, ext_h - ph), min(w, ext_w - pw)
        xp[:, :, ph:ph + hh, pw:pw + ww] = x[:, :, :hh, :ww]

    if kh * kw > ho * wo:
        acc, weight = _pool_few_windows(xp, method, kernel, stride, out_size)
    elif method == "MAX":
        # max is exact in any order: rows, then columns (half the work of kh*kw taps).
        # fmax skips NaN as Caffe's `>` does; -FLT_MAX stays for an empty window.
        rows = np.full((n, c, ho, ext_w), -FLT_MAX, np.float32)
        for i in range(kh):
            np.fmax(rows, xp[:, :, i:i + sh * (ho - 1) + 1:sh, :], out=rows)
        acc = np.full((n, c, ho, wo), -FLT_MAX, np.float32)
        for j in range(kw):
            np.fmax(acc, rows[:, :, :, j:j + sw * (wo - 1) + 1:sw], out=acc)
    else:
        # One strided view of all windows per kernel tap, summed in Caffe's (row,
        # column) order: the float32 result is Caffe's bit for bit.
        acc = np.zeros((n, c, ho, wo), np.float32)
        weight = np.full((n, c, ho, wo), FLT_MIN, np.float32) if method == "STOCHASTIC" else None
        for i in range(kh):
            for j in range(kw):
                tap = xp[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]
                if weight is not None:
                    weight += tap
                    acc += tap * tap
                else:
                    acc += tap

    # An empty window (kernel < stride without padding) divides 0 by 0 as Caffe does.
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "AVE":
            acc /= (_ave_divisor(ho, kh, sh, ph, h)[:, None]
                    * _ave_divisor(wo, kw, sw, pw, w)[None, :])
        elif method == "STOCHASTIC":
            acc /= weight
    return acc


def _pool_few_windows(xp: np.ndarray, method: str, kernel: Pair, stride: Pair, out_size: Pair):
    """Pooling with fewer windows than kernel taps (global and PSP pooling).

    The padded input is transposed once to (rows, columns, N*C), so that each window is
    one reduction over its two leading axes with the N*C planes as the contiguous inner
    loop: numpy then adds the cells one after another in row-major order (no pairwise
    summation), which is again Caffe's float32 sum. Returns (acc, weight): the max / sum
    / sum of squares, and for STOCHASTIC ``FLT_MIN + sum``.
    """
    n, c = xp.shape[:2]
    kh, kw = kernel
    sh, sw = stride
    ho, wo = out_size
    planes = np.ascontiguousarray(xp.transpose(2, 3, 0, 1)).reshape(*xp.shape[2:], n * c)
    acc = np.empty((ho, wo, n * c), np.float32)
    weight = np.empty((ho, wo, n * c), np.float32) if method == "STOCHASTIC" else None
    for oh in range(ho):
        for ow in range(wo):
            win = planes[oh * sh:oh * sh + kh, ow * sw:ow * sw + kw]
            if method == "MAX":
                np.fmax.reduce(win, axis=(0, 1), initial=-FLT_MAX, out=acc[oh, ow])
            elif method == "AVE":
                np.add.reduce(win, axis=(0, 1), out=acc[oh, ow])
            else:
                np.add.reduce(win, axis=(0, 1), initial=FLT_MIN, out=weight[oh, ow])
                np.add.reduce(win * win, axis=(0, 1), out=acc[oh, ow])

    def back(a):
        if a is None:
            return None
        return np.ascontiguousarray(a.reshape(ho, wo, n, c).transpose(2, 3, 0, 1))

    return back(acc), back(weight)


def _ave_divisor(out: int, k: int, s: int, p: int, size: int) -> np.ndarray:
    """Per-output window extent, clipped to [-p, size + p) (Caffe's pool_size)."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, size + p)
    return (end - start).astype(np.float32)


def ave_divisor(in_hw: Pair, kernel: Pair, stride: Pair, pad: Pair, out_hw: Pair) -> np.ndarray:
    """Caffe's AVE divisor of every output cell (ho x wo, float32): padding cells
    count, the ceil overhang past the padding does not. Backends that pool a padded
    input without a divisor of their own multiply by ``kh*kw / ave_divisor``."""
    return (_ave_divisor(out_hw[0], kernel[0], stride[0], pad[0], in_hw[0])[:, None]
            * _ave_divisor(out_hw[1], kernel[1], stride[1], pad[1], in_hw[1])[None, :])


def trailing_padding(in_hw: Pair, kernel: Pair, stride: Pair, pad: Pair, out_hw: Pair) -> Pair:
    """Bottom and right padding that makes the windows Caffe visits exactly fit:
    (out-1)*stride + kernel - (size + pad); negative when Caffe leaves rows unread."""
    return tuple((out_hw[i] - 1) * stride[i] + kernel[i] - (in_hw[i] + pad[i]) for i in range(2))


def max_pool_with_mask(x: np.ndarray, kernel: Pair, stride: Pair, pad: Pair,
                       out_size: Pair) -> tuple[np.ndarray, np.ndarray]:
    """Caffe's MAX pooling with its second top: each output's max, and where it was,
    as ``h * W + w`` in the bottom's plane (float32). Windows are clipped to the
    image; the first of equal maxima in row-major order wins (Caffe compares with
    ``>``)."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, pad
    ho, wo = out_size
    best = np.full((n, c, ho, wo), -FLT_MAX, np.float32)
    where = np.full((n, c, ho, wo), -1, np.int64)
    hs = np.arange(ho) * sh - ph
    ws = np.arange(wo) * sw - pw
    for i in range(kh):
        rows = hs + i
        for j in range(kw):
            cols = ws + j
            ok = ((rows >= 0) & (rows < h))[:, None] & ((cols >= 0) & (cols < w))[None, :]
            r, q = np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1)
            tap = x[:, :, r[:, None], q[None, :]]
            better = ok & (tap > best)
            best = np.where(better, tap, best)
            where = np.where(better, (r[:, None] * w + q[None, :]), where)
    return best, where.astype(np.float32)