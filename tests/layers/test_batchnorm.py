"""BVLC BatchNorm: OpenCV dnn parity, the formula with the scale-factor blob (including
s == 0), eps from batch_norm_param, use_global_stats: false, shapes, FLOPs."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


def blobs_for(c, s, seed):
    rng = np.random.default_rng(seed)
    mean = rng.normal(0, 0.5, c)
    var = rng.uniform(0.05, 2.0, c)
    return [(mean * s).astype(np.float32), (var * s).astype(np.float32), np.array([s], np.float32)], mean, var


def formula(x, mean, var, eps):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x.astype(np.float64) - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 4, 7, 9)])
@pytest.mark.parametrize("s", [1.0, 999.5])
def test_matches_opencv_and_formula(shape, s):
    blobs, mean, var = blobs_for(shape[1], s, 1)
    body = 'name: "b" type: "BatchNorm" bottom: "x" top: "b" batch_norm_param { eps: 0.001 }'
    layer = make_layer(body, blobs)
    assert layer.hparams.use_global_stats and layer.hparams.eps == pytest.approx(1e-3)
    assert layer.impl.param_shapes([shape]) == [(shape[1],), (shape[1],), (1,)]
    x = rand(shape, 2)
    ours = run_layer(layer, x)[0]
    ref = opencv_forward(oracle_net({"x": x}, body), {"b": blobs}, {"x": x}, ["b"])["b"]
    assert_close(ours, ref, rel=1e-5)
    assert_close(ours, formula(x, mean, var, 1e-3), rel=1e-5)


def test_default_eps_and_zero_scale_factor():
    x = rand((2, 3, 4, 5), 3)
    blobs, mean, var = blobs_for(3, 1.0, 4)
    layer = make_layer('name: "b" type: "BatchNorm" bottom: "x" top: "x"', blobs)
    assert layer.hparams.eps == pytest.approx(1e-5)
    assert_close(run_layer(layer, x)[0], formula(x, mean, var, 1e-5), rel=1e-5)
    # s == 0: Caffe uses zero statistics, so y = x / sqrt(eps).
    zero = [blobs[0], blobs[1], np.zeros(1, np.float32)]
    out = run_layer(make_layer('name: "b" type: "BatchNorm" bottom: "x" top: "x"', zero), x)[0]
    assert_close(out, x / np.sqrt(1e-5), rel=1e-5)


def test_use_global_stats_false_uses_batch_statistics():
    x = rand((2, 3, 5, 4), 5) * 2 + 1
    blobs, _, _ = blobs_for(3, 1.0, 6)
    layer = make_layer(
        'name: "b" type: "BatchNorm" bottom: "x" top: "x" batch_norm_param { use_global_stats: false }', blobs
    )
    assert not layer.hparams.use_global_stats
    x64 = x.astype(np.float64)
    mean, var = x64.mean((0, 2, 3)), x64.var((0, 2, 3))
    assert_close(run_layer(layer, x)[0], formula(x, mean, var, 1e-5), rel=1e-5)


def test_flops():
    layer = make_layer('name: "b" type: "BatchNorm" bottom: "x" top: "x"')
    assert layer.impl.macs([(2, 3, 5, 4)], [(2, 3, 5, 4)]) == 120
