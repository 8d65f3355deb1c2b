"""Convolution: every forward strategy against a plain-loop float64 convolution (odd and
even sizes, padding, stride, dilation, groups, _h/_w fields, batch 2, bias or not),
OpenCV dnn as an outside oracle, DeepLab's hole fields, shapes, blob shapes, FLOPs, and
the errors (each naming the layer)."""
import numpy as np
import pytest

from convertkit.errors import PrototxtError, ShapeError
from convertkit.layers.convolution import _pick_strategy, conv2d
from support import assert_close, make_layer, opencv_forward, rand


def naive_conv(x, w, b, stride, pad, dil, group):
    """Caffe's convolution, written as the definition: loops, float64, zero padding."""
    n_, c_, h_, w_ = x.shape
    o_, cg, kh, kw = w.shape
    og = o_ // group
    ho = (h_ + 2 * pad[0] - (dil[0] * (kh - 1) + 1)) // stride[0] + 1
    wo = (w_ + 2 * pad[1] - (dil[1] * (kw - 1) + 1)) // stride[1] + 1
    out = np.zeros((n_, o_, ho, wo))
    for o in range(o_):
        g = o // og
        for i in range(kh):
            for j in range(kw):
                for oh in range(ho):
                    ih = oh * stride[0] - pad[0] + i * dil[0]
                    if not 0 <= ih < h_:
                        continue
                    for ow in range(wo):
                        iw = ow * stride[1] - pad[1] + j * dil[1]
                        if 0 <= iw < w_:
                            for c in range(cg):
                                out[:, o, oh, ow] += w[o, c, i, j] * x[:, g * cg + c, ih, iw]
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def conv_text(params, name="c"):
    return f'name: "{name}" type: "Convolution" bottom: "x" top: "{name}" convolution_param {{ {params} }}'


def net_text(x_shape, body):
    dims = " ".join(f"dim: {d}" for d in x_shape)
    return f'name: "t" input: "x" input_shape {{ {dims} }}\nlayer {{ {body} }}'


def run(layer, x):
    before = x.copy()
    (y,) = layer.impl.forward([x], layer.params)
    assert y.dtype == np.float32
    assert y.shape == layer.impl.reshape([x.shape])[0]
    np.testing.assert_array_equal(x, before)
    return y


# (x shape, params text, stride, pad, dilation, group, kernel)
CASES = [
    ((1, 3, 7, 9), "num_output: 4 kernel_size: 3", (1, 1), (0, 0), (1, 1), 1, (3, 3)),
    ((2, 4, 8, 6), "num_output: 6 kernel_size: 3 pad: 1", (1, 1), (1, 1), (1, 1), 1, (3, 3)),
    ((1, 4, 9, 10), "num_output: 5 kernel_size: 3 pad: 1 stride: 2", (2, 2), (1, 1), (1, 1), 1, (3, 3)),
    ((1, 4, 10, 9), "num_output: 4 kernel_size: 3 pad: 2 dilation: 2", (1, 1), (2, 2), (2, 2), 1, (3, 3)),
    ((2, 6, 11, 8), "num_output: 4 kernel_size: 3 pad: 4 dilation: 4 bias_term: false",
     (1, 1), (4, 4), (4, 4), 1, (3, 3)),
    ((1, 6, 7, 8), "num_output: 9 kernel_size: 3 pad: 1 group: 3", (1, 1), (1, 1), (1, 1), 3, (3, 3)),
    ((1, 4, 8, 9), "num_output: 8 kernel_size: 3 pad: 1 group: 4 stride: 2", (2, 2), (1, 1), (1, 1), 4, (3, 3)),
    ((1, 3, 9, 12), "num_output: 4 kernel_h: 3 kernel_w: 5 pad_h: 1 pad_w: 2 stride_h: 1 stride_w: 2",
     (1, 2), (1, 2), (1, 1), 1, (3, 5)),
    ((1, 3, 10, 11), "num_output: 2 kernel_size: 2 kernel_size: 4 pad: 0 pad: 1 stride: 3 stride: 1 "
     "dilation: 2 dilation: 1", (3, 1), (0, 1), (2, 1), 1, (2, 4)),
    ((2, 8, 6, 7), "num_output: 5 kernel_size: 1", (1, 1), (0, 0), (1, 1), 1, (1, 1)),
    ((1, 8, 7, 7), "num_output: 6 kernel_size: 1 stride: 2 group: 2", (2, 2), (0, 0), (1, 1), 2, (1, 1)),
    ((1, 4, 6, 6), "num_output: 4 kernel_size: 6", (1, 1), (0, 0), (1, 1), 1, (6, 6)),
]


