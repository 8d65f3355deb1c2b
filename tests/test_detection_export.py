"""SSD's DetectionOutput in ONNX (NonMaxSuppression, TopK, any batch): the detections
of the ONNX runtime and of the ONNX file in onnxruntime alone equal the numpy
reference's as sets of rows, for every code type, with 0, 1 and keep_top_k
detections, and for a batch of two images."""
import numpy as np
import pytest

import convertkit
from convertkit.runtime import create

from support import SSD_CASES, detection_rows, image_batch, tiny_ssd_with

pytest.importorskip("onnxruntime")

#: The tiny SSD with other DetectionOutput parameters, its detections as a set, photos.
ssd, rows, inputs = tiny_ssd_with, detection_rows, image_batch


@pytest.mark.parametrize("changes, expect", SSD_CASES)
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
