"""Flatten: axis / end_axis (incl. negative), OpenCV dnn parity, row-major order,
Caffe's errors, FLOPs."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


@pytest.mark.parametrize("param,want", [
    ("", (2, 60)),
    ("flatten_param { axis: 1 end_axis: 2 }", (2, 15, 4)),
    ("flatten_param { axis: 2 end_axis: -1 }", (2, 3, 20)),
    ("flatten_param { axis: 0 end_axis: 1 }", (6, 5, 4)),
])
def test_matches_opencv(param, want):
    x = rand((2, 3, 5, 4), 1)
    body = f'name: "f" type: "Flatten" bottom: "x" top: "f" {param}'
    layer = make_layer(body)
    ours = run_layer(layer, x)[0]
    assert ours.shape == want
    np.testing.assert_array_equal(ours.ravel(), x.ravel())
    ref = opencv_forward(oracle_net({"x": x}, body), {}, {"x": x}, ["f"])["f"]
    assert_close(ours, ref, rel=1e-5)
    assert layer.impl.macs([x.shape], [want]) == 0


def test_odd_sizes_and_errors():
    layer = make_layer('name: "f" type: "Flatten" bottom: "x" top: "f"')
    assert layer.impl.reshape([(2, 7, 9, 3)]) == [(2, 189)]
    backwards = make_layer('name: "f" type: "Flatten" bottom: "x" top: "f" flatten_param { axis: 2 end_axis: 1 }')
    with pytest.raises(Exception, match=r"'f'.*end_axis 1.*2x7x9x3"):
        backwards.impl.reshape([(2, 7, 9, 3)])
    in_place = make_layer('name: "f" type: "Flatten" bottom: "x" top: "x"')
    with pytest.raises(Exception, match=r"'f'.*in-place"):
        in_place.impl.reshape([(2, 7, 9, 3)])
