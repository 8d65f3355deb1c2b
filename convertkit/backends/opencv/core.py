"""What OpenCV's family modules share: the backend and the checks on the values a
layer receives."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ...graph import Layer
from ..base import Backend


BACKEND = Backend("opencv")


#: Checks on the values a layer receives, run once OpenCV has computed them, for the
#: forms OpenCV computes correctly only on some inputs: type -> check(layer, bottoms),
#: which gives the reason to refuse this input or None.
DATA_CHECKS: dict[str, Callable[[Layer, Sequence[np.ndarray]], str | None]] = {}


def data_check(*types: str) -> Callable:
    def deco(fn: Callable) -> Callable:
        for t in types:
            DATA_CHECKS[t] = fn
        return fn
    return deco
