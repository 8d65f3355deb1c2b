"""Caffe ``Convolution`` (2-D spatial, ``axis: 1``), including DeepLab's ``hole`` fields.

Shape rule (``conv_layer.cpp``, ``compute_output_shape``)::

    Ho = (H + 2*pad_h - (dilation_h*(kernel_h-1) + 1)) / stride_h + 1     (floor)

Learned params: weights ``O x C/group x kh x kw`` and, unless ``bias_term: false``, a
bias ``(O,)``.

MACs convention: multiply-adds of the weights, ``N*O*Ho*Wo*(C/group)*kh*kw``; the bias
add is not counted.

Forward strategies (all float32, BLAS-backed; chosen by :func:`_pick_strategy` from
benchmarks on ICNet/PSPNet-sized layers):

* ``matmul``: a 1x1, stride-1, unpadded conv is one ``W (O x C) @ X (C x H*W)`` per
  image and group.
* ``im2col``: the columns of a band of output rows are copied (stride tricks, one C
  call) into a buffer of a few MiB and multiplied once with ``W (O x C*kh*kw)``. The
  buffer stays in cache; the band is sized so the GEMM still has enough columns.
* ``taps``: stride-1 only. The padded input is seen as a flat ``C x (Hp*Wp)`` matrix,
  where tap (i, j) is the contiguous window starting at ``i*dh*Wp + j*dw``. Each tap is
  then one GEMM on a *view* (no copy), computed on a ``Ho x Wp`` "wide" grid whose
  ``Wp - Wo`` extra columns are dropped at the end. It wins when C is large against O
  (e.g. PSPNet's 4096->512 conv5_4), where the im2col copy would dominate.
* ``depthwise``: one input channel per group; kh*kw broadcast multiply-adds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..errors import PrototxtError
from .base import LayerImpl, Shape, canonical_axis, fmt_shape, register

Pair = tuple[int, int]

#: Bytes of im2col buffer per band: about one core's L2 (2 MiB on the 2-core test box),
#: so the copy is still cached when the GEMM reads it (best at 2-4 MiB on 3x3 64->64
#: at 257x513; 256 KiB and the whole im2col at once were both slower).
_IM2COL_BAND_BYTES = 4 << 20
#: Fewest GEMM columns per band, so that huge-K layers don't re-read their weights per row.
_MIN_BAND_COLUMNS = 512
#: Bytes of the taps strategy's accumulator band (O/g x columns).
_TAPS_BAND_BYTES = 4 << 20


@dataclass(frozen=True)
class ConvParams:
    num_output: int
    bias_term: bool
    kernel: Pair
    stride: Pair
    pad: Pair
    dilation: Pair
    group: int
    axis: int


def read_conv_params(impl: LayerImpl, cp: Any) -> ConvParams:
    """The ConvolutionParameter rules of Caffe's BaseConvolutionLayer::LayerSetUp (2-D)."""

    def bad(msg: str) -> PrototxtError:
        return PrototxtError(msg, layer=impl.name)

    def pair(field: str, h_field: str, w_field: str, default: int | None) -> Pair:
        values = list(getattr(cp, field))
        has_h, has_w = cp.HasField(h_field), cp.HasField(w_field)
        if has_h or has_w:
            # Caffe: "Either kernel_size or kernel_h/w should be specified; not both."
            if values:
                raise bad(f"give either {field} or {h_field}/{w_field}, not both")
            if not (has_h and has_w) and default is None:
                raise bad(f"{h_field} and {w_field} must be given together")
            h = getattr(cp, h_field) if has_h else default
            w = getattr(cp, w_field) if has_w else default
            return int(h), int(w)
        if not values:
            if default is None:
                raise bad(f"{field} is required (or {h_field} and {w_field})")
            return default, default
        if len(values) == 1:
            return int(values[0]), int(values[0])
        if len(values) == 2:
            return int(values[0]), int(values[1])
        raise bad(f"{field} must be given once or once per spatial axis (2), "
                  f"got {len(values)} values; only 2-D convolution is supported")

    kernel = pair("kernel_size", "kernel_h", "kernel_w", None)
    # Caffe's stride_h/stride_w have no default; a lone one would leave the other at 0.
    stride = pair("stride", "stride_h", "stride_w", None if cp.HasField("stride_h")
                  or cp.HasField("stride_w") else 1)
    pad = pair("pad", "pad_h", "pad_w", 0)
    dilation = _read_dilation(cp, bad)
    if min(kernel) <= 0:
        raise bad(f"kernel size {kernel[0]}x{kernel[1]}: filter dimensions must be nonzero")
    if min(stride) <= 0:
        raise bad(f"stride {stride[0]}x{stride[1]}: stride dimensions must be nonzero")
    if min(dilation) <= 0:
        raise bad(f"dilation {dilation[0]}x{dilation[1]} must be positive")
    if cp.num_output <= 0:
        raise bad("num_output must be given and positive")
    if cp.group <= 0:
        raise bad(f"group {cp.group} must be positive")
    if cp.num_output % cp.group:
        raise bad(f"num_output {cp.num_output} is not divisible by group {cp.group}")
    return ConvParams(
        num_output=int(cp.num_output), bias_term=bool(cp.bias_term), kernel=kernel,
        stride=stride, pad=pad, dilation=dilation, group=int(cp.group), axis=int(cp.axis),
    )


