"""Graph passes: each takes a Net and returns a new Net (the input is unchanged)
and notes saying what it did."""
from __future__ import annotations

from .batchnorm import fold_batchnorm
from .channels import flip_input_channels, fold_input_scale
from .cut import cut_data_dependent

__all__ = ["cut_data_dependent", "flip_input_channels", "fold_batchnorm", "fold_input_scale"]
