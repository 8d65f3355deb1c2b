"""Log, log_base(shift + scale*x): OpenCV dnn parity for the natural log (OpenCV ignores
log_param), the formula with base/scale/shift, FLOPs."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


from convertkit.errors import PrototxtError


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 4, 7, 9)])
def test_natural_log_matches_opencv(shape):
    x = rand(shape, 1, 0.05, 5.0)
    body = 'name: "l" type: "Log" bottom: "x" top: "l"'
    ours = run_layer(make_layer(body), x)[0]
    ref = opencv_forward(oracle_net({"x": x}, body), {}, {"x": x}, ["l"])["l"]
    assert_close(ours, ref, rel=1e-5)
    assert_close(ours, np.log(x.astype(np.float64)), rel=1e-6)


@pytest.mark.parametrize("base,scale,shift", [(2.0, 0.5, 3.0), (10.0, 1.0, 0.0), (-1.0, -2.0, 12.0)])
def test_formula(base, scale, shift):
    x = rand((2, 3, 5, 5), 2, 0.05, 5.0)
    layer = make_layer(f'name: "l" type: "Log" bottom: "x" top: "l" log_param {{ base: {base} scale: {scale} shift: {shift} }}')
    want = np.log(shift + scale * x.astype(np.float64)) / (1.0 if base == -1 else np.log(base))
    assert_close(run_layer(layer, x)[0], want, rel=1e-5)
    assert layer.impl.macs([x.shape], [x.shape]) == x.size


def test_bad_base_is_refused():
    with pytest.raises(PrototxtError, match="'l'.*base"):
        make_layer('name: "l" type: "Log" bottom: "x" top: "l" log_param { base: 0 }').impl
