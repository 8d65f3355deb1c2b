"""The numpy reference on one input, computed once and shared by every subject."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..graph import Net
from . import metrics as M


class Reference:
    """The numpy reference on one input: its outputs, and (when asked) each layer's own
    outputs with their statistics, computed once and shared by every subject."""

    def __init__(self, net: Net, inputs: dict[str, np.ndarray], forms: M.Forms):
        self.net, self.inputs, self.forms = net, inputs, forms
        self.outputs: dict[str, np.ndarray] = {}
        #: Blobs that are the outputs of a cut net (the bottoms of data-dependent
        #: layers), with their statistics.
        self.ends: dict[str, np.ndarray] = {}
        self.end_stats: dict[str, M.RefStats] = {}
        self.layers: dict[str, list[np.ndarray]] = {}
        #: The bottoms of the layers that output indices (kept with the layers).
        self.bottoms: dict[str, list[np.ndarray]] = {}
        self._stats: dict[tuple[str, int], M.RefStats] = {}

    def run(self, keep_layers: bool, ends: Sequence[str] = (), index_layers=(),
            substitute: dict[str, dict[int, np.ndarray]] | None = None) -> None:
        """One pass. ``keep_layers``: keep every layer's outputs (and the bottoms of
        ``index_layers``); ``substitute``: layer -> {top: array} put in place of those
        tops for the rest of the pass."""
        from ..runtime.numpy import forward

        def before(layer, bottoms):
            if layer.name in index_layers:
                self.bottoms[layer.name] = list(bottoms)

        def after(layer, tops):
            for k, a in (substitute or {}).get(layer.name, {}).items():
                tops[k] = a
            if keep_layers:
                self.layers[layer.name] = self.forms.tops(layer.name, list(tops))

        outputs = list(self.net.outputs)
        out = forward(self.net, self.inputs, keep=outputs + list(ends),
                      before_layer=before if keep_layers and index_layers else None,
                      after_layer=after if keep_layers or substitute else None)
        if not self.outputs:
            self.outputs = {o: self.forms.blob(o, out[o]) for o in outputs}
            self.ends = {o: out[o] for o in ends}
            self.end_stats = {o: M.ref_stats(a) for o, a in self.ends.items()}

    def adjusted(self, substitute: dict[str, dict[int, np.ndarray]], index_layers=()) -> "Reference":
        """The reference computed from a runtime's choice at its near-tie indices: what
        those ties explain downstream."""
        other = Reference(self.net, self.inputs, self.forms)
        other.run(keep_layers=True, ends=list(self.ends), index_layers=index_layers,
                  substitute=substitute)
        return other

    def stat(self, name: str, k: int) -> M.RefStats:
        key = (name, k)
        if key not in self._stats:
            self._stats[key] = M.ref_stats(self.layers[name][k])
        return self._stats[key]
