"""ONNX's expression of SSD's PriorBox (an initializer) and DetectionOutput
(layers/detection_output.py), the latter with opset 18's NonMaxSuppression and TopK,
so that an SSD's ONNX file gives its detections in onnxruntime alone.

Caffe's rules, kept: boxes decoded from the priors (CORNER, CENTER_SIZE, CORNER_SIZE;
the variance unless it is encoded in the target); per class but the background,
scores above ``confidence_threshold``, the best ``nms_param.top_k`` of them, greedy NMS
at ``nms_threshold`` (IoU of the normalised boxes, a box kept when its overlap is at
most the threshold); over all classes the best ``keep_top_k``; rows ``[image, label,
score, xmin, ymin, xmax, ymax]``, labels ascending and each label's boxes best first;
one row ``[0, -1, ..., -1]`` when nothing is found. The row count depends on the data
(a dynamic axis). Any batch (keep_top_k per image, through a
sort by image and a rank within each). Refused: ``eta`` below 1 (NMS's adaptive
threshold has no ONNX operator). The ordering keys assume scores in [0, 1] (SSD's
Softmax).

Exact ties in score may be broken otherwise than by Caffe's stable sort.
"""
from __future__ import annotations

import numpy as np

from ..base import Context
from .core import BACKEND, _fixed, _g, _varies


FLT_MAX = float(np.finfo(np.float32).max)


@BACKEND.register("PriorBox")
def prior_box(ctx: Context) -> None:
    """The boxes depend on the shapes alone: an initializer."""
    g, layer = _g(ctx), ctx.layer
    feat, img = ctx.bottom_shapes
    if any(_varies(ctx, b) for b in layer.bottoms):
        raise _fixed(ctx, "its boxes are computed for one size")
    boxes = layer.impl.boxes(tuple(feat[2:]), tuple(img[2:]))
    g.node("Identity", [g.const(layer, "boxes", boxes)], [g.write(layer.tops[0])], name=layer.name)


def _split4(g, layer, x: str, axis: int, what: str) -> list[str]:
    parts = [g.tmp(layer, f"{what}{k}") for k in range(4)]
    g.node("Split", [x], parts, axis=axis, num_outputs=4)
    return parts


def _decode(ctx: Context, loc: str, prior: str) -> str:
    """1 x P x 4 corners from loc (1 x P x 4) and prior (2 x P x 4)."""
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    corners, var = g.tmp(layer, "corners"), g.tmp(layer, "var")
    g.node("Gather", [prior, g.const(layer, "i0", np.array(0, np.int64))], [corners], axis=0)
    if p.variance_encoded_in_target:
        var = g.const(layer, "unit_var", np.ones((1, 4), np.float32))
    else:
        g.node("Gather", [prior, g.const(layer, "i1", np.array(1, np.int64))], [var], axis=0)
    out = g.tmp(layer, "boxes")
    if p.code_type in ("CORNER", "CORNER_SIZE"):
        step = g.tmp(layer, "step")
        g.node("Mul", [var, loc], [step])
        if p.code_type == "CORNER_SIZE":
            x0, y0, x1, y1 = _split4(g, layer, corners, 1, "c")
            w, h, size = g.tmp(layer, "pw"), g.tmp(layer, "ph"), g.tmp(layer, "size")
            g.node("Sub", [x1, x0], [w])
            g.node("Sub", [y1, y0], [h])
            g.node("Concat", [w, h, w, h], [size], axis=1)
            sized = g.tmp(layer, "sized")
            g.node("Mul", [step, size], [sized])
            step = sized
        g.node("Add", [corners, step], [out])
        return out
    x0, y0, x1, y1 = _split4(g, layer, corners, 1, "c")
    v0, v1, v2, v3 = _split4(g, layer, var, 1, "v")
    l0, l1, l2, l3 = _split4(g, layer, loc, 2, "l")
    half = g.const(layer, "half", np.array(0.5, np.float32))

    def op(kind, a, b, name):
        out_ = g.tmp(layer, name)
        g.node(kind, [a, b], [out_])
        return out_

    pw, ph = op("Sub", x1, x0, "pw"), op("Sub", y1, y0, "ph")
    pcx = op("Div", op("Add", x0, x1, "sx"), g.const(layer, "two", np.array(2, np.float32)), "pcx")
    pcy = op("Div", op("Add", y0, y1, "sy"), g.const(layer, "two", np.array(2, np.float32)), "pcy")
    cx = op("Add", op("Mul", op("Mul", v0, l0, "v0l0"), pw, "dx"), pcx, "cx")
    cy = op("Add", op("Mul", op("Mul", v1, l1, "v1l1"), ph, "dy"), pcy, "cy")
    ew, eh = g.tmp(layer, "ew"), g.tmp(layer, "eh")
    g.node("Exp", [op("Mul", v2, l2, "v2l2")], [ew])
    g.node("Exp", [op("Mul", v3, l3, "v3l3")], [eh])
    hw = op("Mul", op("Mul", ew, pw, "w"), half, "hw")
    hh = op("Mul", op("Mul", eh, ph, "h"), half, "hh")
    g.node("Concat", [op("Sub", cx, hw, "bx0"), op("Sub", cy, hh, "by0"),
                      op("Add", cx, hw, "bx1"), op("Add", cy, hh, "by1")], [out], axis=2)
    return out


