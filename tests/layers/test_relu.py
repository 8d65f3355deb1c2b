"""ReLU (with negative_slope): OpenCV dnn parity, the plain formula, shapes, FLOPs."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 4, 7, 9)])
@pytest.mark.parametrize("slope", [None, 0.1])
def test_matches_opencv(shape, slope):
    x = rand(shape, 1)
    param = f"relu_param {{ negative_slope: {slope} }}" if slope is not None else ""
    body = f'name: "r" type: "ReLU" bottom: "x" top: "r" {param}'
    ours = run_layer(make_layer(body), x)[0]
    ref = opencv_forward(oracle_net({"x": x}, body), {}, {"x": x}, ["r"])["r"]
    assert_close(ours, ref, rel=1e-5)


@pytest.mark.parametrize("slope", [0.0, 0.25, -0.5])
def test_plain_formula(slope):
    x = rand((2, 3, 6, 5), 2)
    layer = make_layer(f'name: "r" type: "ReLU" bottom: "x" top: "x" relu_param {{ negative_slope: {slope} }}')
    assert layer.hparams.negative_slope == pytest.approx(slope)
    x64 = x.astype(np.float64)
    assert_close(run_layer(layer, x)[0], np.where(x64 > 0, x64, slope * x64), rel=1e-6)


def test_default_zeroes_negatives_and_flops():
    layer = make_layer('name: "r" type: "ReLU" bottom: "x" top: "x"')
    assert layer.hparams.negative_slope == 0
    x = np.array([[-2.0, -0.0, 0.5, 3.0]], np.float32)
    np.testing.assert_array_equal(run_layer(layer, x)[0], [[0, 0, 0.5, 3.0]])
    assert layer.impl.macs([(2, 3, 5, 4)], [(2, 3, 5, 4)]) == 120
