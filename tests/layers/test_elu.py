"""ELU: OpenCV dnn parity, alpha honoured, the plain formula, FLOPs."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 4, 7, 9)])
@pytest.mark.parametrize("alpha", [None, 0.7])
def test_matches_opencv(shape, alpha):
    x = rand(shape, 1) * 2
    param = f"elu_param {{ alpha: {alpha} }}" if alpha is not None else ""
    body = f'name: "e" type: "ELU" bottom: "x" top: "e" {param}'
    ours = run_layer(make_layer(body), x)[0]
    ref = opencv_forward(oracle_net({"x": x}, body), {}, {"x": x}, ["e"])["e"]
    assert_close(ours, ref, rel=1e-5)


@pytest.mark.parametrize("alpha", [1.0, 0.3])
def test_plain_formula(alpha):
    x = rand((2, 3, 6, 5), 2) * 3
    layer = make_layer(f'name: "e" type: "ELU" bottom: "x" top: "x" elu_param {{ alpha: {alpha} }}')
    assert layer.hparams.alpha == pytest.approx(alpha)
    x64 = x.astype(np.float64)
    assert_close(run_layer(layer, x)[0], np.where(x64 > 0, x64, alpha * (np.exp(x64) - 1)), rel=1e-6)
    assert layer.impl.macs([x.shape], [x.shape]) == x.size
