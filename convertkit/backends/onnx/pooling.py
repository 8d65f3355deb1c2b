"""ONNX's expression of Caffe's spatial layers: Pooling, Interp, Upsample and
ROIPooling."""
from __future__ import annotations

import numpy as np

from ...layers.pooling import ave_divisor, pooled_size, trailing_padding
from ..base import Context
from .core import BACKEND, _dims, _fixed, _g, _int_op, _int_vec, _varies


@BACKEND.register("Pooling")
def pooling(ctx: Context) -> None:
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    shape, top = ctx.bottom_shapes[0], ctx.top_shapes[0]
    if p.method == "STOCHASTIC":
        raise ctx.refuse("STOCHASTIC pooling has no ONNX expression", BACKEND.name)
    kernel = [shape[2], shape[3]] if p.kernel is None else list(p.kernel)
    stride, pad = list(p.stride), list(p.pad)
    op = "MaxPool" if p.method == "MAX" else "AveragePool"
    x = g.value(layer.bottoms[0])
    if _varies(ctx, layer.bottoms[0]):
        return _pooling_any_size(ctx, x, op)
    # onnxruntime's ceil mode drops a window starting in the right padding, padded or
    # not: Caffe's rule with its clip always on. ONNX's shape inference does not clip:
    # where the clip matters, the declared shapes would contradict the computed ones
    # (and the next Gemm or Reshape fails to load), so the padding is made explicit.
    native = all(pooled_size(shape[2 + i], kernel[i], stride[i], pad[i], padded=clip,
                             ceil=p.ceil) == top[2 + i]
                 for i in range(2) for clip in (True, False)) and all(
                     pad[i] < kernel[i] for i in range(2))
    attrs = {"kernel_shape": kernel, "strides": stride}
    if p.method == "AVE":
        attrs["count_include_pad"] = 1
    if len(layer.tops) > 1:  # MAX with the mask of max positions (SegNet)
        if not native:
            raise ctx.refuse("a MAX pooling mask with this window layout", BACKEND.name)
        flat_idx, plane_idx = g.tmp(layer, "indices"), g.tmp(layer, "plane_indices")
        g.node(op, [x], [g.write(layer.tops[0]), flat_idx], name=layer.name,
               ceil_mode=int(p.ceil), pads=[pad[0], pad[1], pad[0], pad[1]], **attrs)
        # MaxPool's indices count over the whole N x C x H x W input; Caffe's mask is
        # h * W + w within the plane.
        g.node("Mod", [flat_idx, g.const(layer, "plane", np.array(shape[2] * shape[3], np.int64))],
               [plane_idx])
        g.node("Cast", [plane_idx], [g.write(layer.tops[1])], name=f"{layer.name}.1", to=1)
        return
    if native:
        g.node(op, [x], [g.write(layer.tops[0])], name=layer.name, ceil_mode=int(p.ceil),
               pads=[pad[0], pad[1], pad[0], pad[1]], **attrs)
        return
    # Explicit padding to exactly the windows Caffe visits, then pool without padding.
    in_hw, out_hw = tuple(shape[2:]), tuple(top[2:])
    extra = trailing_padding(in_hw, kernel, stride, pad, out_hw)
    if min(extra) < 0:
        raise ctx.refuse("a pooling window layout ONNX cannot express", BACKEND.name)
    padded = g.tmp(layer, "padded")
    value = -3.4028234663852886e38 if p.method == "MAX" else 0.0
    g.node("Pad", [x, g.const(layer, "pads", np.array([0, 0, pad[0], pad[1], 0, 0, extra[0], extra[1]],
                                                       np.int64)),
                   g.const(layer, "pad_value", np.array(value, np.float32))], [padded])
    if p.method == "MAX":
        g.node(op, [padded], [g.write(layer.tops[0])], name=layer.name, **attrs)
        return
    summed = g.tmp(layer, "mean")
    g.node(op, [padded], [summed], **attrs)
    factor = np.float32(kernel[0] * kernel[1]) / ave_divisor(in_hw, kernel, stride, pad, out_hw)
    g.node("Mul", [summed, g.const(layer, "divisor", factor.astype(np.float32))],
           [g.write(layer.tops[0])], name=layer.name)


