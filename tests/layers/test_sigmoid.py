"""Sigmoid: OpenCV dnn parity, the plain formula, saturation without overflow, FLOPs."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 4, 7, 9)])
def test_matches_opencv(shape):
    x = rand(shape, 1) * 4
    body = 'name: "s" type: "Sigmoid" bottom: "x" top: "s"'
    ours = run_layer(make_layer(body), x)[0]
    ref = opencv_forward(oracle_net({"x": x}, body), {}, {"x": x}, ["s"])["s"]
    assert_close(ours, ref, rel=1e-5)


def test_plain_formula_and_saturation():
    x = np.concatenate([rand((2, 3, 5, 5), 2) * 6, np.full((2, 1, 5, 5), -200, np.float32)], 1)
    layer = make_layer('name: "s" type: "Sigmoid" bottom: "x" top: "s"')
    with np.errstate(over="raise", invalid="raise"):
        ours = run_layer(layer, x)[0]
    assert_close(ours, 1 / (1 + np.exp(-x.astype(np.float64))), rel=1e-6)
    assert np.all(ours[:, 3] == 0)
    assert layer.impl.macs([x.shape], [x.shape]) == x.size
