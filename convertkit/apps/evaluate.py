"""Mean IoU and pixel accuracy of a segmentation model on a dataset laid out as the
official one, by a stated protocol (:mod:`convertkit.apps.segment`).

Layouts (``DATA_DIR`` is the dataset's root):

* ``cityscapes``: ``leftImg8bit/val/<city>/<name>_leftImg8bit.png`` with
  ``gtFine/val/<city>/<name>_gtFine_labelIds.png``; label ids are mapped to the 19
  train ids the nets predict, everything else is ignored;
* ``ade20k``: ``images/validation/<name>.jpg`` with ``annotations/validation/<name>.png``
  (0 = other, ignored; 1-150 are the classes);
* ``voc``: ``JPEGImages/<id>.jpg`` with ``SegmentationClass/<id>.png`` (indexed
  colour), ids from ``ImageSets/Segmentation/val.txt``.

The ignore label is 255. Per image a confusion matrix is counted; their sum gives
per-class IoU = TP / (TP + FP + FN), their mean over the classes that occur (mIoU) and
pixel accuracy. A pair that is missing or unreadable, or whose label map has another
size or out-of-range ids, is named and skipped.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputFileError, UsageError

IGNORE = 255
DATASETS = {"cityscapes": 19, "ade20k": 150, "voc": 21}


def cityscapes_train_ids() -> np.ndarray:
    """Label id (0-255) -> train id (0-18, else 255)."""
    from .segment import CITYSCAPES_LABEL_IDS

    table = np.full(256, IGNORE, np.uint8)
    for train, label in enumerate(CITYSCAPES_LABEL_IDS):
        table[label] = train
    return table


@dataclass(frozen=True)
class Pair:
    image: Path
    label: Path


def find_pairs(dataset: str, root: str | Path) -> list[Pair]:
    """The (image, label) pairs of ``root`` in the official layout of ``dataset``."""
    root = Path(root)
    if dataset not in DATASETS:
        raise UsageError(f"unknown dataset {dataset!r} (choose {', '.join(DATASETS)})")
    if dataset == "cityscapes":
        base = root / "leftImg8bit" / "val"
        images = sorted(base.glob("*/*_leftImg8bit.png"))
        pairs = [Pair(p, root / "gtFine" / "val" / p.parent.name /
                      p.name.replace("_leftImg8bit.png", "_gtFine_labelIds.png")) for p in images]
        expected = "leftImg8bit/val/<city>/*_leftImg8bit.png and gtFine/val/<city>/*_gtFine_labelIds.png"
    elif dataset == "ade20k":
        images = sorted((root / "images" / "validation").glob("*.jpg"))
        pairs = [Pair(p, root / "annotations" / "validation" / (p.stem + ".png")) for p in images]
        expected = "images/validation/*.jpg and annotations/validation/*.png"
    else:
        listing = root / "ImageSets" / "Segmentation" / "val.txt"
        if not listing.is_file():
            raise InputFileError("is not a VOC layout: ImageSets/Segmentation/val.txt is "
                                 "missing (expected JPEGImages/, SegmentationClass/ and that list)",
                                 path=root)
        ids = [l.strip() for l in listing.read_text().splitlines() if l.strip()]
        pairs = [Pair(root / "JPEGImages" / f"{i}.jpg", root / "SegmentationClass" / f"{i}.png")
                 for i in ids]
        expected = "JPEGImages/<id>.jpg and SegmentationClass/<id>.png"
    if not pairs:
        raise InputFileError(f"holds no {dataset} images: expected {expected}", path=root)
    return pairs


def read_label(path: Path, dataset: str) -> np.ndarray:
    """The ground truth as H x W train ids (ignore = 255)."""
    if not path.is_file():
        raise InputFileError("label map not found", path=path)
    if dataset == "voc":  # indexed colour: the indices are the classes
        try:
            from PIL import Image
        except ImportError:
            raise UsageError("reading VOC's indexed label maps needs Pillow: pip install "
                             "'convertkit[eval]'") from None
        try:
            return np.asarray(Image.open(path))
        except Exception as exc:
            raise InputFileError(f"cannot decode label map: {exc}", path=path) from None
    from ..runtime.preprocess import _cv2

    cv2 = _cv2()
    label = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if label is None:
        raise InputFileError("cannot decode label map", path=path)
    if label.ndim != 2:
        raise InputFileError(f"a label map must have one channel, this one has {label.shape[2]}",
                             path=path)
    if dataset == "cityscapes":
        return cityscapes_train_ids()[label.astype(np.int64).clip(0, 255)]
    shifted = label.astype(np.int64) - 1  # ADE20K: 0 is "other", ignored
    return np.where(shifted < 0, IGNORE, shifted).astype(np.uint8)


def confusion(pred: np.ndarray, truth: np.ndarray, classes: int) -> np.ndarray:
    """K x K counts, rows = truth, columns = prediction, ignored pixels left out."""
    valid = truth != IGNORE
    idx = truth[valid].astype(np.int64) * classes + pred[valid].astype(np.int64)
    return np.bincount(idx, minlength=classes * classes).reshape(classes, classes)


def scores(matrix: np.ndarray) -> dict:
    """mIoU, pixel accuracy and per-class IoU of a confusion matrix."""
    tp = np.diag(matrix).astype(np.float64)
    union = matrix.sum(0) + matrix.sum(1) - tp
    iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
    present = matrix.sum(1) > 0
    total = matrix.sum()
    return {"miou": float(np.nanmean(iou[present])) if present.any() else float("nan"),
            "pixel_accuracy": float(tp.sum() / total) if total else float("nan"),
            "iou": [None if np.isnan(v) else float(v) for v in iou]}


class Evaluator:
    """One process's model and protocol; :meth:`image` gives one pair's matrix."""

    def __init__(self, prototxt, weights, runtime, protocol, dataset: str, options=None):
        from .segment import Predictor, open_model

        net, rt = open_model(prototxt, weights, runtime, options)
        self.predictor = Predictor(rt, net)
        self.protocol, self.dataset = protocol, dataset
        self.classes = DATASETS[dataset]

    def image(self, pair: Pair) -> tuple[np.ndarray | None, str | None]:
        """(confusion matrix, None), or (None, why the pair was skipped)."""
        from ..runtime.preprocess import read_image

        try:
            img = read_image(pair.image)
            truth = read_label(pair.label, self.dataset)
        except (InputFileError, UsageError) as exc:
            return None, str(exc)
        if truth.shape != img.shape[:2]:
            return None, (f"{pair.label}: label map is {truth.shape[0]}x{truth.shape[1]}, the "
                          f"image {img.shape[0]}x{img.shape[1]}")
        bad = (truth != IGNORE) & (truth >= self.classes)
        if bad.any():
            return None, (f"{pair.label}: label id {int(truth[bad].max())} is outside the "
                          f"{self.classes} classes of {self.dataset} (or {IGNORE}, ignored)")
        scores_ = self.predictor.logits(img, self.protocol)
        if scores_.shape[0] != self.classes:
            raise UsageError(f"the net predicts {scores_.shape[0]} classes, {self.dataset} has "
                             f"{self.classes}")
        return confusion(scores_.argmax(0), truth, self.classes), None


_WORKER: Evaluator | None = None


def _init_worker(args) -> None:
    global _WORKER
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _WORKER = Evaluator(*args)


def _work(pair: Pair):
    return _WORKER.image(pair)


def evaluate(prototxt, weights, dataset: str, root, protocol, runtime=None, workers: int = 1,
             limit: int | None = None, progress=None, options=None) -> dict:
    """The dataset's scores; ``progress(done, total)`` after each image."""
    pairs = find_pairs(dataset, root)[:limit] if limit else find_pairs(dataset, root)
    args = (prototxt, weights, runtime, protocol, dataset, options)
    total = np.zeros((DATASETS[dataset],) * 2, np.int64)
    skipped: list[str] = []
    if workers <= 1:
        ev = Evaluator(*args)
        results = (ev.image(p) for p in pairs)
        pool = None
    else:
        import multiprocessing as mp

        pool = mp.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(args,))
        results = pool.imap(_work, pairs)
    try:
        for i, (matrix, why) in enumerate(results, 1):
            if matrix is None:
                skipped.append(why)
            else:
                total += matrix
            if progress:
                progress(i, len(pairs))
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    if len(skipped) == len(pairs):
        raise InputFileError(f"no usable image: {len(skipped)} pairs skipped, the first: "
                             f"{skipped[0]}", path=root)
    out = scores(total)
    out.update(dataset=dataset, images=len(pairs) - len(skipped), skipped=skipped,
               confusion=total.tolist())
    return out
