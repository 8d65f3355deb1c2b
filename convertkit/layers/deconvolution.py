"""Caffe ``Deconvolution`` (transposed convolution; 2-D spatial, ``axis: 1``).

Caffe implements it as the backward pass of Convolution with the roles of input and
output swapped (``deconv_layer.cpp``, ``reverse_dimensions() == true``):

* weights are ``C x O/group x kh x kw`` (C = bottom channels), bias ``(O,)``;
* output size ``Ho = stride_h*(H-1) + dilation_h*(kernel_h-1) + 1 - 2*pad_h``;
* forward: per group, ``col = W_g^T @ x_g`` then ``col2im`` scatter-adds each kernel
  tap into the (padded) output, and the padding border is dropped.

MACs convention: multiply-adds of the weights, ``N*C*H*W*(O/group)*kh*kw`` (every input
pixel meets every weight once); the bias add is not counted.

The forward runs one GEMM per kernel tap and scatter-adds it into a strided view of
the padded output, in tap order (i, j): the order col2im sums the taps in.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .base import LayerImpl, Shape, canonical_axis, fmt_shape, register
from .convolution import ConvParams, check_bottom_4d, checked_params, read_conv_params


@register("Deconvolution")
class DeconvolutionLayer(LayerImpl):

    def param_roles(self) -> tuple[str, ...]:
        return ("weight", "bias") if self.p.bias_term else ("weight",)

    def weight_axes(self) -> tuple[int, int]:
        return 1, 0  # C x O/group x kh x kw
    def read_params(self, proto: Any) -> ConvParams:
        return read_conv_params(self, proto.convolution_param)

    def param_shapes(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        p = self.p
        channels = bottom_shapes[0][canonical_axis(p.axis, len(bottom_shapes[0]), self)]
        shapes: list[Shape] = [(channels, p.num_output // p.group, *p.kernel)]
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
        ho, wo = (s * (size - 1) + d * (k - 1) + 1 - 2 * pad
                  for size, k, s, pad, d in zip((h, w), p.kernel, p.stride, p.pad, p.dilation))
        if ho <= 0 or wo <= 0:
            raise self.fail(f"padding {p.pad[0]}x{p.pad[1]} crops away the whole output "
                            f"({ho}x{wo}) of bottom {fmt_shape(shape)}")
        return [(n, p.num_output, ho, wo)]

    def macs(self, bottom_shapes: Sequence[Shape], top_shapes: Sequence[Shape]) -> int:
        n, c, h, w = (int(d) for d in bottom_shapes[0])
        o = int(top_shapes[0][1])
        kh, kw = self.p.kernel
        return n * c * h * w * (o // self.p.group) * kh * kw

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = np.asarray(bottoms[0], dtype=np.float32)
        (_, o, ho, wo), = self.reshape([x.shape])
        weights, bias = checked_params(self, x.shape, params)
        p = self.p
        n, c, h, w = x.shape
        g = p.group
        cg, og = c // g, o // g
        kh, kw = p.kernel
        sh, sw = p.stride
        dh, dw = p.dilation
        ph, pw = p.pad
        # The full (uncropped) output: taps land at i*dh + sh*y for y in [0, H).
        full = np.zeros((n, g, og, ho + 2 * ph, wo + 2 * pw), np.float32)
        # taps[i, j, g] is W_g[:, :, i, j]^T, O/g x C/g.
        taps = np.ascontiguousarray(weights.reshape(g, cg, og, kh, kw).transpose(3, 4, 0, 2, 1))
        xg = x.reshape(n, g, cg, h * w)
        part = np.empty((n, og, h * w), np.float32)
        for gi in range(g):
            for i in range(kh):
                for j in range(kw):
                    np.matmul(taps[i, j, gi], xg[:, gi], out=part)
                    full[:, gi, :, i * dh: i * dh + sh * (h - 1) + 1: sh,
                         j * dw: j * dw + sw * (w - 1) + 1: sw] += part.reshape(n, og, h, w)
        y = np.ascontiguousarray(full.reshape(n, o, ho + 2 * ph, wo + 2 * pw)
                                 [:, :, ph:ph + ho, pw:pw + wo])
        if bias is not None:
            y += bias[None, :, None, None]
        return [y]
