"""Deconvolution: against a plain-loop float64 scatter (Caffe's col2im definition) with
stride, padding, dilation, groups, _h/_w fields and batch 2; against OpenCV dnn;
weight layout C x O/g x kh x kw; the output-size rule; FLOPs; errors naming the layer."""
import numpy as np
import pytest

from convertkit.errors import ShapeError
from support import assert_close, make_layer, opencv_forward, rand


def naive_deconv(x, w, b, stride, pad, dil, group, out_hw):
    """Every input pixel scatters w[c, o] into out[o, y*s - p + i*d, x*s - p + j*d]."""
    n_, c_, h_, w_ = x.shape
    _, og, kh, kw = w.shape
    cg = c_ // group
    ho, wo = out_hw
    out = np.zeros((n_, og * group, ho, wo))
    for c in range(c_):
        g = c // cg
        for o in range(og):
            for i in range(kh):
                for j in range(kw):
                    for y in range(h_):
                        oy = y * stride[0] - pad[0] + i * dil[0]
                        if not 0 <= oy < ho:
                            continue
                        for xx in range(w_):
                            ox = xx * stride[1] - pad[1] + j * dil[1]
                            if 0 <= ox < wo:
                                out[:, g * og + o, oy, ox] += w[c, o, i, j] * x[:, c, y, xx]
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def deconv_text(params, name="d"):
    return f'name: "{name}" type: "Deconvolution" bottom: "x" top: "{name}" convolution_param {{ {params} }}'


CASES = [
    ((1, 3, 5, 6), "num_output: 4 kernel_size: 4 stride: 2 pad: 1"),
    ((2, 4, 4, 5), "num_output: 6 kernel_size: 3 stride: 2 group: 2 bias_term: false"),
    ((1, 2, 5, 4), "num_output: 3 kernel_size: 3 pad: 2 dilation: 2"),
    ((1, 2, 4, 5), "num_output: 2 kernel_h: 2 kernel_w: 3 stride_h: 3 stride_w: 1 pad_h: 0 pad_w: 1"),
    ((1, 3, 3, 3), "num_output: 2 kernel_size: 1 stride: 3"),
]


@pytest.mark.parametrize("shape,params", CASES, ids=[c[1] for c in CASES])
def test_forward_matches_naive_scatter(shape, params):
    layer = make_layer(deconv_text(params))
    p = layer.impl.p
    x = rand(shape, 1)
    w = rand((shape[1], p.num_output // p.group, *p.kernel), 2)
    b = rand((p.num_output,), 3) if p.bias_term else None
    layer.params = [w] + ([b] if b is not None else [])
    (top,) = layer.impl.reshape([shape])
    ho = p.stride[0] * (shape[2] - 1) + p.dilation[0] * (p.kernel[0] - 1) + 1 - 2 * p.pad[0]
    wo = p.stride[1] * (shape[3] - 1) + p.dilation[1] * (p.kernel[1] - 1) + 1 - 2 * p.pad[1]
    assert top == (shape[0], p.num_output, ho, wo)
    expected = naive_deconv(x.astype(np.float64), w, b, p.stride, p.pad, p.dilation, p.group, (ho, wo))
    (y,) = layer.impl.forward([x], layer.params)
    assert y.dtype == np.float32
    assert_close(y, expected, rel=1e-5)


@pytest.mark.parametrize("params", [
    "num_output: 4 kernel_size: 4 stride: 2 pad: 1",
    "num_output: 6 kernel_size: 3 stride: 2 group: 2",
    "num_output: 3 kernel_size: 2 stride: 2 bias_term: false",
])
def test_forward_matches_opencv(params):
    shape = (2, 4, 7, 6)
    layer = make_layer(deconv_text(params))
    p = layer.impl.p
    blobs = [rand((4, p.num_output // p.group, *p.kernel), 4)]
    if p.bias_term:
        blobs.append(rand((p.num_output,), 5))
    layer.params = blobs
    x = rand(shape, 6)
    proto = ('name: "t" input: "x" input_shape { dim: 2 dim: 4 dim: 7 dim: 6 }\n'
             f"layer {{ {deconv_text(params)} }}")
    ref = opencv_forward(proto, {"d": blobs}, {"x": x}, ["d"])["d"]
    (y,) = layer.impl.forward([x], layer.params)
    assert_close(y, ref, rel=1e-5)


def test_blob_shapes_and_flops():
    layer = make_layer(deconv_text("num_output: 6 kernel_size: 4 stride: 2 pad: 1 group: 2"))
    # Caffe's deconv weights are input-channels x O/g x kh x kw.
    assert layer.impl.param_shapes([(1, 8, 10, 12)]) == [(8, 3, 4, 4), (6,)]
    assert layer.impl.reshape([(1, 8, 10, 12)]) == [(1, 6, 20, 24)]
    assert layer.impl.macs([(1, 8, 10, 12)], [(1, 6, 20, 24)]) == 8 * 10 * 12 * 3 * 16


@pytest.mark.parametrize("params,shape,message", [
    ("num_output: 4 kernel_size: 2 group: 2", (1, 3, 4, 4), "1x3x4x4.*not divisible by group 2"),
    ("num_output: 4 kernel_size: 1 pad: 1", (1, 2, 2, 2), "crops away the whole output"),
    ("num_output: 4 kernel_size: 2", (2, 4), "4-axis"),
])
def test_shape_errors_name_the_layer(params, shape, message):
    layer = make_layer(deconv_text(params, name="up"))
    with pytest.raises(ShapeError, match=message) as err:
        layer.impl.reshape([shape])
    assert "layer 'up'" in str(err.value)
