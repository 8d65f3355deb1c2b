"""Exp, base^(shift + scale*x): OpenCV dnn parity, the formula, base checks, FLOPs."""
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

from convertkit.errors import PrototxtError

CASES = [("", -1, 1, 0), ("exp_param { base: 2 scale: 0.5 shift: 0.3 }", 2, 0.5, 0.3),
         ("exp_param { scale: -1.5 shift: 1 }", -1, -1.5, 1), ("exp_param { base: 10 scale: 0.25 }", 10, 0.25, 0)]


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 4, 7, 9)])
@pytest.mark.parametrize("param,base,scale,shift", CASES)
def test_matches_opencv_and_formula(shape, param, base, scale, shift):
    x = rand(shape, 1)
    body = f'name: "e" type: "Exp" bottom: "x" top: "e" {param}'
    layer = make_layer(body)
    ours = run(layer, x)[0]
    ref = opencv_forward(net({"x": x}, body), {}, {"x": x}, ["e"])["e"]
    assert_close(ours, ref, rel=1e-5)
    b = np.e if base == -1 else base
    assert_close(ours, b ** (shift + scale * x.astype(np.float64)), rel=1e-5)
    assert layer.impl.flops([shape], [shape]) == int(np.prod(shape))


def test_bad_base_is_refused():
    with pytest.raises(PrototxtError, match="'e'.*base"):
        make_layer('name: "e" type: "Exp" bottom: "x" top: "e" exp_param { base: -2 }').impl
