"""LRN: ACROSS_CHANNELS (k + alpha/n * sum of squares over a clipped channel window)
and WITHIN_CHANNEL (1 + alpha * zero-padded n x n average of squares; k unused) against
the formulas written out in float64 and against OpenCV dnn; odd local_size only;
FLOPs; errors naming the layer."""
import numpy as np
import pytest

from convertkit.errors import PrototxtError, ShapeError
from support import assert_close, make_layer, opencv_forward, rand, run_layer


def lrn_text(params, name="n"):
    return f'name: "{name}" type: "LRN" bottom: "x" top: "{name}" lrn_param {{ {params} }}'


def across(x, size, alpha, beta, k):
    x = x.astype(np.float64)
    c_ = x.shape[1]
    half = (size - 1) // 2
    out = np.empty_like(x)
    for c in range(c_):
        lo, hi = max(0, c - half), min(c_, c - half + size)
        scale = k + alpha / size * (x[:, lo:hi] ** 2).sum(axis=1)
        out[:, c] = x[:, c] * scale ** -beta
    return out


def within(x, size, alpha, beta):
    x = x.astype(np.float64)
    half = (size - 1) // 2
    h_, w_ = x.shape[2:]
    sq = np.pad(x ** 2, ((0, 0), (0, 0), (half, half), (half, half)))
    total = sum(sq[:, :, i:i + h_, j:j + w_] for i in range(size) for j in range(size))
    return x * (1 + alpha * total / (size * size)) ** -beta


def run(layer, x):
    (y,) = layer.impl.forward([x], [])
    assert y.dtype == np.float32 and y.shape == x.shape == layer.impl.reshape([x.shape])[0]
    return y


def opencv_lrn(params, x):
    dims = " ".join(f"dim: {d}" for d in x.shape)
    proto = f'name: "t" input: "x" input_shape {{ {dims} }}\nlayer {{ {lrn_text(params)} }}'
    return opencv_forward(proto, {}, {"x": x}, ["n"])["n"]


@pytest.mark.parametrize("size,alpha,beta,k", [(5, 1e-4, 0.75, 1.0), (3, 0.5, 0.6, 2.0), (1, 0.3, 0.5, 1.5),
                                               (9, 0.2, 1.0, 1.0)])
def test_across_channels(size, alpha, beta, k):
    x = rand((2, 7, 5, 6), 1) * 3
    params = f"local_size: {size} alpha: {alpha} beta: {beta} k: {k}"
    y = run(make_layer(lrn_text(params)), x)
    assert_close(y, across(x, size, np.float32(alpha), np.float32(beta), np.float32(k)), rel=1e-5)
    if k == 1.0:  # OpenCV's Caffe importer does not read lrn_param.k (it keeps bias 1)
        assert_close(y, opencv_lrn(params, x), rel=1e-5)


def test_defaults_are_caffes():
    p = make_layer(lrn_text("")).impl.p
    assert (p.local_size, p.alpha, p.beta, p.k, p.norm_region) == (5, 1.0, 0.75, 1.0, "ACROSS_CHANNELS")


@pytest.mark.parametrize("size,alpha,beta", [(3, 0.5, 0.75), (5, 2.0, 0.5)])
def test_within_channel(size, alpha, beta):
    x = rand((2, 3, 7, 6), 2) * 2
    params = f"local_size: {size} alpha: {alpha} beta: {beta} norm_region: WITHIN_CHANNEL"
    y = run(make_layer(lrn_text(params)), x)
    assert_close(y, within(x, size, np.float32(alpha), np.float32(beta)), rel=1e-5)
    assert_close(y, opencv_lrn(params, x), rel=1e-5)
    # Caffe's WITHIN_CHANNEL sub-net fixes the shift at 1: k changes nothing.
    y_k = run(make_layer(lrn_text(params + " k: 3")), x)
    np.testing.assert_array_equal(y_k, y)


@pytest.mark.parametrize("params", ["local_size: 4", "local_size: 2 norm_region: WITHIN_CHANNEL"])
def test_even_local_size_is_rejected(params):
    with pytest.raises(PrototxtError, match="odd") as err:
        make_layer(lrn_text(params, name="norm1")).impl
    assert "norm1" in str(err.value)


def test_shape_error_names_the_layer():
    with pytest.raises(ShapeError, match="4-axis.*2x3") as err:
        make_layer(lrn_text("", name="norm2")).impl.reshape([(2, 3)])
    assert "layer 'norm2'" in str(err.value)


def test_flops():
    assert make_layer(lrn_text("local_size: 5")).impl.macs([(1, 96, 55, 55)], [(1, 96, 55, 55)]) \
        == 96 * 55 * 55 * 7
    assert make_layer(lrn_text("local_size: 3 norm_region: WITHIN_CHANNEL")).impl.macs(
        [(2, 4, 5, 5)], [(2, 4, 5, 5)]) == 2 * 4 * 5 * 5 * 11


@pytest.mark.parametrize("region, size", [("ACROSS_CHANNELS", 9), ("WITHIN_CHANNEL", 15),
                                          ("ACROSS_CHANNELS", 2147483647),
                                          ("WITHIN_CHANNEL", 2147483647)])
def test_a_window_wider_than_the_blob_is_cut_without_changing_the_result(region, size):
    """local_size 2147483647 is odd, so Caffe accepts it: the window is cut to what the
    blob holds (beyond it Caffe's padding is zeros), never allocated whole."""
    x = rand((1, 4, 5, 6), 3)
    layer = make_layer(f'name: "n" type: "LRN" bottom: "x" top: "n" lrn_param {{ local_size: {size} '
                       f'alpha: 2.5 beta: 0.75 k: 1.5 norm_region: {region} }}')
    x64 = x.astype(np.float64)
    sq = x64 * x64
    if region == "ACROSS_CHANNELS":  # every channel is in every window
        scale = 1.5 + 2.5 / size * sq.sum(axis=1, keepdims=True)
        assert layer.impl.reach(x.shape) == 3
    else:  # every pixel is in every window; Caffe divides by size^2
        scale = 1 + 2.5 * sq.sum(axis=(2, 3), keepdims=True) / (float(size) ** 2)
        assert layer.impl.reach(x.shape) == 5
    assert_close(run_layer(layer, x)[0], x64 * scale ** -0.75, rel=1e-5)


@pytest.mark.parametrize("runtime", ["torch", "onnx", "tf"])
@pytest.mark.parametrize("region", ["ACROSS_CHANNELS", "WITHIN_CHANNEL"])
def test_every_runtime_cuts_the_window_alike(runtime, region, tmp_path):
    pytest.importorskip({"torch": "torch", "onnx": "onnxruntime", "tf": "tensorflow"}[runtime])
    import convertkit
    from convertkit.runtime import create

    (tmp_path / "n.prototxt").write_text(
        'input: "x" input_shape { dim: 1 dim: 4 dim: 5 dim: 6 }\n'
        f'layer {{ name: "n" type: "LRN" bottom: "x" top: "n" lrn_param {{ local_size: 13 '
        f'alpha: 40 beta: 0.75 norm_region: {region} }} }}')
    net = convertkit.load(tmp_path / "n.prototxt")
    x = rand((1, 4, 5, 6), 4)
    ref = create("numpy", net).forward({"x": x})["n"]
    assert_close(create(runtime, net).forward({"x": x})["n"], ref, rel=1e-5)
