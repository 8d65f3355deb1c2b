"""Python: a layer whose forward is user code (``python_param { module layer }``).

Its code is not part of the model files, so convertkit cannot run or convert it: the
net is refused, naming the layer, the Python module and the class, at load time.

Except where the module and class are a published, fixed implementation: those have a
built-in meaning (:data:`KNOWN`), and the loader gives such a layer that type, with a
note saying which implementation was assumed.
"""
from __future__ import annotations

from typing import Any

from ..errors import UnsupportedLayerError
from .base import LayerImpl, register


#: (python_param.module, python_param.layer) -> (built-in type, what is assumed).
KNOWN = {
    ("rpn.proposal_layer", "ProposalLayer"): (
        "Proposal", "py-faster-rcnn's published ProposalLayer with its TEST configuration "
        "(pre-NMS top 6000, post-NMS top 300, NMS 0.7, min size 16)"),
    ("spatial_dropout", "SpatialDropoutLayer"): (
        "SpatialDropout", "ENet's SpatialDropoutLayer, the identity at TEST"),
}


def known_type(module: str, layer: str) -> tuple[str, str] | None:
    """(built-in type, what is assumed) for a published Python layer, or None."""
    return KNOWN.get((module, layer))


@register("Python")
class PythonLayer(LayerImpl):
    num_bottoms = (0, None)

    def read_params(self, proto: Any) -> None:
        pp = proto.python_param
        what = f"module {pp.module or '?'}, class {pp.layer or '?'}"
        raise UnsupportedLayerError(
            f"is a Python layer ({what}): it runs user code that is not part of the "
            "model files, so convertkit cannot run or convert it", layer=self.name)
