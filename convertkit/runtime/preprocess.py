"""Input preprocessing as data: what turns an image into the network's input.

A :class:`Preprocessing` holds every setting (mean, std, scale, channel order, input
size, centre crop, how the image reaches the size) and where each came from: a flag,
the prototxt's ``transform_param``, or the default. ``apply`` makes the input,
``describe`` says in one line what was applied, ``to_json`` states it for reports and
golden files. :func:`build` makes one from flag values and a net.

The order of operations is Caffe's ``DataTransformer::Transform`` (data_transformer.cpp),
with OpenCV's ``blobFromImage`` for the std:

1. the 8-bit image reaches the input size: a bilinear resize (OpenCV ``INTER_LINEAR``,
   half-pixel centres), or ``fit``/``pad`` (below). With a crop, the image is first
   resized to ``input_size`` (Caffe's ``new_height``/``new_width``), else to the size of
   a mean array (the size Caffe requires the images to have), else kept as it is;
2. with a crop, the centre window: Caffe's TEST phase offsets ``(H - h) / 2``,
   ``(W - w) / 2`` (no random crop, no mirror);
3. the colour: a 1-channel net gets OpenCV's BGR -> grey of the 8-bit image; otherwise
   BGR (OpenCV's and Caffe's order) or RGB;
4. in float32, per pixel: ``(pixel - mean) / std * scale``. A mean array is cropped
   with the same window as the image; per-channel means are in the order of the net's
   input channels (B, G, R unless RGB); a single value serves every channel (Caffe's
   ``mean_value``); ``--std`` divides after the mean (in pixel units, as
   ``blobFromImage``'s mean), and ``scale`` (Caffe's ``transform_param.scale``,
   OpenCV's ``scalefactor``) multiplies last. Without std and with scale 1 this is
   exactly Caffe's ``(pixel - mean) * scale``;
5. cells that ``fit``/``pad`` leave uncovered are exactly 0 (the mean colour, after
   subtraction).

The default, when neither flags nor a ``transform_param`` say otherwise, is the official
preprocessing of PSPNet and ICNet (CAFFE_SEMANTICS.md §4): a bilinear resize to the
net's input, BGR minus the ImageNet mean (B 103.939, G 116.779, R 123.68), no std, no
scale. PSPNet pads bottom/right with the mean colour (``fit``/``pad``), ICNet resizes.
Unlike MATLAB's ``imresize``, OpenCV does not antialias when it shrinks, so heavily
downscaled pixels differ a little from the official pipeline.

OpenCV (``opencv-python-headless``, the ``convertkit[opencv]`` extra) is needed only to
read and resize images. It is imported on first use.
"""
from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence, Union

import numpy as np

from ..errors import FileKindError, InputFileError, UsageError
from ..resources import images_dir

#: Per-channel mean, in the BGR order of the network input.
MEAN_BGR = (103.939, 116.779, 123.68)

#: How an image is brought to the network's input size.
#:   resize: bilinear resize to exactly H x W (ICNet's evaluation; aspect not kept)
#:   fit:    keep the aspect, resize so that the image fits inside H x W, pad bottom/right
#:   pad:    no resize; pad bottom/right with the mean colour, crop the top-left H x W
#:           (one window of PSPNet's sliding evaluation)
MODES = ("resize", "fit", "pad")
#: Channel orders of a 3-channel input.
ORDERS = ("bgr", "rgb")
#: The settings a Preprocessing records the origin of.
SETTINGS = ("mean", "std", "scale", "channel_order", "input_size", "crop", "resize")
#: Origins: a command-line flag, the default, the net's declared input, or a golden file.
FLAG, DEFAULT, NET, RECORDED = "flag", "default", "net", "recorded"

ImageLike = Union[str, os.PathLike, np.ndarray]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")


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
        from ..caffe.sniff import describe

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
    out = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    return out.reshape(h, w, *img.shape[2:])


#: OpenCV's BGR -> grey weights (ITU-R BT.601 luma), in BGR order.
LUMA_BGR = (0.114, 0.587, 0.299)


def grey_mean(mean: Sequence[float] = MEAN_BGR) -> float:
    """The grey level of a BGR mean colour (a one-value mean is taken as it is)."""
    if len(mean) == 1:
        return float(mean[0])
    return float(np.dot(np.asarray(mean, np.float64), LUMA_BGR))


def _grey(img: np.ndarray) -> np.ndarray:
    cv2 = _cv2()
    return cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_BGR2GRAY)[:, :, None]


def _hw(size: tuple[int, int] | None) -> str:
    return f"{size[0]}x{size[1]}" if size else "?"


def _num(v: float) -> str:
    return f"{v:g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.6g}"


