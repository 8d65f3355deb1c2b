"""Power, (shift + scale * x) ^ power: OpenCV dnn parity, the formula, Caffe's
constant-output special cases, FLOPs."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


CASES = [
    "",  # identity
    "power_param { power: 2 scale: 0.5 shift: 1.5 }",
    "power_param { power: 3 scale: -1.25 }",
    "power_param { power: 0.5 scale: 2 shift: 9 }",  # positive base
]


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 4, 7, 9)])
@pytest.mark.parametrize("param", CASES)
def test_matches_opencv(shape, param):
    x = rand(shape, 1)
    body = f'name: "p" type: "Power" bottom: "x" top: "p" {param}'
    ours = run_layer(make_layer(body), x)[0]
    ref = opencv_forward(oracle_net({"x": x}, body), {}, {"x": x}, ["p"])["p"]
    assert_close(ours, ref, rel=1e-5)


@pytest.mark.parametrize("power,scale,shift", [(2.0, 0.5, 1.5), (1.0, 3.0, -1.0), (-1.0, 1.0, 4.0), (1.5, 0.25, 2.0)])
def test_plain_formula(power, scale, shift):
    x = rand((2, 3, 6, 5), 2)
    layer = make_layer(
        f'name: "p" type: "Power" bottom: "x" top: "p" '
        f"power_param {{ power: {power} scale: {scale} shift: {shift} }}"
    )
    assert (layer.hparams.power, layer.hparams.scale, layer.hparams.shift) == (power, scale, shift)
    want = (shift + scale * x.astype(np.float64)) ** power
    assert_close(run_layer(layer, x)[0], want, rel=1e-5)


def test_constant_cases_and_flops():
    x = rand((2, 3, 3, 5), 3)
    x[0, 0, 0, :2] = [np.inf, -np.inf]  # Caffe never reads x here: even inf gives the constant
    # power * scale == 0: Caffe fills with 1 (power 0) or shift^power (scale 0).
    zero_power = make_layer('name: "p" type: "Power" bottom: "x" top: "p" power_param { power: 0 shift: -2 }')
    np.testing.assert_array_equal(run_layer(zero_power, x)[0], np.ones_like(x))
    zero_scale = make_layer('name: "p" type: "Power" bottom: "x" top: "p" power_param { power: 3 scale: 0 shift: 2 }')
    np.testing.assert_array_equal(run_layer(zero_scale, x)[0], np.full_like(x, 8))
    identity = make_layer('name: "p" type: "Power" bottom: "x" top: "p"')
    x = rand((2, 3, 3, 5), 4)
    out = run_layer(identity, x)[0]
    np.testing.assert_array_equal(out, x)
    assert out is not x
    assert identity.impl.macs([x.shape], [x.shape]) == 90
