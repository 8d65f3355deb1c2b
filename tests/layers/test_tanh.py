"""TanH: OpenCV dnn parity, the plain formula, FLOPs."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 4, 7, 9)])
def test_matches_opencv_and_formula(shape):
    x = rand(shape, 1) * 3
    body = 'name: "t" type: "TanH" bottom: "x" top: "t"'
    layer = make_layer(body)
    ours = run_layer(layer, x)[0]
    ref = opencv_forward(oracle_net({"x": x}, body), {}, {"x": x}, ["t"])["t"]
    assert_close(ours, ref, rel=1e-5)
    assert_close(ours, np.tanh(x.astype(np.float64)), rel=1e-6)
    assert layer.impl.macs([shape], [shape]) == int(np.prod(shape))
