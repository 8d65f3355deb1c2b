"""PReLU: per-channel and shared slopes against OpenCV dnn and the formula; blob shapes."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 4, 7, 9)])
@pytest.mark.parametrize("shared", [False, True])
def test_matches_opencv(shape, shared):
    x = rand(shape, 1)
    body = f'name: "p" type: "PReLU" bottom: "x" top: "p" prelu_param {{ channel_shared: {str(shared).lower()} }}'
    c = shape[1]
    layer = make_layer(body)
    assert layer.impl.param_shapes([shape]) == [() if shared else (c,)]  # Caffe: a scalar blob
    slope = rand((1,) if shared else (c,), 2, -0.9, 0.9)
    layer = make_layer(body, [slope])
    ours = run_layer(layer, x)[0]
    ref = opencv_forward(oracle_net({"x": x}, body), {"p": [slope]}, {"x": x}, ["p"])["p"]
    assert_close(ours, ref, rel=1e-5)
    # The formula, channel by channel.
    s = np.broadcast_to(slope.astype(np.float64), (c,)).reshape(1, c, 1, 1)
    x64 = x.astype(np.float64)
    assert_close(ours, np.where(x64 > 0, x64, s * x64), rel=1e-6)


def test_two_axis_bottom_and_flops():
    x = rand((2, 5), 3)
    slope = np.arange(5, dtype=np.float32) / 10
    layer = make_layer('name: "p" type: "PReLU" bottom: "x" top: "p"', [slope])
    assert layer.impl.param_shapes([(2, 5)]) == [(5,)]
    x64 = x.astype(np.float64)
    assert_close(run_layer(layer, x)[0], np.where(x64 > 0, x64, slope * x64), rel=1e-6)
    assert layer.impl.macs([(2, 5)], [(2, 5)]) == 10


def test_one_axis_bottom_is_refused():
    layer = make_layer('name: "p" type: "PReLU" bottom: "x" top: "p"')
    with pytest.raises(Exception, match="'p'.*at least 2 axes, got 7"):
        layer.impl.reshape([(7,)])
