"""Pooling: Caffe's ceil shape rule with the padding clip (238 -> 120, where floor gives
119), MAX ignoring padding (and NaN), AVE dividing by the window clipped to [-p, H+p)
(bit for bit against Caffe's loops written out in float32), TEST-phase STOCHASTIC,
global pooling, _h/_w fields, the few-large-windows path (PSP/ICNet pools), OpenCV dnn
as an outside oracle, FLOPs, and the errors (each naming the layer)."""
import numpy as np
import pytest

from convertkit.errors import PrototxtError, ShapeError
from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer

FLT_MAX = np.finfo(np.float32).max
FLT_MIN = np.finfo(np.float32).tiny


def caffe_pool(x, method, k, s, p, out_hw):
    """Pooling_layer.cpp Forward_cpu (and StoPoolForwardTest), loop for loop, float32."""
    n_, c_, h_, w_ = x.shape
    ho, wo = out_hw
    out = np.zeros((n_, c_, ho, wo), np.float32)
    for n in range(n_):
        for c in range(c_):
            for oh in range(ho):
                for ow in range(wo):
                    if method == "STOCHASTIC":
                        hs, ws = oh * s[0], ow * s[1]
                        he, we = min(hs + k[0], h_), min(ws + k[1], w_)
                        total, values = np.float32(FLT_MIN), np.float32(0)
                        for hh in range(hs, he):
                            for ww in range(ws, we):
                                total = np.float32(total + x[n, c, hh, ww])
                                values = np.float32(values + x[n, c, hh, ww] * x[n, c, hh, ww])
                        out[n, c, oh, ow] = values / total
                        continue
                    hs, ws = oh * s[0] - p[0], ow * s[1] - p[1]
                    if method == "MAX":
                        he, we = min(hs + k[0], h_), min(ws + k[1], w_)
                        hs, ws = max(hs, 0), max(ws, 0)
                        best = np.float32(-FLT_MAX)
                        for hh in range(hs, he):
                            for ww in range(ws, we):
                                if x[n, c, hh, ww] > best:
                                    best = x[n, c, hh, ww]
                        out[n, c, oh, ow] = best
                    else:
                        he, we = min(hs + k[0], h_ + p[0]), min(ws + k[1], w_ + p[1])
                        pool_size = (he - hs) * (we - ws)
                        hs, ws = max(hs, 0), max(ws, 0)
                        he, we = min(he, h_), min(we, w_)
                        acc = np.float32(0)
                        for hh in range(hs, he):
                            for ww in range(ws, we):
                                acc = np.float32(acc + x[n, c, hh, ww])
                        out[n, c, oh, ow] = acc / np.float32(pool_size)
    return out


def pool_text(params, name="p"):
    return f'name: "{name}" type: "Pooling" bottom: "x" top: "{name}" pooling_param {{ {params} }}'


def run(layer, x):
    (y,) = layer.impl.forward([x], [])
    assert y.dtype == np.float32
    assert y.shape == layer.impl.reshape([x.shape])[0]
    return y


