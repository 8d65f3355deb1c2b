"""Concat: OpenCV dnn parity on several axes (incl. negative), concat_dim, one bottom,
the mismatch message, FLOPs."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


from convertkit.errors import PrototxtError


@pytest.mark.parametrize("axis,param", [(1, ""), (2, "concat_param { axis: 2 }"), (3, "concat_param { axis: -1 }"), (0, "concat_param { concat_dim: 0 }")])
def test_matches_opencv(axis, param):
    # OpenCV ignores the deprecated concat_dim: its reference runs with the same axis.
    shapes = [[2, 3, 5, 4], [2, 3, 5, 4], [2, 3, 5, 4]]
    for s, extra in zip(shapes, (1, 4, 2)):
        s[axis] = extra
    xs = {n: rand(tuple(s), i) for i, (n, s) in enumerate(zip("abc", shapes))}
    body = f'name: "cat" type: "Concat" bottom: "a" bottom: "b" bottom: "c" top: "cat" {param}'
    layer = make_layer(body)
    ours = run_layer(layer, *xs.values())[0]
    np.testing.assert_array_equal(ours, np.concatenate(list(xs.values()), axis))
    cv_body = body.replace("concat_dim", "axis")
    ref = opencv_forward(oracle_net(xs, cv_body), {}, xs, ["cat"])["cat"]
    assert_close(ours, ref, rel=1e-5)
    assert layer.impl.macs([x.shape for x in xs.values()], [ours.shape]) == 0


def test_pspnet_concat_order_and_one_bottom():
    conv, p6, p3 = rand((2, 8, 7, 7), 1), rand((2, 2, 7, 7), 2), rand((2, 2, 7, 7), 3)
    layer = make_layer('name: "conv5_3_concat" type: "Concat" bottom: "conv5_3" bottom: "p6" bottom: "p3" top: "cc"')
    out = run_layer(layer, conv, p6, p3)[0]
    np.testing.assert_array_equal(out[:, :8], conv)
    np.testing.assert_array_equal(out[:, 10:], p3)
    single = make_layer('name: "c" type: "Concat" bottom: "a" top: "c"')
    np.testing.assert_array_equal(run_layer(single, conv)[0], conv)


def test_mismatch_names_layer_and_shapes():
    layer = make_layer('name: "conv5_3_concat" type: "Concat" bottom: "conv5_3" bottom: "pool6_interp" top: "c"')
    with pytest.raises(Exception, match=r"conv5_3_concat.*1x2048x60x60 vs 1x512x61x61"):
        layer.impl.reshape([(1, 2048, 60, 60), (1, 512, 61, 61)])
    with pytest.raises(Exception, match=r"'c'.*axis 4 out of range"):
        make_layer('name: "c" type: "Concat" bottom: "a" bottom: "b" top: "c" concat_param { axis: 4 }').impl.reshape([(1, 2, 3, 4)] * 2)


def test_axis_and_concat_dim_together_are_refused():
    with pytest.raises(PrototxtError, match="both axis and concat_dim"):
        make_layer('name: "c" type: "Concat" bottom: "a" bottom: "b" top: "c" concat_param { axis: 1 concat_dim: 1 }').impl
