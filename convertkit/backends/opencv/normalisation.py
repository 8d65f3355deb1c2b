"""OpenCV's expression of Caffe's normalising layers: BN, MVN and LRN."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ...caffe.proto import caffe_pb2
from ...graph import Layer
from ..base import Context
from .core import BACKEND, data_check


@BACKEND.register("BN")
def bn(ctx: Context) -> list[Layer]:
    """PSPNet's BN: BVLC BatchNorm (mean, variance, factor 1) normalises, then a Scale
    with bias applies gamma and beta. SegNet's BN in INFERENCE mode: the Scale alone.
    Without params (a weightless rewrite) the layers carry none."""
    layer = ctx.layer
    pb = caffe_pb2()
    if layer.hparams.dialect == "segnet":
        if layer.hparams.mode != "INFERENCE":
            raise ctx.refuse("SegNet's BN in LEARN mode normalises with batch statistics, "
                             "which OpenCV's layers do not compute", BACKEND.name)
        scale = pb.LayerParameter(name=layer.name, type="Scale")
        scale.scale_param.bias_term = True
        params = [np.asarray(layer.param(r), np.float32).reshape(-1)
                  for r in ("gamma", "beta")] if layer.params else []
        return [Layer(layer.name, "Scale", list(layer.bottoms), list(layer.tops), scale, params)]
    norm = pb.LayerParameter(name=f"{layer.name}/norm", type="BatchNorm")
    norm.batch_norm_param.use_global_stats = True
    norm.batch_norm_param.eps = layer.hparams.eps
    scale = pb.LayerParameter(name=layer.name, type="Scale")
    scale.scale_param.bias_term = True
    norm_params: list[np.ndarray] = []
    scale_params: list[np.ndarray] = []
    if layer.params:
        gamma, beta, mean, var = (np.asarray(layer.param(r), np.float32).reshape(-1)
                                  for r in ("gamma", "beta", "mean", "variance"))
        norm_params = [mean, var, np.ones(1, np.float32)]
        scale_params = [gamma, beta]
    bottom, top = layer.bottoms[0], layer.tops[0]
    return [
        Layer(norm.name, "BatchNorm", [bottom], [top], norm, norm_params),
        Layer(scale.name, "Scale", [top], [top], scale, scale_params),
    ]


@BACKEND.register("MVN")
def mvn(ctx: Context) -> None:
    """Caffe's MVN top has 4 axes whatever its bottom's (legacy accessors); OpenCV's
    keeps the bottom's. Caffe adds eps to the standard deviation, OpenCV to the
    variance: the same only at Caffe's default eps (1e-9)."""
    if len(ctx.bottom_shapes[0]) < 4:
        raise ctx.refuse(f"OpenCV's MVN keeps a {len(ctx.bottom_shapes[0])}-axis bottom's "
                         "shape; Caffe's top has 4 axes", BACKEND.name)
    p = ctx.layer.hparams
    if p.normalize_variance and np.float32(p.eps) != np.float32(1e-9):
        # measured: eps 0.1 moves OpenCV's output by 0.26 on values of about 2
        raise ctx.refuse(f"OpenCV's MVN divides by sqrt(var + eps), Caffe's by sqrt(var) + "
                         f"eps (eps {p.eps:g})", BACKEND.name)
    return None


#: The largest mean²/variance of an MVN row that OpenCV normalises within a tenth of
#: the 1e-4 parity tolerance (its relative error is about that ratio times 6e-8).
MVN_RATIO_LIMIT = 100.0


@data_check("MVN")
def mvn_cancellation(layer: Layer, bottoms: Sequence[np.ndarray]) -> str | None:
    """OpenCV's MVN takes the variance as E[x²] - E[x]² in float32, Caffe as the mean of
    (x - E[x])²: on a row whose mean is far from its spread, OpenCV's loses digits
    (measured: mean²/variance 6.6e3 gave 3.4e-4 relative error). A constant row gives
    0 in both."""
    p = layer.hparams
    if not p.normalize_variance:
        return None
    x = np.asarray(bottoms[0], dtype=np.float64)
    rows = x.reshape(x.shape[0] if p.across_channels or x.ndim < 2 else x.shape[0] * x.shape[1], -1)
    var = rows.var(axis=1)
    spread = var > 0
    if not spread.any():
        return None
    ratio = float((np.square(rows.mean(axis=1))[spread] / var[spread]).max())
    if ratio <= MVN_RATIO_LIMIT:
        return None
    return (f"OpenCV's MVN takes the variance as E[x²] - E[x]² in float32, which loses "
            f"digits on a row of '{layer.name}''s bottom whose mean²/variance is {ratio:.2g} "
            f"(about {ratio * 6e-8:.0e} relative error; Caffe subtracts the mean first)")


@BACKEND.register("LRN")
def lrn(ctx: Context) -> list[Layer]:
    """OpenCV's importer reads an absent ``alpha`` otherwise than Caffe's default 1, and
    its ACROSS_CHANNELS LRN computes another k than Caffe's (measured: k 0.5 or 0.9
    with alpha 0.1 differ by 7% to 40%): every field written out, k other than 1
    refused."""
    layer, p = ctx.layer, ctx.layer.hparams
    if p.norm_region == "ACROSS_CHANNELS" and float(p.k) != 1.0:
        raise ctx.refuse(f"OpenCV's ACROSS_CHANNELS LRN does not compute Caffe's k "
                         f"({float(p.k):g}; only k 1 agrees)", BACKEND.name)
    if 2 * layer.impl.reach(ctx.bottom_shapes[0]) + 1 != p.local_size:
        raise ctx.refuse(f"OpenCV allocates the whole window (local_size {p.local_size}), "
                         "wider than the blob", BACKEND.name)
    lp = layer.to_proto()
    lrn_p = lp.lrn_param
    lrn_p.local_size, lrn_p.alpha, lrn_p.beta, lrn_p.k = p.local_size, p.alpha, p.beta, p.k
    return [layer.replace(proto=lp)]
