"""OpenCV dnn as an outside oracle: the same Caffe files, read by someone else's code.

The net is first rewritten by convertkit.backends.opencv.rewrite (BN -> BatchNorm + Scale,
shrink/zoom Interp -> explicit size, for the input shapes of each run), written to a
temporary prototxt + caffemodel and loaded with ``cv2.dnn.readNetFromCaffe``. Fusion
is disabled so every layer's own output can be read back.
"""
from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np

from ..backends.opencv import DATA_CHECKS
from ..errors import UnsupportedLayerError, UsageError
from ..graph import Net
from ..backends.opencv.rewrite import rewrite_for_opencv, write_net
from .base import Keep, LayerHook, Runtime, input_arrays, plan_for, resolve_keep


def cv2_module():
    try:
        import cv2
    except ImportError:
        raise UsageError("the opencv runtime needs opencv-python-headless<5: "
                         "pip install 'convertkit[opencv]'") from None
    major = int(cv2.__version__.split(".")[0])
    if major >= 5 or not hasattr(cv2.dnn, "readNetFromCaffe"):
        raise UsageError(f"OpenCV {cv2.__version__} has no Caffe importer (removed in 5.x): "
                         "install opencv-python-headless<5")
    return cv2


@contextlib.contextmanager
def refusals(cv2, what: str) -> Iterator[None]:
    """OpenCV's own exceptions (its importer's or its shape inference's) as a refusal
    that gives OpenCV's reason: exit 2 in ``run``, SKIPPED with the reason in verify."""
    try:
        yield
    except cv2.error as exc:
        reason = " ".join(str(exc).split())
        reason = reason.split(" error: ", 1)[-1] if " error: " in reason else reason
        raise UnsupportedLayerError(f"OpenCV dnn cannot {what} this net: {reason}") from None


class _Loaded:
    """One rewritten net loaded into OpenCV dnn (CPU, no fusion)."""

    def __init__(self, cv2, net: Net, shapes):
        self.net, self.notes = rewrite_for_opencv(net, shapes)
        self.cv2 = cv2
        with tempfile.TemporaryDirectory(prefix="convertkit-cv-") as tmp:
            proto, model = Path(tmp) / "net.prototxt", Path(tmp) / "net.caffemodel"
            write_net(_expose_extra_tops(self.net), proto, model)
            with refusals(cv2, "read"):
                self.cv = cv2.dnn.readNetFromCaffe(str(proto), str(model))
        self.cv.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        self.cv.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        self.cv.enableFusion(False)
        # OpenCV names a layer's output after the layer, except where its importer
        # renamed the layer after its top (a layer "conv4-2" writing "conv4j-2"): each
        # layer's name in OpenCV, or None where OpenCV has neither.
        known = set(self.cv.getLayerNames())
        self.cv_name: dict[str, str | None] = {
            layer.name: layer.name if layer.name in known
            else layer.tops[0] if layer.tops and layer.tops[0] in known else None
            for layer in self.net.layers}
        # The OpenCV layer whose output is each blob's final value; on the way, where
        # each checked layer's bottoms come from (None: an input, as fed). A check whose
        # bottom OpenCV gives no name to cannot read it, and is left out.
        self.writer: dict[str, str | None] = {}
        self.checks: list[tuple] = []
        for layer in self.net.layers:
            sources = [self.writer.get(b) for b in layer.bottoms]
            if layer.type in DATA_CHECKS and all(s is not None or b not in self.writer
                                                 for s, b in zip(sources, layer.bottoms)):
                self.checks.append((layer, DATA_CHECKS[layer.type], sources))
            for i, top in enumerate(layer.tops):
                self.writer[top] = self.cv_name[layer.name] if i == 0 \
                    else _extra_top_name(layer.name, i)

    def run(self, arrays: Mapping[str, np.ndarray], names: list[str]) -> list[np.ndarray]:
        for name, arr in arrays.items():
            self.cv.setInput(np.ascontiguousarray(arr, dtype=np.float32), name)
        checked = [s for _, _, sources in self.checks for s in sources if s is not None]
        with refusals(self.cv2, "run"):
            outs = self.cv.forward(names + checked) if names or checked else []
        outs = [np.asarray(o, dtype=np.float32) for o in outs]
        seen = dict(zip(checked, outs[len(names):]))
        for layer, check, sources in self.checks:
            bottoms = [seen[s] if s is not None else arrays[b]
                       for s, b in zip(sources, layer.bottoms)]
            reason = check(layer, bottoms)
            if reason:
                raise UnsupportedLayerError(f"OpenCV dnn cannot run this input: {reason}")
        return outs[:len(names)]


