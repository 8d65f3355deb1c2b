"""Semantic segmentation with a converted model, by the seeds' protocols.

:func:`logits` turns one image (H x W x 3 BGR uint8) into C x H x W class scores at the
image's own size, with a runtime (any of convertkit.runtime) and a :class:`Protocol`:

* ``resize`` (ICNet's evaluation): the image resized to the net's input, the scores
  resized back (bilinear);
* ``pad_to``: the image padded with the mean (bottom and right) to the net's size,
  the scores cropped back (the seeds' inference script);
* ``sliding`` (PSPNet's): crops of the net's size, stride 2/3 of the crop, mean
  padding where a crop passes the border, overlapping scores averaged;
* ``flip``: the scores of the image and its mirror (mirrored back) averaged;
* ``scales``: the image resized by each factor, the protocol above applied, the
  scores resized to the image and averaged.

What each pixel becomes (mean, std, scale, channel order) is the protocol's
:class:`~convertkit.runtime.preprocess.Preprocessing`; its ``input_size`` is the size the net
runs at (the resize target, the sliding crop). Padding is 0 after it (the mean colour).
A mean or std array needs the resize protocol (the padded and sliding ones work on the
image at its own size).

Cityscapes' train ids (0-18, what the released nets predict) and its label ids (what
its ground truth and evaluation scripts use) differ; :data:`CITYSCAPES_LABEL_IDS`
maps one to the other, a known trap when results are compared.
"""
from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, field
import numpy as np

from ..errors import UsageError
from ..runtime.preprocess import MeanArray, Preprocessing, _cv2

#: Cityscapes label id of each train id 0..18 (cityscapesScripts' labels.py).
CITYSCAPES_LABEL_IDS = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)


@dataclass(frozen=True)
class Protocol:
    mode: str = "resize"                      # resize | pad | sliding
    pad_to: tuple[int, int] | None = None     # with mode "pad": the padded size
    flip: bool = False
    scales: tuple[float, ...] = (1.0,)
    prep: Preprocessing = field(default_factory=Preprocessing)

    def __post_init__(self):
        arrays = isinstance(self.prep.mean, MeanArray) or isinstance(self.prep.std, MeanArray)
        if arrays and self.mode != "resize":
            raise UsageError("a mean or std file needs the resize protocol (the padded and "
                             "sliding ones see the image at its own size): give per-channel "
                             "values")
        if self.prep.crop is not None:
            raise UsageError("--crop does not fit segmentation (the mask covers the whole "
                             "image): give --input-size")
        if self.prep.resize != "resize":
            raise UsageError(f"--preprocess {self.prep.resize} does not apply to segmentation: "
                             "use --pad-to-shape or --sliding")

    def to_json(self) -> dict:
        return {"mode": self.mode, "pad_to": list(self.pad_to) if self.pad_to else None,
                "flip": self.flip, "scales": list(self.scales),
                "preprocessing": self.prep.to_json()}


def _resize(arr: np.ndarray, h: int, w: int) -> np.ndarray:
    """H x W x K float32 (or uint8 image) resized bilinearly."""
    if arr.shape[:2] == (h, w):
        return arr
    cv2 = _cv2()
    if arr.ndim == 3 and arr.shape[2] > 4:  # OpenCV resizes at most 512 channels at once
        return np.concatenate([_resize(arr[..., i:i + 4], h, w) for i in range(0, arr.shape[2], 4)], 2)
    return cv2.resize(arr, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, *arr.shape[2:])


def _to_input(img: np.ndarray, prep: Preprocessing) -> np.ndarray:
    """An image at the size it is fed at as 1 x 3 x H x W: colour, mean, std, scale."""
    return prep.tensor(img)


