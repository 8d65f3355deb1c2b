"""PyTorch's expression of each Caffe type.

A handler returns an :class:`Op`: the standard ``nn.Module`` that holds the layer's
learned params (``nn.Conv2d``, ``nn.ConvTranspose2d``, ``nn.Linear``,
``nn.BatchNorm2d``, ``nn.PReLU``...; None for layers without params) and a function
from the bottom tensors to the top tensors. The module's parameter names are the ones
the ``torch`` mapping table writes (``<module>.weight``, ``.running_mean`` ...), so an
emitted ``.pt`` / ``.safetensors`` loads with ``strict=True``.

Caffe's semantics, kept exactly: ceil-mode pooling with Caffe's padding clip and AVE
divisor, Interp through an explicit output size with ``align_corners=True``, BN eps
from the prototxt, Eltwise coefficients, grouped and dilated convolution.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...layers.pooling import pooled_size
from ..base import Backend, Context

BACKEND = Backend("torch")
Tensors = list[torch.Tensor]


@dataclass
class Op:
    """One layer in PyTorch: its parameter module (or None) and its forward."""

    module: nn.Module | None
    fn: Callable[[Tensors], Tensors]


#: Types whose expression here leaves PyTorch for numpy on data-dependent work, and
#: why: a net with one runs eagerly (from its .pt) but torch.export cannot trace it.
EAGER_ONLY = {
    "ROIPooling": "each ROI's bins are read from the ROI values",
}


def _axis(axis: int, ndim: int) -> int:
    return axis % ndim


@BACKEND.register("Input")
def input_(ctx: Context) -> Op:
    return Op(None, lambda xs: [])


# Learned layers ------------------------------------------------------------------------

@BACKEND.register("Convolution")
def convolution(ctx: Context) -> Op:
    p = ctx.layer.hparams
    channels = ctx.bottom_shapes[0][1]
    conv = nn.Conv2d(channels, p.num_output, p.kernel, stride=p.stride, padding=p.pad,
                     dilation=p.dilation, groups=p.group, bias=p.bias_term)
    return Op(conv, lambda xs: [conv(xs[0])])


@BACKEND.register("Deconvolution")
def deconvolution(ctx: Context) -> Op:
    p = ctx.layer.hparams
    channels = ctx.bottom_shapes[0][1]
    # Caffe: out = stride*(in-1) + dilation*(k-1) + 1 - 2*pad, PyTorch's rule with
    # output_padding 0; weights C x O/g x kh x kw in both.
    deconv = nn.ConvTranspose2d(channels, p.num_output, p.kernel, stride=p.stride,
                                padding=p.pad, dilation=p.dilation, groups=p.group,
                                bias=p.bias_term)
    return Op(deconv, lambda xs: [deconv(xs[0])])


@BACKEND.register("InnerProduct")
def inner_product(ctx: Context) -> Op:
    p = ctx.layer.hparams
    shape = ctx.bottom_shapes[0]
    axis = _axis(p.axis, len(shape))
    k = int(np.prod(shape[axis:]))
    linear = nn.Linear(k, p.num_output, bias=p.bias_term)
    return Op(linear, lambda xs: [linear(xs[0].flatten(axis))])


def _channel_view(x: torch.Tensor) -> tuple[int, ...]:
    return (1, -1) + (1,) * (x.dim() - 2)


@BACKEND.register("BN")
def bn(ctx: Context) -> Op:
    """PSPNet's BN kept as BatchNorm2d (eps from the prototxt), for fine-tuning.
    SegNet's BN: in INFERENCE mode a per-channel scale and shift; in LEARN mode a
    BatchNorm2d that always uses the statistics of the batch (eps 1e-9)."""
    shape = ctx.bottom_shapes[0]
    p = ctx.layer.hparams
    if p.dialect == "segnet":
        if p.mode == "INFERENCE":
            mod = ChannelAffine((shape[1],), 1, True, True)
            return Op(mod, lambda xs: [mod(xs[0])])
        norm = nn.BatchNorm2d(shape[1], eps=p.eps, track_running_stats=False)
        return Op(norm, lambda xs: [norm(xs[0])])
    norm = nn.BatchNorm2d(shape[1], eps=p.eps)

    def run(xs: Tensors) -> Tensors:
        x = xs[0]
        if x.dim() == 4:
            return [norm(x)]
        return [norm(x.reshape(x.shape[0], x.shape[1], -1, 1)).reshape(x.shape)]

    return Op(norm, run)


@BACKEND.register("BatchNorm")
def batchnorm(ctx: Context) -> Op:
    """BVLC BatchNorm: statistics divided by the scale factor (the mapping does it),
    no affine part (the Scale after it has one)."""
    p = ctx.layer.hparams
    shape = ctx.bottom_shapes[0]
    norm = nn.BatchNorm2d(shape[1], eps=p.eps, affine=False,
                          track_running_stats=True)
    if not p.use_global_stats:
        norm.track_running_stats = False  # batch statistics, as Caffe at TRAIN

    def run(xs: Tensors) -> Tensors:
        x = xs[0]
        y = norm(x.reshape(x.shape[0], x.shape[1], -1, 1) if x.dim() != 4 else x)
        return [y.reshape(x.shape)]

    return Op(norm, run)


class ChannelAffine(nn.Module):
    """Caffe's Scale / Bias with a learned operand: ``weight`` and ``bias`` keep Caffe's
    shape and broadcast over the axes Caffe gives them (axis, num_axes)."""

    def __init__(self, shape: tuple[int, ...], start: int, scale: bool, bias: bool):
        super().__init__()
        self.shape, self.start = tuple(shape), start
        self.weight = nn.Parameter(torch.ones(self.shape)) if scale else None
        self.bias = nn.Parameter(torch.zeros(self.shape)) if bias else None

    def operand_shape(self, x: torch.Tensor) -> tuple[int, ...]:
        return (1,) * self.start + self.shape + (1,) * (x.dim() - self.start - len(self.shape))

    def forward(self, x: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
        view = self.operand_shape(x)
        if scale is not None:  # a second bottom: its own sizes (any batch, any size)
            x = x * scale.reshape((1,) * self.start + tuple(scale.shape)
                                  + (1,) * (x.dim() - self.start - scale.dim()))
        elif self.weight is not None:
            x = x * self.weight.reshape(view)
        if self.bias is not None:
            x = x + self.bias.reshape(view)
        return x


def _operand_start(ctx: Context, axis: int, operand_ndim: int) -> int:
    ndim = len(ctx.bottom_shapes[0])
    return 0 if operand_ndim == 0 else _axis(axis, ndim)


@BACKEND.register("Scale")
def scale(ctx: Context) -> Op:
    p = ctx.layer.hparams
    shapes = ctx.layer.impl.param_shapes(ctx.bottom_shapes)
    if len(ctx.bottom_shapes) > 1:
        operand = tuple(ctx.bottom_shapes[1])
        mod = ChannelAffine(operand, _operand_start(ctx, p.axis, len(operand)), False, p.bias_term)
        return Op(mod if p.bias_term else None, lambda xs: [mod(xs[0], xs[1])])
    operand = tuple(shapes[0])
    mod = ChannelAffine(operand, _operand_start(ctx, p.axis, len(operand)), True, p.bias_term)
    return Op(mod, lambda xs: [mod(xs[0])])


@BACKEND.register("Bias")
def bias(ctx: Context) -> Op:
    p = ctx.layer.hparams
    if len(ctx.bottom_shapes) > 1:
        operand = tuple(ctx.bottom_shapes[1])
        start = _operand_start(ctx, p.axis, len(operand))
        return Op(None, lambda xs: [xs[0] + xs[1].reshape(
            (1,) * start + tuple(xs[1].shape) + (1,) * (xs[0].dim() - start - xs[1].dim()))])
    operand = tuple(ctx.layer.impl.param_shapes(ctx.bottom_shapes)[0])
    mod = ChannelAffine(operand, _operand_start(ctx, p.axis, len(operand)), False, True)
    return Op(mod, lambda xs: [mod(xs[0])])


@BACKEND.register("PReLU")
def prelu(ctx: Context) -> Op:
    channels = 1 if ctx.layer.hparams.channel_shared else ctx.bottom_shapes[0][1]
    mod = nn.PReLU(channels)
    return Op(mod, lambda xs: [mod(xs[0])])


# Element-wise layers ------------------------------------------------------------------

def _pointwise(fn: Callable[[torch.Tensor], torch.Tensor]) -> Op:
    return Op(None, lambda xs: [fn(xs[0])])


@BACKEND.register("ReLU")
def relu(ctx: Context) -> Op:
    slope = ctx.layer.hparams.negative_slope
    return _pointwise(F.relu if slope == 0 else (lambda x: F.leaky_relu(x, slope)))


@BACKEND.register("ELU")
def elu(ctx: Context) -> Op:
    alpha = ctx.layer.hparams.alpha
    return _pointwise(lambda x: F.elu(x, alpha))


@BACKEND.register("Sigmoid")
def sigmoid(ctx: Context) -> Op:
    return _pointwise(torch.sigmoid)


@BACKEND.register("TanH")
def tanh(ctx: Context) -> Op:
    return _pointwise(torch.tanh)


@BACKEND.register("AbsVal")
def absval(ctx: Context) -> Op:
    return _pointwise(torch.abs)


@BACKEND.register("BNLL")
def bnll(ctx: Context) -> Op:
    return _pointwise(F.softplus)  # log(1 + e^x), computed stably as Caffe does


@BACKEND.register("Threshold")
def threshold(ctx: Context) -> Op:
    t = ctx.layer.hparams.threshold
    return _pointwise(lambda x: (x > t).to(x.dtype))


@BACKEND.register("Dropout")
def dropout(ctx: Context) -> Op:
    s = ctx.layer.impl.test_scale()  # py-faster-rcnn's scale_train: false
    if s is None:
        return _pointwise(lambda x: x)  # identity at TEST
    return _pointwise(lambda x: x * float(s))


@BACKEND.register("Power")
def power(ctx: Context) -> Op:
    p = ctx.layer.hparams
    if p.power * p.scale == 0:  # Caffe: a constant, 1 if power == 0 else shift ** power
        value = 1.0 if p.power == 0 else float(np.power(np.float32(p.shift), np.float32(p.power)))
        return _pointwise(lambda x: torch.full_like(x, value))

    def run(x):
        y = x * p.scale if p.scale != 1 else x
        y = y + p.shift if p.shift != 0 else y
        return torch.pow(y, p.power) if p.power != 1 else y

    return _pointwise(run)


def _base_log(base: float) -> float:
    return 1.0 if base == -1 else float(np.log(np.float32(base)))


@BACKEND.register("Exp")
def exp(ctx: Context) -> Op:
    p = ctx.layer.hparams
    ln_base = _base_log(p.base)
    return _pointwise(lambda x: torch.exp((x * p.scale + p.shift) * ln_base))


@BACKEND.register("Log")
def log(ctx: Context) -> Op:
    p = ctx.layer.hparams
    ln_base = _base_log(p.base)
    return _pointwise(lambda x: torch.log(x * p.scale + p.shift) / ln_base)


@BACKEND.register("MVN")
def mvn(ctx: Context) -> Op:
    p = ctx.layer.hparams

    def run(x):
        rows = x.shape[0] if p.across_channels or x.dim() < 2 else x.shape[0] * x.shape[1]
        v = x.reshape(rows, -1)
        v = v - v.mean(dim=1, keepdim=True)
        if p.normalize_variance:
            v = v / (v.square().mean(dim=1, keepdim=True).sqrt() + p.eps)
        # MVNLayer::Reshape uses the legacy accessors: the top has 4 axes.
        return v.reshape(tuple(x.shape) + (1,) * (4 - x.dim()))

    return _pointwise(run)


@BACKEND.register("Softmax")
def softmax(ctx: Context) -> Op:
    axis = _axis(ctx.layer.hparams.axis, len(ctx.bottom_shapes[0]))
    return _pointwise(lambda x: F.softmax(x, dim=axis))


@BACKEND.register("LRN")
def lrn(ctx: Context) -> Op:
    p, impl = ctx.layer.hparams, ctx.layer.impl
    size = p.local_size

    def run(x):
        sq = x * x
        reach = impl.reach(tuple(x.shape))  # the window cut to the blob (layers/lrn.py)
        kernel = 2 * reach + 1
        if p.norm_region == "ACROSS_CHANNELS":
            # k + alpha/size * sum over the channel window, zero-padded as Caffe does.
            padded = F.pad(sq, (0, 0, 0, 0, reach, reach))
            windows = padded.unfold(1, kernel, 1).sum(-1)
            scale = windows * (p.alpha / size) + p.k
        else:  # Caffe divides by size^2 whatever the window holds
            avg = F.avg_pool2d(sq, kernel, 1, reach, count_include_pad=True)
            scale = avg * (p.alpha * kernel * kernel / (size * size)) + 1.0
        return scale.pow(-p.beta) * x

    return _pointwise(run)


# Spatial layers -------------------------------------------------------------------------

@BACKEND.register("Pooling")
def pooling(ctx: Context) -> Op:
    """Caffe's ceil-mode pooling. PyTorch's ceil_mode uses the same output-size clip
    and (count_include_pad=True) the same AVE divisor: padding cells count, the ceil
    overhang does not. Where PyTorch cannot take the parameters (pad > kernel/2, or
    an unpadded layer whose last window would start past the input), the padding is
    made explicit."""
    p = ctx.layer.hparams
    shape, top = ctx.bottom_shapes[0], ctx.top_shapes[0]
    kernel = (shape[2], shape[3]) if p.kernel is None else p.kernel
    stride, pad = p.stride, p.pad
    out_hw = tuple(top[2:])
    # PyTorch's rule is Caffe's with the ceil-mode clip applied even without padding.
    native = all(pad[i] <= kernel[i] // 2 for i in range(2)) and all(
        pooled_size(shape[2 + i], kernel[i], stride[i], pad[i], padded=True, ceil=p.ceil)
        == out_hw[i] for i in range(2))
    if p.method == "STOCHASTIC":
        raise ctx.refuse("STOCHASTIC pooling has no PyTorch expression", BACKEND.name)
    if p.kernel is None and len(ctx.layer.tops) == 1:  # global: whatever the size
        if p.method == "MAX":
            return _pointwise(lambda x: x.amax(dim=(2, 3), keepdim=True))
        return _pointwise(lambda x: x.mean(dim=(2, 3), keepdim=True))
    # Whether PyTorch's own rule is Caffe's at every input size, not only this one.
    native = native and p.kernel is not None and all(
        (pad[i] or pad[1 - i] or kernel[i] >= stride[i] or not p.ceil) for i in range(2))
    if len(ctx.layer.tops) > 1:  # MAX with the mask of max positions (SegNet)
        if not native:
            raise ctx.refuse("a MAX pooling mask with this window layout", BACKEND.name)

        def with_mask(xs):
            y, idx = F.max_pool2d(xs[0], kernel, stride, pad, ceil_mode=p.ceil,
                                  return_indices=True)
            return [y, idx.to(y.dtype)]  # h * W + w in the bottom plane, as Caffe's mask

        return Op(None, with_mask)
    if native:
        if p.method == "MAX":
            return _pointwise(lambda x: F.max_pool2d(x, kernel, stride, pad, ceil_mode=p.ceil))
        return _pointwise(lambda x: F.avg_pool2d(x, kernel, stride, pad, ceil_mode=p.ceil,
                                                 count_include_pad=True))
    return _explicit_pooling(p.method, kernel, stride, pad, p.ceil)


def _smaller(a, b):
    return min(a, b) if isinstance(a, int) and isinstance(b, int) else torch.sym_min(a, b)


def pooled(size, kernel: int, stride: int, pad: int, padded: bool, ceil: bool):
    """Caffe's pooled size (layers/pooling.py ``pooled_size``) without a branch on
    the size, so that it holds for a symbolic size too: in ceil mode with padding the
    last window must start inside the padded input, i.e. at most ceil((H + p) / s)."""
    if not ceil:
        return (size + 2 * pad - kernel) // stride + 1
    out = (size + 2 * pad - kernel + stride - 1) // stride + 1
    return _smaller(out, (size + pad + stride - 1) // stride) if padded else out


def _explicit_pooling(method, kernel, stride, pad, ceil) -> Op:
    """Pad to exactly the windows Caffe visits, then pool without padding; sizes from
    the input's own at call time (any size). AVE divides by Caffe's divisor: the
    window's cells inside [-pad, H + pad), the average of a padded map of ones."""
    padded = bool(pad[0] or pad[1])

    def run(x):
        h, w = x.shape[2], x.shape[3]
        extra = [(pooled(n, kernel[i], stride[i], pad[i], padded, ceil) - 1) * stride[i]
                 + kernel[i] - (n + pad[i]) for i, n in enumerate((h, w))]
        # (left, right, top, bottom); a negative right/bottom pad crops unused rows.
        pads = (pad[1], extra[1], pad[0], extra[0])
        if method == "MAX":
            return F.max_pool2d(F.pad(x, pads, value=float("-inf")), kernel, stride)
        # Ones over [-pad, H + pad), zeros (or a crop) up to where the windows end.
        ones = x.new_ones(1, 1, h + 2 * pad[0], w + 2 * pad[1])
        ones = F.pad(ones, (0, extra[1] - pad[1], 0, extra[0] - pad[0]))
        share = F.avg_pool2d(ones, kernel, stride)
        return F.avg_pool2d(F.pad(x, pads), kernel, stride) / share

    return _pointwise(run)


