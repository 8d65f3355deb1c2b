"""Dropout: the identity at TEST (OpenCV dnn parity), dropout_ratio read, FLOPs."""
import numpy as np
import pytest

from support import assert_close, make_layer, opencv_forward, oracle_net, rand, run_layer


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (2, 4, 7, 9)])
def test_identity_at_test(shape):
    x = rand(shape, 1)
    body = 'name: "conv5_4/dropout" type: "Dropout" bottom: "x" top: "d" dropout_param { dropout_ratio: 0.1 }'
    layer = make_layer(body)
    assert layer.hparams.dropout_ratio == pytest.approx(0.1)
    ours = run_layer(layer, x)[0]
    np.testing.assert_array_equal(ours, x)
    ref = opencv_forward(oracle_net({"x": x}, body), {}, {"x": x}, ["conv5_4/dropout"])["conv5_4/dropout"]
    assert_close(ours, ref, rel=1e-5)
    assert layer.impl.macs([shape], [shape]) == 0


def test_default_ratio():
    assert make_layer('name: "d" type: "Dropout" bottom: "x" top: "x"').hparams.dropout_ratio == pytest.approx(0.5)