# -- mean and std arrays ----------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class MeanArray:
    """A mean (or std) read from a file: a Caffe ``.binaryproto`` (BlobProto) or a
    ``.npy`` array, C x H x W float32 in the order of the net's input channels (Caffe's
    layout), or an image (H x W x 3 BGR uint8), which is resized to the image it meets
    and converted to its colours as the input is."""

    data: np.ndarray
    path: str
    kind: str  # binaryproto | npy | image
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        if self.kind == "image":
            return (3,) + tuple(self.data.shape[:2])
        return tuple(self.data.shape)

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.shape[1:])

    def label(self) -> str:
        return f"{self.path} ({'x'.join(map(str, self.shape))})"

    def to_json(self) -> dict:
        return {"file": self.path, "kind": self.kind, "shape": list(self.shape)}

    def for_input(self, channels: int, order: str, size: tuple[int, int], what: str) -> np.ndarray:
        """H x W x C float32, fitting an input of ``channels`` and ``size``."""
        key = (channels, order, size)
        if key in self._cache:
            return self._cache[key]
        if self.kind == "image":
            img = _resize(self.data, *size)
            img = _grey(img) if channels == 1 else img[:, :, ::-1] if order == "rgb" else img
            out = img.astype(np.float32)
        else:
            c, h, w = self.shape
            if c != channels:
                raise InputFileError(f"the {what} has {c} channel(s), the net's input {channels}",
                                     path=self.path)
            if (h, w) != tuple(size):
                raise InputFileError(
                    f"the {what} is {h}x{w}, the image it applies to is {_hw(size)}: Caffe needs "
                    f"the same size (give --input-size {h}x{w}, with --crop for a smaller input, "
                    f"or per-channel values)", path=self.path)
            out = np.ascontiguousarray(self.data.transpose(1, 2, 0), np.float32)
        self._cache[key] = out
        return out


def _blob_array(blob) -> np.ndarray:
    if len(blob.shape.dim):
        shape = tuple(int(d) for d in blob.shape.dim)
    elif blob.num or blob.channels or blob.height or blob.width:
        shape = (blob.num, blob.channels, blob.height, blob.width)
    else:
        shape = (max(len(blob.data), len(blob.double_data)),)
    values = blob.data if len(blob.data) else blob.double_data
    n = int(np.prod(shape, dtype=np.int64))
    if n != len(values):
        raise ValueError(f"shape {'x'.join(map(str, shape))} needs {n} values, the blob holds "
                         f"{len(values)}")
    return np.asarray(values, dtype=np.float32).reshape(shape)


def read_array(path: str | os.PathLike, what: str = "mean") -> tuple[float, ...] | MeanArray:
    """A mean or std file: a Caffe ``.binaryproto`` (a BlobProto, read with the caffe.proto
    schema), a ``.npy`` array (never unpickled) or an image. An array of C values gives
    per-channel values; otherwise C x H x W (or 1 x C x H x W, or H x W for one channel)."""
    from ..fileio import read_bytes
    from ..caffe.sniff import sniff

    p = Path(path)
    raw = read_bytes(p, f"{what} file")
    kind = sniff(raw)
    if kind is not None and kind.key == "pickle":
        raise FileKindError(f"is a Python pickle, not a {what} (pickles are never loaded)", path=p)
    if (kind is not None and kind.what.endswith(" image")) or p.suffix.lower() in IMAGE_SUFFIXES:
        return MeanArray(read_image(p), str(path), "image")
    if raw[:6] == b"\x93NUMPY" or p.suffix.lower() == ".npy":
        try:
            arr = np.load(io.BytesIO(raw), allow_pickle=False)
        except ValueError as exc:
            why = ("it holds Python objects (never unpickled)" if "pickle" in str(exc)
                   else f"{exc}")
            raise InputFileError(f"cannot read the {what} array: {why}", path=p) from None
        if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu":
            raise InputFileError(f"the {what} array must hold numbers, not {arr.dtype}", path=p)
        file_kind = "npy"
    else:
        from google.protobuf.message import DecodeError

        from ..caffe.proto import caffe_pb2

        try:
            arr = _blob_array(caffe_pb2().BlobProto.FromString(raw))
        except (DecodeError, ValueError) as exc:
            raise InputFileError(f"is not a Caffe mean file (.binaryproto BlobProto), a .npy "
                                 f"array or an image: {exc}", path=p) from None
        file_kind = "binaryproto"
    arr = np.asarray(arr, np.float32)
    if arr.size == 0:
        raise InputFileError(f"the {what} file holds no values", path=p)
    if not np.isfinite(arr).all():
        raise InputFileError(f"the {what} holds NaN or infinite values", path=p)
    if arr.ndim == 1:
        return tuple(float(v) for v in arr)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    elif arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise InputFileError(f"the {what} is {'x'.join(map(str, arr.shape))}: give C values, "
                             "C x H x W or 1 x C x H x W", path=p)
    return MeanArray(np.ascontiguousarray(arr), str(path), file_kind)


