"""TensorFlow's expression of SSD's PriorBox (a constant of the plan) and
DetectionOutput (layers/detection_output.py). DetectionOutput is a Keras layer of TF
ops, registered for ``.keras`` files like the other layers of this package,
that runs in graph mode (the TF runtime, a SavedModel's ``serve``, a loaded ``.keras``)
with a row count that depends on the data.

Caffe's rules, kept: boxes decoded from the priors (CORNER, CENTER_SIZE, CORNER_SIZE;
the variance unless it is encoded in the target); per class but the background, the
scores strictly above ``confidence_threshold``, the best ``nms_param.top_k`` of them
(``tf.math.top_k``: ties keep the prior order, as Caffe's stable sort), greedy NMS at
``nms_threshold`` with Caffe's JaccardOverlap (an inverted box has size 0 and
overlaps nothing; a box is kept when its overlap with every kept box is at most the
threshold), tightened by ``eta`` after each kept box while above 0.5; per image the
best ``keep_top_k`` over all classes; rows ``[image, label, score, xmin, ymin, xmax,
ymax]``, images in order, labels ascending, each label's boxes best first; one row
``[i, -1, ..., -1]`` per image when nothing at all is found. Any batch.

NMS is a ``tf.while_loop`` of ``top_k`` masked steps over each class's candidates
(rather than ``tf.image.non_max_suppression``, whose IoU orders an inverted box's
corners); the kept rows are selected with ``tf.where`` (the dynamic axis).

Bottoms: loc (N x P*4), conf (N x P*classes) and prior (1 x 2 x P*4) in Caffe's
order (a blob of rank other than 4 keeps it inside the model; a 4-axis one is taken
back from NHWC). The top 1 x 1 x D x 7 is returned NHWC (1 x D x 7 x 1).
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from ..base import Context, FixedSize, varies
from .core import BACKEND, Op, _base, _multi, _name, register, to_caffe, to_internal_array


@register
class CaffeConstant(keras.layers.Layer):
    """A top that depends only on the shapes (SSD's PriorBox): ``value`` (model
    layout), whatever the input's values; the input only ties it into the graph."""

    def __init__(self, value, **kwargs):
        super().__init__(**_base(kwargs))
        self.value = np.asarray(value, np.float32)

    def call(self, inputs):
        return tf.constant(self.value)

    def get_config(self):
        config = super().get_config()
        config["value"] = self.value.tolist()
        return config


@BACKEND.register("PriorBox")
def prior_box(ctx: Context) -> Op:
    """The boxes depend on the shapes alone: a constant of the plan."""
    feat, img = ctx.bottom_shapes
    if any(varies(ctx, b) for b in ctx.layer.bottoms):
        raise FixedSize(ctx.layer, "its boxes are computed for one size")
    boxes = ctx.layer.impl.boxes(tuple(feat[2:]), tuple(img[2:]))
    return _multi(CaffeConstant(to_internal_array(boxes), name=_name(ctx)))


