"""Comparison metrics: one blob of a runtime against the reference, and predictions
against predictions.

The project's parity criterion is ``max|a - ref| <= rtol * max|ref|`` per blob. Next
to it we report the mean absolute difference and the cosine similarity, which say
whether a divergence is a few pixels or everything.

Blobs are compared in chunks that stay in the CPU cache: one pass over the two arrays
gives every metric, with no full-size temporary. Sums use BLAS dot products (exact
enough for a report, and several times faster than numpy's pairwise ``sum``), and
large blobs are split over threads (numpy releases the GIL), so comparing a runtime
costs a fraction of its forward pass. A runtime's channels-last activations (PyTorch's
channels_last, TensorFlow's NHWC) arrive as N x C x H x W views of their own memory
and are compared as they lie, against the reference transposed a cache-sized block
at a time: no blob is ever copied into Caffe's layout whole.
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..graph import Net

#: Elements per chunk: three float32 chunks (a, ref, difference) fit in a 1 MiB L2.
CHUNK = 1 << 16
#: Elements per transposed block of a channels-last comparison (1 MiB of float32).
BLOCK = 1 << 18
#: Blobs with at least this many elements are split over the worker threads.
PARALLEL_MIN = 1 << 20


def _threads() -> int:
    try:
        return max(1, min(4, len(os.sched_getaffinity(0))))
    except AttributeError:  # not Linux
        return max(1, min(4, os.cpu_count() or 1))


_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor | None:
    global _POOL
    if _POOL is None and _threads() > 1:
        _POOL = ThreadPoolExecutor(_threads(), thread_name_prefix="convertkit-compare")
    return _POOL


@dataclass(frozen=True)
class RefStats:
    """What every comparison against one reference blob needs, computed once."""

    shape: tuple[int, ...]
    size: int
    max_abs: float
    #: Sum of squares (float64), for the cosine.
    sumsq: float
    finite: bool


def _sums(x: np.ndarray, y: np.ndarray | None) -> tuple[float, float, float, float]:
    """(max|x-y|, sum|x-y|, sum (x-y)^2, sum x^2) over flat float32 arrays, chunked.
    With ``y`` None: (max|x|, sum|x|, sum x^2, sum x^2)."""
    n = x.size
    buf = np.empty(min(CHUNK, n), np.float32)
    ones = np.ones(min(CHUNK, n), np.float32)
    big = sabs = dd = xx = 0.0
    for start in range(0, n, CHUNK):
        xs = x[start:start + CHUNK]
        d = buf[:xs.size]
        if y is None:
            np.abs(xs, out=d)
        else:
            np.subtract(xs, y[start:start + CHUNK], out=d)
            xx += float(np.dot(xs, xs))
            np.abs(d, out=d)
        dd += float(np.dot(d, d))
        sabs += float(np.dot(d, ones[:d.size]))
        m = float(d.max())
        if not m <= big:  # also takes a NaN
            big = m
    if y is None:
        xx = dd
    return big, sabs, dd, xx


def _combine(parts) -> tuple[float, float, float, float]:
    big = 0.0
    for r in parts:
        if not r[0] <= big:  # also takes a NaN
            big = r[0]
    return (big, sum(r[1] for r in parts), sum(r[2] for r in parts),
            sum(r[3] for r in parts))


def _split(total: int, align: int = 1) -> list[tuple[int, int]]:
    """``range(total)`` cut into one run per worker thread (multiples of ``align``)."""
    step = -(-total // _threads())
    step = -(-step // align) * align
    return [(s, min(total, s + step)) for s in range(0, total, step)]


def _parallel_sums(x: np.ndarray, y: np.ndarray | None) -> tuple[float, float, float, float]:
    pool = _pool()
    if pool is None or x.size < PARALLEL_MIN:
        return _sums(x, y)
    futures = [pool.submit(_sums, x[s:e], None if y is None else y[s:e])
               for s, e in _split(x.size, CHUNK)]
    return _combine([f.result() for f in futures])


def _channels_last(a: np.ndarray) -> np.ndarray | None:
    """``a`` (N x C x H x W) as the N x H x W x C array its memory holds, when it is a
    channels-last view (what PyTorch's channels_last and TensorFlow's NHWC tensors
    give without a copy); else None."""
    if a.ndim != 4:
        return None
    nhwc = a.transpose(0, 2, 3, 1)
    return nhwc if nhwc.flags.c_contiguous else None


def _row_sums(got: np.ndarray, ref: np.ndarray, start: int, stop: int
              ) -> tuple[float, float, float, float]:
    """``_sums`` of channels-last ``got`` (N x H x W x C) against the NCHW ``ref`` over
    image rows ``start:stop`` (of N*H), a block of about BLOCK elements at a time
    (whole rows, or columns of one row): each block of the reference is transposed
    into a buffer that stays in the cache, so neither blob is copied whole."""
    _, h, w, c = got.shape
    rows = max(1, BLOCK // (w * c))
    cols = w if rows > 1 else max(1, BLOCK // c)
    buf = np.empty((min(rows, stop - start), min(cols, w), c), np.float32)
    parts = []
    row = start
    while row < stop:
        n, y = divmod(row, h)
        k = min(rows, stop - row, h - y)
        for x in range(0, w, cols):
            block = buf[:k, :min(cols, w - x)]
            np.copyto(block, ref[n, :, y:y + k, x:x + cols].transpose(1, 2, 0))
            parts.append(_sums(got[n, y:y + k, x:x + cols].reshape(-1), block.reshape(-1)))
        row += k
    return _combine(parts)


def _channels_last_sums(got: np.ndarray, ref: np.ndarray) -> tuple[float, float, float, float]:
    rows = got.shape[0] * got.shape[1]
    pool = _pool()
    if pool is None or got.size < PARALLEL_MIN:
        return _row_sums(got, ref, 0, rows)
    futures = [pool.submit(_row_sums, got, ref, s, e) for s, e in _split(rows)]
    return _combine([f.result() for f in futures])


def _flat(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype != np.float32:
        a = a.astype(np.float32)
    return np.ascontiguousarray(a).reshape(-1)


def ref_stats(ref: np.ndarray) -> RefStats:
    """max|ref| and the sum of squares of one reference blob."""
    flat = _flat(ref)
    if flat.size == 0:
        return RefStats(tuple(ref.shape), 0, 0.0, 0.0, True)
    big, _, sq, _ = _parallel_sums(flat, None)
    return RefStats(tuple(ref.shape), int(flat.size), big, sq, math.isfinite(big))


@dataclass
class Diff:
    """One blob compared with the reference (several images accumulate into one).

    ``max_rel`` is the criterion: max|a - ref| / max|ref| (inf when the shapes differ or
    the runtime produced NaN/inf). ``cosine`` is 1 for identical directions."""

    max_abs: float = 0.0
    max_rel: float = 0.0
    ref_max: float = 0.0
    sum_abs: float = 0.0
    count: int = 0
    dot_dd: float = 0.0
    dot_aa: float = 0.0
    dot_rr: float = 0.0
    problem: str | None = None
    #: Index of the image where max_rel was reached.
    worst_image: int = 0

    @property
    def mean_abs(self) -> float:
        return self.sum_abs / self.count if self.count else 0.0

    @property
    def cosine(self) -> float:
        if self.problem is not None:
            return float("nan")
        aa, rr, dd = self.dot_aa, self.dot_rr, self.dot_dd
        if aa == 0.0 and rr == 0.0:
            return 1.0
        if aa == 0.0 or rr == 0.0:
            return 0.0
        # a.r from |a - r|^2 = |a|^2 + |r|^2 - 2 a.r: one pass gives all three.
        return max(-1.0, min(1.0, (aa + rr - dd) / (2.0 * math.sqrt(aa) * math.sqrt(rr))))

    def within(self, rtol: float) -> bool:
        return self.problem is None and self.max_rel <= rtol

    def add(self, other: "Diff", image: int = 0) -> None:
        """Accumulate another image's comparison of the same blob."""
        if other.problem is not None and self.problem is None:
            self.problem = other.problem
        if not other.max_rel <= self.max_rel:
            self.max_rel = other.max_rel
            self.worst_image = image
        if not other.max_abs <= self.max_abs:
            self.max_abs = other.max_abs
        self.ref_max = max(self.ref_max, other.ref_max)
        self.sum_abs += other.sum_abs
        self.count += other.count
        self.dot_dd += other.dot_dd
        self.dot_aa += other.dot_aa
        self.dot_rr += other.dot_rr

    def as_dict(self) -> dict:
        out = {"max_abs": _num(self.max_abs), "max_rel": _num(self.max_rel),
               "mean_abs": _num(self.mean_abs), "cosine": _num(self.cosine, 9),
               "ref_max_abs": _num(self.ref_max)}
        if self.problem is not None:
            out["problem"] = self.problem
        return out