def _read_dilation(cp: Any, bad) -> Pair:
    values = list(cp.dilation)
    holes = [cp.HasField(f) for f in ("hole", "hole_h", "hole_w")]
    if any(holes):
        # DeepLab-v1 (im2col/conv layers): "hole is hole OR hole_h and hole_w are required";
        # a hole of h spaces the kernel taps h apart, exactly BVLC's later `dilation`.
        if values:
            raise bad("give either dilation or the legacy hole fields, not both")
        has_hole, has_h, has_w = holes
        if has_h or has_w:
            if has_hole or not (has_h and has_w):
                raise bad("hole is hole OR hole_h and hole_w are required")
            return int(cp.hole_h), int(cp.hole_w)
        return int(cp.hole), int(cp.hole)
    if not values:
        return 1, 1
    if len(values) == 1:
        return int(values[0]), int(values[0])
    if len(values) == 2:
        return int(values[0]), int(values[1])
    raise bad(f"dilation must be given once or once per spatial axis (2), got {len(values)}")


def conv_out_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    """Caffe's conv output size; <= 0 when the dilated kernel exceeds the padded input."""
    extent = dilation * (kernel - 1) + 1
    padded = size + 2 * pad
    if padded < extent:
        return 0
    return (padded - extent) // stride + 1


def check_bottom_4d(impl: LayerImpl, shape: Shape, axis: int) -> None:
    if len(shape) != 4:
        raise impl.fail(f"{impl.type_name} needs a 4-axis NxCxHxW bottom, got {fmt_shape(shape)} "
                        "(only 2-D spatial convolution is supported)")
    if canonical_axis(axis, len(shape), impl) != 1:
        raise impl.fail(f"axis {axis} is not supported (only axis 1, the channel axis); "
                        f"bottom {fmt_shape(shape)}")


def checked_params(impl: LayerImpl, bottom_shape: Shape, params: Sequence[np.ndarray]):
    """(weights, bias or None) in the shapes blob_shapes() gives, float32."""
    expected = impl.param_shapes([bottom_shape])
    if len(params) != len(expected):
        raise impl.fail(f"needs {len(expected)} params "
                        f"({', '.join(fmt_shape(s) for s in expected)}), got {len(params)}")
    out = []
    for i, (arr, shape) in enumerate(zip(params, expected)):
        arr = np.asarray(arr, dtype=np.float32)
        if arr.size != int(np.prod(shape)):
            raise impl.fail(f"param {i} is {fmt_shape(arr.shape)}, expected {fmt_shape(shape)} "
                            f"for bottom {fmt_shape(bottom_shape)}")
        out.append(arr.reshape(shape))
    return out[0], (out[1] if len(out) > 1 else None)