# (x shape, params, kernel, stride, pad, expected output HxW)
CASES = [
    ((1, 2, 238, 9), "pool: MAX kernel_size: 3 stride: 2 pad: 1", (3, 3), (2, 2), (1, 1), (120, 5)),
    ((1, 2, 237, 10), "pool: MAX kernel_size: 3 stride: 2 pad: 1", (3, 3), (2, 2), (1, 1), (119, 6)),
    ((2, 3, 9, 8), "pool: AVE kernel_size: 3 stride: 2 pad: 1", (3, 3), (2, 2), (1, 1), (5, 5)),
    ((1, 2, 6, 8), "pool: AVE kernel_size: 3 stride: 2", (3, 3), (2, 2), (0, 0), (3, 4)),
    ((1, 2, 6, 8), "pool: MAX kernel_size: 3 stride: 2", (3, 3), (2, 2), (0, 0), (3, 4)),
    # The padding clip: ceil gives 4 rows but the 4th would start in the trailing pad.
    ((1, 2, 5, 5), "pool: AVE kernel_size: 2 stride: 2 pad: 1", (2, 2), (2, 2), (1, 1), (3, 3)),
    ((1, 2, 5, 5), "pool: MAX kernel_size: 2 stride: 2 pad: 1", (2, 2), (2, 2), (1, 1), (3, 3)),
    ((2, 2, 7, 12), "pool: AVE kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 3 pad_h: 1 pad_w: 0",
     (3, 2), (2, 3), (1, 0), (4, 4)),
    ((1, 3, 11, 10), "pool: MAX kernel_h: 2 kernel_w: 4 stride_h: 1 stride_w: 2 pad_h: 1 pad_w: 2",
     (2, 4), (1, 2), (1, 2), (12, 6)),
    # ICNet's overlapping PSP kernels at conv5_3 = 33x65: 3x3 and 6x6 bins.
    ((1, 4, 33, 65), "pool: AVE kernel_h: 13 kernel_w: 25 stride_h: 10 stride_w: 20", (13, 25), (10, 20),
     (0, 0), (3, 3)),
    ((1, 4, 33, 65), "pool: AVE kernel_h: 8 kernel_w: 15 stride_h: 5 stride_w: 10", (8, 15), (5, 10),
     (0, 0), (6, 6)),
    ((1, 3, 20, 20), "pool: MAX kernel_size: 10 stride: 10", (10, 10), (10, 10), (0, 0), (2, 2)),
    # Fewer windows than taps, with padding and a ceil overhang.
    ((2, 2, 9, 10), "pool: AVE kernel_size: 5 stride: 4 pad: 2", (5, 5), (4, 4), (2, 2), (3, 3)),
    ((2, 2, 9, 10), "pool: MAX kernel_size: 5 stride: 4 pad: 2", (5, 5), (4, 4), (2, 2), (3, 3)),
    ((1, 2, 6, 7), "pool: AVE kernel_size: 4 stride: 4", (4, 4), (4, 4), (0, 0), (2, 2)),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0][2]}x{c[0][3]} {c[1]}" for c in CASES])
def test_forward_matches_caffe_loops(case):
    shape, params, k, s, p, out_hw = case
    layer = make_layer(pool_text(params))
    assert (layer.impl.p.kernel, layer.impl.p.stride, layer.impl.p.pad) == (k, s, p)
    assert layer.impl.reshape([shape]) == [shape[:2] + out_hw]
    x = rand(shape, 1)
    method = layer.impl.p.method
    rows = slice(0, 12) if shape[2] > 200 else slice(None)  # the loops are slow: check a band
    y = run(layer, x)
    expected = caffe_pool(x[:, :, :24] if shape[2] > 200 else x, method, k, s, p,
                          (min(out_hw[0], 12) if shape[2] > 200 else out_hw[0], out_hw[1]))
    # AVE: the same float32 sums in the same order; MAX: exact anyway.
    np.testing.assert_array_equal(y[:, :, rows], expected)


def test_large_even_input_against_opencv():
    x = rand((1, 3, 238, 240), 2)
    body = pool_text("pool: MAX kernel_size: 3 stride: 2 pad: 1")
    proto = 'name: "t" input: "x" input_shape { dim: 1 dim: 3 dim: 238 dim: 240 }\n' + f"layer {{ {body} }}"
    ref = opencv_forward(proto, {}, {"x": x}, ["p"])["p"]
    y = run(make_layer(body), x)
    assert y.shape == (1, 3, 120, 121)
    np.testing.assert_array_equal(y, ref)


