"""BNLL (softplus): OpenCV dnn parity, the float64 formula incl. large |x|, FLOPs."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 4, 7, 9)])
def test_matches_opencv_and_formula(shape):
    x = rand(shape, 1) * 4
    body = 'name: "b" type: "BNLL" bottom: "x" top: "b"'
    layer = make_layer(body)
    ours = run_layer(layer, x)[0]
    ref = opencv_forward(oracle_net({"x": x}, body), {}, {"x": x}, ["b"])["b"]
    assert_close(ours, ref, rel=1e-5)
    assert_close(ours, np.log1p(np.exp(x.astype(np.float64))), rel=1e-6)
    assert layer.impl.macs([shape], [shape]) == int(np.prod(shape))


def test_large_magnitudes():
    x = np.array([[-200.0, -30.0, 0.0, 30.0, 200.0]], np.float32)
    with np.errstate(over="raise", invalid="raise"):
        out = run_layer(make_layer('name: "b" type: "BNLL" bottom: "x" top: "b"'), x)[0]
    assert_close(out, np.logaddexp(0, x.astype(np.float64)), rel=1e-6)