@register("Convolution")
class ConvolutionLayer(LayerImpl):

    def param_roles(self) -> tuple[str, ...]:
        return ("weight", "bias") if self.p.bias_term else ("weight",)

    def weight_axes(self) -> tuple[int, int]:
        return 0, 1  # O x C/group x kh x kw
    def read_params(self, proto: Any) -> ConvParams:
        return read_conv_params(self, proto.convolution_param)

    def param_shapes(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        p = self.p
        channels = bottom_shapes[0][canonical_axis(p.axis, len(bottom_shapes[0]), self)]
        shapes: list[Shape] = [(p.num_output, channels // p.group, *p.kernel)]
        if p.bias_term:
            shapes.append((p.num_output,))
        return shapes

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        p = self.p
        shape = tuple(bottom_shapes[0])
        check_bottom_4d(self, shape, p.axis)
        n, c, h, w = shape
        if c % p.group:
            raise self.fail(f"bottom {fmt_shape(shape)} has {c} channels, "
                            f"not divisible by group {p.group}")
        ho = conv_out_size(h, p.kernel[0], p.stride[0], p.pad[0], p.dilation[0])
        wo = conv_out_size(w, p.kernel[1], p.stride[1], p.pad[1], p.dilation[1])
        if ho <= 0 or wo <= 0:
            ext = [d * (k - 1) + 1 for k, d in zip(p.kernel, p.dilation)]
            raise self.fail(
                f"kernel {p.kernel[0]}x{p.kernel[1]} (dilation {p.dilation[0]}x{p.dilation[1]}, "
                f"extent {ext[0]}x{ext[1]}) is larger than the padded input "
                f"{h + 2 * p.pad[0]}x{w + 2 * p.pad[1]} of bottom {fmt_shape(shape)}")
        return [(n, p.num_output, ho, wo)]

    def macs(self, bottom_shapes: Sequence[Shape], top_shapes: Sequence[Shape]) -> int:
        n, c = bottom_shapes[0][:2]
        _, o, ho, wo = top_shapes[0]
        kh, kw = self.p.kernel
        return int(n) * int(o) * int(ho) * int(wo) * (int(c) // self.p.group) * kh * kw

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = np.asarray(bottoms[0], dtype=np.float32)
        self.reshape([x.shape])
        weights, bias = checked_params(self, x.shape, params)
        p = self.p
        y = conv2d(x, weights, p.stride, p.pad, p.dilation, p.group)
        if bias is not None:
            # Caffe adds the bias after the GEMM (forward_cpu_bias).
            y += bias[None, :, None, None]
        return [y]


# ---------------------------------------------------------------------------------------
# The numeric kernel.


def conv2d(x: np.ndarray, w: np.ndarray, stride: Pair, pad: Pair, dilation: Pair,
           group: int, strategy: str | None = None) -> np.ndarray:
    """Caffe's cross-correlation, NCHW float32; ``w`` is O x C/group x kh x kw.

    ``strategy`` forces one implementation (tests and benchmarks); None picks one.
    """
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    og = o // group
    ho = conv_out_size(h, kh, stride[0], pad[0], dilation[0])
    wo = conv_out_size(wd, kw, stride[1], pad[1], dilation[1])
    if strategy is None:
        strategy = _pick_strategy(c, o, group, (kh, kw), stride, pad, ho, wo)
    if strategy == "matmul":
        xg = x.reshape(n, group, cg, h * wd)
        y = np.empty((n, group, og, h * wd), np.float32)
        wg = w.reshape(group, og, cg)
        for g in range(group):
            np.matmul(wg[g], xg[:, g], out=y[:, g])
        return y.reshape(n, o, h, wd)

    xp = _pad(x, pad, extra_row=(strategy == "taps"))
    if strategy == "depthwise":
        return _conv_depthwise(xp, w, stride, dilation, group, ho, wo)
    if strategy == "taps":
        if stride != (1, 1):
            raise ValueError("the taps strategy needs stride 1")
        return _conv_taps(xp, w, dilation, group, ho, wo)
    if strategy == "im2col":
        return _conv_im2col(xp, w, stride, dilation, group, ho, wo)
    raise ValueError(f"unknown conv strategy {strategy!r}")


def _pick_strategy(c: int, o: int, group: int, kernel: Pair, stride: Pair, pad: Pair,
                   ho: int, wo: int) -> str:
    cg, og = c // group, o // group
    if kernel == (1, 1) and stride == (1, 1) and pad == (0, 0):
        return "matmul"
    if cg == 1 and group > 1:
        return "depthwise"
    if stride == (1, 1) and kernel != (1, 1) and og <= cg:
        # taps adds an O/g-row accumulator once per tap, im2col copies C/g*kh*kw rows of
        # columns once: taps wins when O/g <= C/g (measured on 32..4096 channels, at
        # 33x65..257x513; they tie at 64->64, and im2col wins for the 3->32 stems).
        return "taps"
    return "im2col"


def _pad(x: np.ndarray, pad: Pair, extra_row: bool) -> np.ndarray:
    """Zero padding; ``extra_row`` adds one more bottom row so that the flat tap windows
    of the taps strategy never run past the end of the buffer."""
    ph, pw = pad
    if not (ph or pw or extra_row):
        return x
    n, c, h, w = x.shape
    xp = np.zeros((n, c, h + 2 * ph + int(extra_row), w + 2 * pw), np.float32)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    return xp


def _conv_im2col(xp: np.ndarray, w: np.ndarray, stride: Pair, dilation: Pair, group: int,
                 ho: int, wo: int) -> np.ndarray:
    n, c = xp.shape[:2]
    o, cg, kh, kw = w.shape
    og = o // group
    k = cg * kh * kw
    sh, sw = stride
    dh, dw = dilation
    cols = max(_IM2COL_BAND_BYTES // (4 * k), _MIN_BAND_COLUMNS)
    rows = max(1, min(ho, -(-cols // wo)))
    buf = np.empty((group, k, rows * wo), np.float32)
    wg = w.reshape(group, og, k)
    y = np.empty((n, group, og, ho * wo), np.float32)
    s_n, s_c, s_h, s_w = xp.strides
    for b in range(n):
        for r0 in range(0, ho, rows):
            r = min(rows, ho - r0)
            # column (c, i, j) of output pixel (oh, ow) reads xp[c, oh*sh + i*dh, ow*sw + j*dw]
            band = as_strided(
                xp[b, :, r0 * sh:, :], shape=(group, cg, kh, kw, r, wo),
                strides=(cg * s_c, s_c, dh * s_h, dw * s_w, sh * s_h, sw * s_w),
                writeable=False,
            )
            dst = buf[:, :, :r * wo]
            np.copyto(dst.reshape(group, cg, kh, kw, r, wo), band)
            for g in range(group):
                np.matmul(wg[g], dst[g], out=y[b, g, :, r0 * wo:(r0 + r) * wo])
    return y.reshape(n, o, ho, wo)


def _conv_taps(xp: np.ndarray, w: np.ndarray, dilation: Pair, group: int,
               ho: int, wo: int) -> np.ndarray:
    n, c, hp1, wp = xp.shape
    o, cg, kh, kw = w.shape
    og = o // group
    dh, dw = dilation
    flat = xp.reshape(n, group, cg, hp1 * wp)
    # taps[i, j, g] is the O/g x C/g matrix of tap (i, j), contiguous for BLAS.
    taps = np.ascontiguousarray(w.reshape(group, og, cg, kh, kw).transpose(3, 4, 0, 1, 2))
    span = ho * wp
    wide = np.empty((n, group, og, span), np.float32)
    # Bands of wide columns keep the accumulator in cache across the kh*kw GEMMs.
    cols = min(span, max(_MIN_BAND_COLUMNS, _TAPS_BAND_BYTES // (4 * og)))
    tmp = np.empty((og, cols), np.float32)
    for b in range(n):
        for g in range(group):
            for c0 in range(0, span, cols):
                cn = min(cols, span - c0)
                acc = wide[b, g, :, c0:c0 + cn]
                part = tmp[:, :cn]
                for t in range(kh * kw):
                    i, j = divmod(t, kw)
                    off = c0 + i * dh * wp + j * dw
                    view = flat[b, g, :, off:off + cn]
                    if t == 0:
                        np.matmul(taps[i, j, g], view, out=acc)
                    else:
                        np.matmul(taps[i, j, g], view, out=part)
                        acc += part
    return np.ascontiguousarray(wide.reshape(n, o, ho, wp)[:, :, :, :wo])


def _conv_depthwise(xp: np.ndarray, w: np.ndarray, stride: Pair, dilation: Pair, group: int,
                    ho: int, wo: int) -> np.ndarray:
    o, _, kh, kw = w.shape
    mult = o // group
    if mult > 1:  # output channel q reads input channel q // mult
        xp = np.repeat(xp, mult, axis=1)
    sh, sw = stride
    dh, dw = dilation
    y = np.zeros((xp.shape[0], o, ho, wo), np.float32)
    for i in range(kh):
        for j in range(kw):
            tap = xp[:, :, i * dh: i * dh + sh * (ho - 1) + 1: sh,
                     j * dw: j * dw + sw * (wo - 1) + 1: sw]
            y += w[None, :, 0, i, j, None, None] * tap
    return y
