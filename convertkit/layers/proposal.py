"""py-faster-rcnn's region proposal layer (``rpn.proposal_layer.ProposalLayer``, a
Python layer), built in: anchors slid over the RPN's score map, moved by its box
deltas, clipped to the image, small boxes dropped, the best ``pre_nms_topN`` by score,
NMS at ``nms_thresh``, the best ``post_nms_topN`` kept.

Bottoms: the RPN's objectness probabilities (1 x 2A x H x W, background scores first,
then foreground), its box deltas (1 x 4A x H x W) and ``im_info`` (image height,
width, scale). Top 0: R x 5 regions ``(0, x1, y1, x2, y2)``; top 1 (optional): their
scores R x 1. R depends on the data.

Its parameters come from ``python_param.param_str`` (``'feat_stride': 16``, and
``scales``/``ratios`` where a release changes them) and from py-faster-rcnn's TEST
configuration (``lib/fast_rcnn/config.py``): RPN_PRE_NMS_TOP_N 6000,
RPN_POST_NMS_TOP_N 300, RPN_NMS_THRESH 0.7, RPN_MIN_SIZE 16 (times the image scale).
Its arithmetic is the release's numpy code, in float32 as the release's arrays are:
anchors from ``generate_anchors`` (base 16, ratios 0.5/1/2, scales 8/16/32, rounded),
``bbox_transform_inv`` (widths as x2 - x1 + 1, centres at x1 + 0.5 w), ``clip_boxes``
to [0, W - 1] x [0, H - 1], and the CPU NMS (areas with +1, IoU > thresh suppressed),
scores ordered highest first.

MACs: 0 (counted as data movement).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import PrototxtError
from .base import LayerImpl, Shape, fmt_shape, register

F32 = np.float32


@dataclass(frozen=True)
class ProposalParams:
    feat_stride: int = 16
    scales: tuple[float, ...] = (8.0, 16.0, 32.0)
    ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    pre_nms_top_n: int = 6000
    post_nms_top_n: int = 300
    nms_thresh: float = 0.7
    min_size: int = 16


def parse_param_str(text: str, layer: str) -> dict:
    """A Python layer's ``param_str``: a dict literal, or its body (``'a': 1, 'b': 2``),
    or one ``key: value`` per line (py-faster-rcnn reads it as YAML). Never executed."""
    text = (text or "").strip()
    if not text:
        return {}
    candidates = [text, "{" + text + "}", "{" + ", ".join(l for l in text.splitlines() if l.strip()) + "}"]
    for c in candidates:
        try:
            value = ast.literal_eval(c)
        except (ValueError, SyntaxError):
            continue
        if isinstance(value, dict):
            return {str(k): v for k, v in value.items()}
    raise PrototxtError(f"cannot read python_param.param_str {text!r} (a dict of literals)",
                        layer=layer)


def generate_anchors(base_size: int, ratios, scales) -> np.ndarray:
    """py-faster-rcnn's ``generate_anchors``: (len(ratios) * len(scales)) x 4 boxes
    around a base_size square at the origin, widths and heights rounded."""
    base = np.array([1, 1, base_size, base_size], np.float64) - 1

    def whctrs(a):
        w, h = a[2] - a[0] + 1, a[3] - a[1] + 1
        return w, h, a[0] + 0.5 * (w - 1), a[1] + 0.5 * (h - 1)

    def mkanchors(ws, hs, x, y):
        ws, hs = ws[:, None], hs[:, None]
        return np.hstack((x - 0.5 * (ws - 1), y - 0.5 * (hs - 1), x + 0.5 * (ws - 1), y + 0.5 * (hs - 1)))

    w, h, x, y = whctrs(base)
    size_ratios = w * h / np.asarray(ratios, np.float64)
    ws = np.round(np.sqrt(size_ratios))
    hs = np.round(ws * np.asarray(ratios, np.float64))
    out = []
    for a in mkanchors(ws, hs, x, y):
        w, h, x, y = whctrs(a)
        out.append(mkanchors(w * np.asarray(scales, np.float64), h * np.asarray(scales, np.float64), x, y))
    return np.vstack(out)


def nms(boxes: np.ndarray, scores: np.ndarray, thresh: float) -> list[int]:
    """py-faster-rcnn's ``py_cpu_nms``: indices kept, best score first."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores, kind="stable")[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        overlap = inter / (areas[i] + areas[rest] - inter)
        order = rest[overlap <= thresh]
    return keep