def _num(x: float, digits: int = 4) -> float | str:
    """A float for JSON: 4 significant digits; inf/nan as strings (JSON has neither)."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return float(f"{x:.{digits}g}")


def compare(got: np.ndarray, ref: np.ndarray, stats: RefStats | None = None) -> Diff:
    """``got`` against the reference ``ref`` (same shape expected)."""
    stats = stats or ref_stats(ref)
    got = np.asarray(got)
    if tuple(got.shape) != stats.shape:
        return Diff(max_abs=math.inf, max_rel=math.inf, ref_max=stats.max_abs,
                    problem=f"shape {_shape(got.shape)}, the reference has {_shape(stats.shape)}")
    if stats.size == 0:
        return Diff()
    ref = np.asarray(ref)
    nhwc = _channels_last(got) if got.dtype == np.float32 and not got.flags.c_contiguous else None
    if nhwc is not None and ref.dtype == np.float32 and ref.flags.c_contiguous:
        big, sabs, dd, aa = _channels_last_sums(nhwc, ref)
    else:
        big, sabs, dd, aa = _parallel_sums(_flat(got), _flat(ref))
    d = Diff(max_abs=big, ref_max=stats.max_abs, sum_abs=sabs, count=stats.size,
             dot_dd=dd, dot_aa=aa, dot_rr=stats.sumsq)
    if not math.isfinite(big):
        d.max_rel = math.inf
        d.problem = "NaN or infinite values"
    else:
        d.max_rel = big / stats.max_abs if stats.max_abs > 0 else (0.0 if big == 0 else math.inf)
    return d


def _shape(shape) -> str:
    return "x".join(str(int(s)) for s in shape) or "a scalar"


class Forms:
    """The form in which each layer's tops and each output are compared
    (``LayerImpl.comparable``), for the few layers where that is not the top itself."""

    def __init__(self, net: Net):
        from ..layers.base import LayerImpl

        self.layers = {layer.name: layer.impl for layer in net.layers
                       if type(layer.impl).comparable is not LayerImpl.comparable}
        #: Blob -> (impl, top index) of its last writer, where that has its own form.
        self.blobs: dict[str, tuple | None] = {}
        for layer in net.layers:
            for k, top in enumerate(layer.tops):
                impl = self.layers.get(layer.name)
                self.blobs[top] = None if impl is None else (impl, k)

    def tops(self, name: str, tops: list) -> list:
        impl = self.layers.get(name)
        return tops if impl is None else [impl.comparable(t, k) for k, t in enumerate(tops)]

    def blob(self, name: str, value):
        writer = self.blobs.get(name)
        return value if writer is None else writer[0].comparable(value, writer[1])



# Predictions -------------------------------------------------------------------------

def labels_of(logits: np.ndarray) -> np.ndarray | None:
    """Per-pixel class (argmax over axis 1) of N x C [x H x W] logits; None when the
    blob is no class score map (fewer than 2 axes, or one channel).

    Computed from the maximum (a fast reduction) and one comparison per class, from
    the last class down so that ties keep the first, as argmax does: numpy's argmax
    over a middle axis walks memory with a stride of H x W and is several times
    slower on a full-size score map."""
    x = np.asarray(logits)
    if x.ndim < 2 or x.shape[1] < 2:
        return None
    top = x.max(axis=1)
    labels = np.zeros(top.shape, np.uint8 if x.shape[1] <= 256 else np.uint16)
    for c in range(x.shape[1] - 1, 0, -1):
        labels[x[:, c] == top] = c
    labels[x[:, 0] == top] = 0
    if np.isnan(top).any():  # NaN scores: argmax's own answer
        return x.argmax(axis=1).astype(labels.dtype)
    return labels


def decided_mask(logits: np.ndarray, tol: float) -> np.ndarray:
    """Pixels whose top two scores differ by more than ``tol``: there, any runtime
    within tolerance must pick the same class (elsewhere a near-tie may flip)."""
    x = np.asarray(logits)
    top = x.max(axis=1)
    second = np.full(top.shape, -np.inf, dtype=top.dtype)
    ties = np.zeros(top.shape, np.int16)
    for c in range(x.shape[1]):
        at_top = x[:, c] == top
        ties += at_top
        np.maximum(second, np.where(at_top, -np.inf, x[:, c]), out=second)
    margin = np.where(ties > 1, 0, top - second)
    return margin > tol


@dataclass
class Agreement:
    """Predictions of a runtime against the reference's, accumulated over images."""

    classes: int
    pixels: int = 0
    agree: int = 0
    decided: int = 0
    decided_agree: int = 0
    #: Per class: |ref == c & got == c| and |ref == c | got == c|.
    inter: np.ndarray = field(default=None)  # type: ignore[assignment]
    union: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self):
        if self.inter is None:
            self.inter = np.zeros(self.classes, np.int64)
            self.union = np.zeros(self.classes, np.int64)

    def add(self, ref_labels: np.ndarray, labels: np.ndarray,
            decided: np.ndarray | None = None) -> None:
        same = ref_labels == labels
        self.pixels += same.size
        self.agree += int(same.sum())
        if decided is not None:
            self.decided += int(decided.sum())
            self.decided_agree += int((same & decided).sum())
        c = self.classes
        r = ref_labels.reshape(-1).astype(np.int64)
        g = labels.reshape(-1).astype(np.int64)
        both = np.bincount(r[same.reshape(-1)], minlength=c)[:c]
        self.inter += both
        self.union += np.bincount(r, minlength=c)[:c] + np.bincount(g, minlength=c)[:c] - both

    @property
    def agreement(self) -> float:
        return self.agree / self.pixels if self.pixels else 1.0

    def iou(self) -> dict[int, float]:
        """Per class present in either prediction: IoU between the two predictions."""
        return {int(c): float(self.inter[c] / self.union[c])
                for c in np.flatnonzero(self.union)}

    def as_dict(self) -> dict:
        iou = self.iou()
        return {
            "pixels": self.pixels,
            "argmax_agreement": round(self.agreement, 8),
            "decided_pixels": self.decided,
            "decided_agreement": round(self.decided_agree / self.decided, 8) if self.decided else 1.0,
            "mean_iou": round(float(np.mean(list(iou.values()))), 8) if iou else 1.0,
            "iou": {str(c): round(v, 6) for c, v in iou.items()},
        }
