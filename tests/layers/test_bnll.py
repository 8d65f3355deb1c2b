"""BNLL (softplus): OpenCV dnn parity, the float64 formula incl. large |x|, FLOPs."""
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
    x = rand(shape, 1) * 4
    body = 'name: "b" type: "BNLL" bottom: "x" top: "b"'
    layer = make_layer(body)
    ours = run(layer, x)[0]
    ref = opencv_forward(net({"x": x}, body), {}, {"x": x}, ["b"])["b"]
    assert_close(ours, ref, rel=1e-5)
    assert_close(ours, np.log1p(np.exp(x.astype(np.float64))), rel=1e-6)
    assert layer.impl.flops([shape], [shape]) == int(np.prod(shape))


def test_large_magnitudes():
    x = np.array([[-200.0, -30.0, 0.0, 30.0, 200.0]], np.float32)
    with np.errstate(over="raise", invalid="raise"):
        out = run(make_layer('name: "b" type: "BNLL" bottom: "x" top: "b"'), x)[0]
    assert_close(out, np.logaddexp(0, x.astype(np.float64)), rel=1e-6)
