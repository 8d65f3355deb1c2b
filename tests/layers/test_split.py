"""Split: every top equals the bottom (OpenCV dnn parity), shapes, FLOPs."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 4, 7, 9)])
def test_tops_equal_bottom(shape):
    x = rand(shape, 1)
    body = 'name: "sp" type: "Split" bottom: "x" top: "a" top: "b" top: "c"'
    layer = make_layer(body)
    assert layer.impl.reshape([shape]) == [shape] * 3
    ours = run_layer(layer, x)
    assert len(ours) == 3
    ref = opencv_forward(oracle_net({"x": x}, body, "abc"), {}, {"x": x}, ["out_a", "out_b", "out_c"])
    for o, t in zip(ours, "abc"):
        np.testing.assert_array_equal(o, x)
        assert_close(o, ref[f"out_{t}"], rel=1e-5)
    assert layer.impl.macs([shape], [shape] * 3) == 0
