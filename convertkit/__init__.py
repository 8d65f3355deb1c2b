"""convertkit: turn released Caffe models into working models in today's frameworks,
and prove that they compute the same thing."""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import ConvertError  # noqa: E402
from .graph import Layer, Net  # noqa: E402
from .loader import load  # noqa: E402
from .convert import save  # noqa: E402

__all__ = ["ConvertError", "Layer", "Net", "load", "save", "__version__"]
