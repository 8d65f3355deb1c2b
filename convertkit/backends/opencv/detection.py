"""OpenCV's expression of SSD's PriorBox (DetectionOutput it reads as it is)."""
from __future__ import annotations

from ..base import Context
from .core import BACKEND


@BACKEND.register("PriorBox")
def prior_box(ctx: Context) -> None:
    """OpenCV computes Caffe's boxes, but takes the image size from its bottom
    whatever img_size / img_h / img_w say."""
    p, img = ctx.layer.hparams, ctx.bottom_shapes[1]
    if (p.img_h and p.img_h != img[2]) or (p.img_w and p.img_w != img[3]):
        raise ctx.refuse(f"OpenCV ignores img_size {p.img_h}x{p.img_w} and would use the "
                         f"image bottom's {img[2]}x{img[3]}", BACKEND.name)
    return None
