"""What a net's output is, so that verify's report shows it in its own terms.

Every output gets the numeric table (max|diff| / max|ref| and friends) whatever its
shape. On top of that, the report shows what the output means:

* ``segmentation``: N x C x H x W class scores (C >= 2): predicted classes per pixel,
  argmax agreement and IoU (the maps are drawn in the dataset's colours);
* ``classification``: N x K probabilities (a Softmax top, or N x K x 1 x 1): top-1
  and top-5 agreement, and each runtime's top-5 classes with their scores;
* ``regression``: N x K values that are not probabilities (landmarks, boxes, any
  vector): the error in the output's own units; when K is even and the input is an
  image, the values drawn as K/2 points on it;
* ``image``: N x 1|3 x H x W at least the input's size (super-resolution, denoising,
  style transfer): each runtime's output picture and a map of where it differs;
* ``detection``: SSD's [image, label, score, xmin, ymin, xmax, ymax] rows, compared
  as a set, each runtime's boxes drawn on the input;
* ``values``: anything else (index maps, 3-D blobs...): the numeric table alone.

What a blob holds comes from the layer that writes it (``LayerImpl.output_hint``), so
this module never names a layer type; the rest is read from the shapes.
"""
from __future__ import annotations

import math

import numpy as np

KINDS = ("segmentation", "classification", "regression", "image", "detection", "values")
#: How many classes the classification table lists, and how many rows of a batch it shows.
TOP_K = 5
#: Longest vector kept for a regression output's report (its first row).
VECTOR_KEEP = 512


def output_hint(net, blob: str) -> str | None:
    """The hint of the last layer that writes ``blob`` (None when it gives none)."""
    hint = None
    for layer in net.layers:
        for k, top in enumerate(layer.tops):
            if top == blob:
                hint = layer.impl.output_hint(k)
    return hint


def kind_of(shape, hint: str | None, input_shape=None) -> str:
    """The kind (one of :data:`KINDS`) of an output of this shape."""
    shape = tuple(int(d) for d in shape)
    if hint == "detections":
        return "detection"
    if hint == "indices" or len(shape) < 2:
        return "values"
    per_row = math.prod(shape[2:])
    if per_row == 1:  # N x K (or N x K x 1 x 1)
        if hint == "probabilities" and shape[1] >= 2:
            return "classification"
        return "regression"
    if len(shape) != 4:
        return "values"
    c, h, w = shape[1:]
    if hint != "probabilities" and c in (1, 3) and _is_image(input_shape) \
            and h >= input_shape[2] and w >= input_shape[3]:
        return "image"
    if c >= 2:
        return "segmentation"
    return "values"


def _is_image(shape) -> bool:
    return shape is not None and len(shape) == 4 and shape[1] in (1, 3)


def output_kinds(net, outputs: dict, input_shape=None) -> dict[str, str]:
    """The kind of each output (``outputs``: name -> array or shape)."""
    return {o: kind_of(np.shape(a) if not isinstance(a, tuple) else a, output_hint(net, o),
                       input_shape) for o, a in outputs.items()}


# -- what the report keeps of one output on one input -------------------------------------

def top_k(a: np.ndarray, k: int = TOP_K) -> list[list[tuple[int, float]]]:
    """Per row of an N x K [x 1 x 1] output: its ``k`` largest entries as (class, score),
    highest first (ties: the lower class first, as Caffe's ArgMax and numpy's argmax)."""
    rows = np.asarray(a, np.float32).reshape(a.shape[0], -1)
    k = min(k, rows.shape[1])
    out = []
    for row in rows:
        order = np.argsort(-row, kind="stable")[:k]
        out.append([(int(c), float(row[c])) for c in order])
    return out


def view(kind: str, a: np.ndarray, side: int):
    """The small part of output ``a`` (one input's batch) a report shows, or None."""
    if kind == "classification":
        return top_k(a)[:4]
    if kind == "regression":
        return np.asarray(a[0], np.float32).reshape(-1)[:VECTOR_KEEP].copy()
    if kind == "image":
        img = np.asarray(a[0], np.float32).transpose(1, 2, 0)
        return _subsample(img, side)
    if kind == "detection":
        rows = np.asarray(a, np.float32).reshape(-1, 7)
        return rows[rows[:, 0] == 0].copy()  # the first image's detections
    return None


