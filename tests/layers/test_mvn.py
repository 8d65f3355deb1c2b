"""MVN: OpenCV dnn parity for each mode, the float64 formula (eps added to the std),
FLOPs."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


def formula(x, normalize_variance, across_channels, eps):
    x = x.astype(np.float64)
    axes = (1, 2, 3) if across_channels else (2, 3)
    y = x - x.mean(axes, keepdims=True)
    if normalize_variance:
        y = y / (np.sqrt((y ** 2).mean(axes, keepdims=True)) + eps)
    return y


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 4, 7, 9)])
@pytest.mark.parametrize("nv,ac,eps", [(True, False, 1e-9), (False, False, 1e-9), (True, True, 1e-9), (True, False, 0.5), (True, True, 0.1)])
def test_matches_formula_and_opencv(shape, nv, ac, eps):
    x = rand(shape, 1) * 2 + 1
    body = (f'name: "m" type: "MVN" bottom: "x" top: "m" mvn_param {{ normalize_variance: {str(nv).lower()} '
            f'across_channels: {str(ac).lower()} eps: {eps} }}')
    layer = make_layer(body)
    ours = run_layer(layer, x)[0]
    assert_close(ours, formula(x, nv, ac, eps), rel=1e-5)
    assert layer.impl.macs([shape], [shape]) == int(np.prod(shape))
    if eps < 1e-6:
        # OpenCV divides by sqrt(var + eps), Caffe by sqrt(var) + eps: they agree
        # only where eps is negligible.
        ref = opencv_forward(oracle_net({"x": x}, body), {}, {"x": x}, ["m"])["m"]
        assert_close(ours, ref, rel=1e-5)


def test_eps_is_added_to_the_std():
    x = rand((2, 3, 5, 4), 2)
    layer = make_layer('name: "m" type: "MVN" bottom: "x" top: "m" mvn_param { eps: 0.5 }')
    ours = run_layer(layer, x)[0]
    c = x.astype(np.float64) - x.mean((2, 3), keepdims=True)
    inside = c / np.sqrt((c ** 2).mean((2, 3), keepdims=True) + 0.5)
    assert np.max(np.abs(ours - inside)) > 1e-2
    assert layer.hparams.eps == pytest.approx(0.5) and layer.hparams.normalize_variance and not layer.hparams.across_channels
