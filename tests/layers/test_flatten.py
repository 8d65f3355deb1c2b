"""Flatten: axis / end_axis (incl. negative), OpenCV dnn parity, row-major order,
Caffe's errors, FLOPs."""
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



@pytest.mark.parametrize("param,want", [
    ("", (2, 60)),
    ("flatten_param { axis: 1 end_axis: 2 }", (2, 15, 4)),
    ("flatten_param { axis: 2 end_axis: -1 }", (2, 3, 20)),
    ("flatten_param { axis: 0 end_axis: 1 }", (6, 5, 4)),
])
def test_matches_opencv(param, want):
    x = rand((2, 3, 5, 4), 1)
    body = f'name: "f" type: "Flatten" bottom: "x" top: "f" {param}'
    layer = make_layer(body)
    ours = run(layer, x)[0]
    assert ours.shape == want
    np.testing.assert_array_equal(ours.ravel(), x.ravel())
    ref = opencv_forward(net({"x": x}, body), {}, {"x": x}, ["f"])["f"]
    assert_close(ours, ref, rel=1e-5)
    assert layer.impl.flops([x.shape], [want]) == 0


def test_odd_sizes_and_errors():
    layer = make_layer('name: "f" type: "Flatten" bottom: "x" top: "f"')
    assert layer.impl.reshape([(2, 7, 9, 3)]) == [(2, 189)]
    backwards = make_layer('name: "f" type: "Flatten" bottom: "x" top: "f" flatten_param { axis: 2 end_axis: 1 }')
    with pytest.raises(Exception, match=r"'f'.*end_axis 1.*2x7x9x3"):
        backwards.impl.reshape([(2, 7, 9, 3)])
    in_place = make_layer('name: "f" type: "Flatten" bottom: "x" top: "x"')
    with pytest.raises(Exception, match=r"'f'.*in-place"):
        in_place.impl.reshape([(2, 7, 9, 3)])