class OpenCVRuntime(Runtime):
    """OpenCV dnn reading convertkit's rewrite of the net."""

    name = "opencv"

    def __init__(self, net: Net):
        super().__init__(net)
        self._cv2 = cv2_module()
        self._loaded: dict[tuple, _Loaded] = {}

    def loaded(self, arrays: Mapping[str, np.ndarray]) -> _Loaded:
        """The OpenCV net for these input shapes (rewritten and loaded once per shape)."""
        shapes = {n: tuple(a.shape) for n, a in arrays.items()}
        key = tuple(sorted(shapes.items()))
        if key not in self._loaded:
            self._loaded[key] = _Loaded(self._cv2, self.net, shapes)
        return self._loaded[key]

    @property
    def notes(self) -> list[str]:
        return [n for cv in self._loaded.values() for n in cv.notes]

    def forward(self, inputs: Mapping[str, np.ndarray], keep: Keep = "outputs",
                on_layer: LayerHook | None = None) -> dict[str, np.ndarray]:
        arrays = input_arrays(self.net, inputs)
        wanted = resolve_keep(self.net, keep)
        plan_for(self.net, arrays, wanted)
        cv = self.loaded(arrays)
        # An input that an in-place layer overwrites holds that layer's value, as in
        # Caffe's net.blobs; the others are what was fed.
        fed = set(arrays) - set(cv.writer)
        blobs = [w for w in wanted if w not in fed]
        unread = [b for b in blobs if cv.writer[b] is None]
        if unread:
            raise UnsupportedLayerError(
                f"OpenCV dnn names no output after blob '{unread[0]}' or the layer that writes "
                "it, so it cannot be read back" + (f" ({len(unread)} blobs)" if len(unread) > 1 else ""))
        names = [cv.writer[b] for b in blobs]
        # Layers OpenCV has no name for are left out (verify counts them as not reported).
        layer_names = [layer.name for layer in self.net.layers
                       if cv.cv_name[layer.name] is not None] if on_layer else []
        outs = cv.run(arrays, names + [cv.cv_name[n] for n in layer_names])
        results = dict(zip(blobs, outs[:len(names)]))
        if on_layer:
            for name, out in zip(layer_names, outs[len(names):]):
                on_layer(name, [out])
        for w in wanted:
            if w in fed:
                results[w] = arrays[w]
        return {w: results[w] for w in wanted}

    def forward_layers(self, inputs: Mapping[str, np.ndarray],
                       layers=None) -> dict[str, np.ndarray]:
        """Each original layer's own first output (OpenCV reports per layer name)."""
        arrays = input_arrays(self.net, inputs)
        cv = self.loaded(arrays)
        names = list(layers) if layers is not None else [l.name for l in self.net.layers]
        names = [n for n in names if cv.cv_name.get(n) is not None]
        return dict(zip(names, cv.run(arrays, [cv.cv_name[n] for n in names])))


def forward(net: Net, inputs: Mapping[str, np.ndarray], keep: Keep = "outputs") -> dict[str, np.ndarray]:
    return OpenCVRuntime(net).forward(inputs, keep)


def _extra_top_name(layer: str, i: int) -> str:
    return f"{layer}/convertkit_top{i}"


def _expose_extra_tops(net: Net) -> Net:
    """OpenCV's forward() returns a layer's first top by name only: each further top
    gets an identity Power layer right after its layer, so it can be asked for."""
    from ..graph import Layer
    from ..caffe.proto import caffe_pb2

    layers = []
    for layer in net.layers:
        layers.append(layer)
        for i, top in enumerate(layer.tops[1:], 1):
            name = _extra_top_name(layer.name, i)
            lp = caffe_pb2().LayerParameter(name=name, type="Power")
            layers.append(Layer(name, "Power", [top], [name], lp, []))
    return net.replace(layers=layers)
