"""Slice: slice_point and equal splits, axis / negative axis / slice_dim, OpenCV dnn
parity, errors naming the layer and shape, FLOPs."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


@pytest.mark.parametrize("shape,param,want", [
    ((2, 6, 5, 4), "slice_param { axis: 1 slice_point: 1 slice_point: 4 }", [(0, 1), (1, 4), (4, 6)]),
    ((2, 4, 7, 9), "slice_param { axis: -1 slice_point: 2 slice_point: 7 }", [(0, 2), (2, 7), (7, 9)]),
    ((2, 3, 6, 5), "slice_param { slice_dim: 2 }", [(0, 2), (2, 4), (4, 6)]),
])
def test_matches_opencv_and_indexing(shape, param, want):
    x = rand(shape, 1)
    body = f'name: "sl" type: "Slice" bottom: "x" top: "a" top: "b" top: "c" {param}'
    layer = make_layer(body)
    ours = run_layer(layer, x)
    axis = layer.impl._axis(len(shape))
    for o, (lo, hi) in zip(ours, want):
        np.testing.assert_array_equal(o, np.take(x, range(lo, hi), axis=axis))
    # OpenCV ignores the deprecated slice_dim: its reference runs with the same axis.
    cv_body = body.replace("slice_dim", "axis")
    ref = opencv_forward(oracle_net({"x": x}, cv_body, "abc"), {}, {"x": x}, ["out_a", "out_b", "out_c"])
    for o, t in zip(ours, "abc"):
        assert_close(o, ref[f"out_{t}"], rel=1e-5)
    assert layer.impl.macs([shape], [o.shape for o in ours]) == 0


def test_errors_name_layer_and_shape():
    uneven = make_layer('name: "sl" type: "Slice" bottom: "x" top: "a" top: "b"')
    with pytest.raises(Exception, match=r"'sl'.*2 tops.*size 5.*2x5x3x3"):
        uneven.impl.reshape([(2, 5, 3, 3)])
    count = make_layer('name: "sl" type: "Slice" bottom: "x" top: "a" top: "b" slice_param { slice_point: 1 slice_point: 2 }')
    with pytest.raises(Exception, match=r"'sl'.*2 slice_point.*2 tops"):
        count.impl.reshape([(2, 5, 3, 3)])
    beyond = make_layer('name: "sl" type: "Slice" bottom: "x" top: "a" top: "b" slice_param { slice_point: 7 }')
    with pytest.raises(Exception, match=r"'sl'.*slice_point 7.*2x5x3x3"):
        beyond.impl.reshape([(2, 5, 3, 3)])