# -- the preprocessing ---------------------------------------------------------------------

Term = Union[tuple, MeanArray, None]


@dataclass(frozen=True, eq=False)
class Preprocessing:
    """Everything that turns an image into the network's input (see the module doc)."""

    #: Per-channel values (1 or C, in the net's channel order), a MeanArray, or None.
    mean: Term = MEAN_BGR
    #: Divides after the mean: per-channel values, a MeanArray, or None.
    std: Term = None
    #: Multiplies last (Caffe's transform_param.scale, OpenCV's scalefactor).
    scale: float = 1.0
    channel_order: str = "bgr"
    #: H x W the image is resized to (None: the net's input, or with a crop the image's size).
    input_size: tuple[int, int] | None = None
    #: H x W centre crop (Caffe's crop_size), or None.
    crop: tuple[int, int] | None = None
    resize: str = "resize"
    #: Channels of the net's input: 3, or 1 for a grey net.
    channels: int = 3
    #: Setting -> where it came from (FLAG, DEFAULT, NET, "transform_param of FILE"...).
    sources: Mapping[str, str] = field(default_factory=dict)
    #: The prototxt's transform_param, when it gave any setting.
    transform: "TransformParam | None" = None

    def __post_init__(self):
        if self.resize not in MODES:
            raise UsageError(f"unknown preprocessing mode {self.resize!r} (choose {', '.join(MODES)})")
        if self.channel_order not in ORDERS:
            raise UsageError(f"unknown channel order {self.channel_order!r} (choose bgr or rgb)")
        if self.channels not in (1, 3):
            raise UsageError(f"images make 1- or 3-channel inputs, not {self.channels}-channel ones")
        for name in ("input_size", "crop"):
            size = getattr(self, name)
            if size is not None and (len(size) != 2 or min(size) <= 0):
                raise UsageError(f"input size must be positive, got {_hw(size)}")
        if self.crop is not None and self.resize != "resize":
            raise UsageError(f"a crop goes with --preprocess resize, not {self.resize}")
        if not math.isfinite(self.scale) or self.scale == 0:
            raise UsageError(f"scale must be a finite non-zero number, got {self.scale!r}")
        for what in ("mean", "std"):
            term = getattr(self, what)
            if isinstance(term, tuple):
                ok = (1, 3) if (what == "mean" or self.channels == 3) else (1,)
                if len(term) not in ok:
                    raise UsageError(f"--{what} takes {' or '.join(map(str, ok))} value(s) for a "
                                     f"{self.channels}-channel input, got {len(term)}")
        if isinstance(self.std, tuple) and any(v == 0 for v in self.std):
            raise UsageError("--std values must not be 0")
        if isinstance(self.std, MeanArray) and not self.std.data.all():
            raise InputFileError("the std array holds zeros", path=self.std.path)

    # -- what it does ----------------------------------------------------------------------

    def source(self, setting: str) -> str:
        return self.sources.get(setting, DEFAULT)

    @property
    def is_default(self) -> bool:
        """Whether the mean is the default (neither a flag nor a transform_param gave one)."""
        return self.source("mean") == DEFAULT

    def note(self) -> str | None:
        """The line a command prints (as ``note: ...``) when the preprocessing is not all
        the user's: a transform_param was used, or the default mean."""
        if self.transform is not None and any(
                self.source(k) == self.transform.origin for k in SETTINGS):
            return (f"using transform_param from {self.transform.prototxt}: "
                    f"{self.transform.describe()} -> {self.describe()}")
        if self.is_default:
            return (f"preprocessing: {self.describe()} (the default, ImageNet's; the model's "
                    "own: --mean, --scale, --std, --channel-order, --input-size, --crop)")
        return None

    def output_size(self, declared: Sequence[int] | None = None) -> tuple[int, int]:
        """H x W of the input made (``declared``: the net's input H x W)."""
        if self.crop is not None:
            return tuple(self.crop)
        if self.input_size is not None:
            return tuple(self.input_size)
        if declared is None:
            raise UsageError("the input size is unknown: give --input-size HxW")
        return int(declared[0]), int(declared[1])

    def apply(self, image: ImageLike, shape: Sequence[int] | None = None) -> np.ndarray:
        """One image (a path, or an H x W x 3 BGR uint8 array) as a 1 x C x H x W float32
        input; ``shape`` is the net's input (N, C, H, W) (C and H x W from it where this
        preprocessing does not fix them)."""
        return self.prepare(image, shape)[0]

    def prepare(self, image: ImageLike, shape: Sequence[int] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """(the input, 1 x C x H x W float32; the picture the net saw, H x W x 3 RGB uint8
        before the mean, std and scale)."""
        channels = int(shape[1]) if shape is not None and len(shape) == 4 else self.channels
        if channels not in (1, 3):
            raise UsageError(f"images make 1- or 3-channel inputs, not {channels}-channel ones")
        declared = tuple(shape[2:]) if shape is not None and len(shape) == 4 else None
        img = _as_bgr_uint8(image)
        if self.crop is not None:
            base = self.input_size or self._array_size() or img.shape[:2]
            img = _resize(img, *base)
            big, (ch, cw) = img.shape[:2], self.crop
            if big[0] < ch or big[1] < cw:
                raise UsageError(f"the image is {_hw(big)}, smaller than the crop {ch}x{cw}: "
                                 "give --input-size to resize it first")
            window = ((big[0] - ch) // 2, (big[1] - cw) // 2)  # Caffe's TEST phase
            img = img[window[0]:window[0] + ch, window[1]:window[1] + cw]
            out_hw, term_hw = (ch, cw), tuple(big)
        else:
            out_hw = self.output_size(declared)
            h, w = out_hw
            if self.resize == "resize":
                img = _resize(img, h, w)
            elif self.resize == "fit":
                f = min(h / img.shape[0], w / img.shape[1])
                img = _resize(img, max(1, min(h, round(img.shape[0] * f))),
                              max(1, min(w, round(img.shape[1] * f))))
            window, term_hw = (0, 0), out_hw
        rh, rw = min(out_hw[0], img.shape[0]), min(out_hw[1], img.shape[1])
        img = img[:rh, :rw]
        img = _grey(img) if channels == 1 else img[:, :, ::-1] if self.channel_order == "rgb" else img
        x = img.astype(np.float32)
        mean = self._term("mean", channels, term_hw, window, (rh, rw))
        std = self._term("std", channels, term_hw, window, (rh, rw))
        if mean is not None:
            x = x - mean
        if std is not None:
            x = x / std
        if self.scale != 1:
            x = x * np.float32(self.scale)
        out = np.zeros(out_hw + (channels,), np.float32)  # the mean colour, after subtraction
        out[:rh, :rw] = x
        picture = np.zeros(out_hw + (3,), np.uint8)
        if isinstance(self.mean, tuple):
            fill = np.asarray(self._values(self.mean, channels), np.float64)
            if channels == 3 and self.channel_order == "bgr":
                fill = fill[::-1]
            picture[:] = np.clip(np.rint(fill), 0, 255).astype(np.uint8)
        seen = (np.repeat(img, 3, axis=2) if channels == 1 else
                img[:, :, ::-1] if self.channel_order == "bgr" else img)
        picture[:rh, :rw] = seen
        return np.ascontiguousarray(out.transpose(2, 0, 1)[None]), picture

    def tensor(self, img: np.ndarray) -> np.ndarray:
        """An image already at the size it is fed at (H x W x 3 BGR uint8) as
        1 x C x H x W: colour, mean, std and scale only (no resize, no crop)."""
        return self.replace(input_size=tuple(img.shape[:2]), crop=None,
                            resize="resize").apply(img, (1, self.channels) + tuple(img.shape[:2]))

    def _array_size(self) -> tuple[int, int] | None:
        for term in (self.mean, self.std):
            if isinstance(term, MeanArray):
                return term.size
        return None

    @staticmethod
    def _values(values: tuple, channels: int) -> tuple:
        if channels == 1 and len(values) == 3:
            return (grey_mean(values),)
        return values if len(values) in (1, channels) else values[:channels]

    def _term(self, what: str, channels: int, size, window, region) -> np.ndarray | None:
        term = getattr(self, what)
        if term is None:
            return None
        if isinstance(term, tuple):
            if len(term) not in (1, channels) and not (what == "mean" and channels == 1):
                raise UsageError(f"--{what} has {len(term)} values, the net's input "
                                 f"{channels} channel(s)")
            return np.asarray(self._values(term, channels), np.float32)
        arr = term.for_input(channels, self.channel_order, tuple(size), what)
        return arr[window[0]:window[0] + region[0], window[1]:window[1] + region[1]]

    def replace(self, **changes: Any) -> "Preprocessing":
        return replace(self, **changes)

    # -- what it says ----------------------------------------------------------------------

    def _geometry(self) -> str:
        if self.crop is not None:
            base = (f"resize to {_hw(self.input_size)}, " if self.input_size else
                    f"resize to the mean's {_hw(self._array_size())}, " if self._array_size() else
                    "")
            return f"{base}centre crop {_hw(self.crop)}"
        size = _hw(self.input_size) if self.input_size else "the net's input size"
        return {"resize": f"resize to {size}",
                "fit": f"fit into {size} keeping the aspect, pad bottom/right",
                "pad": f"pad bottom/right (or crop top-left) to {size}, no resize"}[self.resize]

    def _term_text(self, what: str) -> str | None:
        term = getattr(self, what)
        if term is None:
            return None
        if isinstance(term, MeanArray):
            return term.label()
        if self.channels == 1 and len(term) == 3 and what == "mean":
            return (f"{_num(grey_mean(term))} (the grey of B {_num(term[0])} G {_num(term[1])} "
                    f"R {_num(term[2])})")
        if len(term) == 3:
            names = "BGR" if self.channel_order == "bgr" else "RGB"
            return " ".join(f"{n} {_num(v)}" for n, v in zip(names, term))
        return _num(term[0])

    def describe(self) -> str:
        """One line: what is applied, in order."""
        order = "grey" if self.channels == 1 else self.channel_order.upper()
        parts = [self._geometry(), order]
        mean, std = self._term_text("mean"), self._term_text("std")
        parts.append(f"minus mean {mean}" if mean else "no mean")
        if std:
            parts.append(f"divided by std {std}")
        if self.scale != 1:
            parts.append(f"times scale {_num(self.scale)}")
        return ", ".join(parts)

    def to_json(self) -> dict:
        """What was applied, exactly (and where each setting came from)."""
        def term(t):
            if t is None:
                return None
            return t.to_json() if isinstance(t, MeanArray) else list(t)

        return {"summary": self.describe(),
                "resize": self.resize,
                "input_size": list(self.input_size) if self.input_size else None,
                "crop": list(self.crop) if self.crop else None,
                "channel_order": "grey" if self.channels == 1 else self.channel_order,
                "mean": term(self.mean), "std": term(self.std), "scale": self.scale,
                "from": {k: self.source(k) for k in SETTINGS}}

    @classmethod
    def from_json(cls, obj: Mapping, base: str | os.PathLike | None = None,
                  channels: int = 3) -> "Preprocessing":
        """The preprocessing :meth:`to_json` stated (files relative to ``base``)."""
        def term(t, what):
            if t is None:
                return None
            if isinstance(t, Mapping):
                p = Path(t["file"])
                got = read_array(p if p.is_absolute() or base is None else Path(base) / p, what)
                return replace(got, path=t["file"]) if isinstance(got, MeanArray) else got
            return tuple(float(v) for v in t)

        try:
            order = obj.get("channel_order", "bgr")
            return cls(mean=term(obj.get("mean"), "mean"), std=term(obj.get("std"), "std"),
                       scale=float(obj.get("scale", 1.0)),
                       channel_order="bgr" if order == "grey" else order,
                       input_size=tuple(obj["input_size"]) if obj.get("input_size") else None,
                       crop=tuple(obj["crop"]) if obj.get("crop") else None,
                       resize=obj.get("resize", "resize"),
                       channels=1 if order == "grey" else channels,
                       sources={k: RECORDED for k in SETTINGS})
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"a recorded preprocessing cannot be read: {exc}") from None


# -- transform_param -----------------------------------------------------------------------

@dataclass(frozen=True)
class TransformParam:
    """The ``transform_param`` of the data layer that feeds a net's input (TEST phase)."""

    prototxt: str
    layer: str
    mean_file: str | None = None
    mean_value: tuple[float, ...] = ()
    scale: float | None = None
    crop_size: int | None = None
    #: ImageData's new_height x new_width (the resize before the crop), or None.
    new_size: tuple[int, int] | None = None
    mirror: bool = False

    @property
    def origin(self) -> str:
        return f"transform_param of {self.prototxt}"

    def describe(self) -> str:
        parts = []
        if self.mean_file:
            parts.append(f"mean_file {self.mean_file}")
        if self.mean_value:
            parts.append("mean_value " + ",".join(_num(v) for v in self.mean_value))
        if self.scale is not None:
            parts.append(f"scale {_num(self.scale)}")
        if self.crop_size:
            parts.append(f"crop_size {self.crop_size}")
        if self.new_size:
            parts.append(f"new_height {self.new_size[0]} new_width {self.new_size[1]}")
        if self.mirror:
            parts.append("mirror (random in Caffe: not applied)")
        return ", ".join(parts) or "no settings"


_TRANSFORM_WORDS = ("transform_param", "meanfile", "cropsize")


def transform_param(prototxt: str | os.PathLike, input_name: str,
                    defines: Mapping[str, str] | None = None) -> TransformParam | None:
    """The transform_param of the bottomless layer (Data, ImageData, MemoryData...) whose
    first top is ``input_name``, in the TEST phase, after Caffe's upgrades; None when
    there is none. The loader drops data layers, so the prototxt is read here. A
    caffemodel given alone (a training snapshot) is read for the net Caffe saved in it
    (already of one phase)."""
    from ..fileio import read_bytes
    from ..caffe.prototxt import filter_phase, parse_prototxt, upgrade
    from ..caffe.sniff import sniff

    kind = sniff(prototxt)
    if kind is not None and not kind.is_text:
        if kind.key not in ("caffemodel", "binary"):
            return None
        from ..caffe.loader import _net_param_from_caffemodel
        from ..caffe.wire import read_caffemodel

        net = _net_param_from_caffemodel(read_caffemodel(prototxt))
        upgrade(net, prototxt)
    else:
        raw = read_bytes(prototxt, "prototxt")
        if not any(w.encode() in raw for w in _TRANSFORM_WORDS):  # a deploy net: no parse
            return None
        net = parse_prototxt(prototxt, defines)
        upgrade(net, prototxt)
        filter_phase(net, "TEST", prototxt)
    for lp in net.layer:
        if lp.bottom or not lp.top or lp.top[0] != input_name or not lp.HasField("transform_param"):
            continue
        tp = lp.transform_param
        if tp.HasField("mean_file") and len(tp.mean_value):
            from ..errors import PrototxtError

            raise PrototxtError("transform_param gives both mean_file and mean_value (Caffe "
                                "refuses that)", path=prototxt, layer=lp.name)
        new_size = None
        if lp.HasField("image_data_param"):
            ip = lp.image_data_param
            if ip.new_height > 0 and ip.new_width > 0:
                new_size = (int(ip.new_height), int(ip.new_width))
        return TransformParam(str(prototxt), lp.name,
                              mean_file=tp.mean_file if tp.HasField("mean_file") else None,
                              mean_value=tuple(_f32(v) for v in tp.mean_value),
                              scale=_f32(tp.scale) if tp.HasField("scale") else None,
                              crop_size=int(tp.crop_size) if tp.crop_size > 0 else None,
                              new_size=new_size, mirror=bool(tp.mirror))
    return None


def _f32(v: float) -> float:
    """A float field of caffe.proto (float32) as the shortest decimal naming it:
    mean_value 104.008 reads back as 104.00800323486328; it is 104.008 in float32."""
    return float(str(np.float32(v)))


def _find_mean_file(ref: str, prototxt: str) -> Path:
    """Caffe reads mean_file relative to where it runs; look beside the prototxt, then
    in the current folder, then for the bare name beside the prototxt."""
    p = Path(ref)
    here = Path(prototxt).parent
    for cand in ([p] if p.is_absolute() else [here / p, p, here / p.name]):
        if cand.is_file():
            return cand
    raise InputFileError(f"transform_param mean_file {ref!r} not found (looked beside the "
                         "prototxt and in the current folder): put it there, or give --mean",
                         path=prototxt)


# -- from flag values ------------------------------------------------------------------------

def _numbers(text: str) -> tuple[float, ...] | None:
    parts = [t for t in text.replace(" ", ",").split(",") if t]
    try:
        values = tuple(float(t) for t in parts)
    except ValueError:
        return None
    return values or None


def parse_term(text: str | None, what: str) -> Term:
    """A --mean or --std value: numbers (one, or one per channel) or a file."""
    if text is None:
        return None
    values = _numbers(str(text))
    if values is None:
        if not Path(text).exists():
            raise UsageError(f"--{what} {text!r}: give numbers (B,G,R, or one value) or an "
                             "existing file (.binaryproto, .npy or an image)")
        return read_array(text, what)
    if not all(math.isfinite(v) for v in values):
        raise UsageError(f"--{what} {text!r}: values must be finite")
    if what == "mean" and not any(values):
        return None  # --mean 0: no mean
    if what == "std" and all(v == 1 for v in values):
        return None
    return values


def parse_scale(text: str | float | None) -> float | None:
    """--scale: a number, or 1/N (OpenCV's scalefactor 1/255)."""
    if text is None:
        return None
    s = str(text).strip()
    try:
        num, slash, den = s.partition("/")
        value = float(num) / float(den) if slash else float(s)
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"--scale {text!r}: give a number like 0.017 or 1/255") from None
    if not math.isfinite(value) or value == 0:
        raise UsageError(f"--scale {text!r}: must be a finite non-zero number")
    return value


