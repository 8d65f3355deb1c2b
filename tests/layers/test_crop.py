"""Crop: axis (default 2, also 1, 0 and negative), no offset / one offset for all axes /
one per cropped axis, against OpenCV dnn and plain slicing; the out-of-range, offset
count and rank errors (each naming the layer, with both shapes); FLOPs = 0."""
import numpy as np
import pytest

from convertkit.errors import ShapeError
from support import make_layer, opencv_forward, rand


def crop_text(params, name="crop"):
    return (f'name: "{name}" type: "Crop" bottom: "x" bottom: "ref" top: "{name}" '
            f"crop_param {{ {params} }}")


def run(layer, x, ref):
    (y,) = layer.impl.forward([x, ref], [])
    assert y.dtype == np.float32
    assert y.shape == layer.impl.reshape([x.shape, ref.shape])[0]
    return y


@pytest.mark.parametrize("params,ref_shape,index", [
    ("", (2, 3, 4, 5), np.s_[:, :, 0:4, 0:5]),
    ("offset: 2", (2, 3, 4, 5), np.s_[:, :, 2:6, 2:7]),
    ("offset: 1 offset: 3", (2, 3, 4, 5), np.s_[:, :, 1:5, 3:8]),
    ("axis: 1 offset: 1 offset: 2 offset: 0", (2, 2, 5, 9), np.s_[:, 1:3, 2:7, 0:9]),
    ("axis: -1 offset: 4", (2, 3, 1, 4), np.s_[:, :, :, 4:8]),
    ("axis: 0 offset: 0 offset: 1 offset: 1 offset: 2", (1, 2, 3, 4), np.s_[0:1, 1:3, 1:4, 2:6]),
])
def test_forward_is_the_slice(params, ref_shape, index):
    x = rand((2, 3, 7, 9), 1)
    ref = rand(ref_shape, 2)
    y = run(make_layer(crop_text(params)), x, ref)
    expected = x[index]
    if params.startswith("axis: -1"):
        expected = x[:, :, :, 4:8]
        assert y.shape == (2, 3, 7, 4)  # axes before the crop axis keep bottom 0's size
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("params", ["offset: 2", "offset: 1 offset: 3", "axis: 1 offset: 1"])
def test_forward_matches_opencv(params):
    x, ref = rand((2, 3, 7, 9), 3), rand((2, 2, 4, 5), 4)
    proto = ('name: "t" input: "x" input_shape { dim: 2 dim: 3 dim: 7 dim: 9 }\n'
             'input: "ref" input_shape { dim: 2 dim: 2 dim: 4 dim: 5 }\n'
             f"layer {{ {crop_text(params)} }}")
    expected = opencv_forward(proto, {}, {"x": x, "ref": ref}, ["crop"])["crop"]
    np.testing.assert_array_equal(run(make_layer(crop_text(params)), x, ref), expected)


@pytest.mark.parametrize("params,ref_shape,message", [
    ("offset: 4", (2, 3, 4, 5), "axis 2 is out of bounds: bottom 2x3x7x9 cropped to 2x3x4x5 at offset 4"),
    ("offset: 0 offset: 5", (2, 3, 4, 5), "axis 3 is out of bounds.*5 \\+ 5 > 9"),
    ("", (2, 3, 8, 5), "axis 2 is out of bounds"),
    ("offset: 1 offset: 1 offset: 1", (2, 3, 4, 5), "3 offsets given for the 2 axes"),
    ("", (2, 3, 4), "different numbers of axes"),
    ("axis: 4", (2, 3, 4, 5), "axis 4 out of range"),
])
def test_errors_name_the_layer(params, ref_shape, message):
    layer = make_layer(crop_text(params, name="score_crop"))
    with pytest.raises(ShapeError, match=message) as err:
        layer.impl.reshape([(2, 3, 7, 9), ref_shape])
    assert "layer 'score_crop'" in str(err.value)


def test_uncropped_output_is_a_copy():
    x = rand((1, 2, 3, 4), 5)
    y = run(make_layer(crop_text("")), x, x)
    np.testing.assert_array_equal(y, x)
    assert not np.shares_memory(y, x)


def test_two_bottoms_and_no_flops():
    layer = make_layer(crop_text("offset: 1"))
    assert layer.impl.num_bottoms == (2, 2)
    assert layer.impl.macs([(1, 2, 5, 5), (1, 2, 3, 3)], [(1, 2, 3, 3)]) == 0
    assert layer.impl.param_shapes([(1, 2, 5, 5), (1, 2, 3, 3)]) == []
