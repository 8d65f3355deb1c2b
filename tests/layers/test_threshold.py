"""Threshold: 1 where x > threshold (strictly), else 0; FLOPs. (OpenCV dnn has no
Threshold layer; the formula is the oracle.)"""
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
@pytest.mark.parametrize("t", [0.0, 0.25])
def test_formula(shape, t):
    x = rand(shape, 1)
    x.flat[0] = t  # equal to the threshold: 0
    layer = make_layer(f'name: "t" type: "Threshold" bottom: "x" top: "t" threshold_param {{ threshold: {t} }}')
    out = run(layer, x)[0]
    np.testing.assert_array_equal(out, (x > np.float32(t)).astype(np.float32))
    assert out.flat[0] == 0
    assert layer.impl.flops([shape], [shape]) == int(np.prod(shape))
