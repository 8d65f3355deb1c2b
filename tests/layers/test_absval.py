"""AbsVal: OpenCV dnn parity, the formula, Caffe's no-in-place rule, FLOPs."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 4, 7, 9)])
def test_matches_opencv_and_formula(shape):
    x = rand(shape, 1)
    body = 'name: "a" type: "AbsVal" bottom: "x" top: "a"'
    layer = make_layer(body)
    ours = run_layer(layer, x)[0]
    ref = opencv_forward(oracle_net({"x": x}, body), {}, {"x": x}, ["a"])["a"]
    assert_close(ours, ref, rel=1e-5)
    np.testing.assert_array_equal(ours, np.abs(x))
    assert layer.impl.macs([shape], [shape]) == int(np.prod(shape))


def test_in_place_is_refused():
    layer = make_layer('name: "a" type: "AbsVal" bottom: "x" top: "x"')
    with pytest.raises(Exception, match="'a'.*in-place"):
        layer.impl.reshape([(2, 3, 4, 4)])
