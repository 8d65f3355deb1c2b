"""Threshold: 1 where x > threshold (strictly), else 0; FLOPs. (OpenCV dnn has no
Threshold layer; the formula is the oracle.)"""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 4, 7, 9)])
@pytest.mark.parametrize("t", [0.0, 0.25])
def test_formula(shape, t):
    x = rand(shape, 1)
    x.flat[0] = t  # equal to the threshold: 0
    layer = make_layer(f'name: "t" type: "Threshold" bottom: "x" top: "t" threshold_param {{ threshold: {t} }}')
    out = run_layer(layer, x)[0]
    np.testing.assert_array_equal(out, (x > np.float32(t)).astype(np.float32))
    assert out.flat[0] == 0
    assert layer.impl.macs([shape], [shape]) == int(np.prod(shape))
