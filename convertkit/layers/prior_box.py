"""PriorBox (SSD, weiliu89/caffe ``prior_box_layer.cpp``, as its master branch and
OpenCV dnn compute it): the default boxes of one feature map, normalised to the image.

Two bottoms, the feature map (H x W cells) and the image (its size, unless
``img_size``/``img_h``/``img_w`` give it). For each cell, in row-major order, and
each ``min_size``: a square of min_size; with ``max_size``, a square of
``sqrt(min_size * max_size)``; then for each aspect ratio other than 1 (the list
starts with 1, drops near-duplicates and, with ``flip``, adds ``1/ar`` after each
ar) a box of ``min_size * sqrt(ar)`` by ``min_size / sqrt(ar)``. Centres are
``(w + offset) * step`` (step: given, or image size / map size); corners are
``(centre -+ size/2) / image size``, clipped to [0, 1] with ``clip``. The top is
1 x 2 x (H*W*priors*4): the corners, then each corner's variance (one value for all,
or four). MACs: 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import PrototxtError
from .base import LayerImpl, Shape, fmt_shape, register


@dataclass(frozen=True)
class PriorBoxParams:
    min_sizes: tuple[float, ...]
    max_sizes: tuple[float, ...]
    aspect_ratios: tuple[float, ...]  # with 1 first, flipped ones added
    clip: bool
    variance: tuple[float, ...]
    img_h: int
    img_w: int
    step_h: float
    step_w: float
    offset: float

    @property
    def num_priors(self) -> int:
        return len(self.aspect_ratios) * len(self.min_sizes) + len(self.max_sizes)


@register("PriorBox")
class PriorBox(LayerImpl):
    num_bottoms = (2, 2)

    def read_params(self, proto: Any) -> PriorBoxParams:
        p = proto.prior_box_param
        has = p.HasField

        def bad(msg: str) -> PrototxtError:
            return PrototxtError(msg, layer=self.name)

        mins = tuple(float(v) for v in p.min_size)
        if not mins or min(mins) <= 0:
            raise bad("min_size must be given and positive")
        maxs = tuple(float(v) for v in p.max_size)
        if maxs and (len(maxs) != len(mins) or any(b <= a for a, b in zip(mins, maxs))):
            raise bad("give one max_size per min_size, each larger than it")
        ars = [1.0]
        for ar in p.aspect_ratio:
            if all(abs(ar - a) >= 1e-6 for a in ars):
                ars.append(float(ar))
                if p.flip:
                    ars.append(1.0 / float(ar))
        var = tuple(float(v) for v in p.variance) or (0.1,)
        if len(var) not in (1, 4) or min(var) <= 0:
            raise bad("variance takes one or four positive values")
        if (has("img_h") or has("img_w")) and has("img_size"):
            raise bad("give img_size or img_h/img_w, not both")
        img_h = int(p.img_h if has("img_h") else p.img_size)
        img_w = int(p.img_w if has("img_w") else p.img_size)
        if (has("step_h") or has("step_w")) and has("step"):
            raise bad("give step or step_h/step_w, not both")
        step_h = float(p.step_h if has("step_h") else p.step)
        step_w = float(p.step_w if has("step_w") else p.step)
        return PriorBoxParams(mins, maxs, tuple(ars), bool(p.clip), var, img_h, img_w,
                              step_h, step_w, float(p.offset))

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        feat, img = (tuple(s) for s in bottom_shapes)
        if len(feat) != 4 or len(img) != 4:
            raise self.fail(f"PriorBox needs two N x C x H x W bottoms, got {fmt_shape(feat)} "
                            f"and {fmt_shape(img)}")
        return [(1, 2, feat[2] * feat[3] * self.p.num_priors * 4)]

    def boxes(self, feat_hw: tuple[int, int], img_hw: tuple[int, int]) -> np.ndarray:
        """The 1 x 2 x (H*W*priors*4) top for a map and image of these sizes."""
        p = self.p
        lh, lw = feat_hw
        ih = p.img_h or img_hw[0]
        iw = p.img_w or img_hw[1]
        sh = p.step_h if p.step_h and p.step_w else np.float32(ih) / np.float32(lh)
        sw = p.step_w if p.step_h and p.step_w else np.float32(iw) / np.float32(lw)
        sizes = []  # (box width, box height) per prior, in order
        for s, mn in enumerate(p.min_sizes):
            sizes.append((mn, mn))
            if p.max_sizes:
                side = float(np.sqrt(mn * p.max_sizes[s]))
                sizes.append((side, side))
            for ar in p.aspect_ratios:
                if abs(ar - 1.0) >= 1e-6:
                    sizes.append((mn * float(np.sqrt(ar)), mn / float(np.sqrt(ar))))
        size = np.asarray(sizes, np.float64)
        cx = (np.arange(lw, dtype=np.float32) + np.float32(p.offset)) * np.float32(sw)
        cy = (np.arange(lh, dtype=np.float32) + np.float32(p.offset)) * np.float32(sh)
        cx, cy = np.meshgrid(cx.astype(np.float64), cy.astype(np.float64))  # H x W
        cx, cy = cx[..., None], cy[..., None]
        corners = np.stack([(cx - size[:, 0] / 2) / iw, (cy - size[:, 1] / 2) / ih,
                            (cx + size[:, 0] / 2) / iw, (cy + size[:, 1] / 2) / ih], axis=-1)
        corners = corners.astype(np.float32).reshape(-1)
        if p.clip:
            corners = np.clip(corners, 0, 1)
        variance = np.resize(np.asarray(p.variance, np.float32), corners.size)
        return np.stack([corners, variance])[None]

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        feat, img = bottoms
        return [self.boxes(tuple(feat.shape[2:]), tuple(img.shape[2:]))]