@pytest.mark.parametrize("case", CASES, ids=[c[1] for c in CASES])
def test_forward_matches_naive_convolution(case):
    shape, params, stride, pad, dil, group, kernel = case
    x = rand(shape, 1)
    c = shape[1]
    layer = make_layer(conv_text(params))
    p = layer.impl.p
    assert (p.stride, p.pad, p.dilation, p.group, p.kernel) == (stride, pad, dil, group, kernel)
    w = rand((p.num_output, c // group, *kernel), 2)
    b = rand((p.num_output,), 3) if p.bias_term else None
    layer.params = [w] + ([b] if b is not None else [])
    expected = naive_conv(x.astype(np.float64), w, b, stride, pad, dil, group)
    assert_close(run(layer, x), expected, rel=1e-5)
    # Every strategy that applies must give the same result.
    strategies = ["im2col"]
    if stride == (1, 1):
        strategies.append("taps")
    if kernel == (1, 1) and stride == (1, 1) and pad == (0, 0):
        strategies.append("matmul")
    for strategy in strategies:
        y = conv2d(x, w, stride, pad, dil, group, strategy=strategy)
        if b is not None:
            y = y + b.reshape(1, -1, 1, 1)
        assert_close(y, expected, rel=1e-5, what=strategy)


@pytest.mark.parametrize("mult", [1, 2])
def test_depthwise_matches_naive(mult):
    x = rand((2, 4, 9, 8), 4)
    w = rand((4 * mult, 1, 3, 3), 5)
    expected = naive_conv(x.astype(np.float64), w, None, (2, 1), (1, 1), (1, 2), 4)
    layer = make_layer(conv_text(f"num_output: {4 * mult} kernel_size: 3 pad: 1 group: 4 "
                                 "stride_h: 2 stride_w: 1 dilation: 1 dilation: 2 bias_term: false"),
                       blobs=[w])
    assert _pick_strategy(4, 4 * mult, 4, (3, 3), (2, 1), (1, 1), 5, 6) == "depthwise"
    assert_close(run(layer, x), expected, rel=1e-5)


def test_strategy_choice():
    assert _pick_strategy(1024, 256, 1, (1, 1), (1, 1), (0, 0), 33, 65) == "matmul"
    assert _pick_strategy(4096, 512, 1, (3, 3), (1, 1), (1, 1), 60, 60) == "taps"
    assert _pick_strategy(3, 32, 1, (3, 3), (2, 2), (1, 1), 513, 1025) == "im2col"
    assert _pick_strategy(256, 512, 1, (1, 1), (2, 2), (0, 0), 65, 129) == "im2col"


def test_large_layer_strategies_agree():
    """A layer big enough for several im2col bands and taps bands (both code paths' band
    edges) against the plain 1x1-by-tap sum done with einsum."""
    x = rand((1, 16, 70, 150), 6)
    w = rand((24, 16, 3, 3), 7) * 0.2
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (2, 2), (2, 2)))
    expected = sum(np.einsum("oc,nchw->nohw", w[:, :, i, j], xp[:, :, 2 * i:2 * i + 70, 2 * j:2 * j + 150])
                   for i in range(3) for j in range(3))
    for strategy in ("im2col", "taps"):
        assert_close(conv2d(x, w, (1, 1), (2, 2), (2, 2), 1, strategy=strategy), expected, rel=1e-5)


OPENCV_CASES = [
    ((2, 3, 13, 16), "num_output: 8 kernel_size: 3 pad: 1 stride: 2"),
    ((1, 8, 12, 11), "num_output: 8 kernel_size: 3 pad: 2 dilation: 2 group: 2"),
    ((1, 6, 9, 14), "num_output: 4 kernel_h: 3 kernel_w: 1 pad_h: 1 pad_w: 0 stride_h: 1 stride_w: 2"),
    ((1, 16, 9, 10), "num_output: 8 kernel_size: 1 bias_term: false"),
    ((1, 32, 17, 33), "num_output: 16 kernel_size: 3 pad: 4 dilation: 4"),
]