def parse_size(text: str | None, what: str) -> tuple[int, int] | None:
    """HxW (or one N for N x N)."""
    if text is None:
        return None
    h, x, w = str(text).lower().replace(",", "x").partition("x")
    try:
        size = (int(h), int(w) if x else int(h))
    except ValueError:
        raise UsageError(f"{what} {text!r}: give HxW, e.g. 512x1024 (or N for N x N)") from None
    if min(size) <= 0:
        raise UsageError(f"{what} {text!r}: sizes must be positive")
    return size


def net_input(net) -> tuple[str, tuple[int, ...]]:
    """The name and N x C x H x W shape of a net's only image input (or a UsageError)."""
    if len(net.inputs) != 1:
        raise UsageError(f"--image needs a net with one input; this one has {len(net.inputs)} "
                         f"({', '.join(net.inputs)}): give --input arrays")
    name, shape = next(iter(net.inputs.items()))
    if shape is None or len(shape) != 4 or shape[1] not in (1, 3):
        raise UsageError(f"--image needs a 1- or 3-channel N x C x H x W input; '{name}' is "
                         f"{'x'.join(map(str, shape)) if shape else 'of unknown shape'}: "
                         "give --input arrays")
    return name, tuple(shape)


def build(net=None, *, mean=None, std=None, scale=None, channel_order=None, input_size=None,
          crop=None, resize=None, prototxt=None, defines=None,
          base: Preprocessing | None = None) -> Preprocessing:
    """The preprocessing for ``net`` from flag values (strings as typed, None where not
    given). Each setting comes from its flag, else from ``base`` (a recorded one), else
    from the ``transform_param`` of the data layer feeding the net in ``prototxt``, else
    the default (ImageNet BGR mean, resize to the net's input)."""
    channels, declared, name = 3, None, None
    if net is not None:
        name, shape = net_input(net)
        channels, declared = int(shape[1]), (int(shape[2]), int(shape[3]))
    flags = {"mean": parse_term(mean, "mean") if mean is not None else None,
             "std": parse_term(std, "std") if std is not None else None,
             "scale": parse_scale(scale), "channel_order": channel_order,
             "input_size": parse_size(input_size, "--input-size"),
             "crop": parse_size(crop, "--crop"), "resize": resize}
    given = {"mean": mean is not None, "std": std is not None, "scale": scale is not None,
             "channel_order": channel_order is not None, "input_size": input_size is not None,
             "crop": crop is not None, "resize": resize is not None}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    tp = None
    if base is not None:
        for k in SETTINGS:
            values[k] = getattr(base, k)
            sources[k] = base.source(k)
    else:
        tp = transform_param(prototxt, name, defines) if prototxt and name else None
        if tp is not None:
            if not given["mean"]:  # Caffe: mean_file, mean_value, or no mean at all
                if tp.mean_file:
                    values["mean"] = read_array(_find_mean_file(tp.mean_file, tp.prototxt), "mean")
                else:
                    values["mean"] = tuple(tp.mean_value) if any(tp.mean_value) else None
                sources["mean"] = tp.origin
            if tp.scale is not None:
                values["scale"], sources["scale"] = tp.scale, tp.origin
            if tp.crop_size:
                values["crop"], sources["crop"] = (tp.crop_size, tp.crop_size), tp.origin
            if tp.new_size:
                values["input_size"], sources["input_size"] = tp.new_size, tp.origin
    for k in SETTINGS:
        if given[k]:
            values[k], sources[k] = flags[k], FLAG
    if (base is None and values.get("input_size") is None and values.get("crop") is None
            and declared is not None):
        values["input_size"], sources["input_size"] = declared, NET
    return Preprocessing(mean=values.get("mean", MEAN_BGR), std=values.get("std"),
                         scale=float(values.get("scale") or 1.0),
                         channel_order=values.get("channel_order") or "bgr",
                         input_size=values.get("input_size"), crop=values.get("crop"),
                         resize=values.get("resize") or "resize", channels=channels,
                         sources=sources, transform=tp)