def _pooling_any_size(ctx: Context, x: str, op: str) -> None:
    """Pooling of a bottom whose size changes with the input: Caffe's output size at
    every size. Global pooling is Global*Pool; a layout whose ONNX ceil mode is
    Caffe's at every size (padded, or kernel >= stride, and pad < kernel) is the
    native op; any other is padded in the graph to exactly the windows Caffe visits,
    sizes computed from the input's shape by Caffe's integer rule."""
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    if len(layer.tops) > 1:  # the mask: MaxPool's indices modulo the plane, at run time
        kernel, stride, pad = list(p.kernel or ()), list(p.stride), list(p.pad)
        if p.kernel is None or not all((pad[0] or pad[1] or kernel[i] >= stride[i] or not p.ceil)
                                       and pad[i] < kernel[i] for i in range(2)):
            raise _fixed(ctx, "a MAX pooling mask with this window layout")
        flat_idx, plane_idx = g.tmp(layer, "indices"), g.tmp(layer, "plane_indices")
        g.node("MaxPool", [x], [g.write(layer.tops[0]), flat_idx], name=layer.name,
               ceil_mode=int(p.ceil), pads=[pad[0], pad[1], pad[0], pad[1]],
               kernel_shape=kernel, strides=stride)
        hw = _dims(ctx, x, 2, 4, "hw")
        plane = g.tmp(layer, "plane")
        g.node("ReduceProd", [hw], [plane], keepdims=1)
        g.node("Mod", [flat_idx, plane], [plane_idx])
        g.node("Cast", [plane_idx], [g.write(layer.tops[1])], name=f"{layer.name}.1", to=1)
        return
    top = g.write(layer.tops[0])
    if p.kernel is None:
        g.node("Global" + op, [x], [top], name=layer.name)
        return
    kernel, stride, pad = list(p.kernel), list(p.stride), list(p.pad)
    padded = bool(pad[0] or pad[1])
    attrs = {"kernel_shape": kernel, "strides": stride}
    if p.method == "AVE":
        attrs["count_include_pad"] = 1
    # ONNX's shape inference does not clip the last window: where the clip matters at
    # the planned size, a static size declared after it would contradict it.
    shape = ctx.bottom_shapes[0]
    clip_free = all(pooled_size(shape[2 + i], kernel[i], stride[i], pad[i], padded=True,
                                ceil=p.ceil)
                    == pooled_size(shape[2 + i], kernel[i], stride[i], pad[i], padded=False,
                                   ceil=p.ceil) for i in range(2))
    if clip_free and all((padded or kernel[i] >= stride[i] or not p.ceil) and pad[i] < kernel[i]
                         for i in range(2)):
        g.node(op, [x], [top], name=layer.name, ceil_mode=int(p.ceil),
               pads=[pad[0], pad[1], pad[0], pad[1]], **attrs)
        return
    # In-graph: out = ceil((H + 2p - k) / s) + 1, clipped to ceil((H + p) / s) when
    # padded (the last window starts inside the padded input); floor mode without
    # the clip. The trailing pad (out - 1) * s + k - (H + p) may be negative (crop).
    hw = _dims(ctx, x, 2, 4, "hw")
    k, st, pd = (_int_vec(ctx, v, n) for v, n in ((kernel, "k"), (stride, "s"), (pad, "p")))
    span = _int_op(ctx, "Sub", _int_op(ctx, "Add", hw, _int_vec(ctx, [2 * q for q in pad], "2p"),
                                       "hw2p"), k, "span")
    if p.ceil:
        span = _int_op(ctx, "Add", span, _int_op(ctx, "Sub", st, 1, "s1"), "span_up")
    out = _int_op(ctx, "Add", _int_op(ctx, "Div", span, st, "steps"), 1, "out")
    if p.ceil and padded:
        last = _int_op(ctx, "Div", _int_op(ctx, "Add", _int_op(ctx, "Add", hw, pd, "hwp"),
                                           _int_op(ctx, "Sub", st, 1, "s1b"), "hwp_up"),
                       st, "last")
        out = _int_op(ctx, "Min", out, last, "out_clipped")
    extra = _int_op(ctx, "Sub", _int_op(ctx, "Add", _int_op(ctx, "Mul", _int_op(
        ctx, "Sub", out, 1, "out1"), st, "reach"), k, "end"), _int_op(ctx, "Add", hw, pd, "hwp2"),
        "extra")
    pads = g.tmp(layer, "pads")
    g.node("Concat", [_int_vec(ctx, [0, 0, pad[0], pad[1], 0, 0], "lead"), extra], [pads], axis=0)
    value = -3.4028234663852886e38 if p.method == "MAX" else 0.0
    padded_x = g.tmp(layer, "padded")
    g.node("Pad", [x, pads, g.const(layer, "pad_value", np.array(value, np.float32))], [padded_x])
    if p.method == "MAX":
        g.node(op, [padded_x], [top], name=layer.name, **attrs)
        return
    # Caffe's divisor: the window's cells inside [-pad, H + pad), i.e. the average of
    # a map of ones over the padded input, zeros over the overhang.
    ones_shape = g.tmp(layer, "ones_shape")
    g.node("Concat", [_int_vec(ctx, [1, 1], "one_one"),
                      _int_op(ctx, "Add", hw, _int_vec(ctx, [2 * q for q in pad], "2p_b"), "hw2p_b")],
           [ones_shape], axis=0)
    ones, ones_padded, share, mean = (g.tmp(layer, t) for t in ("ones", "ones_padded", "share", "mean"))
    from onnx import numpy_helper

    g.node("ConstantOfShape", [ones_shape], [ones], value=numpy_helper.from_array(np.ones(1, np.float32)))
    tail = g.tmp(layer, "tail_pads")
    # Ones over [-pad, H + pad), zeros (or a crop) up to where the windows end.
    g.node("Concat", [_int_vec(ctx, [0, 0, 0, 0, 0, 0], "zeros6"),
                      _int_op(ctx, "Sub", extra, pd, "past_pad")], [tail], axis=0)
    g.node("Pad", [ones, tail, g.const(layer, "zero", np.array(0, np.float32))], [ones_padded])
    g.node("AveragePool", [ones_padded], [share], kernel_shape=kernel, strides=stride)
    g.node("AveragePool", [padded_x], [mean], kernel_shape=kernel, strides=stride)
    g.node("Div", [mean, share], [top], name=layer.name)


