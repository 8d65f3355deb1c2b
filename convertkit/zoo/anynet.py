"""Seeded, calibrated random weights for any supported prototxt (``zoo make --from``).

The zoo's ICNet/PSPNet recipe (calibrate.py), generalised so that anyone can test a
conversion without a release's weights:

* every learned param gets a seeded draw by its role: weights He-normal over their
  fan-in, biases N(0, 0.1), BN gamma U(0.5, 1.5) and beta N(0, 0.2), PReLU slopes
  0.25, a Scale's gamma U(0.5, 1.5) and beta N(0, 0.2);
* one forward pass on the sample photographs (3-channel image inputs) or seeded
  N(0, 1) arrays (any other input) then fixes the scale of every layer: a BN's or
  BatchNorm's mean and variance are measured on its bottom just before it runs (as the
  zoo does), and a Convolution, Deconvolution or InnerProduct whose output no BN
  follows is rescaled so that its output has unit standard deviation (one LSUV step),
  the rescale snapped to a 2^(1/16) grid so that BLAS noise does not reach the file.

So activations stay O(1) through every layer of any depth, and the same seed gives the
same bytes.
"""
from __future__ import annotations

import math

import numpy as np

from ..graph import Layer, Net
from .calibrate import bn_statistics, quantize_statistics, rng_for

#: Seeded draw per role; "weight" is He-normal over the fan-in instead.
ROLE_INIT = {
    "bias": lambda rng, shape: rng.normal(0.0, 0.1, shape),
    "gamma": lambda rng, shape: rng.uniform(0.5, 1.5, shape),
    "beta": lambda rng, shape: rng.normal(0.0, 0.2, shape),
    "slope": lambda rng, shape: np.full(shape, 0.25),
    "mean": lambda rng, shape: np.zeros(shape),
    "variance": lambda rng, shape: np.ones(shape),
    "scale_factor": lambda rng, shape: np.ones(shape),
}
STEPS_PER_OCTAVE = 16


def init_params(net: Net, seed: int) -> None:
    """Give every layer its seeded params (in layer order, one generator)."""
    rng = rng_for(seed)
    plan = net.plan()
    for layer in net.layers:
        shapes = [tuple(int(d) for d in s) for s in layer.impl.param_shapes(plan.bottom_shapes(layer))]
        params = []
        for role, shape in zip(layer.roles, shapes):
            if role == "weight":
                out_axis = layer.impl.weight_axes()[0] if layer.impl.weight_axes() else 0
                fan_in = max(1, int(np.prod(shape)) // max(1, shape[out_axis]))
                arr = rng.standard_normal(shape, dtype=np.float32) * np.float32(math.sqrt(2.0 / fan_in))
            else:
                arr = ROLE_INIT.get(role, lambda rng, s: np.ones(s))(rng, shape)
            params.append(np.asarray(arr, np.float32))
        layer.params = params


def _snap(scale: float) -> float:
    """A power of 2^(1/16): a rescale that float noise does not move."""
    return float(2.0 ** (round(math.log2(scale) * STEPS_PER_OCTAVE) / STEPS_PER_OCTAVE))


def calibrate(net: Net, inputs: dict[str, np.ndarray]) -> dict[str, float]:
    """One forward pass that rescales every weight layer to unit output std and then
    sets each BN's statistics; returns {layer: rescale}."""
    from ..runtime.numpy import forward

    scales: dict[str, float] = {}

    def before(layer: Layer, bottoms: list[np.ndarray]) -> None:
        if "mean" not in layer.roles:
            return
        mean, var, _ = bn_statistics(bottoms[0])
        q_mean, q_var = quantize_statistics(mean, var)
        for role, value in (("mean", q_mean), ("variance", q_var)):
            k = layer.roles.index(role)
            layer.params[k] = value.reshape(layer.params[k].shape).astype(np.float32)
        if "scale_factor" in layer.roles:
            k = layer.roles.index("scale_factor")
            layer.params[k] = np.ones_like(layer.params[k])

    def after(layer: Layer, tops: list[np.ndarray]) -> None:
        if layer.impl.weight_axes() is None:
            return
        std = float(np.std(tops[0], dtype=np.float64))
        if not std > 0 or not math.isfinite(std):
            return
        scale = _snap(1.0 / std)
        layer.params = [np.asarray(p * np.float32(scale), np.float32) for p in layer.params]
        tops[0] *= np.float32(scale)  # later layers see the rescaled output
        scales[layer.name] = scale

    forward(net, inputs, keep="outputs", before_layer=before, after_layer=after)
    return scales


def calibration_data(net: Net, seed: int) -> tuple[dict[str, np.ndarray], str]:
    """Inputs for the calibration pass: the sample photographs for 3-channel image
    inputs (resized, BGR minus the mean), seeded N(0, 1) for any other input."""
    from . import calibration_inputs

    rng = rng_for(seed + 1)
    out, sources = {}, []
    given = net.input_values()
    for name, shape in net.inputs.items():
        if name in given:  # what its layer says it holds (Faster R-CNN's im_info)
            out[name] = given[name]
            sources.append(f"{name}: {', '.join(f'{v:g}' for v in given[name].reshape(-1))}")
        elif len(shape) == 4 and shape[1] == 3:
            batch, source = calibration_inputs((shape[2], shape[3]))
            # The declared batch size (a net may tie it), cycling through the photos.
            out[name] = np.ascontiguousarray(np.resize(batch, (shape[0],) + batch.shape[1:]))
            sources.append(f"{name}: {source}")
        else:
            out[name] = rng.standard_normal(shape).astype(np.float32)
            sources.append(f"{name}: seeded N(0, 1)")
    return out, "; ".join(sources)


def make_from(net: Net, seed: int = 0) -> tuple[Net, list[str]]:
    """``net`` (shapes known) with seeded, calibrated params; returns it and notes."""
    init_params(net, seed)
    inputs, source = calibration_data(net, seed)
    scales = calibrate(net, inputs)
    notes = [f"seeded random weights (seed {seed}), calibrated on {source}",
             f"{len(scales)} weight layers rescaled to unit output std"]
    return net, notes
