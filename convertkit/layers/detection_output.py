"""DetectionOutput (SSD, weiliu89/caffe ``detection_output_layer.cpp`` and
``bbox_util.cpp``): boxes decoded from the priors, per-class NMS, the best kept.

Bottoms: ``loc`` (N x P*4), ``conf`` (N x P*classes, after softmax) and ``prior``
(1 x 2 x P*4, PriorBox's corners and variances). With ``share_location`` (the only
mode the released SSDs use) each prior has one box. Decoding (``code_type``, default
CORNER; SSD uses CENTER_SIZE) applies the variance unless it is encoded in the
target. For each class but the background: scores above ``confidence_threshold``,
sorted (best first, a stable sort), the best ``nms_param.top_k``, then greedy NMS at
``nms_threshold`` (IoU of normalised boxes), tightened by ``eta`` after each kept
box while it is above 0.5. Over all classes the best ``keep_top_k`` survive. The top
is 1 x 1 x D x 7, rows ``[image, label, score, xmin, ymin, xmax, ymax]``, images in
order, labels ascending, each label's boxes best first; with no detection at all, one
row per image of -1s after its index. D depends on the data: the shape rule gives
Caffe's placeholder 1 x 1 x 1 x 7 and runtimes take the size forward() produces.
MACs: 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import PrototxtError
from .base import LayerImpl, Shape, fmt_shape, register


@dataclass(frozen=True)
class DetectionOutputParams:
    num_classes: int
    share_location: bool
    background_label_id: int
    nms_threshold: float
    top_k: int
    eta: float
    code_type: str
    variance_encoded_in_target: bool
    keep_top_k: int
    confidence_threshold: float


@register("DetectionOutput")
class DetectionOutput(LayerImpl):
    num_bottoms = (3, 3)
    #: The number of detections depends on the data (see the module doc).
    dynamic_output = True

    def read_params(self, proto: Any) -> DetectionOutputParams:
        p = proto.detection_output_param
        if p.num_classes < 1:
            raise PrototxtError("num_classes must be given", layer=self.name)
        if not p.share_location:
            raise PrototxtError("share_location: false is not supported (the released SSDs "
                                "share locations)", layer=self.name)
        code = p.DESCRIPTOR.fields_by_name["code_type"].enum_type.values_by_number[p.code_type].name
        nms = p.nms_param
        return DetectionOutputParams(
            int(p.num_classes), bool(p.share_location), int(p.background_label_id),
            float(nms.nms_threshold), int(nms.top_k) if nms.HasField("top_k") else -1,
            float(nms.eta), code, bool(p.variance_encoded_in_target), int(p.keep_top_k),
            float(p.confidence_threshold) if p.HasField("confidence_threshold") else -np.inf)

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        loc, conf, prior = (tuple(s) for s in bottom_shapes)
        n = loc[0]
        per_loc = int(np.prod(loc[1:]))
        if per_loc % 4 or len(prior) < 3 or prior[:2] != (1, 2) or prior[2] != per_loc:
            raise self.fail(f"loc {fmt_shape(loc)} and prior {fmt_shape(prior)} disagree on "
                            "the number of priors")
        priors = per_loc // 4
        if conf[0] != n or int(np.prod(conf[1:])) != priors * self.p.num_classes:
            raise self.fail(f"conf {fmt_shape(conf)} is not {n} x {priors} priors x "
                            f"{self.p.num_classes} classes")
        return [(1, 1, 1, 7)]

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        loc, conf, prior = (np.asarray(b, np.float32) for b in bottoms)
        self.reshape([b.shape for b in bottoms])
        n = loc.shape[0]
        boxes = decode(prior.reshape(2, -1, 4), loc.reshape(n, -1, 4), self.p)
        scores = conf.reshape(n, boxes.shape[1], self.p.num_classes)
        return [detections(boxes, scores, self.p)]

    def output_hint(self, k: int = 0) -> str:
        return "detections"

    def comparable(self, top: np.ndarray, k: int = 0) -> np.ndarray:
        """The detections as a set: rows sorted, all-zero rows dropped (OpenCV pads its
        top with them, and orders the rows its own way), as 1 x 1 x D x 7."""
        rows = np.asarray(top, np.float32).reshape(-1, 7)
        rows = rows[np.any(rows != 0, axis=1)]
        return rows[np.lexsort(rows.T[::-1])].reshape(1, 1, -1, 7)


def decode(prior: np.ndarray, loc: np.ndarray, p: DetectionOutputParams) -> np.ndarray:
    """N x P x 4 corners from the priors (2 x P x 4: corners, variances) and offsets."""
    corners, var = prior[0].astype(np.float32), prior[1].astype(np.float32)
    if p.variance_encoded_in_target:
        var = np.ones_like(var)
    xmin, ymin, xmax, ymax = (corners[:, i] for i in range(4))
    pw, ph = xmax - xmin, ymax - ymin
    if p.code_type == "CORNER":
        return corners + var * loc
    if p.code_type == "CORNER_SIZE":
        size = np.stack([pw, ph, pw, ph], axis=-1)
        return corners + var * loc * size
    pcx, pcy = (xmin + xmax) / 2, (ymin + ymax) / 2
    cx = var[:, 0] * loc[..., 0] * pw + pcx
    cy = var[:, 1] * loc[..., 1] * ph + pcy
    w = np.exp(var[:, 2] * loc[..., 2]) * pw
    h = np.exp(var[:, 3] * loc[..., 3]) * ph
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1).astype(np.float32)


def iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """JaccardOverlap of normalised boxes (no +1; an inverted box has size 0)."""
    ix0 = np.maximum(box[0], others[:, 0])
    iy0 = np.maximum(box[1], others[:, 1])
    ix1 = np.minimum(box[2], others[:, 2])
    iy1 = np.minimum(box[3], others[:, 3])
    inter = np.where((ix1 > ix0) & (iy1 > iy0), (ix1 - ix0) * (iy1 - iy0), 0.0)

    def area(b):
        return np.where((b[..., 2] < b[..., 0]) | (b[..., 3] < b[..., 1]), 0.0,
                        (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]))

    union = area(box) + area(others) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, p: DetectionOutputParams) -> list[int]:
    """ApplyNMSFast: indices kept, best first."""
    order = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] > p.confidence_threshold]
    if p.top_k > -1:
        order = order[:p.top_k]
    kept: list[int] = []
    threshold = p.nms_threshold
    for i in order:
        if not kept or np.all(iou(boxes[i], boxes[kept]) <= threshold):
            kept.append(i)
            if p.eta < 1 and threshold > 0.5:
                threshold *= p.eta
    return kept


def detections(boxes: np.ndarray, scores: np.ndarray, p: DetectionOutputParams) -> np.ndarray:
    """The 1 x 1 x D x 7 top for N x P x 4 decoded boxes and N x P x classes scores."""
    rows = []
    for n in range(boxes.shape[0]):
        per_class = {c: nms(boxes[n], scores[n, :, c], p)
                     for c in range(p.num_classes) if c != p.background_label_id}
        total = sum(len(v) for v in per_class.values())
        if p.keep_top_k > -1 and total > p.keep_top_k:
            ranked = sorted(((float(scores[n, i, c]), c, i) for c, idx in per_class.items()
                             for i in idx), key=lambda t: -t[0])[:p.keep_top_k]
            keep = {(c, i) for _, c, i in ranked}
            per_class = {c: [i for i in idx if (c, i) in keep] for c, idx in per_class.items()}
        for c in sorted(per_class):
            for i in per_class[c]:
                rows.append([n, c, scores[n, i, c], *boxes[n, i]])
    if not rows:
        out = np.full((boxes.shape[0], 7), -1, np.float32)
        out[:, 0] = np.arange(boxes.shape[0])
        return out[None, None]
    return np.asarray(rows, np.float32)[None, None]
