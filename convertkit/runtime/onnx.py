"""ONNX Runtime as a runtime: the model convertkit writes (convertkit.backends.onnx),
run by onnxruntime's CPU (or CUDA) provider.

Options: ``providers`` (default CPU), ``threads`` (intra-op threads; 0 = ORT's choice),
``model`` (an ``.onnx`` file written by ``convertkit convert --to onnx`` to run instead
of a fresh export).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..graph import Net
from .base import Keep, LayerHook, Runtime, input_arrays, plan_for, resolve_keep


class OnnxRuntime(Runtime):
    name = "onnx"

    def __init__(self, net: Net, providers: Sequence[str] = ("CPUExecutionProvider",),
                 threads: int = 0, model: str | Path | None = None):
        super().__init__(net)
        self.providers, self.threads, self.model_path = list(providers), threads, model
        self._sessions: dict[tuple, tuple] = {}

    def session(self, shapes: Mapping[str, tuple], layers: bool = False):
        """(onnxruntime session, blob -> value, layer -> value) for these input shapes."""
        import onnxruntime as ort

        from ..backends.onnx.graph import build_model

        plan = self.net.plan(shapes)
        key = (tuple(sorted((n, s[1:]) for n, s in plan.inputs.items())), layers)
        if key not in self._sessions:
            model, g = build_model(self.net, plan, outputs="layers" if layers else "outputs")
            if self.model_path is not None:  # the user's file, its layers exposed if asked
                model = _with_outputs(Path(self.model_path), [o.name for o in model.graph.output])
            data = model.SerializeToString()
            opts = ort.SessionOptions()
            if self.threads:
                opts.intra_op_num_threads = self.threads
            sess = ort.InferenceSession(data, opts, providers=self.providers)
            self._sessions[key] = (sess, dict(g.current), dict(g.layer_outputs))
        return self._sessions[key]

    def forward(self, inputs: Mapping[str, np.ndarray], keep: Keep = "outputs",
                on_layer: LayerHook | None = None) -> dict[str, np.ndarray]:
        arrays = input_arrays(self.net, inputs)
        wanted = resolve_keep(self.net, keep)
        plan_for(self.net, arrays, wanted)
        # An input that an in-place layer overwrites holds that layer's value, as in
        # Caffe's net.blobs; the others are what was fed.
        fed = set(arrays) - {t for layer in self.net.layers for t in layer.tops}
        extra = on_layer is not None or any(w not in self.net.outputs and w not in fed
                                            for w in wanted)
        sess, current, layer_out = self.session({n: a.shape for n, a in arrays.items()}, extra)
        available = {o.name for o in sess.get_outputs()}
        names = sorted({current[w] for w in wanted if w not in fed} & available
                       | (set(layer_out.values()) & available if on_layer else set()))
        missing = [w for w in wanted if w not in fed and current[w] not in available]
        if missing:  # an in-place blob's final value that no layer output exposes
            raise RuntimeError(f"ONNX model does not expose blob(s) {missing}")
        values = dict(zip(names, sess.run(names, {n: a for n, a in arrays.items()})))
        if on_layer is not None:
            for layer in self.net.layers:
                v = layer_out.get(layer.name)
                if v is not None and v in values:
                    on_layer(layer.name, [values[v]])
        return {w: arrays[w] if w in fed else np.asarray(values[current[w]], np.float32)
                for w in wanted}


def _with_outputs(path: Path, names: list[str]):
    """The model in ``path`` with every value in ``names`` it computes as a graph output
    (a model convertkit wrote names its values as a fresh export does)."""
    import onnx
    from onnx import helper

    from ..errors import InputFileError

    try:
        model = onnx.load(str(path))
    except Exception as exc:
        raise InputFileError(f"cannot read ONNX model: {exc}", path=path) from None
    have = {o for node in model.graph.node for o in node.output}
    present = {o.name for o in model.graph.output}
    for name in names:
        if name in have and name not in present:
            model.graph.output.append(helper.make_tensor_value_info(name, 1, None))
            present.add(name)
    return model
