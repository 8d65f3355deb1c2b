"""PyTorch's expression of the detector layers whose work depends on the region values:
the published Python layers convertkit knows (layers/python.py: py-faster-rcnn's
ProposalLayer, ENet's SpatialDropoutLayer) and R-FCN's PSROIPooling."""
from __future__ import annotations

import torch

from ..base import Context
from .core import BACKEND, EAGER_ONLY, Op, _pointwise


EAGER_ONLY["Proposal"] = ("its anchors, NMS and top-N give a number of regions that depends "
                          "on the data")


@BACKEND.register("Proposal")
def proposal(ctx: Context) -> Op:
    """The release's numpy rules (layers/proposal.py), on the CPU."""
    impl = ctx.layer.impl

    def run(xs):
        arrays = [t.detach().to("cpu", torch.float32).numpy() for t in xs]
        return [torch.from_numpy(a).to(xs[0].device, xs[0].dtype) for a in impl.forward(arrays, [])]

    return Op(None, run)


@BACKEND.register("SpatialDropout")
def spatial_dropout(ctx: Context) -> Op:
    return _pointwise(lambda x: x)  # the identity at TEST


EAGER_ONLY["PSROIPooling"] = "each region's bins are read from the region values"


@BACKEND.register("PSROIPooling")
def psroi_pooling(ctx: Context) -> Op:
    """R-FCN's position-sensitive pooling, the rules of layers/psroi_pooling.py on the CPU."""
    impl = ctx.layer.impl

    def run(xs):
        arrays = [t.detach().to("cpu", torch.float32).numpy() for t in xs]
        return [torch.from_numpy(impl.forward(arrays, [])[0]).to(xs[0].device, xs[0].dtype)]

    return Op(None, run)