def with_input_size(net, prep: Preprocessing):
    """The net, its one input reshaped to the size ``prep`` makes (the same net when that
    is its declared size): the net is planned afresh for it."""
    name, shape = net_input(net)
    hw = prep.output_size(shape[2:])
    if tuple(shape[2:]) == hw:
        return net
    new = net.replace(inputs=dict(net.inputs, **{name: (shape[0], shape[1]) + hw}))
    from ..errors import ShapeError

    try:
        new.plan()
    except ShapeError as exc:
        exc.cause += f" (input '{name}' resized to {_hw(hw)} by the preprocessing)"
        exc.path = exc.path or net.prototxt_path
        raise
    return new


# -- the old entry points ----------------------------------------------------------------------

def preprocess(image: ImageLike, size: tuple[int, int] | int, mode: str = "resize",
               mean: Sequence[float] = MEAN_BGR, channels: int = 3) -> np.ndarray:
    """One image (a path, or an H x W x 3 BGR array) as a 1 x C x H x W float32 input.

    ``size`` is the network input (H, W) (an int means square). ``mode`` is one of
    :data:`MODES`: "resize" for ICNet, "fit" or "pad" for PSPNet's padded crops.
    The result is BGR minus ``mean`` (B 103.939, G 116.779, R 123.68), and padded
    cells are exactly 0. ``channels=1`` (a grey net, such as LeNet) gives the grey
    image instead (OpenCV's BGR -> grey of the resized 8-bit image) minus the mean
    colour's grey level. (:class:`Preprocessing` does the same with every setting.)
    """
    if channels not in (1, 3):
        raise UsageError(f"images make 1- or 3-channel inputs, not {channels}-channel ones")
    if isinstance(size, int):
        size = (size, size)
    h, w = (int(size[0]), int(size[1]))
    if h <= 0 or w <= 0:
        raise UsageError(f"input size must be positive, got {h}x{w}")
    prep = Preprocessing(mean=tuple(float(v) for v in mean), resize=mode, input_size=(h, w),
                         channels=channels)
    return prep.apply(image, (1, channels, h, w))


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


