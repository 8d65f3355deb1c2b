"""Shared test helpers: build layers from prototxt text, and run OpenCV dnn as an
outside oracle on a small net given as text plus numpy blobs."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pytest

from convertkit.graph import Layer
from convertkit.caffe.proto import caffe_pb2, parse_text


def make_layer(text: str, blobs: Sequence[np.ndarray] = ()) -> Layer:
    """A graph Layer from the text of one ``layer { ... }`` body (without the braces)."""
    lp = parse_text(text, "LayerParameter")
    layer = Layer(
        name=lp.name, type=lp.type, bottoms=list(lp.bottom), tops=list(lp.top), proto=lp,
        params=[np.asarray(b, dtype=np.float32) for b in blobs],
    )
    return layer


def caffemodel_bytes(prototxt: str, blobs: Mapping[str, Sequence[np.ndarray]]) -> bytes:
    """Binary NetParameter holding ``blobs`` (layer name -> arrays) for the net in ``prototxt``."""
    pb = caffe_pb2()
    net = parse_text(prototxt)
    out = pb.NetParameter()
    out.name = net.name
    for lp in net.layer:
        layer = out.layer.add()
        layer.name, layer.type = lp.name, lp.type
        for arr in blobs.get(lp.name, ()):
            arr = np.asarray(arr, dtype=np.float32)
            b = layer.blobs.add()
            b.shape.dim.extend(arr.shape)
            b.data.extend(arr.ravel().tolist())
    return out.SerializeToString()


def opencv_forward(
    prototxt: str,
    blobs: Mapping[str, Sequence[np.ndarray]],
    inputs: Mapping[str, np.ndarray],
    outputs: Sequence[str],
) -> dict[str, np.ndarray]:
    """Run OpenCV dnn's Caffe importer on a net; returns the named layer outputs."""
    cv2 = pytest.importorskip("cv2", reason="opencv-python-headless is not installed")
    model = caffemodel_bytes(prototxt, blobs)
    net = cv2.dnn.readNetFromCaffe(
        np.frombuffer(prototxt.encode(), np.uint8), np.frombuffer(model, np.uint8)
    )
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    net.enableFusion(False)
    for name, arr in inputs.items():
        net.setInput(np.ascontiguousarray(arr, dtype=np.float32), name)
    results = net.forward(list(outputs))
    return {name: np.asarray(r) for name, r in zip(outputs, results)}


def assert_close(actual: np.ndarray, expected: np.ndarray, rel: float = 1e-4, what: str = "") -> None:
    """max|a-e| <= rel * max|e| (the project's parity criterion), with equal shapes."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(float(np.max(np.abs(expected))) if expected.size else 0.0, 1e-30)
    err = float(np.max(np.abs(actual.astype(np.float64) - expected))) if expected.size else 0.0
    assert err <= rel * scale, f"{what}: max|diff| {err:.3g} > {rel:g} * {scale:.3g}"


# Layer-test helpers ------------------------------------------------------------------

def run_layer(layer, *bottoms):
    """Our forward; checks the tops against reshape() and that bottoms are untouched."""
    before = [b.copy() for b in bottoms]
    tops = layer.impl.forward(list(bottoms), layer.params)
    assert [t.shape for t in tops] == list(layer.impl.reshape([b.shape for b in bottoms]))
    assert all(t.dtype == np.float32 for t in tops)
    for b, c in zip(bottoms, before):
        np.testing.assert_array_equal(b, c)
    return tops


def oracle_net(inputs, body, tops=()):
    """A prototxt for OpenCV: inputs, the layer, and an identity Power per extra top
    (OpenCV's forward() only returns a layer's first top by name)."""
    lines = ['name: "t"'] + [
        f'input: "{n}" input_shape {{ {" ".join(f"dim: {d}" for d in a.shape)} }}'
        for n, a in inputs.items()
    ]
    lines.append(f"layer {{ {body} }}")
    lines += [f'layer {{ name: "out_{t}" type: "Power" bottom: "{t}" top: "out_{t}" }}' for t in tops]
    return "\n".join(lines)


def rand(shape, seed=0, lo=None, hi=None):
    rng = np.random.default_rng(seed)
    if lo is not None:
        return rng.uniform(lo, hi, shape).astype(np.float32)
    return rng.standard_normal(shape).astype(np.float32)


def fill_params(net, rng: np.random.Generator, scale_factor: float | None = None) -> None:
    """Give every layer of ``net`` seeded params drawn uniformly from [0.5, 1.5) (positive,
    so variances are valid); a BVLC BatchNorm's scale factor set to ``scale_factor``."""
    plan = net.plan()
    for layer in net.layers:
        shapes = layer.impl.param_shapes(plan.bottom_shapes(layer))
        params = [rng.uniform(0.5, 1.5, s).astype(np.float32) for s in shapes]
        if scale_factor is not None and "scale_factor" in layer.roles:
            params[layer.roles.index("scale_factor")] = np.full(1, scale_factor, np.float32)
        layer.params = params


