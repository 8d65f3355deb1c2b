"""Reshape: 0 copies, one -1 inferred, axis / num_axes (incl. Caffe's negative axis
rule), OpenCV dnn parity, errors, FLOPs."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


from convertkit.errors import PrototxtError


def body_for(dims, extra=""):
    d = " ".join(f"dim: {v}" for v in dims)
    return f'name: "r" type: "Reshape" bottom: "x" top: "r" reshape_param {{ shape {{ {d} }} {extra} }}'


@pytest.mark.parametrize("shape,dims,extra,want", [
    ((2, 3, 5, 4), (0, -1), "", (2, 60)),
    ((2, 4, 7, 9), (0, 2, -1, 9), "", (2, 2, 14, 9)),
    ((2, 3, 5, 4), (-1, 4, 5), "", (6, 4, 5)),
    ((2, 6, 5, 4), (2, 3), "axis: 1 num_axes: 1", (2, 2, 3, 5, 4)),
    ((2, 3, 5, 4), (-1,), "axis: 1 num_axes: 2", (2, 15, 4)),
])
def test_matches_opencv(shape, dims, extra, want):
    x = rand(shape, 1)
    body = body_for(dims, extra)
    layer = make_layer(body)
    ours = run_layer(layer, x)[0]
    assert ours.shape == want
    np.testing.assert_array_equal(ours.ravel(), x.ravel())
    ref = opencv_forward(oracle_net({"x": x}, body), {}, {"x": x}, ["r"])["r"]
    assert_close(ours, ref, rel=1e-5)
    assert layer.impl.macs([shape], [want]) == 0


@pytest.mark.parametrize("dims,extra,want", [
    ((1,), "axis: -1 num_axes: 0", (2, 3, 4, 1)),  # axis -1 inserts after the last axis
    ((1,), "axis: 0 num_axes: 0", (1, 2, 3, 4)),
    ((0, 0, 0), "", (2, 3, 4)),
    ((12,), "axis: -3", (2, 12)),  # axis -3 of 3 axes is start 1
])
def test_axis_rules(dims, extra, want):
    assert make_layer(body_for(dims, extra)).impl.reshape([(2, 3, 4)]) == [want]


def test_empty_shape_drops_unit_axes():
    layer = make_layer(body_for((), "axis: 1 num_axes: 1"))
    assert layer.impl.reshape([(2, 1, 4)]) == [(2, 4)]
    with pytest.raises(Exception, match=r"'r'.*2x3x4.*element count"):
        layer.impl.reshape([(2, 3, 4)])


def test_errors():
    with pytest.raises(PrototxtError, match="more than one -1"):
        make_layer(body_for((-1, -1))).impl
    with pytest.raises(Exception, match=r"'r'.*2x3x5x4.*not divisible.*7"):
        make_layer(body_for((7, -1))).impl.reshape([(2, 3, 5, 4)])
    with pytest.raises(Exception, match=r"'r'.*0 at position 2.*2x3"):
        make_layer(body_for((0, 0, 0))).impl.reshape([(2, 3)])
    with pytest.raises(Exception, match=r"'r'.*2x3x5x4.*count"):
        make_layer(body_for((2, 3, 5))).impl.reshape([(2, 3, 5, 4)])
