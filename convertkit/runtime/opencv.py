"""OpenCV dnn as an outside oracle: the same Caffe files, read by someone else's code.

The net is first rewritten by convertkit.passes.opencv (BN -> BatchNorm + Scale,
shrink/zoom Interp -> explicit size), then loaded with ``cv2.dnn.readNetFromCaffe``.
Fusion is disabled so every layer's own output can be read back.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from ..errors import UsageError
from ..graph import Net
from ..passes.opencv import rewrite_for_opencv, write_net


def cv2_module():
    try:
        import cv2
    except ImportError:
        raise UsageError("the OpenCV runtime needs opencv-python-headless<5: "
                         "pip install 'convertkit[opencv]'") from None
    major = int(cv2.__version__.split(".")[0])
    if major >= 5 or not hasattr(cv2.dnn, "readNetFromCaffe"):
        raise UsageError(f"OpenCV {cv2.__version__} has no Caffe importer (removed in 5.x): "
                         "install opencv-python-headless<5")
    return cv2


class OpenCVNet:
    """A Net loaded into OpenCV dnn (CPU, no fusion)."""

    def __init__(self, net: Net):
        cv2 = cv2_module()
        self.source = net
        self.net, self.notes = rewrite_for_opencv(net)
        with tempfile.TemporaryDirectory(prefix="convertkit-cv-") as tmp:
            proto, model = Path(tmp) / "net.prototxt", Path(tmp) / "net.caffemodel"
            write_net(self.net, proto, model)
            self.cv = cv2.dnn.readNetFromCaffe(str(proto), str(model))
        self.cv.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        self.cv.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        self.cv.enableFusion(False)
        # The layer that writes each blob last, and which of its tops it is.
        self.writer: dict[str, tuple[str, int]] = {}
        for layer in self.net.layers:
            for i, top in enumerate(layer.tops):
                self.writer[top] = (layer.name, i)

    def _run(self, inputs: Mapping[str, np.ndarray], names: list[str]) -> list[np.ndarray]:
        for name in self.net.inputs:
            if name not in inputs:
                raise UsageError(f"missing input blob {name!r}")
            self.cv.setInput(np.ascontiguousarray(inputs[name], dtype=np.float32), name)
        outs = self.cv.forward(names) if names else []
        return [np.asarray(o, dtype=np.float32) for o in outs]

    def forward(self, inputs: Mapping[str, np.ndarray],
                keep: str | Iterable[str] = "outputs") -> dict[str, np.ndarray]:
        """Blob values after the pass, as Caffe's net.blobs holds them."""
        if keep == "outputs":
            wanted = self.net.outputs
        elif keep == "all":
            wanted = list(self.net.inputs) + list(self.writer)
        else:
            wanted = [keep] if isinstance(keep, str) else list(keep)
        unknown = [w for w in wanted if w not in self.writer and w not in self.net.inputs]
        if unknown:
            raise UsageError(f"no blob named {', '.join(map(repr, unknown))} in the net")
        blobs = [w for w in wanted if w in self.writer]
        layer_names = []
        for b in blobs:
            layer, idx = self.writer[b]
            layer_names.append(layer if idx == 0 else f"{layer}.{idx}")
        results = dict(zip(blobs, self._run(inputs, layer_names)))
        for w in wanted:
            if w in self.net.inputs:
                results[w] = np.asarray(inputs[w], dtype=np.float32)
        return {w: results[w] for w in wanted}

    def forward_layers(self, inputs: Mapping[str, np.ndarray],
                       layers: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """Each original layer's own first output (OpenCV reports per layer name)."""
        names = list(layers) if layers is not None else [l.name for l in self.source.layers]
        return dict(zip(names, self._run(inputs, names)))


def forward(net: Net, inputs: Mapping[str, np.ndarray],
            keep: str | Iterable[str] = "outputs") -> dict[str, np.ndarray]:
    return OpenCVNet(net).forward(inputs, keep)