TINY_SSD = """name: "tiny_ssd"
input: "data" input_shape { dim: 1 dim: 3 dim: 48 dim: 48 }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 8 kernel_size: 3 stride: 4 pad: 1 } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "loc" type: "Convolution" bottom: "conv" top: "loc" convolution_param { num_output: 12 kernel_size: 1 } }
layer { name: "loc_perm" type: "Permute" bottom: "loc" top: "loc_perm" permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "loc_flat" type: "Flatten" bottom: "loc_perm" top: "loc_flat" }
layer { name: "conf" type: "Convolution" bottom: "conv" top: "conf" convolution_param { num_output: 12 kernel_size: 1 } }
layer { name: "conf_perm" type: "Permute" bottom: "conf" top: "conf_perm" permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "conf_flat" type: "Flatten" bottom: "conf_perm" top: "conf_flat" }
layer { name: "conf_reshape" type: "Reshape" bottom: "conf_flat" top: "conf_reshape" reshape_param { shape { dim: 0 dim: -1 dim: 4 } } }
layer { name: "conf_softmax" type: "Softmax" bottom: "conf_reshape" top: "conf_softmax" softmax_param { axis: 2 } }
layer { name: "conf_out" type: "Flatten" bottom: "conf_softmax" top: "conf_out" }
layer { name: "prior" type: "PriorBox" bottom: "conv" bottom: "data" top: "prior"
        prior_box_param { min_size: 12 max_size: 24 aspect_ratio: 2 flip: false clip: true
                          variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 } }
layer { name: "detection_out" type: "DetectionOutput" bottom: "loc_flat" bottom: "conf_out" bottom: "prior"
        top: "detection_out"
        detection_output_param { num_classes: 4 share_location: true background_label_id: 0
                                 nms_param { nms_threshold: 0.45 top_k: 100 } code_type: CENTER_SIZE
                                 keep_top_k: 30 confidence_threshold: 0.3 } }
"""


def tiny_ssd(folder: Path) -> tuple[Path, Path]:
    """TINY_SSD with seeded weights, written into ``folder``: (prototxt, caffemodel).
    On the sample photo it keeps 30 detections."""
    import convertkit
    from convertkit.caffe.wire import save_caffemodel

    proto = folder / "tiny_ssd.prototxt"
    proto.write_text(TINY_SSD)
    net = convertkit.load(proto)
    rng, plan = np.random.default_rng(0), net.plan()
    for layer in net.layers:
        layer.params = [(rng.standard_normal(s) * 0.1).astype(np.float32)
                        for s in layer.impl.param_shapes(plan.bottom_shapes(layer))]
    save_caffemodel(net, folder / "tiny_ssd.caffemodel")
    return proto, folder / "tiny_ssd.caffemodel"



#: DetectionOutput parameters the tiny SSD is tried with, and how many rows each gives
#: (None: whatever Caffe's rules give; 0: the single -1 row of no detection).
SSD_CASES = [
    ({}, 30),
    ({"code_type": "CORNER"}, None),
    ({"code_type": "CORNER_SIZE"}, None),
    ({"variance_encoded_in_target": "true"}, None),
    ({"keep_top_k": 5}, 5),
    ({"keep_top_k": 1}, 1),
    ({"top_k": 3, "keep_top_k": -1}, None),
    ({"confidence_threshold": 2.0}, 0),
]


def tiny_ssd_with(folder: Path, **changes):
    """The loaded TINY_SSD (with seeded weights) with its DetectionOutput parameters
    changed: num_classes, background_label_id, nms_threshold, top_k, code_type,
    keep_top_k, confidence_threshold, variance_encoded_in_target."""
    import re

    import convertkit

    params = {"num_classes": 4, "background_label_id": 0, "nms_threshold": 0.45, "top_k": 100,
              "code_type": "CENTER_SIZE", "keep_top_k": 30, "confidence_threshold": 0.3,
              "variance_encoded_in_target": "false"} | changes
    block = (f"detection_output_param {{ num_classes: {params['num_classes']} share_location: true "
             f"background_label_id: {params['background_label_id']} nms_param {{ nms_threshold: "
             f"{params['nms_threshold']} top_k: {params['top_k']} }} code_type: {params['code_type']} "
             f"variance_encoded_in_target: {params['variance_encoded_in_target']} "
             f"keep_top_k: {params['keep_top_k']} confidence_threshold: "
             f"{params['confidence_threshold']} }} }}")
    proto, model = tiny_ssd(folder)
    proto.write_text(re.sub(r"detection_output_param \{.*?\} \}", block, TINY_SSD, flags=re.S))
    return convertkit.load(proto, model)


def detection_rows(net, top) -> np.ndarray:
    """A net's detections as a set (its DetectionOutput's comparable form), D x 7."""
    from convertkit.verify.metrics import Forms

    return Forms(net).blob(net.outputs[0], top).reshape(-1, 7)


def image_batch(net, n: int = 1) -> dict:
    """The first ``n`` sample photographs as one batch for the net's image input."""
    from convertkit.runtime.preprocess import sample_images
    from convertkit.verify import samples_from_images

    samples = samples_from_images(net, sample_images()[:n])
    name = next(iter(samples[0].arrays))
    return {name: np.concatenate([s.arrays[name] for s in samples])}
