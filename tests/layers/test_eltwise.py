"""Eltwise SUM (with coeff), PROD, MAX: OpenCV dnn parity, the formulas, Caffe's MAX
comparison order, coefficient rules, the shape-mismatch message ICNet users see, FLOPs."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


CASES = [
    ("", lambda a, b, c: a + b + c),
    ("eltwise_param { operation: SUM coeff: 0.5 coeff: -1 coeff: 2 }", lambda a, b, c: 0.5 * a - b + 2 * c),
    ("eltwise_param { operation: PROD }", lambda a, b, c: a * b * c),
    ("eltwise_param { operation: MAX }", lambda a, b, c: np.maximum(np.maximum(a, b), c)),
]


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 4, 7, 9)])
@pytest.mark.parametrize("param,formula", CASES)
def test_three_bottoms_match_opencv_and_formula(shape, param, formula):
    xs = {n: rand(shape, i) for i, n in enumerate("abc")}
    body = f'name: "e" type: "Eltwise" bottom: "a" bottom: "b" bottom: "c" top: "e" {param}'
    ours = run_layer(make_layer(body), *xs.values())[0]
    ref = opencv_forward(oracle_net(xs, body), {}, xs, ["e"])["e"]
    assert_close(ours, ref, rel=1e-5)
    assert_close(ours, formula(*(v.astype(np.float64) for v in xs.values())), rel=1e-6)


def test_two_bottom_sum_is_exact():
    a, b = rand((2, 3, 5, 5), 1), rand((2, 3, 5, 5), 2)
    layer = make_layer('name: "e" type: "Eltwise" bottom: "a" bottom: "b" top: "e"')
    assert layer.hparams.operation == "SUM" and layer.hparams.coeffs == ()
    np.testing.assert_array_equal(run_layer(layer, a, b)[0], a + b)


def test_max_follows_caffes_comparisons():
    # top = a > b ? a : b, then top = c > top ? c : top: a NaN in the first bottom
    # loses, a NaN in the second wins, and a later NaN never replaces the top.
    a = np.array([[np.nan, 1.0, 2.0]], np.float32)
    b = np.array([[1.0, np.nan, 1.0]], np.float32)
    c = np.array([[0.0, 5.0, np.nan]], np.float32)
    layer = make_layer('name: "e" type: "Eltwise" bottom: "a" bottom: "b" bottom: "c" top: "e" eltwise_param { operation: MAX }')
    out = run_layer(layer, a, b, c)[0]
    np.testing.assert_array_equal(out, np.array([[1.0, np.nan, 2.0]], np.float32))


def test_shape_mismatch_names_layer_and_every_shape():
    layer = make_layer('name: "sub12_sum" type: "Eltwise" bottom: "sub24_sum_interp" bottom: "conv3_sub1_proj" top: "sub12_sum"')
    with pytest.raises(Exception) as err:
        layer.impl.reshape([(1, 128, 128, 256), (1, 128, 129, 257)])
    msg = str(err.value)
    assert "sub12_sum" in msg and "1x128x128x256 vs 1x128x129x257" in msg
    assert "sub24_sum_interp" in msg and "conv3_sub1_proj" in msg
    five = make_layer('name: "conv5_3_sum" type: "Eltwise" bottom: "a" bottom: "b" bottom: "c" top: "s"')
    with pytest.raises(Exception, match=r"conv5_3_sum.*1x1024x33x65 vs 1x1024x33x65 vs 1x1024x32x64"):
        five.impl.reshape([(1, 1024, 33, 65), (1, 1024, 33, 65), (1, 1024, 32, 64)])


def test_coefficient_rules():
    wrong_count = make_layer('name: "e" type: "Eltwise" bottom: "a" bottom: "b" top: "e" eltwise_param { coeff: 1 }')
    with pytest.raises(Exception, match=r"'e'.*1 coeff.*2 bottoms"):
        wrong_count.impl.reshape([(2, 3), (2, 3)])
    prod = make_layer('name: "e" type: "Eltwise" bottom: "a" bottom: "b" top: "e" eltwise_param { operation: PROD coeff: 1 coeff: 2 }')
    with pytest.raises(Exception, match=r"'e'.*SUM only"):
        prod.impl.reshape([(2, 3), (2, 3)])


def test_flops_count_each_extra_bottom():
    layer = make_layer('name: "e" type: "Eltwise" bottom: "a" bottom: "b" bottom: "c" top: "e"')
    assert layer.impl.macs([(2, 3, 5, 4)] * 3, [(2, 3, 5, 4)]) == 240
    assert layer.impl.num_bottoms == (2, None)
