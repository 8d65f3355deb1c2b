"""DetectionOutput: its detections are compared as a set (order and OpenCV's zero
padding rows are not part of their meaning); every other layer is compared as it is."""
import numpy as np

from support import make_layer

DET = ('name: "det" type: "DetectionOutput" bottom: "loc" bottom: "conf" bottom: "prior" '
       'top: "det" detection_output_param { num_classes: 3 share_location: true '
       'nms_param { nms_threshold: 0.45 } keep_top_k: 10 }')


def test_detections_compare_as_a_set():
    layer = make_layer(DET)
    rows = np.array([[0, 1, 0.9, 0.1, 0.1, 0.4, 0.4],
                     [0, 2, 0.8, 0.5, 0.5, 0.9, 0.9],
                     [0, 1, 0.7, 0.2, 0.2, 0.3, 0.3]], np.float32)
    ours = rows.reshape(1, 1, 3, 7)
    # Another runtime's top: by score over all classes, then zero rows up to keep_top_k.
    theirs = np.zeros((1, 1, 5, 7), np.float32)
    theirs[0, 0, :3] = rows[[0, 2, 1]]
    a, b = layer.impl.comparable(ours), layer.impl.comparable(theirs)
    assert a.shape == b.shape == (1, 1, 3, 7)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[0, 0, :, 1], [1, 1, 2])  # sorted by image, label, score
    # No detection: Caffe's row of -1s is kept.
    none = np.array([[0, -1, -1, -1, -1, -1, -1]], np.float32).reshape(1, 1, 1, 7)
    np.testing.assert_array_equal(layer.impl.comparable(none), none)


def test_other_layers_compare_as_they_are():
    layer = make_layer('name: "r" type: "ReLU" bottom: "x" top: "x"')
    x = np.arange(6, dtype=np.float32).reshape(1, 6, 1, 1)
    assert layer.impl.comparable(x) is x