def interp_size(p, h, w):
    """The fork's Interp output size (layers/interp.py) from the cropped input's size;
    plain arithmetic, so a symbolic size stays symbolic."""
    if p.rule == "size":
        return p.height, p.width

    def out(n):
        if p.rule in ("shrink", "shrink_zoom"):
            n = (n - 1) // p.shrink_factor + 1
        if p.rule in ("zoom", "shrink_zoom"):
            n = n + (n - 1) * (p.zoom_factor - 1)
        return n

    return out(h), out(w)


@BACKEND.register("Interp")
def interp(ctx: Context) -> Op:
    """Bilinear with align_corners=True to the explicit size Caffe computes (never a
    scale factor); pad_beg/pad_end (<= 0) crop first."""
    p = ctx.layer.hparams
    beg, end = p.pad_beg, p.pad_end
    if beg > 0 or end > 0:
        raise ctx.refuse("Interp with positive pad_beg/pad_end (zero padding) is not expressed",
                         BACKEND.name)

    def run(x):
        if beg or end:
            h, w = x.shape[2], x.shape[3]
            x = x[:, :, -beg:h + end, -beg:w + end]
        size = interp_size(p, x.shape[2], x.shape[3])  # Caffe's rule, at call time
        return F.interpolate(x, size=size, mode="bilinear", align_corners=True)

    return _pointwise(run)


