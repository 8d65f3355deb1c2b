"""SSD's DetectionOutput in ONNX (NonMaxSuppression, TopK, any batch): the detections
of the ONNX runtime and of the ONNX file in onnxruntime alone equal the numpy
reference's as sets of rows, for every code type, with 0, 1 and keep_top_k
detections, and for a batch of two images."""
import re

import numpy as np
import pytest

import convertkit
from convertkit.preprocess import sample_images
from convertkit.runtime import create
from convertkit.verify import samples_from_images
from convertkit.verify.metrics import Forms

from support import TINY_SSD, tiny_ssd

pytest.importorskip("onnxruntime")

PARAM = re.compile(r"detection_output_param \{.*?\} \}", re.S)


def ssd(folder, **changes):
    """The tiny SSD of tests/support.py with its DetectionOutput parameters changed."""
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
    proto.write_text(PARAM.sub(block, TINY_SSD))
    return convertkit.load(proto, model)


def rows(net, top):
    return Forms(net).blob(net.outputs[0], top).reshape(-1, 7)


def inputs(net, n=1):
    arrays = samples_from_images(net, sample_images()[:n])
    return {"data": np.concatenate([s.arrays["data"] for s in arrays])}


@pytest.mark.parametrize("changes, expect", [
    ({}, 30),
    ({"code_type": "CORNER"}, None),
    ({"code_type": "CORNER_SIZE"}, None),
    ({"variance_encoded_in_target": "true"}, None),
    ({"keep_top_k": 5}, 5),
    ({"keep_top_k": 1}, 1),
    ({"top_k": 3, "keep_top_k": -1}, None),
    ({"confidence_threshold": 2.0}, 0),
])
def test_onnx_detections_equal_caffes(changes, expect, tmp_path):
    net = ssd(tmp_path, **changes)
    x = inputs(net)
    ref = create("numpy", net).forward(x)[net.outputs[0]]
    got = create("onnx", net).forward(x)[net.outputs[0]]
    if expect == 0:  # Caffe's row of -1s after the image index
        np.testing.assert_array_equal(ref.reshape(-1, 7), [[0, -1, -1, -1, -1, -1, -1]])
    elif expect is not None:
        assert ref.shape[2] == expect
    assert got.shape == ref.shape
    np.testing.assert_allclose(rows(net, got), rows(net, ref), rtol=1e-5, atol=1e-5)
    # Caffe's order too: labels ascending, each label's boxes best first.
    np.testing.assert_array_equal(got.reshape(-1, 7)[:, 1], ref.reshape(-1, 7)[:, 1])


def test_a_batch_of_two_images_keeps_the_best_per_image(tmp_path):
    net = ssd(tmp_path, keep_top_k=7)
    x = inputs(net, 2)
    ref = create("numpy", net).forward(x)[net.outputs[0]].reshape(-1, 7)
    got = create("onnx", net).forward(x)[net.outputs[0]].reshape(-1, 7)
    assert (ref[:, 0] == 0).sum() == 7 and (ref[:, 0] == 1).sum() == 7
    np.testing.assert_array_equal(got[:, :2], ref[:, :2])
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)


def test_the_onnx_file_detects_in_onnxruntime_alone(tmp_path):
    """`convert --to onnx` writes it (no cut): onnxruntime alone gives the rows."""
    import onnxruntime as ort

    from convertkit.cli import main

    (tmp_path / "m").mkdir()
    net = ssd(tmp_path / "m")
    assert main(["convert", net.prototxt_path, net.caffemodel_path, "--to", "onnx",
                 "-o", str(tmp_path / "c"), "--quiet"]) == 0
    x = inputs(net)
    sess = ort.InferenceSession(str(tmp_path / "c" / "tiny_ssd.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, x)[0]
    ref = create("numpy", net).forward(x)[net.outputs[0]]
    assert got.shape == ref.shape == (1, 1, 30, 7)
    np.testing.assert_allclose(rows(net, got), rows(net, ref), rtol=0, atol=1e-5)


def test_an_adaptive_nms_is_refused_with_the_reason(tmp_path):
    from convertkit.errors import UnsupportedLayerError

    net = ssd(tmp_path)
    text = open(net.prototxt_path).read().replace("nms_threshold: 0.45", "nms_threshold: 0.45 eta: 0.9")
    open(net.prototxt_path, "w").write(text)
    net = convertkit.load(net.prototxt_path, net.caffemodel_path)
    with pytest.raises(UnsupportedLayerError, match="eta 0.9"):
        create("onnx", net).forward(inputs(net))
