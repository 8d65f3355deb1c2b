"""Interp (the PSPNet fork's bilinear align_corners resize): every size rule chosen by
field presence (height/width; zoom; shrink, incl. 1025 -> 513 = x[..., ::2, ::2];
shrink+zoom; the 60 zoom 8 -> 473 case), the branch precedence, pad_beg/pad_end
cropping, the copy case, bit-exactness against Caffe's float32 loop written out here,
OpenCV dnn as an outside oracle (it reads height/width and zoom_factor), FLOPs, and the
errors (each naming the layer)."""
import numpy as np
import pytest

from convertkit.errors import PrototxtError, ShapeError
from support import assert_close, make_layer, opencv_forward, rand


def caffe_interp(x, ho, wo, rows=None, cols=None):
    """caffe_cpu_interp2, scalar by scalar in float32 (on the already cropped input);
    ``rows``/``cols`` restrict the output pixels computed (the loop is slow)."""
    h1_, w1_ = x.shape[2:]
    if (h1_, w1_) == (ho, wo):
        return x.copy()
    rh = np.float32(h1_ - 1) / np.float32(ho - 1) if ho > 1 else np.float32(0)
    rw = np.float32(w1_ - 1) / np.float32(wo - 1) if wo > 1 else np.float32(0)
    rows = range(ho) if rows is None else rows
    cols = range(wo) if cols is None else cols
    out = np.zeros(x.shape[:2] + (len(rows), len(cols)), np.float32)
    for a, h2 in enumerate(rows):
        h1r = np.float32(rh * np.float32(h2))
        h1 = int(h1r)
        h1p = 1 if h1 < h1_ - 1 else 0
        lh1 = np.float32(h1r - np.float32(h1))
        lh0 = np.float32(1) - lh1
        for b, w2 in enumerate(cols):
            w1r = np.float32(rw * np.float32(w2))
            w1 = int(w1r)
            w1p = 1 if w1 < w1_ - 1 else 0
            lw1 = np.float32(w1r - np.float32(w1))
            lw0 = np.float32(1) - lw1
            out[:, :, a, b] = (lh0 * (lw0 * x[:, :, h1, w1] + lw1 * x[:, :, h1, w1 + w1p])
                               + lh1 * (lw0 * x[:, :, h1 + h1p, w1] + lw1 * x[:, :, h1 + h1p, w1 + w1p]))
    return out


def interp_text(params, name="i"):
    return f'name: "{name}" type: "Interp" bottom: "x" top: "{name}" interp_param {{ {params} }}'


def run(layer, x):
    before = x.copy()
    (y,) = layer.impl.forward([x], [])
    assert y.dtype == np.float32
    assert y.shape == layer.impl.reshape([x.shape])[0]
    np.testing.assert_array_equal(x, before)
    return y


def opencv_interp(params, x):
    dims = " ".join(f"dim: {d}" for d in x.shape)
    proto = f'name: "t" input: "x" input_shape {{ {dims} }}\nlayer {{ {interp_text(params)} }}'
    return opencv_forward(proto, {}, {"x": x}, ["i"])["i"]


@pytest.mark.parametrize("shape,params,out_hw", [
    ((2, 3, 5, 7), "height: 9 width: 13", (9, 13)),
    ((1, 2, 9, 8), "height: 4 width: 11", (4, 11)),       # shrink rows, grow columns
    ((1, 2, 7, 8), "height: 23 width: 5", (23, 5)),       # ratios that are not exact in float
    ((1, 2, 6, 5), "zoom_factor: 3", (16, 13)),
    ((2, 2, 5, 6), "zoom_factor: 2", (9, 11)),
])
def test_size_and_zoom_match_caffe_and_opencv(shape, params, out_hw):
    x = rand(shape, 1)
    layer = make_layer(interp_text(params))
    assert layer.impl.reshape([shape]) == [shape[:2] + out_hw]
    y = run(layer, x)
    np.testing.assert_array_equal(y, caffe_interp(x, *out_hw))
    assert_close(y, opencv_interp(params, x), rel=1e-5)


def test_zoom_8_on_60_gives_473():
    x = rand((1, 3, 60, 60), 2)
    layer = make_layer(interp_text("zoom_factor: 8"))
    assert layer.impl.reshape([x.shape]) == [(1, 3, 473, 473)]
    y = run(layer, x)
    # Ratio 59/472 = 1/8 exactly: every 8th output pixel is an input pixel.
    np.testing.assert_array_equal(y[:, :, ::8, ::8], x)
    rows, cols = range(0, 473, 37), range(3, 473, 29)
    np.testing.assert_array_equal(y[:, :, rows][:, :, :, cols], caffe_interp(x, 473, 473, rows, cols))
    assert_close(y, opencv_interp("zoom_factor: 8", x), rel=1e-5)


@pytest.mark.parametrize("shape,out_hw", [((1, 3, 1025, 2049), (513, 1025)), ((2, 4, 65, 129), (33, 65))])
def test_shrink_2_on_odd_sizes_is_pure_decimation(shape, out_hw):
    x = rand(shape, 3)
    layer = make_layer(interp_text("shrink_factor: 2"))
    assert layer.impl.reshape([shape]) == [shape[:2] + out_hw]
    np.testing.assert_array_equal(run(layer, x), x[:, :, ::2, ::2])


