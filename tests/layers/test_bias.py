"""Bias: one bottom (learned blob; axis / num_axes) and two bottoms, against the plain
broadcast formula (OpenCV dnn has no Bias type); shape errors; FLOPs."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 4, 7, 9)])
def test_one_bottom_formula(shape):
    c = shape[1]
    body = 'name: "b" type: "Bias" bottom: "x" top: "b"'
    assert make_layer(body).impl.param_shapes([shape]) == [(c,)]
    b, x = rand((c,), 1), rand(shape, 2)
    assert_close(run_layer(make_layer(body, [b]), x)[0], x.astype(np.float64) + b.reshape(1, c, 1, 1), rel=1e-6)


def test_axis_and_num_axes():
    x = rand((2, 3, 5, 4), 3)
    body = 'name: "b" type: "Bias" bottom: "x" top: "b" bias_param { axis: 2 num_axes: -1 }'
    assert make_layer(body).impl.param_shapes([x.shape]) == [(5, 4)]
    b = rand((5, 4), 4)
    assert_close(run_layer(make_layer(body, [b]), x)[0], x + b, rel=1e-6)
    scalar = 'name: "b" type: "Bias" bottom: "x" top: "b" bias_param { num_axes: 0 }'
    assert make_layer(scalar).impl.param_shapes([x.shape]) == [()]
    assert_close(run_layer(make_layer(scalar, [np.array(0.75, np.float32)]), x)[0], x + 0.75, rel=1e-6)


def test_two_bottoms():
    x, y = rand((2, 3, 5, 4), 5), rand((2, 3), 6)
    layer = make_layer('name: "b" type: "Bias" bottom: "x" bottom: "y" top: "b" bias_param { axis: 0 }')
    assert layer.impl.param_shapes([x.shape, y.shape]) == []
    assert_close(run_layer(layer, x, y)[0], x + y[:, :, None, None], rel=1e-6)


def test_mismatch_names_layer_and_shapes_and_flops():
    layer = make_layer('name: "bias1" type: "Bias" bottom: "x" bottom: "y" top: "b"')
    with pytest.raises(Exception, match=r"'bias1'.*4x5.*2x3x5x4"):
        layer.impl.reshape([(2, 3, 5, 4), (4, 5)])
    assert layer.impl.macs([(2, 3, 5, 4), (3,)], [(2, 3, 5, 4)]) == 120
