"""The official input preprocessing of PSPNet and ICNet, as a tested function.

What the released evaluation code does (CAFFE_SEMANTICS.md §4, "Official evaluation
preprocessing"):

* PSPNet (``eval_all.m``, ``pre_img.m``): the image minus the ImageNet mean
  (R 123.68, G 116.779, B 103.939), channels reordered to **BGR**, no scaling to
  [0, 1] or division by a std. When the image is smaller than the 473/713 crop it is
  padded at the **bottom and right** with the mean colour, i.e. 0 after subtraction.
* ICNet (``eval_sub.m``): bilinear resize to the network input (1025 x 2049), then the
  same mean subtraction and BGR order.

Both resize the 8-bit image (MATLAB ``imresize`` on uint8) and only then subtract the
mean in floating point; this module keeps that order. Resizing is OpenCV's bilinear
``INTER_LINEAR`` (half-pixel centres). Unlike MATLAB's ``imresize``, it does not
antialias when it shrinks, so heavily downscaled pixels differ a little from the
official pipeline. The network sees the same kind of input either way.

OpenCV (``opencv-python-headless``, the ``convertkit[opencv]`` extra) is needed only to
read and resize images. It is imported on first use.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence, Union

import numpy as np

from .errors import FileKindError, InputFileError, UsageError
from .resources import images_dir

#: Per-channel mean, in the BGR order of the network input.
MEAN_BGR = (103.939, 116.779, 123.68)

#: How an image is brought to the network's input size.
#:   resize: bilinear resize to exactly H x W (ICNet's evaluation; aspect not kept)
#:   fit:    keep the aspect, resize so that the image fits inside H x W, pad bottom/right
#:   pad:    no resize; pad bottom/right with the mean colour, crop the top-left H x W
#:           (one window of PSPNet's sliding evaluation)
MODES = ("resize", "fit", "pad")

ImageLike = Union[str, os.PathLike, np.ndarray]


def _cv2():
    try:
        import cv2  # noqa: PLC0415 - optional dependency, imported on first use
    except ImportError:
        raise UsageError(
            "reading and resizing images needs OpenCV: pip install 'convertkit[opencv]' "
            "(opencv-python-headless)") from None
    return cv2


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as an H x W x 3 uint8 array in BGR order (OpenCV's).

    A missing or undecodable file raises a one-line InputFileError naming it.
    Grey images are expanded to three channels and alpha is dropped
    (``IMREAD_COLOR``).
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError("image not found", path=path)
    if path.is_dir():
        raise InputFileError("image path is a directory", path=path)
    cv2 = _cv2()
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise InputFileError(f"cannot read image: {exc.strerror}", path=path) from None
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        from .sniff import describe

        what = describe(path)
        if what is not None and not what.endswith(" image"):  # an array, a model, text...
            raise FileKindError(f"is {what}, not an image", path=path)
        raise InputFileError("cannot decode image (not a PNG, JPEG or other format "
                             "OpenCV reads)", path=path)
    return img


def _as_bgr_uint8(image: ImageLike) -> np.ndarray:
    if isinstance(image, (str, os.PathLike)):
        return read_image(image)
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise UsageError(f"an image array must be H x W x 3 (BGR), got shape {arr.shape}")
    return arr[:, :, :3]


def _resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    if img.shape[0] == h and img.shape[1] == w:
        return img
    cv2 = _cv2()
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)


#: OpenCV's BGR -> grey weights (ITU-R BT.601 luma), in BGR order.
LUMA_BGR = (0.114, 0.587, 0.299)


def grey_mean(mean: Sequence[float] = MEAN_BGR) -> float:
    """The grey level of a BGR mean colour (a one-value mean is taken as it is)."""
    if len(mean) == 1:
        return float(mean[0])
    return float(np.dot(np.asarray(mean, np.float64), LUMA_BGR))


def preprocess(image: ImageLike, size: tuple[int, int] | int, mode: str = "resize",
               mean: Sequence[float] = MEAN_BGR, channels: int = 3) -> np.ndarray:
    """One image (a path, or an H x W x 3 BGR array) as a 1 x C x H x W float32 input.

    ``size`` is the network input (H, W) (an int means square). ``mode`` is one of
    :data:`MODES`: "resize" for ICNet, "fit" or "pad" for PSPNet's padded crops.
    The result is BGR minus ``mean`` (B 103.939, G 116.779, R 123.68), and padded
    cells are exactly 0. ``channels=1`` (a grey net, such as LeNet) gives the grey
    image instead (OpenCV's BGR -> grey of the resized 8-bit image) minus the mean
    colour's grey level.
    """
    if channels not in (1, 3):
        raise UsageError(f"images make 1- or 3-channel inputs, not {channels}-channel ones")
    if isinstance(size, int):
        size = (size, size)
    h, w = (int(size[0]), int(size[1]))
    if h <= 0 or w <= 0:
        raise UsageError(f"input size must be positive, got {h}x{w}")
    if mode not in MODES:
        raise UsageError(f"unknown preprocessing mode {mode!r} (choose {', '.join(MODES)})")
    img = _as_bgr_uint8(image)
    if mode == "resize":
        img = _resize(img, h, w)
    elif mode == "fit":
        f = min(h / img.shape[0], w / img.shape[1])
        img = _resize(img, max(1, min(h, round(img.shape[0] * f))),
                      max(1, min(w, round(img.shape[1] * f))))
    if channels == 1:
        cv2 = _cv2()
        img = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_BGR2GRAY)[:, :, None]
        mean = (grey_mean(mean),)
    x = img.astype(np.float32) - np.asarray(mean, dtype=np.float32)
    out = np.zeros((h, w, channels), np.float32)  # the mean colour, after subtraction
    ch, cw = min(h, x.shape[0]), min(w, x.shape[1])
    out[:ch, :cw] = x[:ch, :cw]
    return np.ascontiguousarray(out.transpose(2, 0, 1)[None])


def preprocess_batch(images: Iterable[ImageLike], size: tuple[int, int] | int,
                     mode: str = "resize", mean: Sequence[float] = MEAN_BGR,
                     channels: int = 3) -> np.ndarray:
    """Several images as one N x C x H x W float32 batch (see :func:`preprocess`)."""
    arrays = [preprocess(im, size, mode, mean, channels) for im in images]
    if not arrays:
        raise UsageError("no images given")
    return np.concatenate(arrays, axis=0)


#: The sample photographs (fixtures/images in the repository, with LICENSES.md; the
#: wheel installs them as convertkit/data/images: see convertkit/resources.py).
SAMPLE_DIR = images_dir()
SAMPLE_SUFFIXES = (".png", ".jpg", ".jpeg")


def sample_images() -> list[Path]:
    """The sample photographs, sorted by name; empty when they are absent."""
    if not SAMPLE_DIR.is_dir():
        return []
    return sorted(p for p in SAMPLE_DIR.iterdir() if p.suffix.lower() in SAMPLE_SUFFIXES)