@register
class CaffeDetectionOutput(keras.layers.Layer):
    """SSD's DetectionOutput (see the module doc)."""

    def __init__(self, num_classes, priors, background_label_id=0, nms_threshold=0.3,
                 top_k=-1, eta=1.0, code_type="CORNER", variance_encoded_in_target=False,
                 keep_top_k=-1, confidence_threshold=None, **kwargs):
        super().__init__(**_base(kwargs))
        self.num_classes, self.priors = int(num_classes), int(priors)
        self.background_label_id = int(background_label_id)
        self.nms_threshold, self.eta = float(nms_threshold), float(eta)
        self.top_k, self.keep_top_k = int(top_k), int(keep_top_k)
        self.code_type = str(code_type)
        self.variance_encoded_in_target = bool(variance_encoded_in_target)
        #: None: no threshold (Caffe's -FLT_MAX default keeps every score).
        self.confidence_threshold = None if confidence_threshold is None else float(confidence_threshold)

    def _decode(self, prior, loc):
        corners, var = prior[0], prior[1]
        if self.variance_encoded_in_target:
            var = tf.ones_like(var)
        xmin, ymin, xmax, ymax = tf.unstack(corners, axis=-1)
        pw, ph = xmax - xmin, ymax - ymin
        if self.code_type == "CORNER":
            return corners + var * loc
        if self.code_type == "CORNER_SIZE":
            return corners + var * loc * tf.stack([pw, ph, pw, ph], axis=-1)
        pcx, pcy = (xmin + xmax) / 2, (ymin + ymax) / 2
        cx = var[:, 0] * loc[..., 0] * pw + pcx
        cy = var[:, 1] * loc[..., 1] * ph + pcy
        w = tf.exp(var[:, 2] * loc[..., 2]) * pw
        h = tf.exp(var[:, 3] * loc[..., 3]) * ph
        return tf.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)

    @staticmethod
    def _overlaps(boxes):
        """... x K x K JaccardOverlap of ... x K x 4 boxes with each other (Caffe's)."""
        a, b = boxes[..., :, None, :], boxes[..., None, :, :]
        ix0 = tf.maximum(a[..., 0], b[..., 0])
        iy0 = tf.maximum(a[..., 1], b[..., 1])
        ix1 = tf.minimum(a[..., 2], b[..., 2])
        iy1 = tf.minimum(a[..., 3], b[..., 3])
        zero = tf.zeros_like(ix0)
        inter = tf.where((ix1 > ix0) & (iy1 > iy0), (ix1 - ix0) * (iy1 - iy0), zero)
        inverted = (boxes[..., 2] < boxes[..., 0]) | (boxes[..., 3] < boxes[..., 1])
        area = tf.where(inverted, tf.zeros_like(boxes[..., 0]),
                        (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1]))
        union = area[..., :, None] + area[..., None, :] - inter
        positive = union > 0
        return tf.where(positive, inter / tf.where(positive, union, tf.ones_like(union)), zero)

    def _nms(self, iou, valid, top_k: int):
        """Greedy NMS over each image's and class's K candidates (best first): K masked
        steps; candidate i is kept when valid and no kept one before it overlaps it
        above the (eta-tightened) threshold."""
        steps = tf.eye(top_k, dtype=tf.bool)
        threshold = tf.fill(tf.shape(valid)[:2], tf.constant(self.nms_threshold, tf.float32))
        eta = tf.constant(self.eta, tf.float32)

        def step(i, kept, threshold):
            column = tf.gather(iou, i, axis=3)  # N x C x K: overlap of each with i
            blocked = tf.reduce_any(kept & (column > threshold[..., None]), axis=-1)
            keep_i = tf.gather(valid, i, axis=2) & ~blocked
            kept = kept | (keep_i[..., None] & tf.gather(steps, i)[None, None])
            if self.eta < 1:
                threshold = tf.where(keep_i & (threshold > 0.5), threshold * eta, threshold)
            return i + 1, kept, threshold

        _, kept, _ = tf.while_loop(lambda i, *_: i < top_k, step,
                                   (tf.constant(0), tf.zeros_like(valid), threshold))
        return kept

    def call(self, inputs):
        loc, conf, prior = (to_caffe(t) for t in inputs)
        classes, priors = self.num_classes, self.priors
        loc = tf.reshape(loc, [-1, priors, 4])
        boxes = self._decode(tf.reshape(prior, [2, priors, 4]), loc)  # N x P x 4
        scores = tf.transpose(tf.reshape(conf, [-1, priors, classes]), [0, 2, 1])  # N x C x P
        n_img = tf.shape(loc)[0]
        kept_class = np.ones((1, classes, 1), bool)
        if 0 <= self.background_label_id < classes:
            kept_class[0, self.background_label_id] = False
        passing = tf.constant(kept_class)
        if self.confidence_threshold is not None:
            passing = passing & (scores > tf.constant(self.confidence_threshold, tf.float32))
        else:
            passing = passing & tf.ones_like(scores, tf.bool)
        ninf = tf.constant(-np.inf, tf.float32)
        top_k = priors if self.top_k < 0 else min(self.top_k, priors)
        # The best top_k per class, best first; top_k puts the lower index first on ties.
        cand_scores, order = tf.math.top_k(tf.where(passing, scores, ninf), k=top_k)  # N x C x K
        valid = tf.gather(passing, order, batch_dims=2)
        cand_scores = tf.gather(scores, order, batch_dims=2)
        cand_boxes = tf.gather(boxes, order, batch_dims=1)  # N x C x K x 4
        keep = self._nms(self._overlaps(cand_boxes), valid, top_k)
        if -1 < self.keep_top_k < classes * top_k:
            flat = tf.reshape(tf.where(keep, cand_scores, ninf), [n_img, classes * top_k])
            best = tf.math.top_k(flat, k=self.keep_top_k).indices  # N x keep_top_k
            chosen = tf.reduce_any(tf.one_hot(best, classes * top_k, on_value=True,
                                              off_value=False, dtype=tf.bool), axis=1)
            keep = keep & tf.reshape(chosen, [n_img, classes, top_k])
        # Row-major positions of the kept (image, class, candidate): Caffe's row order.
        where = tf.where(keep)  # D x 3
        rows_score = tf.gather_nd(cand_scores, where)
        rows_prior = tf.gather_nd(order, where)
        rows_box = tf.gather_nd(boxes, tf.stack([where[:, 0], tf.cast(rows_prior, tf.int64)], axis=1))
        table = tf.concat([tf.cast(where[:, :2], tf.float32), rows_score[:, None], rows_box], axis=1)
        # Nothing found in any image: one row per image, its index then -1s.
        empty = tf.concat([tf.cast(tf.range(n_img), tf.float32)[:, None],
                           tf.fill([n_img, 6], tf.constant(-1.0, tf.float32))], axis=1)
        out = tf.cond(tf.shape(where)[0] > 0, lambda: table, lambda: empty)
        return tf.reshape(out, [1, -1, 7, 1])

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, priors=self.priors,
                      background_label_id=self.background_label_id,
                      nms_threshold=self.nms_threshold, top_k=self.top_k, eta=self.eta,
                      code_type=self.code_type,
                      variance_encoded_in_target=self.variance_encoded_in_target,
                      keep_top_k=self.keep_top_k, confidence_threshold=self.confidence_threshold)
        return config


@BACKEND.register("DetectionOutput")
def detection_output(ctx: Context) -> Op:
    p = ctx.layer.hparams
    threshold = None if p.confidence_threshold == -np.inf else p.confidence_threshold
    layer = CaffeDetectionOutput(
        p.num_classes, ctx.bottom_shapes[2][2] // 4, background_label_id=p.background_label_id,
        nms_threshold=p.nms_threshold, top_k=p.top_k, eta=p.eta, code_type=p.code_type,
        variance_encoded_in_target=p.variance_encoded_in_target, keep_top_k=p.keep_top_k,
        confidence_threshold=threshold, name=_name(ctx))
    return Op(layer, lambda xs: [layer(list(xs))])
