"""AbsVal: OpenCV dnn parity, the formula, Caffe's no-in-place rule, FLOPs."""
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


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 4, 7, 9)])
def test_matches_opencv_and_formula(shape):
    x = rand(shape, 1)
    body = 'name: "a" type: "AbsVal" bottom: "x" top: "a"'
    layer = make_layer(body)
    ours = run(layer, x)[0]
    ref = opencv_forward(net({"x": x}, body), {}, {"x": x}, ["a"])["a"]
    assert_close(ours, ref, rel=1e-5)
    np.testing.assert_array_equal(ours, np.abs(x))
    assert layer.impl.flops([shape], [shape]) == int(np.prod(shape))


def test_in_place_is_refused():
    layer = make_layer('name: "a" type: "AbsVal" bottom: "x" top: "x"')
    with pytest.raises(Exception, match="'a'.*in-place"):
        layer.impl.reshape([(2, 3, 4, 4)])