@BACKEND.register("Interp")
def interp(ctx: Context) -> None:
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    x = g.value(layer.bottoms[0])
    if p.pad_beg > 0 or p.pad_end > 0:
        raise ctx.refuse("Interp with positive pad_beg/pad_end (zero padding) is not expressed",
                         BACKEND.name)
    if p.pad_beg or p.pad_end:
        h, w = ctx.bottom_shapes[0][2:]
        # pad_end < 0 counts from the end (any size); 0 keeps the whole axis.
        ends = ([p.pad_end] * 2 if p.pad_end else [np.iinfo(np.int64).max] * 2) \
            if _varies(ctx, layer.bottoms[0]) else [h + p.pad_end, w + p.pad_end]
        cropped = g.tmp(layer, "cropped")
        g.node("Slice", [x, g.const(layer, "starts", np.array([-p.pad_beg] * 2, np.int64)),
                         g.const(layer, "ends", np.array(ends, np.int64)),
                         g.const(layer, "axes", np.array([2, 3], np.int64))], [cropped])
        x = cropped
    ho, wo = ctx.top_shapes[0][2:]
    if p.rule != "size" and _varies(ctx, layer.bottoms[0]):
        # Caffe's rule on the (cropped) input's size, in the graph.
        sizes = _dims(ctx, x, 2, 4, "hw")
        if p.rule in ("shrink", "shrink_zoom"):
            sizes = _int_op(ctx, "Add", _int_op(ctx, "Div", _int_op(ctx, "Sub", sizes, 1, "hw1"),
                                                p.shrink_factor, "shrunk"), 1, "shrink")
        if p.rule in ("zoom", "shrink_zoom"):
            sizes = _int_op(ctx, "Add", sizes, _int_op(ctx, "Mul", _int_op(
                ctx, "Sub", sizes, 1, "hw1z"), p.zoom_factor - 1, "grown"), "zoom")
    else:
        sizes = g.const(layer, "sizes", np.array([ho, wo], np.int64))
    g.node("Resize", [x, "", "", sizes],
           [g.write(layer.tops[0])], name=layer.name, mode="linear", axes=[2, 3],
           coordinate_transformation_mode="align_corners")