def _ascending(g, layer, key: str, count: str, what: str) -> str:
    """The indices that sort 1-D ``key`` ascending (TopK of all ``count`` values)."""
    order = g.tmp(layer, f"{what}_order")
    g.node("TopK", [key, count], [g.tmp(layer, f"{what}_sorted"), order], axis=0, largest=0)
    return order


def _gather_all(g, layer, arrays: dict[str, str], index: str, what: str) -> dict[str, str]:
    out = {}
    for name, value in arrays.items():
        out[name] = g.tmp(layer, f"{name}_{what}")
        g.node("Gather", [value, index], [out[name]], axis=0)
    return out


@BACKEND.register("DetectionOutput")
def detection_output(ctx: Context) -> None:
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    if p.eta < 1:
        raise ctx.refuse(f"NMS with eta {p.eta:g} (an adaptive threshold) has no ONNX "
                         "operator", BACKEND.name)
    priors, classes = ctx.bottom_shapes[2][2] // 4, p.num_classes

    def i64(name, v):
        return g.const(layer, name, np.array(v, np.int64))

    def f32(name, v):
        return g.const(layer, name, np.array(v, np.float32))

    def op(kind, inputs, name, **attrs):
        out = g.tmp(layer, name)
        g.node(kind, inputs, [out], **attrs)
        return out

    loc, conf, prior = (g.value(b) for b in layer.bottoms)
    loc3 = op("Reshape", [loc, i64("loc_shape", [-1, priors, 4])], "loc3")
    conf3 = op("Reshape", [conf, i64("conf_shape", [-1, priors, classes])], "conf3")
    prior3 = op("Reshape", [prior, i64("prior_shape", [2, priors, 4])], "prior3")
    boxes = _decode(ctx, loc3, prior3)  # N x P x 4
    scores = op("Transpose", [conf3], "scores", perm=[0, 2, 1])  # N x C x P
    # The background class and, per class, all but the best top_k take -inf, which the
    # score threshold removes.
    keep = np.ones((1, classes, 1), bool)
    if 0 <= p.background_label_id < classes:
        keep[0, p.background_label_id] = False
    minus_inf = f32("minus_inf", -np.inf)
    masked = op("Where", [g.const(layer, "classes_kept", keep), scores, minus_inf], "masked")
    top_k = priors if p.top_k < 0 else min(p.top_k, priors)
    if top_k < priors:
        best = g.tmp(layer, "best")
        g.node("TopK", [masked, i64("top_k", [top_k])], [best, g.tmp(layer, "best_idx")], axis=2)
        kth = op("Slice", [best, i64("kth_start", [top_k - 1]), i64("kth_end", [top_k]),
                           i64("kth_axis", [2])], "kth")
        masked = op("Where", [op("GreaterOrEqual", [masked, kth], "in_top"), masked, minus_inf],
                    "candidates")
    threshold = p.confidence_threshold if np.isfinite(p.confidence_threshold) else -FLT_MAX
    selected = op("NonMaxSuppression", [_nms_boxes(ctx, boxes, priors, op), masked, i64("max_per_class", [top_k]),
                                        f32("iou", [p.nms_threshold]),
                                        f32("score_threshold", [threshold])],
                  "selected", center_point_box=0)  # S x 3: (image, class, prior)
    rows = {"image": op("Gather", [selected, i64("col0", 0)], "sel_image", axis=1),
            "label": op("Gather", [selected, i64("col1", 1)], "sel_label", axis=1),
            "score": op("GatherND", [scores, selected], "sel_score"),
            "box": op("GatherND", [boxes, op("Gather", [selected, i64("image_prior", [0, 2])],
                                             "box_index", axis=1)], "sel_box")}
    if p.keep_top_k > -1:  # per image, the best keep_top_k over all its classes
        rows = _gather_all(g, layer, rows, _best_per_image(ctx, rows, loc3, op, i64, f32), "top")
    # Caffe's order: images in order, labels ascending, each label's boxes best first
    # (scores lie in [0, 1], so image * (2C + 2) + label * 2 + (1 - score) sorts all).
    count = op("Shape", [rows["score"]], "count")
    key = op("Sum", [op("Mul", [op("Cast", [rows["image"]], "image_f", to=1),
                               f32("stride", 2.0 * classes + 2)], "image_key"),
                     op("Mul", [op("Cast", [rows["label"]], "label_f", to=1), f32("k2", 2)],
                        "label_key"),
                     op("Sub", [f32("k1", 1), rows["score"]], "one_minus")], "caffe_key")
    rows = _gather_all(g, layer, rows, _ascending(g, layer, key, count, "caffe"), "row")
    columns = [op("Unsqueeze", [op("Cast", [rows[n]], f"{n}_cast", to=1) if n != "score" else rows[n],
                                i64(f"ax1_{n}", [1])], f"column_{n}") for n in ("image", "label", "score")]
    table = op("Concat", columns + [rows["box"]], "table", axis=1)
    # Nothing found in any image: Caffe's one row per image, its index then -1s.
    n_img = op("Shape", [loc3], "n_img", start=0, end=1)
    index = op("Range", [i64("e0", 0), op("Squeeze", [n_img, i64("sq2", [0])], "n_img_scalar"),
                         i64("e1", 1)], "image_index")
    index_col = op("Unsqueeze", [op("Cast", [index], "index_f", to=1), i64("ax1_e", [1])], "index_col")
    pad = op("ConstantOfShape", [op("Concat", [n_img, i64("six", [6])], "pad_shape", axis=0)],
             "minus_ones", value=_float_tensor(-1))
    empty = op("Concat", [index_col, pad], "empty", axis=1)
    found = op("Greater", [count, i64("zero_rows", [0])], "found")
    both = op("Concat", [table, empty], "both", axis=0)
    start = op("Where", [found, i64("from_table", [0]), count], "start")
    length = op("Where", [found, count, n_img], "length")
    chosen = op("Slice", [both, start, op("Add", [start, length], "end"), i64("slice_axis", [0])],
                "chosen")
    g.node("Reshape", [chosen, i64("top_shape", [1, 1, -1, 7])], [g.write(layer.tops[0])],
           name=layer.name)


