"""The backend seam: every Caffe type has, in every backend, an expression or a
refusal with a reason; conversions fail naming layer, type and backend."""
import importlib

import numpy as np
import pytest

import convertkit
from convertkit.backends import BACKENDS, Context, backend
from convertkit.errors import UnsupportedLayerError
from convertkit.layers import registered_types
from convertkit.caffe.loader import build_net
from convertkit.backends.opencv.rewrite import rewrite_for_opencv
from convertkit.caffe.proto import parse_text


def present_backends():
    """Backends whose package imports here (a framework may be missing)."""
    names = []
    for name, module in BACKENDS.items():
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        names.append(name)
    return names


@pytest.mark.parametrize("name", present_backends())
def test_every_type_has_an_answer(name):
    b = backend(name)
    table = {t: b.answer(t) for t in registered_types()}
    missing = sorted(t for t, a in table.items() if a is None)
    assert not missing, f"{name}: no expression and no refusal for {missing}"
    for t, a in table.items():
        assert a == "handler" or (a.startswith("refused: ") and len(a) > len("refused: ") + 10), (t, a)


def test_registering_a_type_twice_is_an_error():
    from convertkit.backends.base import Backend

    b = Backend("demo")
    b.register("ReLU")(lambda ctx: None)
    with pytest.raises(RuntimeError, match="registered twice"):
        b.refuse("ReLU", reason="because")


NET = """
name: "t" input: "x" input_shape { dim: 1 dim: 2 dim: 5 dim: 5 }
layer { name: "th" type: "Threshold" bottom: "x" top: "y" }
"""


def test_a_refused_layer_names_layer_type_and_backend():
    net = build_net(parse_text(NET))
    with pytest.raises(UnsupportedLayerError) as err:
        rewrite_for_opencv(net)
    msg = str(err.value)
    assert "layer 'th'" in msg and "opencv cannot express Threshold" in msg and "no Threshold" in msg


def test_conditional_refusal_in_a_handler():
    net = build_net(parse_text("""
name: "t" input: "x" input_shape { dim: 1 dim: 2 dim: 5 dim: 5 }
layer { name: "lg" type: "Log" bottom: "x" top: "y" log_param { base: 10 } }
"""))
    ctx = Context(net, net.plan(), net.layers[0])
    with pytest.raises(UnsupportedLayerError, match="layer 'lg'.*ignores log_param"):
        backend("opencv").convert(ctx)


def test_weightless_bn_rewrite_works():
    net = build_net(parse_text("""
name: "t" input: "x" input_shape { dim: 1 dim: 2 dim: 5 dim: 5 }
layer { name: "bn" type: "BN" bottom: "x" top: "x" }
layer { name: "sh" type: "Interp" bottom: "x" top: "y" interp_param { shrink_factor: 2 } }
"""))
    out, notes = rewrite_for_opencv(net)
    assert [l.type for l in out.layers] == ["BatchNorm", "Scale", "Interp"]
    assert all(not l.params for l in out.layers)
    assert out.layers[2].proto.interp_param.height == 3
    assert "BN -> BatchNorm + Scale" in notes[0]


def test_the_rewrite_does_not_change_its_input():
    from pathlib import Path

    small = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "icnet_small"
    net = convertkit.load(small / "icnet.prototxt", small / "icnet.caffemodel")
    types = [l.type for l in net.layers]
    out, _ = rewrite_for_opencv(net)
    assert [l.type for l in net.layers] == types
    assert "BN" in types and "BN" not in {l.type for l in out.layers}
    bn = next(l for l in net.layers if l.type == "BN")
    scale = out.layer(bn.name)
    np.testing.assert_array_equal(scale.params[0], bn.param("gamma").reshape(-1))
