"""Python: a layer whose forward is user code (``python_param { module layer }``).

Its code is not part of the model files, so convertkit cannot run or convert it: the
net is refused, naming the layer, the Python module and the class, at load time.
"""
from __future__ import annotations

from typing import Any

from ..errors import UnsupportedLayerError
from .base import LayerImpl, register


@register("Python")
class PythonLayer(LayerImpl):
    num_bottoms = (0, None)

    def read_params(self, proto: Any) -> None:
        pp = proto.python_param
        what = f"module {pp.module or '?'}, class {pp.layer or '?'}"
        raise UnsupportedLayerError(
            f"is a Python layer ({what}): it runs user code that is not part of the "
            "model files, so convertkit cannot run or convert it", layer=self.name)