def _subsample(a: np.ndarray, side: int) -> np.ndarray:
    h, w = a.shape[:2]
    step = max(1, math.ceil(max(h, w) / side))
    return np.ascontiguousarray(a[step // 2::step, step // 2::step] if step > 1 else a)


def topk_agreement(got: np.ndarray, ref: np.ndarray, k: int) -> tuple[int, int]:
    """(rows whose top-``k`` classes, as a set, equal the reference's; rows)."""
    g = [set(c for c, _ in row) for row in top_k(got, k)]
    r = [set(c for c, _ in row) for row in top_k(ref, k)]
    return sum(a == b for a, b in zip(g, r)), len(r)


# -- pictures ------------------------------------------------------------------------------

def image_picture(img: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """An H x W x 1|3 output (BGR when 3 channels, as Caffe nets take them) as an RGB
    uint8 picture, mapping [lo, hi] (the reference's range) to [0, 255]."""
    x = (np.asarray(img, np.float32) - lo) * (255.0 / (hi - lo) if hi > lo else 0.0)
    x = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    return np.repeat(x, 3, axis=2) if x.shape[2] == 1 else x[:, :, ::-1].copy()


def difference_map(got: np.ndarray, ref: np.ndarray, tol: float) -> tuple[np.ndarray, float]:
    """Where an image output differs from the reference: white where equal, red as
    strong as |diff| / ``tol`` (the tolerance in the output's units; full red at or
    beyond it), per pixel the largest channel difference. Returns the picture and
    max|diff|."""
    if got.shape != ref.shape:
        return np.full(ref.shape[:2] + (3,), 128, np.uint8), math.inf
    d = np.abs(np.asarray(got, np.float64) - np.asarray(ref, np.float64)).max(axis=2)
    top = float(d.max()) if d.size else 0.0
    share = np.clip(d / tol, 0, 1) if tol > 0 else (d > 0).astype(np.float64)
    rgb = np.empty(d.shape + (3,), np.float64)
    rgb[:, :, 0] = 255
    rgb[:, :, 1] = 255 * (1 - share)
    rgb[:, :, 2] = 255 * (1 - share)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8), top


def points_of(values: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, str]:
    """K/2 (x, y) pixel positions from 2·K values, read as interleaved (x, y) pairs;
    values within [-1.5, 1.5] are taken as fractions of the input's width and height
    (centred ones, with negatives, as offsets from the middle). Returns the points and
    how they were read, for the caption."""
    v = np.asarray(values, np.float64).reshape(-1, 2)
    h, w = size
    if np.abs(v).max(initial=0) <= 1.5:
        if v.min(initial=0) < 0:
            return (v + 0.5) * (w, h), "(x, y) pairs, centred fractions of the input"
        return v * (w, h), "(x, y) pairs, fractions of the input"
    return v, "(x, y) pairs, in input pixels"


def draw_points(picture: np.ndarray, points: np.ndarray, colour, scale: float = 1.0) -> np.ndarray:
    """A copy of ``picture`` with a small cross at each (x, y) (input pixels, times
    ``scale`` when the picture was shrunk)."""
    out = picture.copy()
    h, w = out.shape[:2]
    r = max(2, round(max(h, w) / 80))
    for x, y in np.asarray(points, np.float64) * scale:
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        xi, yi = int(round(x)), int(round(y))
        for d in range(-r, r + 1):
            for yy, xx in ((yi + d, xi), (yi, xi + d)):
                if 0 <= yy < h and 0 <= xx < w:
                    out[yy, xx] = colour
    return out


def draw_boxes(picture: np.ndarray, rows: np.ndarray, colour) -> np.ndarray:
    """A copy of ``picture`` with each detection row's box (normalised corners, as SSD's
    DetectionOutput writes them) outlined."""
    out = picture.copy()
    h, w = out.shape[:2]
    for row in np.asarray(rows, np.float64):
        if row[1] < 0 or not np.isfinite(row[3:7]).all():  # Caffe's "nothing found" row
            continue
        x0, x1 = (int(round(np.clip(v, 0, 1) * (w - 1))) for v in (row[3], row[5]))
        y0, y1 = (int(round(np.clip(v, 0, 1) * (h - 1))) for v in (row[4], row[6]))
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
        out[y0, x0:x1 + 1] = colour
        out[y1, x0:x1 + 1] = colour
        out[y0:y1 + 1, x0] = colour
        out[y0:y1 + 1, x1] = colour
    return out
