"""Seeded, calibrated random weights for the zoo nets.

Random weights must "test anything" (CONVERSION_PITFALLS.md, last section): a wrong
layer has to change the output visibly, and two faithful float32 runtimes have to
agree well inside the 1e-4 parity tolerance. So:

* convolutions: He-normal, std sqrt(2 / fan_in) with fan_in = C_in/group * kh * kw
  (the ``msra`` filler the prototxts name);
* BN slope U(0.5, 1.5) and bias N(0, 0.2), away from the 1 / 0 of an identity, so a
  runtime that skips or misreads a BN blob is caught;
* ``*_1x1_increase/bn`` slope x 0.25: the last BN of every residual branch is damped.
  A calibrated random ResNet is chaotic, and without damping 1-ulp noise grows past
  1e-4 by PSPNet101's conv6;
* BN mean/variance are **measured**. The net runs on real photographs, and just before
  each BN runs its mean/variance are set from the statistics of its bottom. Then every
  BN output is about slope * N(0,1) + bias, and activations stay O(1) through 100+
  layers. A BN that sees fewer than 64 pixels per channel (the PSP branches see 1, 4,
  9, 36) gets statistics pooled over its channels and pixels: per-channel statistics of
  one pixel give variance 0, and x - mean = 0 amplifies float noise;
* ICNet only: its ``conv5_3_sum`` adds conv5_3 to four pooled copies of itself with
  no BN in between (about 5x the scale of one map; mean|x| 2.6-3.7 and max 36 at full
  size without this). So the conv5 residual stream's BNs (``conv5_*_1x1_proj/bn``,
  ``conv5_*_1x1_increase/bn``) get slope and bias x 0.5 (``Spec.stream_damping``);
* the classifier bias is N(0, 0.2), and ICNet's ``data_sub1`` Scale is all ones, as
  released.

Every random draw comes from one ``Generator(PCG64(seed))`` in layer order. Blob shapes
do not depend on the input size, so the weights are the same at every size. The
measured statistics are snapped to a coarse grid (:func:`quantize_statistics`), so the
last bits of a BLAS sum practically never reach the file: the same seed gives
byte-identical files, also across BLAS thread counts.
"""
from __future__ import annotations

import math
import re
from typing import Callable

import numpy as np

from ..graph import Layer, Net

#: Below this many pixels per channel, a BN's statistics are pooled over its channels.
MIN_PIXELS_PER_CHANNEL = 64
#: Damping of the last BN of each residual branch.
INCREASE_DAMPING = 0.25
BN_SLOPE_RANGE = (0.5, 1.5)
BN_BIAS_STD = 0.2
CLASSIFIER_BIAS_STD = 0.2


def rng_for(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(int(seed)))


def init_params(net: Net, seed: int, stream_damping: tuple[str, float] | None = None) -> None:
    """Give every layer of ``net`` its seeded learned params; BN mean 0 and
    variance 1 until calibrated.

    ``stream_damping`` = (regex, factor) scales slope and bias of the BNs whose names
    match it, after the draws (so the seed's stream does not change). ICNet uses it:
    its ``conv5_3_sum`` adds conv5_3 to four pooled copies of itself with no BN in
    between, so the conv5 residual stream (``conv5_*_1x1_proj/bn`` and
    ``conv5_*_1x1_increase/bn``) is halved to keep that sum O(1).
    """
    rng = rng_for(seed)
    plan = net.plan()
    damp_re = re.compile(stream_damping[0]) if stream_damping else None
    for layer in net.layers:
        shapes = [tuple(int(d) for d in s) for s in layer.impl.param_shapes(plan.bottom_shapes(layer))]
        if not shapes:
            layer.params = []
            continue
        if layer.type == "Convolution":
            w_shape = shapes[0]
            fan_in = int(np.prod(w_shape[1:]))
            w = rng.standard_normal(w_shape, dtype=np.float32) * np.float32(math.sqrt(2.0 / fan_in))
            params = [w.astype(np.float32)]
            if len(shapes) > 1:
                params.append(rng.normal(0.0, CLASSIFIER_BIAS_STD, shapes[1]).astype(np.float32))
        elif layer.type == "BN":
            c_shape = shapes[0]
            slope = rng.uniform(*BN_SLOPE_RANGE, c_shape)
            if layer.name.endswith("_1x1_increase/bn"):
                slope = slope * INCREASE_DAMPING
            bias = rng.normal(0.0, BN_BIAS_STD, c_shape)
            if damp_re is not None and damp_re.fullmatch(layer.name):
                slope, bias = slope * stream_damping[1], bias * stream_damping[1]
            params = [slope.astype(np.float32), bias.astype(np.float32),
                     np.zeros(c_shape, np.float32), np.ones(shapes[3], np.float32)]
        elif layer.type == "Scale":
            params = [np.ones(s, np.float32) for s in shapes]  # data_sub1: identity, as released
        else:  # pragma: no cover - the zoo nets have no other learned layers
            raise NotImplementedError(f"no initialiser for {layer.type} layer '{layer.name}'")
        layer.params = params