@pytest.mark.parametrize("shape,params", OPENCV_CASES, ids=[c[1] for c in OPENCV_CASES])
def test_forward_matches_opencv(shape, params):
    layer = make_layer(conv_text(params))
    p = layer.impl.p
    blobs = [rand((p.num_output, shape[1] // p.group, *p.kernel), 8)]
    if p.bias_term:
        blobs.append(rand((p.num_output,), 9))
    layer.params = blobs
    x = rand(shape, 10)
    ref = opencv_forward(net_text(shape, conv_text(params)), {"c": blobs}, {"x": x}, ["c"])["c"]
    assert_close(run(layer, x), ref, rel=1e-5)


def test_hole_fields_are_dilation():
    x = rand((1, 3, 12, 13), 11)
    w = rand((2, 3, 3, 3), 12)
    dil = make_layer(conv_text("num_output: 2 kernel_size: 3 dilation: 2 bias_term: false"), [w])
    hole = make_layer(conv_text("num_output: 2 kernel_size: 3 hole: 2 bias_term: false"), [w])
    assert hole.impl.p.dilation == (2, 2)
    np.testing.assert_array_equal(run(hole, x), run(dil, x))
    hw = make_layer(conv_text("num_output: 2 kernel_size: 3 hole_h: 2 hole_w: 3 bias_term: false"), [w])
    assert hw.impl.p.dilation == (2, 3)
    assert_close(run(hw, x), naive_conv(x.astype(np.float64), w, None, (1, 1), (0, 0), (2, 3), 1), rel=1e-5)


@pytest.mark.parametrize("params,message", [
    ("num_output: 2 kernel_size: 3 dilation: 2 hole: 2", "not both"),
    ("num_output: 2 kernel_size: 3 hole_h: 2", "hole_h and hole_w"),
    ("num_output: 2 kernel_size: 3 hole: 2 hole_h: 2 hole_w: 2", "hole_h and hole_w"),
    ("num_output: 2 kernel_size: 3 kernel_h: 3 kernel_w: 3", "not both"),
    ("num_output: 2 kernel_h: 3", "together"),
    ("num_output: 2", "kernel_size is required"),
    ("num_output: 2 kernel_size: 0", "nonzero"),
    ("num_output: 2 kernel_size: 3 stride: 0", "nonzero"),
    ("num_output: 2 kernel_size: 3 stride: 1 stride_h: 2 stride_w: 2", "not both"),
    ("num_output: 2 kernel_size: 3 stride_h: 2", "together"),
    ("num_output: 2 kernel_size: 1 kernel_size: 1 kernel_size: 1", "2-D"),
    ("kernel_size: 3", "num_output"),
    ("num_output: 3 kernel_size: 3 group: 2", "divisible by group"),
])
def test_invalid_parameters(params, message):
    with pytest.raises(PrototxtError, match=message) as err:
        make_layer(conv_text(params, name="bad_conv")).impl
    assert "bad_conv" in str(err.value)


def test_lone_pad_h_keeps_pad_w_zero():
    layer = make_layer(conv_text("num_output: 2 kernel_size: 3 pad_h: 1"))
    assert layer.impl.p.pad == (1, 0)
    assert layer.impl.reshape([(1, 3, 5, 5)]) == [(1, 2, 5, 3)]


@pytest.mark.parametrize("params,shape,message", [
    ("num_output: 4 kernel_size: 3 group: 2", (1, 3, 8, 8), "1x3x8x8.*not divisible by group 2"),
    ("num_output: 4 kernel_size: 5 pad: 1", (1, 3, 2, 8), "larger than the padded input 4x10.*1x3x2x8"),
    ("num_output: 4 kernel_size: 3 dilation: 4", (1, 3, 8, 8), "extent 9x9.*1x3x8x8"),
    ("num_output: 4 kernel_size: 3", (3, 8, 8), "4-axis"),
    ("num_output: 4 kernel_size: 3 axis: 2", (1, 3, 8, 8), "axis 2"),
])
def test_shape_errors_name_the_layer(params, shape, message):
    layer = make_layer(conv_text(params, name="conv_x"))
    with pytest.raises(ShapeError, match=message) as err:
        layer.impl.reshape([shape])
    assert "layer 'conv_x'" in str(err.value)


def test_shapes_blobs_and_flops():
    layer = make_layer(conv_text("num_output: 64 kernel_size: 3 pad: 1 stride: 2 group: 2"))
    assert layer.impl.reshape([(2, 32, 1025, 2049)]) == [(2, 64, 513, 1025)]
    assert layer.impl.param_shapes([(2, 32, 1025, 2049)]) == [(64, 16, 3, 3), (64,)]
    assert layer.impl.macs([(2, 32, 1025, 2049)], [(2, 64, 513, 1025)]) == 2 * 64 * 513 * 1025 * 16 * 9
    nobias = make_layer(conv_text("num_output: 8 kernel_size: 1 bias_term: false"))
    assert nobias.impl.param_shapes([(1, 4, 5, 5)]) == [(8, 4, 1, 1)]
    # Floor rule: (H + 2p - extent) / s + 1 with the dilated extent.
    dil = make_layer(conv_text("num_output: 8 kernel_size: 3 pad: 2 dilation: 2 stride: 2"))
    assert dil.impl.reshape([(1, 4, 10, 11)]) == [(1, 8, 5, 6)]


def test_wrong_blob_shape_is_reported():
    layer = make_layer(conv_text("num_output: 4 kernel_size: 3", name="cw"),
                       blobs=[np.zeros((4, 2, 3, 3)), np.zeros(4)])
    with pytest.raises(ShapeError, match="cw.*param 0 is 4x2x3x3, expected 4x3x3x3"):
        layer.impl.forward([rand((1, 3, 5, 5))], layer.params)


@pytest.mark.parametrize("strategy,stride,pad", [("im2col", (2, 1), (0, 0)), ("taps", (1, 1), (1, 1)),
                                                 ("matmul", (1, 1), (0, 0))])
def test_non_contiguous_bottom(strategy, stride, pad):
    base = rand((1, 4, 9, 16), 13)
    view = base[:, :, :, ::-2]  # a strided, reversed view (as a Slice layer might pass on)
    k = 1 if strategy == "matmul" else 3
    w = rand((3, 4, k, k), 14)
    expected = conv2d(np.ascontiguousarray(view), w, stride, pad, (1, 1), 1, strategy=strategy)
    np.testing.assert_array_equal(conv2d(view, w, stride, pad, (1, 1), 1, strategy=strategy), expected)
    assert_close(expected, naive_conv(view.astype(np.float64), w, None, stride, pad, (1, 1), 1), rel=1e-5)
