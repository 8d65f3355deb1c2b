"""ReLU (with negative_slope): OpenCV dnn parity, the plain formula, shapes, FLOPs."""
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
@pytest.mark.parametrize("slope", [None, 0.1])
def test_matches_opencv(shape, slope):
    x = rand(shape, 1)
    param = f"relu_param {{ negative_slope: {slope} }}" if slope is not None else ""
    body = f'name: "r" type: "ReLU" bottom: "x" top: "r" {param}'
    ours = run(make_layer(body), x)[0]
    ref = opencv_forward(net({"x": x}, body), {}, {"x": x}, ["r"])["r"]
    assert_close(ours, ref, rel=1e-5)


@pytest.mark.parametrize("slope", [0.0, 0.25, -0.5])
def test_plain_formula(slope):
    x = rand((2, 3, 6, 5), 2)
    layer = make_layer(f'name: "r" type: "ReLU" bottom: "x" top: "x" relu_param {{ negative_slope: {slope} }}')
    assert layer.params.negative_slope == pytest.approx(slope)
    x64 = x.astype(np.float64)
    assert_close(run(layer, x)[0], np.where(x64 > 0, x64, slope * x64), rel=1e-6)


def test_default_zeroes_negatives_and_flops():
    layer = make_layer('name: "r" type: "ReLU" bottom: "x" top: "x"')
    assert layer.params.negative_slope == 0
    x = np.array([[-2.0, -0.0, 0.5, 3.0]], np.float32)
    np.testing.assert_array_equal(run(layer, x)[0], [[0, 0, 0.5, 3.0]])
    assert layer.impl.flops([(2, 3, 5, 4)], [(2, 3, 5, 4)]) == 120