#: Grid of the stored statistics: variances on a 1/16-octave log grid, means on a grid
#: of 1/16 of the layer's power-of-two standard deviation (see quantize_statistics).
STAT_STEPS_PER_OCTAVE = 16
MEAN_STEPS_PER_STD = 16


def quantize_statistics(mean: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Snap measured (mean, variance) to a coarse grid so that float32 summation noise
    (about 1e-7 relative; it differs with the BLAS build and thread count) almost never
    changes a stored value. One changed value would shift every later layer's
    statistics, and so every later blob. The grids: variance to 2^(k/16), i.e. within
    2.2% (BN output std within 1.1%); mean to multiples of 2^floor(log2 std)/16, i.e.
    within 1/16 of a standard deviation. The layer's std is itself snapped to a power
    of two, so the grid does not move with the noise. Coarse, but calibration only
    has to keep activations O(1)."""
    var = np.asarray(var, np.float64)
    mean = np.asarray(mean, np.float64)
    q_var = np.exp2(np.round(np.log2(var) * STAT_STEPS_PER_OCTAVE) / STAT_STEPS_PER_OCTAVE)
    std = math.sqrt(float(np.mean(var)))
    step = 2.0 ** math.floor(math.log2(std)) / MEAN_STEPS_PER_STD
    q_mean = np.round(mean / step) * step
    return q_mean.astype(np.float32), q_var.astype(np.float32)


def bn_statistics(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """(mean, variance) per channel of an N x C x H x W bottom. They are pooled over
    channels and pixels when one image gives fewer than 64 pixels per channel.
    Variance is biased, E[(x-mean)^2], as Caffe's BN computes it."""
    x = np.asarray(x, np.float32)
    c = x.shape[1]
    pixels = int(np.prod(x.shape[2:])) if x.ndim > 2 else 1
    pooled = pixels < MIN_PIXELS_PER_CHANNEL
    axes = tuple(range(x.ndim)) if pooled else (0,) + tuple(range(2, x.ndim))
    n = x.size // (1 if pooled else c)
    # Two passes, float32 temporaries with float64 accumulators (these blobs reach
    # hundreds of MB at ICNet's full size; a float64 copy would double that).
    mean = x.sum(axis=axes, dtype=np.float64) / n
    bshape = (1, -1) + (1,) * (x.ndim - 2)
    d = x - np.asarray(mean, np.float32).reshape(bshape if not pooled else ())
    np.square(d, out=d)
    var = d.sum(axis=axes, dtype=np.float64) / n
    del d
    if pooled:
        mean, var = np.full(c, float(mean)), np.full(c, float(var))
    # A (nearly) constant channel would be amplified without bound: floor its variance
    # at 1% of the layer's average variance.
    floor = 0.01 * float(var.mean()) + 1e-8
    var = np.maximum(var, floor)
    return mean, var, pooled


def calibrate(net: Net, inputs: dict[str, np.ndarray],
              progress: Callable[[int, int, Layer], None] | None = None) -> dict[str, bool]:
    """Measure every BN's mean/variance on ``inputs``, layer by layer, in one forward
    pass. Returns {BN name: whether its statistics were pooled}."""
    from ..runtime.numpy import forward

    pooled: dict[str, bool] = {}

    def before(layer: Layer, bottoms: list[np.ndarray]) -> None:
        if layer.type != "BN":
            return
        mean, var, was_pooled = bn_statistics(bottoms[0])
        q_mean, q_var = quantize_statistics(mean, var)
        layer.params[2] = q_mean.reshape(layer.params[2].shape)
        layer.params[3] = q_var.reshape(layer.params[3].shape)
        pooled[layer.name] = was_pooled

    forward(net, inputs, keep="outputs", before_layer=before, progress=progress)
    return pooled


def activation_stats(values: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """{blob: (mean |x|, max |x|)}, for checking that calibration kept things O(1)."""
    return {name: (float(np.mean(np.abs(v))), float(np.max(np.abs(v))))
            for name, v in values.items()}
