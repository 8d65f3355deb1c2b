"""TensorFlow's expression of Caffe's spatial layers: Pooling, Interp, Upsample and
ROIPooling, with their Keras layers."""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from ..base import Context, varies
from .core import (BACKEND, FLT_MAX, FLT_MIN, Op, _base, _multi, _name, _pair, _single, register,
                   to_caffe, to_internal)


@register
class CaffePool2D(keras.layers.Layer):
    """Caffe's pooling, exactly: Caffe's output size (ceil mode with its padding clip,
    or floor with ``ceil=False``); the input is padded to exactly the windows Caffe
    visits (its ``pad`` before, the overhang after; a negative overhang crops rows no
    window reads), then pooled VALID. MAX pads with -FLT_MAX (Caffe's initial value:
    padding never wins). AVE pads with zeros and divides by Caffe's window size
    clipped to ``[-pad, H + pad)`` (padding counts, the ceil overhang does not): the
    VALID average times ``kernel area / that size``. STOCHASTIC (no padding) is its
    TEST-phase weighted mean ``sum(x^2) / (FLT_MIN + sum(x))``. With ``with_mask``
    (MAX only, SegNet) a second output holds where each max was, ``h * W + w`` in the
    input plane (the first of equal maxima in window order, as Caffe's ``>``), -1 for
    an empty window. Sizes and divisors are those of convertkit.layers.pooling."""

    def __init__(self, method, kernel=None, strides=(1, 1), pad=(0, 0), ceil=True,
                 with_mask=False, **kwargs):
        super().__init__(**_base(kwargs))
        self.method = str(method)
        self.kernel = None if kernel is None else _pair(kernel)
        self.strides, self.pad = _pair(strides), _pair(pad)
        self.ceil, self.with_mask = bool(ceil), bool(with_mask)

    def geometry(self, h: int, w: int):
        """((kh, kw), (ho, wo), (after_h, after_w)) for an h x w input."""
        from ...layers.pooling import pooled_size, trailing_padding

        kernel = (h, w) if self.kernel is None else self.kernel
        padded = bool(self.pad[0] or self.pad[1])
        out = tuple(pooled_size(size, k, s, p, padded, self.ceil)
                    for size, k, s, p in zip((h, w), kernel, self.strides, self.pad))
        return kernel, out, trailing_padding((h, w), kernel, self.strides, self.pad, out)

    def divisor_scale(self, h: int, w: int) -> np.ndarray | None:
        """kernel area / Caffe's AVE divisor per output cell (None: all ones)."""
        from ...layers.pooling import ave_divisor

        (kh, kw), out, _ = self.geometry(h, w)
        div = ave_divisor((h, w), (kh, kw), self.strides, self.pad, out).astype(np.float64)
        scale = (kh * kw) / div
        if np.all(scale == 1):
            return None
        return scale.astype(np.float32).reshape(1, out[0], out[1], 1)

    def call(self, x):
        if x.shape[1] is None or x.shape[2] is None:
            return self._call_any_size(x)
        h, w = int(x.shape[1]), int(x.shape[2])
        kernel, out, (ah, aw) = self.geometry(h, w)
        ph, pw = self.pad
        if ah < 0 or aw < 0:
            x = x[:, :h + min(ah, 0), :w + min(aw, 0), :]
        pads = [[0, 0], [ph, max(ah, 0)], [pw, max(aw, 0)], [0, 0]]
        fill = -FLT_MAX if self.method == "MAX" else 0.0
        if any(a or b for a, b in pads):
            x = tf.pad(x, pads, constant_values=fill)
        if self.method == "MAX":
            y = tf.nn.max_pool2d(x, kernel, self.strides, "VALID")
            return [y, self._mask(x, kernel, out, h, w)] if self.with_mask else y
        area = float(kernel[0] * kernel[1])
        if self.method == "STOCHASTIC":
            sq = tf.nn.avg_pool2d(x * x, kernel, self.strides, "VALID") * area
            total = tf.nn.avg_pool2d(x, kernel, self.strides, "VALID") * area + FLT_MIN
            return sq / total
        y = tf.nn.avg_pool2d(x, kernel, self.strides, "VALID")
        scale = self.divisor_scale(h, w)
        return y if scale is None else y * tf.constant(scale)

    def _call_any_size(self, x):
        """The same windows for a size known only at run time: Caffe's output size by
        its integer rule (ceil with the clip to windows starting inside the padded
        input), the overhang padded or cropped, AVE divided by Caffe's divisor (the
        average of a map of ones over [-pad, H + pad), zeros past it)."""
        if self.kernel is None:  # global pooling
            if self.method == "MAX":
                return tf.reduce_max(x, axis=[1, 2], keepdims=True)
            if self.method == "AVE":
                return tf.reduce_mean(x, axis=[1, 2], keepdims=True)
            total = tf.reduce_sum(x, axis=[1, 2], keepdims=True) + FLT_MIN
            return tf.reduce_sum(x * x, axis=[1, 2], keepdims=True) / total
        kernel, (sh, sw), (ph, pw) = self.kernel, self.strides, self.pad
        padded = bool(ph or pw)
        shape = tf.shape(x)
        extra = []
        for size, k, s, p in ((shape[1], kernel[0], sh, ph), (shape[2], kernel[1], sw, pw)):
            if self.ceil:
                out = (size + 2 * p - k + s - 1) // s + 1
                if padded:
                    out = tf.minimum(out, (size + p + s - 1) // s)
            else:
                out = (size + 2 * p - k) // s + 1
            extra.append((out - 1) * s + k - (size + p))
        ah, aw = extra
        x = x[:, :shape[1] + tf.minimum(ah, 0), :shape[2] + tf.minimum(aw, 0), :]
        pads = [[0, 0], [ph, tf.maximum(ah, 0)], [pw, tf.maximum(aw, 0)], [0, 0]]
        fill = -FLT_MAX if self.method == "MAX" else 0.0
        xp = tf.pad(x, pads, constant_values=fill)
        if self.method == "MAX":
            y = tf.nn.max_pool2d(xp, kernel, self.strides, "VALID")
            if not self.with_mask:
                return y
            outs = [(size + a + p - k) // s + 1 for size, a, p, k, s in
                    ((shape[1], ah, ph, kernel[0], sh), (shape[2], aw, pw, kernel[1], sw))]
            return [y, self._mask(xp, kernel, outs, shape[1], shape[2])]
        area = float(kernel[0] * kernel[1])
        if self.method == "STOCHASTIC":
            sq = tf.nn.avg_pool2d(xp * xp, kernel, self.strides, "VALID") * area
            total = tf.nn.avg_pool2d(xp, kernel, self.strides, "VALID") * area + FLT_MIN
            return sq / total
        # Ones over [-pad, H + pad), zeros (or a crop) up to where the windows end.
        bh, bw = ah - ph, aw - pw
        ones = tf.ones(tf.stack([1, shape[1] + 2 * ph + tf.minimum(bh, 0),
                                 shape[2] + 2 * pw + tf.minimum(bw, 0), 1]))
        ones = tf.pad(ones, [[0, 0], [0, tf.maximum(bh, 0)], [0, tf.maximum(bw, 0)], [0, 0]])
        share = tf.nn.avg_pool2d(ones, kernel, self.strides, "VALID")
        return tf.nn.avg_pool2d(xp, kernel, self.strides, "VALID") / share

    def _mask(self, xp, kernel, out, h, w):
        """Caffe's mask top of a MAX pool over the padded ``xp``: one pass per tap,
        a tap replacing the best so far only where it is strictly greater."""
        (kh, kw), (sh, sw), (ph, pw), (ho, wo) = kernel, self.strides, self.pad, out
        best, where = tf.constant(-FLT_MAX), tf.constant(-1.0)
        static = all(isinstance(v, int) for v in (ho, wo, w))
        arange = np.arange if static else (lambda n: tf.range(n))
        for i in range(kh):
            rows = arange(ho) * sh - ph + i
            for j in range(kw):
                cols = arange(wo) * sw - pw + j
                tap = xp[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw, :]
                index = rows[:, None] * w + cols[None, :]
                index = (tf.constant(index.astype(np.float32).reshape(1, ho, wo, 1)) if static
                         else tf.cast(index, tf.float32)[None, :, :, None])
                better = tap > best  # padding (-FLT_MAX) never is
                best = tf.where(better, tap, best)
                where = tf.where(better, index, where)
        return where

    def get_config(self):
        config = super().get_config()
        config.update(method=self.method, kernel=None if self.kernel is None else list(self.kernel),
                      strides=list(self.strides), pad=list(self.pad), ceil=self.ceil,
                      with_mask=self.with_mask)
        return config


@BACKEND.register("Pooling")
def pooling(ctx: Context) -> Op:
    """Caffe's pooling (ceil or floor rounding) made exact by explicit padding (see
    CaffePool2D); a second top is the MAX pool's mask."""
    p = ctx.layer.hparams
    mask = len(ctx.layer.tops) > 1  # MAX with the mask of max positions (SegNet)
    layer = CaffePool2D(p.method, p.kernel, strides=p.stride, pad=p.pad, ceil=p.ceil,
                        with_mask=mask, name=_name(ctx))
    if mask:
        return Op(layer, lambda xs: list(layer(xs[0])))
    return _single(layer)


def interp_size(rule: str, size: int, height_or_width: int, zoom: int, shrink: int) -> int:
    """The fork's Interp output size along one axis (interp_layer.cpp Reshape)."""
    if rule == "size":
        return height_or_width
    if rule in ("shrink", "shrink_zoom"):
        size = (size - 1) // shrink + 1
    if rule in ("zoom", "shrink_zoom"):
        size = size + (size - 1) * (zoom - 1)
    return size


@register
class CaffeInterp(keras.layers.Layer):
    """The PSPNet fork's Interp: crop ``[-pad_beg, H + pad_end)`` (pad_* <= 0), then
    bilinear with align_corners=True to the explicit size Caffe computes from the
    cropped size (shrink/zoom/height-width rules): TF1's
    ``resize_bilinear(align_corners=True)`` (``tf.raw_ops.ResizeBilinear``; TF2's
    ``tf.image.resize`` has no align_corners), never a scale factor. Same size: a copy."""

    def __init__(self, rule, height=0, width=0, zoom_factor=1, shrink_factor=1, pad_beg=0,
                 pad_end=0, **kwargs):
        super().__init__(**_base(kwargs))
        self.rule, self.height, self.width = str(rule), int(height), int(width)
        self.zoom_factor, self.shrink_factor = int(zoom_factor), int(shrink_factor)
        self.pad_beg, self.pad_end = int(pad_beg), int(pad_end)

    def output_hw(self, h: int, w: int) -> tuple[int, int]:
        h_eff, w_eff = h + self.pad_beg + self.pad_end, w + self.pad_beg + self.pad_end
        return (interp_size(self.rule, h_eff, self.height, self.zoom_factor, self.shrink_factor),
                interp_size(self.rule, w_eff, self.width, self.zoom_factor, self.shrink_factor))

    def call(self, x):
        if x.shape[1] is None or x.shape[2] is None:  # a free size: Caffe's rule in graph
            beg, end = self.pad_beg, self.pad_end
            if beg or end:
                x = x[:, -beg:(end or None), -beg:(end or None), :]
            size = tf.shape(x)[1:3]
            if self.rule == "size":
                size = tf.constant([self.height, self.width], tf.int32)
            if self.rule in ("shrink", "shrink_zoom"):
                size = (size - 1) // self.shrink_factor + 1
            if self.rule in ("zoom", "shrink_zoom"):
                size = size + (size - 1) * (self.zoom_factor - 1)
            return tf.raw_ops.ResizeBilinear(images=x, size=size, align_corners=True,
                                             half_pixel_centers=False)
        h, w = int(x.shape[1]), int(x.shape[2])
        beg, end = self.pad_beg, self.pad_end
        if beg or end:
            x = x[:, -beg:h + end, -beg:w + end, :]
        ho, wo = self.output_hw(h, w)
        if (int(x.shape[1]), int(x.shape[2])) == (ho, wo):
            return tf.identity(x)
        # TF1's resize_bilinear(align_corners=True) (the raw op: no deprecation notice).
        return tf.raw_ops.ResizeBilinear(images=x, size=[ho, wo], align_corners=True,
                                         half_pixel_centers=False)

    def get_config(self):
        config = super().get_config()
        config.update(rule=self.rule, height=self.height, width=self.width,
                      zoom_factor=self.zoom_factor, shrink_factor=self.shrink_factor,
                      pad_beg=self.pad_beg, pad_end=self.pad_end)
        return config


@BACKEND.register("Interp")
def interp(ctx: Context) -> Op:
    """Bilinear, align_corners=True, to the explicit size Caffe computes; pad_beg /
    pad_end (<= 0) crop first."""
    p = ctx.layer.hparams
    if p.pad_beg > 0 or p.pad_end > 0:
        raise ctx.refuse("Interp with positive pad_beg/pad_end (zero padding) is not expressed",
                         BACKEND.name)
    layer = CaffeInterp(p.rule, p.height, p.width, p.zoom_factor, p.shrink_factor,
                        p.pad_beg, p.pad_end, name=_name(ctx))
    return _single(layer)


@register
class CaffeUpsample(keras.layers.Layer):
    """``Upsample`` of the YOLOv3 forks: each pixel repeated ``scale_h x scale_w``."""

    def __init__(self, scale_h, scale_w, **kwargs):
        super().__init__(**_base(kwargs))
        self.scale_h, self.scale_w = int(scale_h), int(scale_w)

    def call(self, x):
        return tf.repeat(tf.repeat(x, self.scale_h, axis=1), self.scale_w, axis=2)

    def get_config(self):
        config = super().get_config()
        config.update(scale_h=self.scale_h, scale_w=self.scale_w)
        return config


@register
class CaffeUnpool(keras.layers.Layer):
    """SegNet's two-bottom ``Upsample``: a zero ``height x width`` top per plane with
    each value written where its mask (``h * W + w``, from a MAX pool) points; of two
    writes to one cell the later (in Caffe's row-major loop) wins, exactly."""

    def __init__(self, height, width, scale=(2, 2), pad_out=(0, 0), **kwargs):
        super().__init__(**_base(kwargs))
        self.height, self.width = int(height), int(width)
        self.scale, self.pad_out = _pair(scale), _pair(pad_out)

    def _size(self, x):
        """(height, width) of the top: its own, or (height 0) the bottom's times the
        scale less pad_out, at run time (a free input size)."""
        if self.height:
            return self.height, self.width
        shape = tf.shape(x)
        return (shape[2] * self.scale[0] - self.pad_out[0],
                shape[3] * self.scale[1] - self.pad_out[1])

    def call(self, inputs):
        x, mask = (to_caffe(t) for t in inputs)
        n, c = tf.shape(x)[0], int(x.shape[1])
        height, width = self._size(x)
        plane = height * width
        if not isinstance(plane, int):
            plane = tf.cast(plane, tf.int64)
        values = tf.reshape(x, [-1])
        where = tf.reshape(tf.cast(mask, tf.int64), tf.stack([n * c, -1]))
        base = tf.range(tf.cast(n * c, tf.int64), dtype=tf.int64)[:, None] * plane
        target = tf.reshape(where + base, [-1])
        source = tf.range(tf.size(target, out_type=tf.int64), dtype=tf.int64)
        # The last writer of each cell: the largest source position pointing at it.
        last = tf.math.unsorted_segment_max(source, target, tf.cast(n * c, tf.int64) * plane)
        top = tf.where(last >= 0, tf.gather(values, tf.maximum(last, 0)), 0.0)
        return to_internal(tf.reshape(top, tf.stack([n, c, height, width])))

    def get_config(self):
        config = super().get_config()
        config.update(height=self.height, width=self.width, scale=list(self.scale),
                      pad_out=list(self.pad_out))
        return config


@BACKEND.register("Upsample")
def upsample(ctx: Context) -> Op:
    """YOLO's nearest upsampling, or SegNet's unpooling through a MAX pool's mask."""
    p = ctx.layer.hparams
    if p.dialect == "nearest":
        return _single(CaffeUpsample(p.scale_h, p.scale_w, name=_name(ctx)))
    _, _, ho, wo = ctx.top_shapes[0]
    if varies(ctx, ctx.layer.bottoms[0]) and not p.upsample_h:  # the size follows the input
        ho = wo = 0
    return _multi(CaffeUnpool(ho, wo, (p.scale_h, p.scale_w), (int(p.pad_out_h),
                                                              int(p.pad_out_w)), name=_name(ctx)))


def _caffe_round(v):
    """C's round() (halves away from zero) of a float64 tensor, as an int32."""
    return tf.cast(tf.sign(v) * tf.floor(tf.abs(v) + 0.5), tf.int32)


@register
class CaffeROIPooling(keras.layers.Layer):
    """Faster R-CNN's ROIPooling: per region ``(image, x1, y1, x2, y2)``, scaled by
    ``spatial_scale`` and rounded half away from zero, ``pooled_h x pooled_w`` bins
    (floor of the start, ceil of the end, clipped to the map), each bin's max, 0 for
    an empty one; the float32 steps of convertkit.layers.roi_pooling."""

    def __init__(self, pooled_h, pooled_w, spatial_scale, **kwargs):
        super().__init__(**_base(kwargs))
        self.pooled_h, self.pooled_w = int(pooled_h), int(pooled_w)
        self.spatial_scale = float(spatial_scale)

    @staticmethod
    def _spans(count: int, extent, start, limit: int):
        """Bin i covers [floor(i * size), ceil((i + 1) * size)) + start, clipped, with
        ``size = extent / count`` and each product rounded to float32 as Caffe does.
        The float32 steps are taken through float64 casts: Grappler's constant folding
        would otherwise fold ``(i + 1) * (extent / count)`` into ``extent * c`` and
        round differently."""
        size = tf.cast(tf.cast(extent, tf.float64) / float(count), tf.float32)
        i = tf.range(count + 1, dtype=tf.float64)
        edges = tf.cast(i * tf.cast(size, tf.float64), tf.float32)
        lo = tf.cast(tf.floor(edges[:-1]), tf.int32) + start
        hi = tf.cast(tf.math.ceil(edges[1:]), tf.int32) + start
        return tf.clip_by_value(lo, 0, limit), tf.clip_by_value(hi, 0, limit)

    def call(self, inputs):
        feat, rois = inputs  # feat NHWC; rois R x 5 (Caffe layout, rank 2)
        h, w = int(feat.shape[1]), int(feat.shape[2])
        rois = tf.reshape(rois, [-1, 5])
        scale = tf.constant(self.spatial_scale, tf.float32)
        coords = _caffe_round(tf.cast(rois[:, 1:5] * scale, tf.float64))
        ph, pw = self.pooled_h, self.pooled_w

        def one(args):
            roi, box = args
            x1, y1, x2, y2 = box[0], box[1], box[2], box[3]
            hs, he = self._spans(ph, tf.maximum(y2 - y1 + 1, 1), y1, h)
            ws, we = self._spans(pw, tf.maximum(x2 - x1 + 1, 1), x1, w)
            plane = feat[tf.cast(roi[0], tf.int32)]  # H x W x C
            rows = tf.range(h)[None, :]
            cols = tf.range(w)[None, :]
            in_rows = (rows >= hs[:, None]) & (rows < he[:, None])  # ph x H
            in_cols = (cols >= ws[:, None]) & (cols < we[:, None])  # pw x W
            # A bin's max: over its rows, then over its columns (max is separable).
            by_rows = tf.reduce_max(tf.where(in_rows[:, :, None, None], plane[None], -np.inf),
                                    axis=1)  # ph x W x C
            best = tf.reduce_max(tf.where(in_cols[None, :, :, None], by_rows[:, None], -np.inf),
                                 axis=2)  # ph x pw x C
            empty = ~(tf.reduce_any(in_rows, axis=1)[:, None]
                      & tf.reduce_any(in_cols, axis=1)[None])
            return tf.where(empty[..., None], 0.0, best)

        out = tf.map_fn(one, (rois, coords), fn_output_signature=tf.TensorSpec(
            (ph, pw, int(feat.shape[3])), tf.float32))
        return out  # R x ph x pw x C: NHWC of Caffe's R x C x ph x pw

    def get_config(self):
        config = super().get_config()
        config.update(pooled_h=self.pooled_h, pooled_w=self.pooled_w,
                      spatial_scale=self.spatial_scale)
        return config


@BACKEND.register("ROIPooling")
def roi_pooling(ctx: Context) -> Op:
    p = ctx.layer.hparams
    return _multi(CaffeROIPooling(p.pooled_h, p.pooled_w, p.spatial_scale, name=_name(ctx)))