@BACKEND.register("Upsample")
def upsample(ctx: Context) -> None:
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    n, c, ho, wo = ctx.top_shapes[0]
    if p.dialect == "nearest":  # an integer factor: nearest is exact
        if _varies(ctx, layer.bottoms[0]):
            sizes = _int_op(ctx, "Mul", _dims(ctx, g.value(layer.bottoms[0]), 2, 4, "hw"),
                            _int_vec(ctx, [p.scale_h, p.scale_w], "scale"), "hw_up")
        else:
            sizes = g.const(layer, "sizes", np.array([ho, wo], np.int64))
        g.node("Resize", [g.value(layer.bottoms[0]), "", "", sizes],
               [g.write(layer.tops[0])], name=layer.name, mode="nearest", axes=[2, 3],
               coordinate_transformation_mode="asymmetric", nearest_mode="floor")
        return
    x, mask = (g.value(b) for b in layer.bottoms)
    dynamic = _varies(ctx, layer.bottoms[0]) and not p.upsample_h
    flat_x, flat_i, idx, dims, shape, zeros, scattered = (
        g.tmp(layer, t) for t in ("flat_x", "flat_mask", "index", "dims", "shape", "zeros", "top"))
    g.node("Reshape", [x, g.const(layer, "flat", np.array([0, 0, -1], np.int64))], [flat_x])
    g.node("Reshape", [mask, g.const(layer, "flat", np.array([0, 0, -1], np.int64))], [flat_i])
    g.node("Cast", [flat_i], [idx], to=7)
    g.node("Shape", [x], [dims], start=0, end=2)
    if dynamic:  # the top's size by Caffe's rule: H * scale - pad_out, at run time
        top_hw = _int_op(ctx, "Sub", _int_op(ctx, "Mul", _dims(ctx, x, 2, 4, "hw"),
                                             _int_vec(ctx, [p.scale_h, p.scale_w], "scale"), "hw_up"),
                         _int_vec(ctx, [int(p.pad_out_h), int(p.pad_out_w)], "pad_out"), "top_hw")
        plane = g.tmp(layer, "plane_now")
        g.node("ReduceProd", [top_hw], [plane], keepdims=1)
        top_shape = g.tmp(layer, "top_shape_now")
        g.node("Concat", [_int_vec(ctx, [0, 0], "keep"), top_hw], [top_shape], axis=0)
    else:
        plane = g.const(layer, "plane", np.array([ho * wo], np.int64))
        top_shape = g.const(layer, "top_shape", np.array([0, 0, ho, wo], np.int64))
    g.node("Concat", [dims, plane], [shape], axis=0)
    g.node("ConstantOfShape", [shape], [zeros],
           value=helper_tensor(np.zeros(1, np.float32)))
    g.node("ScatterElements", [zeros, idx, flat_x], [scattered], axis=2)
    g.node("Reshape", [scattered, top_shape], [g.write(layer.tops[0])], name=layer.name)


def helper_tensor(array: np.ndarray):
    from onnx import numpy_helper

    return numpy_helper.from_array(array)


@BACKEND.register("ROIPooling")
def roi_pooling(ctx: Context) -> None:
    """ONNX's MaxRoiPool computes Caffe's bins (round, floor, ceil, clipped)."""
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    rois = g.tmp(layer, "rois")
    g.node("Reshape", [g.value(layer.bottoms[1]), g.const(layer, "roi_shape", np.array([-1, 5], np.int64))],
           [rois])
    g.node("MaxRoiPool", [g.value(layer.bottoms[0]), rois], [g.write(layer.tops[0])],
           name=layer.name, pooled_shape=[p.pooled_h, p.pooled_w], spatial_scale=float(p.spatial_scale))