OPENCV_CASES = [
    ((2, 3, 9, 8), "pool: AVE kernel_size: 3 stride: 2 pad: 1"),
    ((1, 2, 6, 7), "pool: AVE kernel_size: 3 stride: 2"),
    ((1, 2, 11, 10), "pool: MAX kernel_size: 2 stride: 2 pad: 1"),
    ((1, 2, 12, 9), "pool: AVE kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 3 pad_h: 1 pad_w: 1"),
    ((1, 4, 60, 60), "pool: AVE kernel_size: 20 stride: 20"),
    ((1, 4, 33, 65), "pool: AVE kernel_h: 17 kernel_w: 33 stride_h: 16 stride_w: 32"),
    ((2, 3, 7, 5), "pool: AVE global_pooling: true"),
    ((2, 3, 7, 5), "pool: MAX global_pooling: true"),
]


@pytest.mark.parametrize("shape,params", OPENCV_CASES, ids=[c[1] for c in OPENCV_CASES])
def test_forward_matches_opencv(shape, params):
    x = rand(shape, 3)
    dims = " ".join(f"dim: {d}" for d in shape)
    proto = f'name: "t" input: "x" input_shape {{ {dims} }}\nlayer {{ {pool_text(params)} }}'
    ref = opencv_forward(proto, {}, {"x": x}, ["p"])["p"]
    assert_close(run(make_layer(pool_text(params)), x), ref, rel=1e-6)


def test_max_ignores_padding_and_nan():
    x = -np.abs(rand((1, 1, 4, 4), 4)) - 1  # all < -1: a padded 0 would win if counted
    x[0, 0, 1, 1] = np.nan
    y = run(make_layer(pool_text("pool: MAX kernel_size: 3 stride: 2 pad: 1")), x)
    assert (y < -1).all()
    assert y[0, 0, 0, 0] == np.nanmax(x[0, 0, :2, :2])
    assert y[0, 0, 1, 1] == np.nanmax(x[0, 0, 1:4, 1:4])


def test_ave_divisor_counts_padding_but_not_overhang():
    x = np.ones((1, 1, 6, 6), np.float32)
    # pad 1: the corner window covers 2x2 real cells of a 3x3 window -> 4/9.
    y = run(make_layer(pool_text("pool: AVE kernel_size: 3 stride: 2 pad: 1")), x)
    assert y[0, 0, 0, 0] == np.float32(4) / np.float32(9)
    # no pad, ceil overhang: 6 -> 3 outputs, the last window [4, 7) has 2 real rows
    # and is divided by 2 rows, not 3.
    y = run(make_layer(pool_text("pool: AVE kernel_size: 3 stride: 2")), x)
    assert y.shape == (1, 1, 3, 3)
    np.testing.assert_array_equal(y, np.ones((1, 1, 3, 3), np.float32))


def test_empty_max_window_gives_minus_flt_max():
    # kernel 1 < stride 3 without padding: ceil gives a window starting past the input.
    x = rand((1, 1, 5, 5), 5)
    layer = make_layer(pool_text("pool: MAX kernel_size: 1 stride: 3"))
    y = run(layer, x)
    assert y.shape == (1, 1, 3, 3)
    assert y[0, 0, 2, 0] == -FLT_MAX
    np.testing.assert_array_equal(y[0, 0, :2, :2], x[0, 0, ::3, ::3][:2, :2])


@pytest.mark.parametrize("k,s", [(3, 2), (4, 4)])  # many small windows / few large ones
def test_stochastic_is_the_test_phase_weighted_mean(k, s):
    x = np.abs(rand((2, 2, 7, 6), 6))
    layer = make_layer(pool_text(f"pool: STOCHASTIC kernel_size: {k} stride: {s}"))
    y = run(layer, x)
    expected = caffe_pool(x, "STOCHASTIC", (k, k), (s, s), (0, 0), y.shape[2:])
    assert_close(y, expected, rel=1e-6)
    window = x[0, 0, :k, :k].astype(np.float64)
    assert_close(y[0, 0, 0, 0], (window ** 2).sum() / window.sum(), rel=1e-6)


