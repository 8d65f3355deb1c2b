"""InnerProduct: flattening from axis (default 1, also 2 and -1), transpose, bias_term,
legacy 4-D weight blobs, against OpenCV dnn and the float64 formula; shapes, blob
shapes, FLOPs, errors naming the layer."""
import numpy as np
import pytest

from convertkit.errors import PrototxtError, ShapeError
from support import assert_close, make_layer, opencv_forward, rand


def ip_text(params, name="fc"):
    return f'name: "{name}" type: "InnerProduct" bottom: "x" top: "{name}" inner_product_param {{ {params} }}'


def test_forward_matches_opencv_on_4d_bottom():
    x = rand((2, 3, 5, 4), 1)
    w, b = rand((7, 60), 2), rand((7,), 3)
    layer = make_layer(ip_text("num_output: 7"), blobs=[w, b])
    proto = 'name: "t" input: "x" input_shape { dim: 2 dim: 3 dim: 5 dim: 4 }\n' + f"layer {{ {ip_text('num_output: 7')} }}"
    ref = opencv_forward(proto, {"fc": [w, b]}, {"x": x}, ["fc"])["fc"]
    (y,) = layer.impl.forward([x], layer.params)
    assert y.shape == (2, 7) == layer.impl.reshape([x.shape])[0]
    assert y.dtype == np.float32
    assert_close(y, ref, rel=1e-5)
    assert_close(y, x.reshape(2, -1).astype(np.float64) @ w.T.astype(np.float64) + b, rel=1e-5)


@pytest.mark.parametrize("axis,transpose,bias", [(2, False, True), (-1, True, False), (0, False, True)])
def test_axis_transpose_bias(axis, transpose, bias):
    x = rand((2, 3, 4, 5), 4)
    ax = axis % 4
    m, k = int(np.prod(x.shape[:ax])), int(np.prod(x.shape[ax:]))
    params = f"num_output: 6 axis: {axis} transpose: {str(transpose).lower()} bias_term: {str(bias).lower()}"
    layer = make_layer(ip_text(params))
    shapes = layer.impl.param_shapes([x.shape])
    assert shapes[0] == ((k, 6) if transpose else (6, k))
    assert len(shapes) == (2 if bias else 1)
    w = rand(shapes[0], 5)
    layer.params = [w] + ([rand((6,), 6)] if bias else [])
    wt = w if transpose else w.T
    expected = x.reshape(m, k).astype(np.float64) @ wt
    if bias:
        expected += layer.params[1]
    (y,) = layer.impl.forward([x], layer.params)
    assert y.shape == x.shape[:ax] + (6,)
    assert_close(y, expected.reshape(x.shape[:ax] + (6,)), rel=1e-5)


def test_legacy_4d_weight_blob_is_accepted():
    x = rand((3, 8), 7)
    w = rand((5, 8), 8)
    layer = make_layer(ip_text("num_output: 5 bias_term: false"), blobs=[w.reshape(1, 1, 5, 8)])
    (y,) = layer.impl.forward([x], layer.params)
    assert_close(y, x.astype(np.float64) @ w.T, rel=1e-5)


def test_flops():
    layer = make_layer(ip_text("num_output: 10"))
    assert layer.impl.macs([(4, 3, 2, 2)], [(4, 10)]) == 4 * 12 * 10
    layer2 = make_layer(ip_text("num_output: 10 axis: 2"))
    assert layer2.impl.macs([(4, 3, 2, 2)], [(4, 3, 10)]) == 12 * 4 * 10


def test_errors_name_the_layer():
    with pytest.raises(PrototxtError, match="num_output") as err:
        make_layer(ip_text("axis: 1", name="fc_bad")).impl
    assert "fc_bad" in str(err.value)
    layer = make_layer(ip_text("num_output: 4 axis: 3", name="fc7"))
    with pytest.raises(ShapeError, match="axis 3 out of range") as err:
        layer.impl.reshape([(2, 5)])
    assert "layer 'fc7'" in str(err.value)
    layer = make_layer(ip_text("num_output: 4", name="fc8"), blobs=[np.zeros((4, 9)), np.zeros(4)])
    with pytest.raises(ShapeError, match="param 0 is 4x9 but bottom 2x10 needs 4x10") as err:
        layer.impl.forward([rand((2, 10))], layer.params)
    assert "layer 'fc8'" in str(err.value)
