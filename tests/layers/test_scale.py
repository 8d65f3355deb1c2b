"""Scale: one bottom (learned blob, bias_term, axis/num_axes incl. -1 and 0) and two
bottoms, against OpenCV dnn and the formula; ICNet's data_sub1; shape errors; FLOPs."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 4, 7, 9)])
@pytest.mark.parametrize("bias", [False, True])
def test_one_bottom_matches_opencv(shape, bias):
    c = shape[1]
    body = f'name: "s" type: "Scale" bottom: "x" top: "s" scale_param {{ bias_term: {str(bias).lower()} }}'
    layer = make_layer(body)
    assert layer.impl.param_shapes([shape]) == [(c,)] * (2 if bias else 1)
    blobs = [rand((c,), 1, 0.5, 2.0)] + ([rand((c,), 2)] if bias else [])
    x = rand(shape, 3)
    ours = run_layer(make_layer(body, blobs), x)[0]
    ref = opencv_forward(oracle_net({"x": x}, body), {"s": blobs}, {"x": x}, ["s"])["s"]
    assert_close(ours, ref, rel=1e-5)
    want = x.astype(np.float64) * blobs[0].reshape(1, c, 1, 1) + (blobs[1].reshape(1, c, 1, 1) if bias else 0)
    assert_close(ours, want, rel=1e-6)


@pytest.mark.parametrize("ysh,param", [((2, 3), "scale_param { axis: 0 }"), ((3, 5), "")])
def test_two_bottoms_match_opencv(ysh, param):
    x, y = rand((2, 3, 5, 4), 4), rand(ysh, 5)
    body = f'name: "s" type: "Scale" bottom: "x" bottom: "y" top: "s" {param}'
    layer = make_layer(body)
    assert layer.impl.param_shapes([x.shape, y.shape]) == []
    ours = run_layer(layer, x, y)[0]
    ref = opencv_forward(oracle_net({"x": x, "y": y}, body), {}, {"x": x, "y": y}, ["s"])["s"]
    assert_close(ours, ref, rel=1e-5)


def test_two_bottoms_with_bias_formula():
    x, y = rand((2, 3, 5, 4), 6), rand((3, 5), 7)
    body = 'name: "s" type: "Scale" bottom: "x" bottom: "y" top: "s" scale_param { bias_term: true }'
    assert make_layer(body).impl.param_shapes([x.shape, y.shape]) == [(3, 5)]
    b = rand((3, 5), 8)
    ours = run_layer(make_layer(body, [b]), x, y)[0]
    want = x.astype(np.float64) * y[None, :, :, None] + b[None, :, :, None]
    assert_close(ours, want, rel=1e-6)


def test_num_axes_minus_one_zero_and_negative_axis():
    x = rand((2, 3, 5, 4), 9)
    to_end = 'name: "s" type: "Scale" bottom: "x" top: "s" scale_param { num_axes: -1 }'
    assert make_layer(to_end).impl.param_shapes([x.shape]) == [(3, 5, 4)]
    w = rand((3, 5, 4), 10)
    assert_close(run_layer(make_layer(to_end, [w]), x)[0], x * w[None], rel=1e-6)
    scalar = 'name: "s" type: "Scale" bottom: "x" top: "s" scale_param { num_axes: 0 bias_term: true }'
    assert make_layer(scalar).impl.param_shapes([x.shape]) == [(), ()]
    out = run_layer(make_layer(scalar, [np.array(2.5, np.float32), np.array(-1, np.float32)]), x)[0]
    assert_close(out, x.astype(np.float64) * 2.5 - 1, rel=1e-6)
    last = 'name: "s" type: "Scale" bottom: "x" top: "s" scale_param { axis: -1 }'
    assert make_layer(last).impl.param_shapes([x.shape]) == [(4,)]
    w4 = rand((4,), 11)
    assert_close(run_layer(make_layer(last, [w4]), x)[0], x * w4, rel=1e-6)


def test_icnet_data_sub1_has_a_three_channel_blob():
    # icnet_cityscapes.prototxt: layer { name: "data_sub1" type: "Scale" bottom: "data" top: "data_sub1" }
    body = 'name: "data_sub1" type: "Scale" bottom: "data" top: "data_sub1"'
    layer = make_layer(body)
    assert layer.hparams.axis == 1 and layer.hparams.num_axes == 1 and not layer.hparams.bias_term
    assert layer.impl.param_shapes([(1, 3, 1025, 2049)]) == [(3,)]
    x = rand((2, 3, 9, 17), 12)
    np.testing.assert_array_equal(run_layer(make_layer(body, [np.ones(3, np.float32)]), x)[0], x)


def test_shape_errors_name_layer_and_shapes():
    layer = make_layer('name: "s" type: "Scale" bottom: "x" bottom: "y" top: "s"')
    with pytest.raises(Exception, match=r"'s'.*3x6.*2x3x5x4"):
        layer.impl.reshape([(2, 3, 5, 4), (3, 6)])
    deep = make_layer('name: "s" type: "Scale" bottom: "x" top: "s" scale_param { axis: 2 num_axes: 3 }')
    with pytest.raises(Exception, match=r"'s'.*2x3x5x4"):
        deep.impl.param_shapes([(2, 3, 5, 4)])


def test_flops():
    layer = make_layer('name: "s" type: "Scale" bottom: "x" top: "s" scale_param { bias_term: true }')
    assert layer.impl.macs([(2, 3, 5, 4)], [(2, 3, 5, 4)]) == 120