class Predictor:
    """A runtime bound to a one-input, one-output segmentation net."""

    def __init__(self, runtime, net):
        if len(net.inputs) != 1 or len(net.outputs) != 1:
            raise UsageError(f"segmentation takes a net with one input and one output; this "
                             f"one has {len(net.inputs)} and {len(net.outputs)}",
                             path=net.prototxt_path)
        self.rt, self.net = runtime, net
        self.input, self.output = next(iter(net.inputs)), net.outputs[0]
        shape = net.inputs[self.input]
        if len(shape) != 4 or shape[1] != 3:
            raise UsageError(f"segmentation needs a 3-channel image input, the net takes "
                             f"{'x'.join(map(str, shape))}", path=net.prototxt_path)
        self.size = (int(shape[2]), int(shape[3]))

    def size_for(self, p: Protocol) -> tuple[int, int]:
        """The size the net runs at: the preprocessing's input size, else the net's."""
        return p.prep.output_size(self.size)

    def forward(self, batch: np.ndarray) -> np.ndarray:
        """N x C x h x w scores for an N x 3 x H x W input batch."""
        return self.rt.forward({self.input: batch})[self.output]

    def _once(self, img: np.ndarray, p: Protocol) -> np.ndarray:
        """H x W x C scores of one image at its own size, without flip or scales."""
        h, w = img.shape[:2]
        nh, nw = self.size_for(p)
        if p.mode == "resize":
            out = self.forward(_to_input(_resize(img, nh, nw), p.prep))[0]
            return _resize(out.transpose(1, 2, 0), h, w)
        if p.mode == "pad":
            th, tw = p.pad_to or self.size_for(p)
            if h > th or w > tw:
                raise UsageError(f"--pad-to-shape {th}x{tw} is smaller than the image {h}x{w}")
            x = np.zeros((1, 3, th, tw), np.float32)
            x[:, :, :h, :w] = _to_input(img, p.prep)
            out = self.forward(x)[0].transpose(1, 2, 0)
            return _resize(out, th, tw)[:h, :w]
        return self._sliding(img, p)

    def _sliding(self, img: np.ndarray, p: Protocol) -> np.ndarray:
        """PSPNet's sliding window: crops of the net's size every 2/3 crop."""
        h, w = img.shape[:2]
        ch, cw = self.size_for(p)
        x = _to_input(img, p.prep)[0]
        ph, pw = max(h, ch), max(w, cw)
        padded = np.zeros((3, ph, pw), np.float32)  # the mean, after subtraction
        padded[:, :h, :w] = x
        sh, sw = int(math.ceil(ch * 2 / 3)), int(math.ceil(cw * 2 / 3))
        rows = int(math.ceil(max(ph - ch, 0) / sh)) + 1
        cols = int(math.ceil(max(pw - cw, 0) / sw)) + 1
        total, count = None, np.zeros((ph, pw), np.float32)
        for r in range(rows):
            for c in range(cols):
                y0 = min(r * sh, ph - ch)
                x0 = min(c * sw, pw - cw)
                out = self.forward(padded[None, :, y0:y0 + ch, x0:x0 + cw])[0]
                out = _resize(out.transpose(1, 2, 0), ch, cw)
                if total is None:
                    total = np.zeros((ph, pw, out.shape[2]), np.float32)
                total[y0:y0 + ch, x0:x0 + cw] += out
                count[y0:y0 + ch, x0:x0 + cw] += 1
        return (total / count[..., None])[:h, :w]

    def logits(self, img: np.ndarray, p: Protocol = Protocol()) -> np.ndarray:
        """C x H x W scores of an H x W x 3 BGR uint8 image, by protocol ``p``."""
        h, w = img.shape[:2]
        acc = None
        n = 0
        for s in p.scales:
            scaled = img if s == 1 else _resize(img, max(1, round(h * s)), max(1, round(w * s)))
            views = [scaled, scaled[:, ::-1]] if p.flip else [scaled]
            for k, view in enumerate(views):
                out = self._once(np.ascontiguousarray(view), p)
                if k == 1:
                    out = out[:, ::-1]
                out = _resize(np.ascontiguousarray(out), h, w)
                acc = out if acc is None else acc + out
                n += 1
        return np.ascontiguousarray((acc / n).transpose(2, 0, 1))


    def logits_batch(self, imgs: list[np.ndarray], p: Protocol = Protocol()) -> list[np.ndarray]:
        """:meth:`logits` of several images; with the plain resize protocol they share
        one forward pass (the net's batch axis)."""
        if p.mode != "resize" or p.flip or p.scales != (1.0,) or len(imgs) < 2:
            return [self.logits(img, p) for img in imgs]
        nh, nw = self.size_for(p)
        batch = np.concatenate([_to_input(_resize(img, nh, nw), p.prep) for img in imgs])
        outs = self.forward(batch)
        return [np.ascontiguousarray(_resize(out.transpose(1, 2, 0), *img.shape[:2]).transpose(2, 0, 1))
                for out, img in zip(outs, imgs)]