# Other forks' layers ----------------------------------------------------------------------

@BACKEND.register("ReLU6")
def relu6(ctx: Context) -> Op:
    return _pointwise(lambda x: torch.clamp(x, 0.0, 6.0))


@BACKEND.register("Axpy")
def axpy(ctx: Context) -> Op:
    return Op(None, lambda xs: [xs[0].reshape(xs[0].shape[:2] + (1,) * (xs[1].dim() - 2))
                                * xs[1] + xs[2]])


@BACKEND.register("ShuffleChannel")
def shuffle_channel(ctx: Context) -> Op:
    g = ctx.layer.hparams.group

    def run(x):
        n, c = x.shape[:2]
        return x.reshape(n, g, c // g, -1).transpose(1, 2).reshape(x.shape)

    return _pointwise(run)


@BACKEND.register("Permute")
def permute(ctx: Context) -> Op:
    axes = ctx.layer.impl.axes(len(ctx.bottom_shapes[0]))
    return _pointwise(lambda x: x.permute(*axes))


class Normalize(nn.Module):
    """SSD's Normalize: L2 over (C, H, W) or over C per pixel, then ``weight``."""

    def __init__(self, channels: int, across_spatial: bool, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.across_spatial, self.eps = across_spatial, eps

    def forward(self, x):
        dims = tuple(range(1, x.dim())) if self.across_spatial else (1,)
        norm = torch.sqrt(x.square().sum(dim=dims, keepdim=True) + self.eps)
        return x / norm * self.weight.reshape((1, -1) + (1,) * (x.dim() - 2))


@BACKEND.register("Normalize")
def normalize(ctx: Context) -> Op:
    p = ctx.layer.hparams
    mod = Normalize(1 if p.channel_shared else ctx.bottom_shapes[0][1], p.across_spatial, p.eps)
    return Op(mod, lambda xs: [mod(xs[0])])


@BACKEND.register("Upsample")
def upsample(ctx: Context) -> Op:
    p = ctx.layer.hparams
    if p.dialect == "nearest":
        return _pointwise(lambda x: x.repeat_interleave(p.scale_h, 2).repeat_interleave(p.scale_w, 3))
    impl = ctx.layer.impl

    def unpool(xs):
        x, mask = xs
        _, _, ho, wo = impl.reshape([tuple(x.shape), tuple(mask.shape)])[0]
        flat = x.reshape(x.shape[0], x.shape[1], -1)
        top = flat.new_zeros(x.shape[0], x.shape[1], ho * wo)
        top.scatter_(2, mask.reshape(flat.shape).long(), flat)
        return [top.reshape(x.shape[0], x.shape[1], ho, wo)]

    return Op(None, unpool)


@BACKEND.register("PriorBox")
def prior_box(ctx: Context) -> Op:
    """The boxes depend on the shapes alone: a constant of the plan."""
    impl = ctx.layer.impl

    def run(xs):  # the boxes of the sizes at hand (a constant when exported)
        boxes = impl.boxes(tuple(int(d) for d in xs[0].shape[2:]),
                           tuple(int(d) for d in xs[1].shape[2:]))
        return [torch.from_numpy(boxes).to(xs[0].device, xs[0].dtype)]

    return Op(None, run)


@BACKEND.register("ROIPooling")
def roi_pooling(ctx: Context) -> Op:
    from ...layers.roi_pooling import roi_bins

    p = ctx.layer.hparams

    def run(xs):
        feat, rois = xs
        h, w = feat.shape[2:]
        out = feat.new_zeros(rois.shape[0], feat.shape[1], p.pooled_h, p.pooled_w)
        for r, roi in enumerate(rois.reshape(-1, 5).detach().cpu().numpy()):
            n, rows, cols = roi_bins(roi, p, h, w)
            for i, (hs, he) in enumerate(rows):
                for j, (ws, we) in enumerate(cols):
                    if he > hs and we > ws:
                        out[r, :, i, j] = feat[n, :, hs:he, ws:we].amax(dim=(1, 2))
        return [out]

    return Op(None, run)


# Data movement -------------------------------------------------------------------------

@BACKEND.register("Eltwise")
def eltwise(ctx: Context) -> Op:
    p = ctx.layer.hparams

    def run(xs: Tensors) -> Tensors:
        if p.operation == "PROD":
            y = xs[0]
            for x in xs[1:]:
                y = y * x
        elif p.operation == "MAX":
            y = xs[0]
            for x in xs[1:]:
                y = torch.maximum(y, x)
        else:
            coeffs = p.coeffs or (1.0,) * len(xs)
            y = xs[0] * coeffs[0] if coeffs[0] != 1 else xs[0]
            for c, x in zip(coeffs[1:], xs[1:]):
                y = y + (x * c if c != 1 else x)
        return [y]

    return Op(None, run)


@BACKEND.register("Concat")
def concat(ctx: Context) -> Op:
    axis = _axis(ctx.layer.hparams.axis, len(ctx.bottom_shapes[0]))
    return Op(None, lambda xs: [torch.cat(xs, dim=axis)])


@BACKEND.register("Slice")
def slice_(ctx: Context) -> Op:
    axis = _axis(ctx.layer.hparams.axis, len(ctx.bottom_shapes[0]))
    impl = ctx.layer.impl
    return Op(None, lambda xs: list(torch.split(xs[0], impl._sizes(tuple(xs[0].shape))[1],
                                                dim=axis)))


@BACKEND.register("Split")
def split(ctx: Context) -> Op:
    n = len(ctx.layer.tops)
    return Op(None, lambda xs: [xs[0]] * n)


@BACKEND.register("Crop")
def crop(ctx: Context) -> Op:
    shape, ref = ctx.bottom_shapes
    p = ctx.layer.hparams
    start = _axis(p.axis, len(shape))
    offs = [p.offset[0] if len(p.offset) == 1 else (p.offset[i - start] if p.offset else 0)
            for i in range(start, len(shape))]

    def run(xs):  # the reference's own size, at call time
        x, ref_now = xs
        index = [slice(None)] * start + [slice(o, o + ref_now.shape[i])
                                         for o, i in zip(offs, range(start, x.dim()))]
        return [x[tuple(index)]]

    return Op(None, run)


def _reshape_to_plan(ctx: Context) -> Op:
    """Flatten / Reshape: the shape rule of the type's own module, applied to the
    actual bottom shape (so another batch size works too)."""
    impl = ctx.layer.impl
    return Op(None, lambda xs: [xs[0].reshape(impl.reshape([tuple(int(d) for d in xs[0].shape)])[0])])


@BACKEND.register("Reshape")
def reshape(ctx: Context) -> Op:
    """Caffe's dims on the bottom's own sizes: 0 copies an axis, one -1 is inferred
    (no size is read as a Python int, so a free size stays free in torch.export)."""
    p, nd = ctx.layer.hparams, len(ctx.bottom_shapes[0])
    start = p.axis if p.axis >= 0 else nd + p.axis + 1
    end = nd if p.num_axes == -1 else start + p.num_axes

    def run(x):
        shape = list(x.shape)
        mid = [shape[start + i] if d == 0 else d for i, d in enumerate(p.dims)]
        return x.reshape(shape[:start] + mid + shape[end:])

    return _pointwise(run)


@BACKEND.register("Flatten")
def flatten(ctx: Context) -> Op:
    """Caffe's Flatten is torch.flatten (any size: no size is fixed)."""
    p, nd = ctx.layer.hparams, len(ctx.bottom_shapes[0])
    start, end = p.axis % nd, p.end_axis % nd
    return _pointwise(lambda x: x.flatten(start, end))


@BACKEND.register("ArgMax")
def argmax(ctx: Context) -> Op:
    p = ctx.layer.hparams
    top_shape = ctx.top_shapes[0]

    def run(xs: Tensors) -> Tensors:
        x = xs[0]
        if p.axis is None:
            flat = x.reshape(x.shape[0], -1)
            values, idx = torch.topk(flat, p.top_k, dim=1)
            out = torch.stack([idx.to(x.dtype), values], 1) if p.out_max_val else idx.to(x.dtype)
            return [out.reshape((x.shape[0],) + tuple(top_shape[1:]))]
        axis = _axis(p.axis, x.dim())
        values, idx = torch.topk(x, p.top_k, dim=axis)
        return [values if p.out_max_val else idx.to(x.dtype)]

    return Op(None, run)


# Handlers grouped by family, in their own modules.
from . import activations, detection, tensors, python_layers  # noqa: E402,F401

# Expressions that plugins declared for this backend (convertkit.plugins).
from .. import apply_pending  # noqa: E402

apply_pending("torch", BACKEND)
