"""The types OpenCV's Caffe importer reads as they are, and those it has no layer for."""
from __future__ import annotations

from ..base import Context
from .core import BACKEND


#: Types OpenCV's Caffe importer reads unchanged, with Caffe's semantics.
NATIVE = (
    "AbsVal", "BNLL", "BatchNorm",
    "ELU", "Eltwise", "Exp", "Input",
    "PReLU", "Power", "ReLU", "Sigmoid", "Split", "TanH",
    # other forks' layers OpenCV implements itself
    "ReLU6", "Permute", "Normalize", "DetectionOutput", "ShuffleChannel",
    "ROIPooling", "PSROIPooling",
)


@BACKEND.register(*NATIVE)
def native(ctx: Context) -> None:
    return None


BACKEND.refuse("Bias", reason="OpenCV's Caffe importer has no Bias layer")
BACKEND.refuse("Threshold", reason="OpenCV's Caffe importer has no Threshold layer")
BACKEND.refuse("ArgMax", reason="OpenCV's Caffe importer has no ArgMax layer")


BACKEND.refuse("Upsample", reason="OpenCV's Caffe importer has no Upsample layer (neither "
               "SegNet's unpooling nor nearest-neighbour)")


BACKEND.refuse("Clip", reason="OpenCV's Caffe importer has no Clip layer")
BACKEND.refuse("Reduction", reason="OpenCV's Caffe importer has no Reduction layer")
BACKEND.refuse("Embed", reason="OpenCV's Caffe importer has no Embed layer")


BACKEND.refuse("Tile", reason="OpenCV's Tile layer does not read Caffe's tile_param "
               "(it wants its own 'repeats')")
