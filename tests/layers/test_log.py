"""Log, log_base(shift + scale*x): OpenCV dnn parity for the natural log (OpenCV ignores
log_param), the formula with base/scale/shift, FLOPs."""
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


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 4, 7, 9)])
def test_natural_log_matches_opencv(shape):
    x = rand(shape, 1, 0.05, 5.0)
    body = 'name: "l" type: "Log" bottom: "x" top: "l"'
    ours = run(make_layer(body), x)[0]
    ref = opencv_forward(net({"x": x}, body), {}, {"x": x}, ["l"])["l"]
    assert_close(ours, ref, rel=1e-5)
    assert_close(ours, np.log(x.astype(np.float64)), rel=1e-6)


@pytest.mark.parametrize("base,scale,shift", [(2.0, 0.5, 3.0), (10.0, 1.0, 0.0), (-1.0, -2.0, 12.0)])
def test_formula(base, scale, shift):
    x = rand((2, 3, 5, 5), 2, 0.05, 5.0)
    layer = make_layer(f'name: "l" type: "Log" bottom: "x" top: "l" log_param {{ base: {base} scale: {scale} shift: {shift} }}')
    want = np.log(shift + scale * x.astype(np.float64)) / (1.0 if base == -1 else np.log(base))
    assert_close(run(layer, x)[0], want, rel=1e-5)
    assert layer.impl.flops([x.shape], [x.shape]) == x.size


def test_bad_base_is_refused():
    with pytest.raises(PrototxtError, match="'l'.*base"):
        make_layer('name: "l" type: "Log" bottom: "x" top: "l" log_param { base: 0 }').impl
