"""ArgMax: both of Caffe's modes (no axis: N x (1|2) x top_k over C*H*W; axis: along
it, values instead of indices with out_max_val), top_k order, ties to the larger index,
shape errors, FLOPs. OpenCV dnn has no Caffe ArgMax, so plain numpy is the oracle."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


def body_for(param):
    return f'name: "am" type: "ArgMax" bottom: "x" top: "am" argmax_param {{ {param} }}'


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 4, 7, 9)])
def test_no_axis_index_and_value(shape):
    x = rand(shape, 1)
    flat = x.reshape(2, -1)
    layer = make_layer(body_for(""))
    out = run_layer(layer, x)[0]
    assert out.shape == (2, 1, 1, 1)
    np.testing.assert_array_equal(out.ravel(), flat.argmax(1))
    both = run_layer(make_layer(body_for("out_max_val: true top_k: 3")), x)[0]
    assert both.shape == (2, 2, 3, 1)
    order = np.argsort(-flat, axis=1)[:, :3]
    np.testing.assert_array_equal(both[:, 0, :, 0], order)
    np.testing.assert_array_equal(both[:, 1, :, 0], np.take_along_axis(flat, order, 1))


def test_no_axis_on_two_axis_bottom_pads_to_three_axes():
    x = rand((2, 7), 2)
    out = run_layer(make_layer(body_for("top_k: 2")), x)[0]
    assert out.shape == (2, 1, 2)
    np.testing.assert_array_equal(out[:, 0], np.argsort(-x, axis=1)[:, :2])


@pytest.mark.parametrize("shape", [(2, 19, 5, 4), (2, 4, 7, 9)])
def test_axis_indices_and_values(shape):
    x = rand(shape, 3)
    idx = run_layer(make_layer(body_for("axis: 1")), x)[0]
    assert idx.shape == (shape[0], 1) + shape[2:]
    np.testing.assert_array_equal(idx[:, 0], x.argmax(1))
    vals = run_layer(make_layer(body_for("axis: 1 top_k: 2 out_max_val: true")), x)[0]
    assert vals.shape == (shape[0], 2) + shape[2:]
    srt = -np.sort(-x, axis=1)
    np.testing.assert_array_equal(vals, srt[:, :2])
    last = run_layer(make_layer(body_for("axis: -1 top_k: 3")), x)[0]
    np.testing.assert_array_equal(last, np.argsort(-x, axis=-1, kind="stable")[..., :3])


def test_ties_go_to_the_larger_index():
    x = np.array([[[[1.0]], [[3.0]], [[3.0]], [[2.0]], [[3.0]]]], np.float32)  # 1x5x1x1
    np.testing.assert_array_equal(run_layer(make_layer(body_for("axis: 1")), x)[0].ravel(), [4])
    np.testing.assert_array_equal(run_layer(make_layer(body_for("top_k: 4")), x)[0].ravel(), [4, 2, 1, 3])


def test_errors_and_flops():
    with pytest.raises(Exception, match=r"'am'.*top_k 4.*axis 1.*2x3x5x5"):
        make_layer(body_for("axis: 1 top_k: 4")).impl.reshape([(2, 3, 5, 5)])
    with pytest.raises(Exception, match=r"'am'.*top_k 76.*2x3x5x5"):
        make_layer(body_for("top_k: 76")).impl.reshape([(2, 3, 5, 5)])
    assert make_layer(body_for("")).impl.macs([(2, 3, 5, 5)], [(2, 1, 1, 1)]) == 150
