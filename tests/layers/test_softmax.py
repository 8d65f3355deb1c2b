"""Softmax: OpenCV dnn parity on several axes, the float64 formula, stability on
large logits, FLOPs."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


def formula(x, axis):
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 19, 7, 9)])
@pytest.mark.parametrize("axis,param", [(1, ""), (2, "softmax_param { axis: 2 }"), (3, "softmax_param { axis: -1 }")])
def test_matches_opencv_and_formula(shape, axis, param):
    x = rand(shape, 1) * 4
    body = f'name: "prob" type: "Softmax" bottom: "x" top: "prob" {param}'
    layer = make_layer(body)
    ours = run_layer(layer, x)[0]
    ref = opencv_forward(oracle_net({"x": x}, body), {}, {"x": x}, ["prob"])["prob"]
    assert_close(ours, ref, rel=1e-5)
    assert_close(ours, formula(x, axis), rel=1e-6)


def test_large_logits_are_stable_and_flops():
    x = rand((2, 5, 3, 3), 2) * 10 + 1000
    layer = make_layer('name: "prob" type: "Softmax" bottom: "x" top: "prob"')
    with np.errstate(over="raise", invalid="raise"):
        ours = run_layer(layer, x)[0]
    assert_close(ours, formula(x, 1), rel=1e-5)
    assert_close(ours.sum(1), np.ones((2, 3, 3)), rel=1e-6)
    assert layer.impl.macs([x.shape], [x.shape]) == x.size
