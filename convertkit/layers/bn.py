"""BN: one Caffe type name, two forks' layers. Which one a layer is (its *dialect*)
comes from its definition: SegNet/ENet's layer has ``bn_param.bn_mode`` (the loader
sets it for a 2-param BN that lacks one, with a note); otherwise it is the PSPNet/ICNet
fork's.

* ``pspnet`` (hszhao/PSPNet ``bn_layer.cpp``, not BVLC BatchNorm): four learned
  params, each 1 x C x 1 x 1: slope (gamma), bias (beta), moving mean and moving
  **variance** (not std, no scale-factor blob). The released nets are all ``frozen:
  true`` and inference is the TEST phase, so the stored statistics are always used:
  ``y = (x - mean) * (var + eps)^-0.5 * slope + bias``, eps from ``bn_param.eps``
  (default 1e-5; no official prototxt sets it).
* ``segnet`` (alexgkendall/caffe-segnet ``bn_layer.cpp``): two params, scale and shift
  (1 x C x 1 x 1). ``bn_mode: INFERENCE`` computes ``y = scale * x + shift`` (SegNet's
  compute_bn_statistics.py folds the statistics into them); ``LEARN`` (the default)
  normalises with the statistics of the batch at hand, ``var = E[x^2] - E[x]^2`` over
  N, H, W, eps 1e-9 inside the square root, then scales and shifts.

MACs: 1 per output element (one multiply-add once folded).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._elementwise import F32, f32
from .base import LayerImpl, Shape, count, fmt_shape, register

#: SegNet's var_eps_, fixed in its bn_layer.cpp.
SEGNET_EPS = 1e-9


@dataclass(frozen=True)
class BNParams:
    dialect: str = "pspnet"
    eps: float = 1e-5
    #: SegNet only: "INFERENCE" or "LEARN".
    mode: str | None = None
    #: Training-only settings, kept for reports: they do not change inference.
    momentum: float = 0.9
    frozen: bool = False


@register("BN")
class BN(LayerImpl):
    def read_params(self, proto) -> BNParams:
        bp = proto.bn_param
        if bp.HasField("bn_mode"):
            mode = bp.DESCRIPTOR.fields_by_name["bn_mode"].enum_type.values_by_number[bp.bn_mode].name
            return BNParams(dialect="segnet", eps=SEGNET_EPS, mode=mode)
        return BNParams(eps=float(bp.eps), momentum=float(bp.momentum), frozen=bool(bp.frozen))

    @property
    def dialect(self) -> str:
        return self.p.dialect

    def normalizes(self) -> bool:
        return True

    def reconcile(self, proto, params):
        # Two params and no bn_mode: SegNet's layer, in its default LEARN mode.
        if self.p.dialect == "pspnet" and len(params) == 2:
            lp = type(proto)()
            lp.CopyFrom(proto)
            lp.bn_param.bn_mode = lp.bn_param.LEARN
            return lp, (f"BN '{self.name}' holds 2 params (scale, shift): SegNet's BN "
                        "(bn_mode LEARN, its default)")
        return None

    def param_roles(self) -> tuple[str, ...]:
        if self.p.dialect == "segnet":
            return ("gamma", "beta")
        return ("gamma", "beta", "mean", "variance")

    def channel_affine(self, params):
        if self.p.dialect == "segnet":
            if self.p.mode != "INFERENCE":
                return None  # batch statistics: not a fixed affine map
            gamma, beta = (np.asarray(p, np.float64).ravel() for p in params[:2])
            return gamma, beta
        gamma, beta, mean, var = (np.asarray(p, np.float64).ravel() for p in params[:4])
        s = gamma / np.sqrt(var + float(np.float32(self.p.eps)))
        return s, beta - mean * s

    def channel_map(self) -> str:
        return "pointwise"

    def channel_roles(self) -> tuple[str, ...]:
        return self.param_roles()

    def _check(self, shape: Shape) -> None:
        # bn_layer.cpp reads num/channels/height/width (legacy 4-D accessors), so a
        # bottom has 2 to 4 axes, channels on axis 1.
        if not 2 <= len(shape) <= 4:
            raise self.fail(f"BN needs a bottom with 2 to 4 axes (N x C [x H [x W]]), got {fmt_shape(shape)}")

    def param_shapes(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        self._check(bottom_shapes[0])
        c = int(bottom_shapes[0][1])
        # LayerSetUp: each param is 1 x C x 1 x 1 (four in PSPNet's BN, two in SegNet's).
        return [(1, c, 1, 1)] * len(self.param_roles())

    def reshape(self, bottom_shapes: Sequence[Shape]) -> list[Shape]:
        self._check(bottom_shapes[0])
        return [tuple(bottom_shapes[0])]

    def macs(self, bottom_shapes: Sequence[Shape], top_shapes: Sequence[Shape]) -> int:
        return count(top_shapes[0])

    def forward(self, bottoms: Sequence[np.ndarray], params: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = f32(bottoms[0])
        bshape = (1, -1) + (1,) * (x.ndim - 2)
        if self.p.dialect == "segnet":
            scale, shift = (f32(b).reshape(bshape) for b in params[:2])
            if self.p.mode == "INFERENCE":
                return [x * scale + shift]
            # LEARN: E[x] and E[x^2] per channel over N, H, W (float32 sums, as the
            # fork's gemv), var = E[x^2] - E[x]^2, then (x - mean) / sqrt(var + eps).
            axes = (0,) + tuple(range(2, x.ndim))
            mean = x.mean(axis=axes, dtype=np.float64).astype(F32).reshape(bshape)
            sq = (x * x).mean(axis=axes, dtype=np.float64).astype(F32).reshape(bshape)
            std = np.sqrt(sq - mean * mean + F32(SEGNET_EPS))
            return [((x - mean) / std) * scale + shift]
        slope, bias, mean, var = (f32(b).reshape(bshape) for b in params[:4])
        # bn_layer.cpp Forward_cpu, frozen/TEST branch, in its float32 order:
        # x_norm = x - mean; inv_std = (var + eps)^-0.5; x_norm *= inv_std;
        # top = x_norm * slope; top += bias.
        inv_std = np.power(var + F32(self.p.eps), F32(-0.5))
        return [((x - mean) * inv_std) * slope + bias]
