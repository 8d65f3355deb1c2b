"""Exp, base^(shift + scale*x): OpenCV dnn parity, the formula, base checks, FLOPs."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


from convertkit.errors import PrototxtError

CASES = [("", -1, 1, 0), ("exp_param { base: 2 scale: 0.5 shift: 0.3 }", 2, 0.5, 0.3),
         ("exp_param { scale: -1.5 shift: 1 }", -1, -1.5, 1), ("exp_param { base: 10 scale: 0.25 }", 10, 0.25, 0)]


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 4, 7, 9)])
@pytest.mark.parametrize("param,base,scale,shift", CASES)
def test_matches_opencv_and_formula(shape, param, base, scale, shift):
    x = rand(shape, 1)
    body = f'name: "e" type: "Exp" bottom: "x" top: "e" {param}'
    layer = make_layer(body)
    ours = run_layer(layer, x)[0]
    ref = opencv_forward(oracle_net({"x": x}, body), {}, {"x": x}, ["e"])["e"]
    assert_close(ours, ref, rel=1e-5)
    b = np.e if base == -1 else base
    assert_close(ours, b ** (shift + scale * x.astype(np.float64)), rel=1e-5)
    assert layer.impl.macs([shape], [shape]) == int(np.prod(shape))


def test_bad_base_is_refused():
    with pytest.raises(PrototxtError, match="'e'.*base"):
        make_layer('name: "e" type: "Exp" bottom: "x" top: "e" exp_param { base: -2 }').impl
