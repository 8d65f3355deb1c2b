"""PyTorch's expression of Caffe's spatial layers: Pooling, Interp, Upsample and
ROIPooling."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...layers.pooling import pooled_size
from ..base import Context
from .core import BACKEND, Op, _pointwise


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