@register("Proposal")
class Proposal(LayerImpl):
    num_bottoms = (3, 3)
    #: How many regions survive NMS depends on the data.
    dynamic_output = True

    def read_params(self, proto: Any) -> ProposalParams:
        given = parse_param_str(proto.python_param.param_str, proto.name)
        known = {"feat_stride", "scales", "ratios"}
        unknown = sorted(set(given) - known)
        if unknown:
            raise PrototxtError(f"ProposalLayer param_str has {', '.join(unknown)}, which the "
                                "published layer does not read", layer=proto.name)
        d = ProposalParams()
        return ProposalParams(
            feat_stride=int(given.get("feat_stride", d.feat_stride)),
            scales=tuple(float(s) for s in given.get("scales", d.scales)),
            ratios=tuple(float(r) for r in given.get("ratios", d.ratios)))

    def input_value(self, k: int, bottom_shapes: Sequence[Shape]) -> np.ndarray | None:
        """``im_info`` for an image of the score map's size times the stride, scale 1
        (py-faster-rcnn's test resizes the image and feeds its height, width, scale)."""
        if k != 2:
            return None
        h, w = bottom_shapes[0][2:]
        return np.array([[h * self.p.feat_stride, w * self.p.feat_stride, 1.0]], F32).reshape(
            bottom_shapes[2])

    def anchors(self) -> np.ndarray:
        return generate_anchors(16, self.p.ratios, self.p.scales)

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        scores, deltas, info = (tuple(s) for s in bottom_shapes)
        a = len(self.p.ratios) * len(self.p.scales)
        if len(scores) != 4 or scores[1] != 2 * a or scores[0] != 1:
            raise self.fail(f"scores {fmt_shape(scores)} are not 1 x {2 * a} x H x W "
                            f"({a} anchors; py-faster-rcnn takes one image)")
        if deltas != (1, 4 * a) + scores[2:]:
            raise self.fail(f"deltas {fmt_shape(deltas)} are not 1 x {4 * a} x "
                            f"{fmt_shape(scores[2:])}")
        if int(np.prod(info)) < 3:
            raise self.fail(f"im_info {fmt_shape(info)} is not (height, width, scale)")
        # Caffe's placeholder before the first pass: one region.
        return [(1, 5), (1, 1)][:max(1, len(self.tops))]

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        self.reshape([np.shape(b) for b in bottoms])
        p = self.p
        a = len(p.ratios) * len(p.scales)
        scores = np.asarray(bottoms[0], F32)[:, a:]
        deltas = np.asarray(bottoms[1], F32)
        info = np.asarray(bottoms[2], F32).reshape(-1)
        h, w = scores.shape[-2:]
        sx, sy = np.meshgrid(np.arange(w) * p.feat_stride, np.arange(h) * p.feat_stride)
        shifts = np.vstack((sx.ravel(), sy.ravel(), sx.ravel(), sy.ravel())).T
        anchors = (self.anchors()[None] + shifts[:, None]).reshape(-1, 4)
        deltas = deltas.transpose(0, 2, 3, 1).reshape(-1, 4)
        scores = scores.transpose(0, 2, 3, 1).reshape(-1)
        boxes = self.transform(anchors, deltas, info)
        keep = ((boxes[:, 2] - boxes[:, 0] + 1 >= p.min_size * info[2])
                & (boxes[:, 3] - boxes[:, 1] + 1 >= p.min_size * info[2]))
        boxes, scores = boxes[keep], scores[keep]
        order = np.argsort(scores, kind="stable")[::-1][:p.pre_nms_top_n]
        boxes, scores = boxes[order], scores[order]
        kept = nms(boxes, scores, p.nms_thresh)[:p.post_nms_top_n]
        boxes, scores = boxes[kept], scores[kept]
        rois = np.hstack((np.zeros((len(boxes), 1), F32), boxes.astype(F32)))
        return [rois, scores.astype(F32).reshape(-1, 1)][:max(1, len(self.tops))]

    @staticmethod
    def transform(anchors: np.ndarray, deltas: np.ndarray, info: np.ndarray) -> np.ndarray:
        """``bbox_transform_inv`` then ``clip_boxes``, in float32 as the release (it casts
        the anchors to the deltas' dtype)."""
        anchors = anchors.astype(F32)
        widths = anchors[:, 2] - anchors[:, 0] + F32(1)
        heights = anchors[:, 3] - anchors[:, 1] + F32(1)
        cx, cy = anchors[:, 0] + F32(0.5) * widths, anchors[:, 1] + F32(0.5) * heights
        dx, dy, dw, dh = (deltas[:, k] for k in range(4))
        px, py = dx * widths + cx, dy * heights + cy
        pw, ph = np.exp(dw) * widths, np.exp(dh) * heights
        half = F32(0.5)
        boxes = np.stack([px - half * pw, py - half * ph, px + half * pw, py + half * ph], axis=1)
        boxes[:, 0::2] = np.maximum(np.minimum(boxes[:, 0::2], info[1] - F32(1)), F32(0))
        boxes[:, 1::2] = np.maximum(np.minimum(boxes[:, 1::2], info[0] - F32(1)), F32(0))
        return boxes
