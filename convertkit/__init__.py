"""convertkit: turn released Caffe models into working models in today's frameworks,
and prove that they compute the same thing."""
from __future__ import annotations

from .version import __version__
from .errors import ConvertError
from .graph import Layer, Net
from .caffe.loader import load
from .emit.convert import save

__all__ = ["ConvertError", "Layer", "Net", "load", "save", "__version__"]
