"""Input: declared shapes (one per top, or one for all), Caffe's shape-count rule,
no bottoms, forward refused."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


from convertkit.errors import ConvertError


def test_declared_shape():
    layer = make_layer('name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 1025 dim: 2049 } }')
    assert layer.impl.num_bottoms == (0, 0)
    assert layer.hparams.shapes == ((1, 3, 1025, 2049),)
    assert layer.impl.reshape([]) == [(1, 3, 1025, 2049)]
    assert layer.impl.macs([], [(1, 3, 1025, 2049)]) == 0


def test_several_tops():
    one = make_layer('name: "in" type: "Input" top: "a" top: "b" input_param { shape { dim: 2 dim: 3 } }')
    assert one.impl.reshape([]) == [(2, 3), (2, 3)]
    each = make_layer('name: "in" type: "Input" top: "a" top: "b" input_param { shape { dim: 2 dim: 3 } shape { dim: 2 dim: 5 dim: 7 } }')
    assert each.impl.reshape([]) == [(2, 3), (2, 5, 7)]
    wrong = make_layer('name: "in" type: "Input" top: "a" top: "b" top: "c" input_param { shape { dim: 2 } shape { dim: 3 } }')
    with pytest.raises(Exception, match=r"'in'.*3 tops but 2 shapes"):
        wrong.impl.reshape([])


def test_no_shape_and_forward_are_refused():
    bare = make_layer('name: "data" type: "Input" top: "data"')
    with pytest.raises(Exception, match=r"'data'.*no input_param shape"):
        bare.impl.reshape([])
    with pytest.raises(ConvertError, match=r"'data'.*no forward"):
        bare.impl.forward([], [])