# -- input arrays (--input FILE.npy) ----------------------------------------------

def _shape_text(shape) -> str:
    return "x".join(str(d) for d in shape) if len(shape) else "a scalar"


def _npy_header(path: Path):
    """(shape, dtype) from a .npy header, without reading the data."""
    fmt = np.lib.format
    with open(path, "rb") as fh:
        version = fmt.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _, dtype = fmt.read_array_header_2_0(fh)
        else:
            shape, _, dtype = fmt._read_array_header(fh, version)  # 3.0: no public reader
    return tuple(shape), dtype


#: The sentence for pickled inputs (never numpy's, which suggests allow_pickle).
PICKLE_REFUSED = ("pickles are never loaded: save a plain float32 array with "
                  "numpy.save(path, array)")


def read_input_array(path: str | os.PathLike, name: str, declared, source) -> np.ndarray:
    """An input array from a plain ``.npy`` file, as float32, checked against the
    input ``name`` that ``source`` (the prototxt) declares with shape ``declared``
    (None: unknown). Refused with one line naming the file: anything but a .npy
    array (pickles included), a dtype that is not floating point, a rank other than
    the declared one, another channel count. Another batch, height or width is
    allowed: the net is planned again for it."""
    from ..caffe.sniff import sniff

    path = Path(path)
    if not path.exists():
        raise InputFileError("input array not found", path=path)
    if path.is_dir():
        raise InputFileError("input array path is a directory", path=path)
    kind = sniff(path)
    if kind is None:
        raise FileKindError("is empty, not a .npy array", path=path)
    if kind.key == "pickle":
        raise FileKindError(f"is a Python pickle, not a .npy array; {PICKLE_REFUSED}", path=path)
    if kind.key != "npy":
        hint = ""
        if kind.what.endswith(" image"):
            hint = " (give images with --image)"
        elif kind.key == "npz":
            hint = " (save one array with numpy.save)"
        raise FileKindError(f"is {kind.what}, not a .npy array{hint}", path=path)
    try:
        shape, dtype = _npy_header(path)
    except Exception as exc:  # noqa: BLE001 - numpy's header parser raises many kinds
        raise InputFileError(f"is not a readable .npy array: bad header ({exc.__class__.__name__})",
                             path=path) from None
    if dtype.hasobject:
        raise FileKindError(f"holds Python objects (a pickled object array); {PICKLE_REFUSED}",
                            path=path)
    if dtype.kind != "f":
        raise InputFileError(f"the input array is {dtype.name} ({_shape_text(shape)}); the net "
                             "takes floating-point values: save it as float32", path=path)
    if declared is not None:
        declared = tuple(declared)
        layout = ", N,C,H,W" if len(declared) == 4 else ""
        said = (f"the input array has shape {_shape_text(shape)} ({len(shape)}-D), but {source} "
                f"declares input '{name}' as {_shape_text(declared)} ({len(declared)}-D{layout})")
        if len(shape) != len(declared):
            hint = "; add the batch axis (x[None])" if len(shape) == len(declared) - 1 else ""
            raise InputFileError(said + hint, path=path)
        if len(declared) >= 2 and shape[1] != declared[1]:
            raise InputFileError(f"{said}: the channel counts differ ({shape[1]} vs {declared[1]})",
                                 path=path)
    if any(d == 0 for d in shape):
        raise InputFileError(f"the input array is empty (shape {_shape_text(shape)})", path=path)
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError):
        raise InputFileError("is not a readable .npy array (corrupt or truncated)",
                             path=path) from None
    return np.ascontiguousarray(arr, dtype=np.float32)
