"""TensorFlow's expression of the published Python layers convertkit knows."""
from __future__ import annotations

from ..base import Context
from .core import BACKEND, Op


BACKEND.refuse("Proposal", reason="py-faster-rcnn's proposals depend on the data (NMS, then "
               "the best 300); convert --cut-data-dependent writes the net up to the RPN's "
               "scores and deltas, to finish with convertkit.layers.proposal")


@BACKEND.register("SpatialDropout")
def spatial_dropout(ctx: Context) -> Op:
    return Op(None, lambda xs: [xs[0]])  # the identity at TEST


BACKEND.refuse("PSROIPooling", reason="R-FCN's position-sensitive bins are read from the "
               "region values; the nets that use it get their regions from a "
               "data-dependent proposal layer, where the cut net ends")