def _nms_boxes(ctx: Context, boxes: str, priors: int, op) -> str:
    """The boxes NMS compares. Caffe gives an inverted box (xmax < xmin or ymax < ymin)
    size 0 and overlap 0 with every box; onnxruntime would order its corners. So each
    inverted box is moved, for NMS alone, to a unit square of its own far away."""
    g, layer = _g(ctx), ctx.layer
    x0, y0, x1, y1 = _split4(g, layer, boxes, 2, "nb")
    inverted = op("Or", [op("Less", [x1, x0], "x_inverted"), op("Less", [y1, y0], "y_inverted")],
                  "inverted")
    corner = -1e6 - 10 * np.arange(priors, dtype=np.float64)
    far = np.stack([corner, corner, corner + 1, corner + 1], axis=1).astype(np.float32)[None]
    return op("Where", [inverted, g.const(layer, "far_boxes", far), boxes], "nms_boxes")


def _best_per_image(ctx: Context, rows: dict, loc3: str, op, i64, f32) -> str:
    """Positions (into ``rows``) of each image's best ``keep_top_k`` selections: a sort
    by image then score, and each selection's rank within its image."""
    g, layer, p = _g(ctx), ctx.layer, ctx.layer.hparams
    count = op("Shape", [rows["score"]], "sel_count")
    key = op("Add", [op("Mul", [op("Cast", [rows["image"]], "sel_image_f", to=1), f32("two", 2)],
                        "image2"),
                     op("Sub", [f32("one", 1), rows["score"]], "sel_one_minus")], "by_score")
    order = _ascending(g, layer, key, count, "by_score")
    images = op("Gather", [rows["image"], order], "ranked_image", axis=0)
    zeros = op("ConstantOfShape", [op("Shape", [loc3], "n_images", start=0, end=1)], "zeros",
               value=_int_tensor(0))
    ones = op("ConstantOfShape", [count], "ones", value=_int_tensor(1))
    per_image = op("ScatterElements", [zeros, images, ones], "per_image", axis=0, reduction="add")
    first = op("CumSum", [per_image, i64("axis0", 0)], "first", exclusive=1)
    position = op("Range", [i64("r0", 0), op("Squeeze", [count, i64("sq0", [0])], "count_scalar"),
                            i64("r1", 1)], "position")
    rank = op("Sub", [position, op("Gather", [first, images], "first_of", axis=0)], "rank")
    kept = op("NonZero", [op("Less", [rank, i64("keep_top_k", p.keep_top_k)], "keep_mask")], "nz")
    return op("Gather", [order, op("Squeeze", [kept, i64("sq1", [0])], "kept_pos")], "kept", axis=0)


def _node(op, inputs, outputs, **attrs):
    from onnx import helper

    return helper.make_node(op, inputs, outputs, name=outputs[0], **attrs)


def _int_tensor(v: int):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.array([v], np.int64))


def _float_tensor(v: float):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.array([v], np.float32))
