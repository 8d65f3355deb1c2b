"""Verify's first step, the inputs: images prepared as the net expects them, or a
``--input`` array, each with the picture the report shows."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..errors import UsageError
from ..graph import Net

if TYPE_CHECKING:
    from ..runtime.preprocess import Preprocessing


@dataclass
class Sample:
    """One input: the net's input arrays (N x C x H x W float32) and what to show."""

    name: str
    arrays: dict[str, np.ndarray]
    path: str | None = None
    preprocess: str | None = None
    #: The network input as an RGB uint8 picture (for the report), or None.
    picture: np.ndarray | None = None
    #: What was applied to the image (Preprocessing.to_json()), or None for an array.
    preprocessing: dict | None = None


def samples_from_images(net: Net, paths: Sequence[str | Path], mode: str = "resize",
                        prep: Preprocessing | None = None) -> list[Sample]:
    """Each image preprocessed to the net's input: by ``prep`` (a
    :class:`~convertkit.runtime.preprocess.Preprocessing`), else the default (ImageNet mean,
    ``mode``). Each sample's picture is the RGB image the net saw, before the mean."""
    from ..runtime.preprocess import Preprocessing, net_input

    name, shape = net_input(net)
    if prep is None:
        prep = Preprocessing(resize=mode, channels=shape[1])
    out = []
    for path in paths:
        x, picture = prep.prepare(path, shape)
        out.append(Sample(Path(path).name, {name: x}, str(path), prep.resize, picture,
                          prep.to_json()))
    return out

def sample_from_array(net: Net, path: str | Path) -> Sample:
    """A ``--input`` .npy array (plain float array, never unpickled) for the net's one
    input."""
    from ..runtime.preprocess import read_input_array

    if len(net.inputs) != 1:
        raise UsageError(f"--input takes one array; this net has {len(net.inputs)} inputs")
    name, shape = next(iter(net.inputs.items()))
    x = read_input_array(path, name, shape, net.prototxt_path or "the net")
    picture = None
    if x.ndim == 4 and x.shape[1] == 3:
        img = x[0].transpose(1, 2, 0)[:, :, ::-1]
        lo, hi = float(img.min()), float(img.max())
        picture = np.clip((img - lo) / (hi - lo) * 255 if hi > lo else img * 0, 0, 255).astype(np.uint8)
    return Sample(Path(path).name, {name: x}, str(path), None, picture)