def label_ids(train_ids: np.ndarray) -> np.ndarray:
    """Cityscapes train ids (0-18) as label ids (ignored pixels stay 255)."""
    table = np.full(256, 255, np.uint8)
    table[:len(CITYSCAPES_LABEL_IDS)] = CITYSCAPES_LABEL_IDS
    return table[np.asarray(train_ids, np.int64).clip(0, 255)]


def palette_png(labels: np.ndarray, colours: np.ndarray) -> bytes:
    """An indexed-colour PNG: the labels as palette indices, ``colours`` (K x 3 RGB) as
    the palette, so image viewers show colours and tools read the class ids."""
    from ..verify.png import _chunk

    a = np.asarray(labels)
    if a.max(initial=0) > 255:
        raise UsageError("more than 256 classes do not fit an indexed PNG")
    h, w = a.shape
    raw = np.concatenate([np.zeros((h, 1), np.uint8), a.astype(np.uint8)], axis=1).tobytes()
    pal = np.zeros((256, 3), np.uint8)
    pal[:min(256, len(colours))] = colours[:256]
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0))
            + _chunk(b"PLTE", pal.tobytes()) + _chunk(b"IDAT", zlib.compress(raw, 6))
            + _chunk(b"IEND", b""))


def overlay(img_bgr: np.ndarray, labels: np.ndarray, colours: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The photo blended with the coloured mask (H x W x 3 RGB uint8)."""
    rgb = img_bgr[:, :, ::-1].astype(np.float32)
    mask = colours[np.asarray(labels, np.int64) % len(colours)].astype(np.float32)
    return np.clip(rgb * (1 - alpha) + mask * alpha, 0, 255).astype(np.uint8)


def parse_scales(text: str | None) -> tuple[float, ...]:
    if not text:
        return (1.0,)
    try:
        scales = tuple(float(s) for s in text.split(","))
    except ValueError:
        raise UsageError(f"--scales {text!r}: give numbers like 0.75,1,1.25") from None
    if any(s <= 0 for s in scales):
        raise UsageError(f"--scales {text!r}: every scale must be positive")
    return scales


def parse_hw(text: str | None, what: str) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        h, _, w = text.lower().partition("x")
        return int(h), int(w or h)
    except ValueError:
        raise UsageError(f"{what} {text!r}: give HxW, e.g. 1025x2049") from None



def open_model(prototxt, weights=None, runtime: str | None = None, options=None):
    """(net, runtime) for a prototxt and an optional weights file: a .caffemodel (any
    runtime; numpy by default), a PyTorch .pt/.safetensors state_dict (torch runtime)
    or an .onnx model (onnx runtime)."""
    from pathlib import Path

    from .. import runtime as rt
    from ..caffe.loader import load

    options = dict(options or {})
    suffix = Path(weights).suffix.lower() if weights else ""
    if suffix in CONVERTED:  # a converted file: its runtime reads it itself
        own, option = CONVERTED[suffix]
        runtime = runtime or own
        if runtime != own:
            raise UsageError(f"a {suffix} file runs in the {own} runtime, not {runtime}")
        net = load(prototxt)
        options[option] = weights
        _placeholder_params(net)
    else:
        net = load(prototxt, weights)
        runtime = runtime or "numpy"
    return net, rt.create(runtime, net, **options)


#: Converted weight files: suffix -> (the runtime that reads it, its option).
CONVERTED = {".pt": ("torch", "state_dict"), ".safetensors": ("torch", "state_dict"),
             ".onnx": ("onnx", "model")}


def _placeholder_params(net) -> None:
    """Zero params of the right shapes, so that a runtime reading its weights from a
    file of its own can plan the net (the file's values replace them)."""
    plan = net.plan()
    for layer in net.layers:
        if not layer.params:
            layer.params = [np.zeros(s, np.float32)
                            for s in layer.impl.param_shapes(plan.bottom_shapes(layer))]
