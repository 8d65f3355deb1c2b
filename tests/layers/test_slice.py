"""Slice: slice_point and equal splits, axis / negative axis / slice_dim, OpenCV dnn
parity, errors naming the layer and shape, FLOPs."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward


def run(layer, *bottoms):
    """Our forward; checks the tops against reshape() and that bottoms are untouched."""
    before = [b.copy() for b in bottoms]
    tops = layer.impl.forward(list(bottoms), layer.blobs)
    assert [t.shape for t in tops] == list(layer.impl.reshape([b.shape for b in bottoms]))
    assert all(t.dtype == np.float32 for t in tops)
    for b, c in zip(bottoms, before):
        np.testing.assert_array_equal(b, c)
    return tops


def net(inputs, body, tops=()):
    """A prototxt for OpenCV: inputs, the layer, and an identity Power per extra top
    (OpenCV's forward() only returns a layer's first top by name)."""
    lines = ['name: "t"'] + [
        f'input: "{n}" input_shape {{ {" ".join(f"dim: {d}" for d in a.shape)} }}'
        for n, a in inputs.items()
    ]
    lines.append(f"layer {{ {body} }}")
    lines += [f'layer {{ name: "out_{t}" type: "Power" bottom: "{t}" top: "out_{t}" }}' for t in tops]
    return "\n".join(lines)


def rand(shape, seed=0, lo=None, hi=None):
    rng = np.random.default_rng(seed)
    if lo is not None:
        return rng.uniform(lo, hi, shape).astype(np.float32)
    return rng.standard_normal(shape).astype(np.float32)



@pytest.mark.parametrize("shape,param,want", [
    ((2, 6, 5, 4), "slice_param { axis: 1 slice_point: 1 slice_point: 4 }", [(0, 1), (1, 4), (4, 6)]),
    ((2, 4, 7, 9), "slice_param { axis: -1 slice_point: 2 slice_point: 7 }", [(0, 2), (2, 7), (7, 9)]),
    ((2, 3, 6, 5), "slice_param { slice_dim: 2 }", [(0, 2), (2, 4), (4, 6)]),
])
def test_matches_opencv_and_indexing(shape, param, want):
    x = rand(shape, 1)
    body = f'name: "sl" type: "Slice" bottom: "x" top: "a" top: "b" top: "c" {param}'
    layer = make_layer(body)
    ours = run(layer, x)
    axis = layer.impl._axis(len(shape))
    for o, (lo, hi) in zip(ours, want):
        np.testing.assert_array_equal(o, np.take(x, range(lo, hi), axis=axis))
    # OpenCV ignores the deprecated slice_dim: its reference runs with the same axis.
    cv_body = body.replace("slice_dim", "axis")
    ref = opencv_forward(net({"x": x}, cv_body, "abc"), {}, {"x": x}, ["out_a", "out_b", "out_c"])
    for o, t in zip(ours, "abc"):
        assert_close(o, ref[f"out_{t}"], rel=1e-5)
    assert layer.impl.flops([shape], [o.shape for o in ours]) == 0


def test_errors_name_layer_and_shape():
    uneven = make_layer('name: "sl" type: "Slice" bottom: "x" top: "a" top: "b"')
    with pytest.raises(Exception, match=r"'sl'.*2 tops.*size 5.*2x5x3x3"):
        uneven.impl.reshape([(2, 5, 3, 3)])
    count = make_layer('name: "sl" type: "Slice" bottom: "x" top: "a" top: "b" slice_param { slice_point: 1 slice_point: 2 }')
    with pytest.raises(Exception, match=r"'sl'.*2 slice_point.*2 tops"):
        count.impl.reshape([(2, 5, 3, 3)])
    beyond = make_layer('name: "sl" type: "Slice" bottom: "x" top: "a" top: "b" slice_param { slice_point: 7 }')
    with pytest.raises(Exception, match=r"'sl'.*slice_point 7.*2x5x3x3"):
        beyond.impl.reshape([(2, 5, 3, 3)])