def test_shrink_on_even_size_interpolates():
    x = rand((1, 2, 10, 9), 4)
    layer = make_layer(interp_text("shrink_factor: 3"))
    assert layer.impl.reshape([x.shape]) == [(1, 2, 4, 3)]  # (10-1)/3+1, (9-1)/3+1
    np.testing.assert_array_equal(run(layer, x), caffe_interp(x, 4, 3))


def test_shrink_then_zoom():
    x = rand((1, 2, 9, 12), 5)
    layer = make_layer(interp_text("shrink_factor: 2 zoom_factor: 3"))
    # (9-1)/2+1 = 5 -> 5+4*2 = 13;  (12-1)/2+1 = 6 -> 6+5*2 = 16
    assert layer.impl.reshape([x.shape]) == [(1, 2, 13, 16)]
    np.testing.assert_array_equal(run(layer, x), caffe_interp(x, 13, 16))


@pytest.mark.parametrize("params,out_hw", [
    ("zoom_factor: 2 pad_beg: -1 pad_end: -2", (13, 17)),   # H_eff 7, W_eff 9
    ("shrink_factor: 2 pad_beg: -1 pad_end: -2", (4, 5)),
    ("height: 7 width: 9 pad_beg: -1 pad_end: -2", (7, 9)),  # the copy case, on the crop
])
def test_pad_beg_and_pad_end_crop_the_input(params, out_hw):
    x = rand((2, 2, 10, 12), 6)
    layer = make_layer(interp_text(params))
    assert layer.impl.reshape([x.shape]) == [(2, 2) + out_hw]
    crop = x[:, :, 1:8, 1:10]  # offset -pad_beg on both axes, size H + pad_beg + pad_end
    np.testing.assert_array_equal(run(layer, x), caffe_interp(crop, *out_hw))


def test_equal_sizes_copy():
    x = rand((1, 3, 6, 7), 7)
    for params in ("zoom_factor: 1", "height: 6 width: 7", "shrink_factor: 1"):
        layer = make_layer(interp_text(params))
        y = run(layer, x)
        np.testing.assert_array_equal(y, x)
        assert not np.shares_memory(y, x)
        assert layer.impl.macs([x.shape], [y.shape]) == 0


def test_single_output_pixel_takes_the_first_input_pixel():
    x = rand((1, 2, 5, 6), 8)
    y = run(make_layer(interp_text("height: 1 width: 3")), x)
    np.testing.assert_array_equal(y, caffe_interp(x, 1, 3))
    np.testing.assert_array_equal(y[:, :, 0, 0], x[:, :, 0, 0])


@pytest.mark.parametrize("params,out_hw", [
    ("shrink_factor: 2 height: 4 width: 4", (5, 6)),                   # shrink alone wins
    ("zoom_factor: 2 height: 4 width: 4", (17, 21)),                   # zoom alone wins
    ("shrink_factor: 2 zoom_factor: 2 height: 4 width: 5", (4, 5)),    # size before both factors
    ("zoom_factor: 1 height: 4 width: 5", (9, 11)),                    # presence, not value
])
def test_rule_precedence_follows_field_presence(params, out_hw):
    layer = make_layer(interp_text(params))
    assert layer.impl.reshape([(1, 1, 9, 11)]) == [(1, 1) + out_hw]


@pytest.mark.parametrize("params,message", [
    ("", "needs height and width"),
    ("height: 5", "together"),
    ("pad_beg: -1", "needs height and width"),
    ("zoom_factor: 2 pad_beg: 1", "cropping"),
    ("zoom_factor: 2 pad_end: 2", "cropping"),
    ("shrink_factor: 0", "shrink_factor 0 must be positive"),
    ("zoom_factor: 0", "zoom_factor 0 must be positive"),
    ("shrink_factor: 2 zoom_factor: -1", "zoom_factor -1"),
    ("height: 0 width: 4", "must be positive"),
])
def test_invalid_parameters(params, message):
    with pytest.raises(PrototxtError, match=message) as err:
        make_layer(interp_text(params, name="bad_interp")).impl
    assert "bad_interp" in str(err.value)


def test_shape_errors_name_the_layer():
    layer = make_layer(interp_text("zoom_factor: 2 pad_beg: -2 pad_end: -3", name="up8"))
    with pytest.raises(ShapeError, match="crop away all of bottom 1x1x5x9") as err:
        layer.impl.reshape([(1, 1, 5, 9)])
    assert "layer 'up8'" in str(err.value)
    with pytest.raises(ShapeError, match="4-axis"):
        layer.impl.reshape([(1, 9, 9)])


def test_flops():
    layer = make_layer(interp_text("zoom_factor: 8"))
    assert layer.impl.macs([(1, 150, 60, 60)], [(1, 150, 473, 473)]) == 4 * 150 * 473 * 473
