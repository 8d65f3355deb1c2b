"""BN (the PSPNet/ICNet fork's layer): the PyTorch-eval formula in float64, eps read
from bn_param, blobs 1xCx1x1 holding variance (not std), shapes, FLOPs. OpenCV dnn
has no BN type, so the oracle is the formula written out here."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


def bn_blobs(c, seed):
    rng = np.random.default_rng(seed)
    slope = rng.uniform(0.5, 1.5, (1, c, 1, 1))
    bias = rng.normal(0, 0.2, (1, c, 1, 1))
    mean = rng.normal(0, 0.5, (1, c, 1, 1))
    # Small variances, so that eps (1e-5 vs 1e-3) and variance-vs-std both matter.
    var = rng.uniform(1e-4, 2.0, (1, c, 1, 1))
    var[0, 0] = 2e-4
    return [b.astype(np.float32) for b in (slope, bias, mean, var)]


def torch_eval_bn(x, blobs, eps):
    """PyTorch BatchNorm2d.eval(): (x - running_mean) / sqrt(running_var + eps) * w + b."""
    slope, bias, mean, var = (b.astype(np.float64).reshape(1, -1, *([1] * (x.ndim - 2))) for b in blobs)
    return (x.astype(np.float64) - mean) / np.sqrt(var + eps) * slope + bias


BODY = 'name: "c/bn" type: "BN" bottom: "c" top: "c" bn_param {{ {extra} slope_filler {{ type: "constant" value: 1 }} bias_filler {{ type: "constant" value: 0 }} frozen: true momentum: 0.95 }}'


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 6, 7, 9)])
def test_default_eps_matches_torch_eval_formula(shape):
    blobs = bn_blobs(shape[1], 1)
    layer = make_layer(BODY.format(extra=""), blobs)
    assert layer.hparams.eps == pytest.approx(1e-5)
    assert layer.hparams.frozen and layer.hparams.momentum == pytest.approx(0.95)
    x = rand(shape, 2)
    assert_close(run_layer(layer, x)[0], torch_eval_bn(x, blobs, 1e-5), rel=1e-5)


def test_eps_from_prototxt_is_honoured():
    shape = (2, 4, 5, 6)
    blobs, x = bn_blobs(4, 3), rand(shape, 4)
    default = run_layer(make_layer(BODY.format(extra=""), blobs), x)[0]
    layer = make_layer(BODY.format(extra="eps: 0.001"), blobs)
    assert layer.hparams.eps == pytest.approx(1e-3)
    ours = run_layer(layer, x)[0]
    assert_close(ours, torch_eval_bn(x, blobs, 1e-3), rel=1e-5)
    # eps 1e-3 is visibly different from the default on the small-variance channel.
    assert np.max(np.abs(ours - default)) > 1e-2 * np.max(np.abs(default))


def test_variance_is_not_std_and_stats_are_frozen():
    blobs, x = bn_blobs(3, 5), rand((2, 3, 4, 4), 6)
    ours = run_layer(make_layer(BODY.format(extra=""), blobs), x)[0]
    slope, bias, mean, var = (b.astype(np.float64) for b in blobs)
    as_std = (x - mean) / (var + 1e-5) * slope + bias  # reading blob 3 as a std
    assert np.max(np.abs(ours - as_std)) > 0.1
    batch_stats = (x - x.mean((0, 2, 3), keepdims=True)) / np.sqrt(x.var((0, 2, 3), keepdims=True) + 1e-5) * slope + bias
    assert np.max(np.abs(ours - batch_stats)) > 0.1


def test_two_axis_bottom_blob_shapes_and_flops():
    layer = make_layer(BODY.format(extra=""))
    assert layer.impl.param_shapes([(2, 5, 7, 3)]) == [(1, 5, 1, 1)] * 4
    assert layer.impl.macs([(2, 5, 7, 3)], [(2, 5, 7, 3)]) == 210
    blobs, x = bn_blobs(5, 7), rand((2, 5), 8)
    assert_close(run_layer(make_layer(BODY.format(extra=""), blobs), x)[0], torch_eval_bn(x, blobs, 1e-5), rel=1e-5)


def test_five_axis_bottom_is_refused():
    layer = make_layer(BODY.format(extra=""))
    with pytest.raises(Exception, match="'c/bn'.*2 to 4 axes.*2x3x4x5x6"):
        layer.impl.reshape([(2, 3, 4, 5, 6)])