@pytest.mark.parametrize("params,message", [
    ("pool: MAX global_pooling: true kernel_size: 3", "cannot be specified"),
    ("pool: MAX global_pooling: true stride: 2", "only pad = 0 and stride = 1"),
    ("pool: MAX kernel_size: 3 kernel_h: 3 kernel_w: 3", "not both"),
    ("pool: MAX kernel_h: 3", "kernel_size is required"),
    ("pool: MAX", "kernel_size is required"),
    ("pool: MAX kernel_size: 3 pad: 1 pad_h: 1 pad_w: 1", "pad is pad OR"),
    ("pool: MAX kernel_size: 3 stride_h: 2", "stride is stride OR"),
    ("pool: MAX kernel_size: 2 pad: 2", "smaller than the kernel"),
    ("pool: STOCHASTIC kernel_size: 3 pad: 1", "only for average and max"),
    ("pool: AVE kernel_size: 3 stride: 0", "positive"),
])
def test_invalid_parameters(params, message):
    with pytest.raises(PrototxtError, match=message) as err:
        make_layer(pool_text(params, name="bad_pool")).impl
    assert "bad_pool" in str(err.value)


def test_shape_errors_name_the_layer():
    layer = make_layer(pool_text("pool: MAX kernel_size: 5", name="pool9"))
    with pytest.raises(ShapeError, match="kernel 5x5.*1x1x3x8") as err:
        layer.impl.reshape([(1, 1, 3, 8)])
    assert "layer 'pool9'" in str(err.value)
    with pytest.raises(ShapeError, match="4-axis"):
        layer.impl.reshape([(1, 8, 8)])


def test_global_pooling_shape_and_flops():
    layer = make_layer(pool_text("pool: AVE global_pooling: true"))
    assert layer.impl.reshape([(2, 5, 33, 65)]) == [(2, 5, 1, 1)]
    assert layer.impl.macs([(2, 5, 33, 65)], [(2, 5, 1, 1)]) == 2 * 5 * 33 * 65
    layer = make_layer(pool_text("pool: MAX kernel_size: 3 stride: 2 pad: 1"))
    assert layer.impl.macs([(1, 64, 257, 513)], [(1, 64, 129, 257)]) == 64 * 129 * 257 * 9


@pytest.mark.parametrize("field", ["ceil_mode: false", "round_mode: FLOOR"])
def test_floor_rounding_of_other_forks_and_bvlc(field):
    """DenseNet's fork says ceil_mode: false, BVLC round_mode: FLOOR: the output size
    rounds down, and OpenCV (which knows only ceil_mode) computes the same."""
    body = (f'name: "p" type: "Pooling" bottom: "x" top: "p" '
            f'pooling_param {{ pool: MAX kernel_size: 3 stride: 2 pad: 1 {field} }}')
    layer = make_layer(body)
    assert not layer.hparams.ceil
    assert layer.impl.reshape([(1, 2, 8, 8)]) == [(1, 2, 4, 4)]  # ceil would give 5x5
    x = rand((1, 2, 8, 8), seed=3)
    (ours,) = run_layer(layer, x)
    assert ours.shape == (1, 2, 4, 4)
    from convertkit.backends import Context, backend
    from convertkit.caffe.loader import build_net
    from convertkit.caffe.proto import parse_text

    net = build_net(parse_text(f'input: "x" input_shape {{ dim: 1 dim: 2 dim: 8 dim: 8 }} '
                               f'layer {{ {body} }}'))
    replaced = backend("opencv").convert(Context(net, net.plan(), net.layers[0]))
    rewritten = replaced[0] if replaced else net.layers[0]
    text = str(rewritten.to_proto()).replace("\n", " ")
    assert "round_mode" not in text and "ceil_mode: false" in text
    theirs = opencv_forward(oracle_net({"x": x}, str(rewritten.to_proto()).replace("\n", " ")),
                            {}, {"x": x}, ["p"])["p"]
    assert_close(ours, theirs)


def test_round_mode_and_ceil_mode_together_is_an_error():
    with pytest.raises(PrototxtError, match="round_mode .* or ceil_mode"):
        make_layer('name: "p" type: "Pooling" bottom: "x" top: "p" pooling_param { '
                   'kernel_size: 2 round_mode: FLOOR ceil_mode: false }').impl
