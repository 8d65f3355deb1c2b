"""R-FCN's PSROIPooling: position-sensitive average pooling, on exact numbers, against
OpenCV dnn's own implementation, and in PyTorch."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, run_layer

BODY = ('name: "ps" type: "PSROIPooling" bottom: "f" bottom: "r" top: "o" '
        'psroi_pooling_param { spatial_scale: 0.5 output_dim: 2 group_size: 2 }')


def test_each_bin_averages_its_own_channel():
    f = np.arange(8 * 4 * 4, dtype=np.float32).reshape(1, 8, 4, 4)
    r = np.array([[0, 0, 0, 7, 7]], np.float32)  # the whole 4x4 map at scale 0.5
    got = run_layer(make_layer(BODY), f, r)[0]
    assert got.shape == (1, 2, 2, 2)
    for c in range(2):
        for i in range(2):
            for j in range(2):
                ch = (c * 2 + i) * 2 + j
                assert got[0, c, i, j] == f[0, ch, 2 * i:2 * i + 2, 2 * j:2 * j + 2].mean()


def test_params_are_required():
    with pytest.raises(Exception, match="needs positive spatial_scale, output_dim and group_size"):
        make_layer('name: "ps" type: "PSROIPooling" bottom: "f" bottom: "r" top: "o"').impl


def _rois(rng, n, size):
    xy = rng.uniform(-4, size * 2 + 4, (n, 4)).astype(np.float32)
    lo, hi = np.minimum(xy[:, :2], xy[:, 2:]), np.maximum(xy[:, :2], xy[:, 2:])
    return np.hstack([np.zeros((n, 1), np.float32), lo, hi]).astype(np.float32)


def test_matches_opencv_on_random_regions():
    rng = np.random.default_rng(0)
    f = rng.standard_normal((1, 8, 9, 11)).astype(np.float32)
    r = _rois(rng, 12, 10)
    ours = run_layer(make_layer(BODY), f, r)[0]
    ref = opencv_forward(oracle_net({"f": f, "r": r}, BODY), {}, {"f": f, "r": r}, ["ps"])["ps"]
    assert_close(ours, ref.reshape(ours.shape), rel=1e-5)


def test_pytorch_computes_the_same(tmp_path):
    pytest.importorskip("torch")
    import convertkit
    from convertkit.runtime import create

    (tmp_path / "net.prototxt").write_text(
        'input: "f" input_shape { dim: 1 dim: 8 dim: 9 dim: 11 }\n'
        'input: "r" input_shape { dim: 12 dim: 5 }\n' f"layer {{ {BODY} }}")
    net = convertkit.load(tmp_path / "net.prototxt")
    rng = np.random.default_rng(1)
    inputs = {"f": rng.standard_normal((1, 8, 9, 11)).astype(np.float32), "r": _rois(rng, 12, 10)}
    assert_close(create("torch", net).forward(inputs)["o"], create("numpy", net).forward(inputs)["o"],
                 rel=1e-6)
