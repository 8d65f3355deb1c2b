"""The IR: layer semantics follow edits, shape plans leave the net alone, param roles,
pycaffe's words, and the layer modules' independence from the rest of the package."""
import ast
from pathlib import Path

import numpy as np
import pytest

import convertkit
from convertkit.errors import ShapeError
from convertkit.layers import ROLES, LayerImpl, register, registered_types
from convertkit.layers import base as layers_base
from convertkit.runtime.numpy import forward
from convertkit.runtime.base import check_memory

from support import make_layer, rand

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "fixtures" / "models" / "icnet_small"


def conv(extra=""):
    return make_layer(f'name: "c" type: "Convolution" bottom: "x" top: "c" '
                      f'convolution_param {{ num_output: 4 kernel_size: 3 {extra} }}')


def test_editing_the_definition_changes_the_semantics():
    layer = conv("bias_term: false")
    assert layer.impl.param_shapes([(1, 3, 8, 8)]) == [(4, 3, 3, 3)]
    assert layer.roles == ("weight",)
    layer.proto.convolution_param.bias_term = True
    assert layer.impl.param_shapes([(1, 3, 8, 8)]) == [(4, 3, 3, 3), (4,)]
    assert layer.roles == ("weight", "bias")
    layer.proto.convolution_param.stride.append(2)
    assert layer.impl.reshape([(1, 3, 9, 9)]) == [(1, 4, 4, 4)]
    # Renaming and re-wiring reach the impl too (its errors name the layer).
    layer.name = "renamed"
    assert layer.impl.name == "renamed"


def test_replace_makes_an_independent_layer():
    layer = conv()
    w = rand((4, 3, 3, 3))
    layer.params = [w, np.zeros(4, np.float32)]
    new = layer.replace(name="c2")
    new.proto.convolution_param.num_output = 8
    assert layer.hparams.num_output == 4 and new.hparams.num_output == 8
    assert new.name == "c2" and layer.name == "c"
    new.params.pop()
    assert len(layer.params) == 2  # the list is copied, the arrays are shared
    assert new.params[0] is w


def test_planning_another_size_leaves_the_net_alone():
    net = convertkit.load(SMALL / "icnet.prototxt", SMALL / "icnet.caffemodel")
    before = dict(net.blob_shapes)
    declared = dict(net.inputs)
    n, c, h, w = declared["data"]
    other = net.plan({"data": (2, c, h, w)})  # ICNet's pool windows fix H and W
    assert other.blobs["data"] == (2, c, h, w)
    assert other.blobs != before
    assert net.inputs == declared and net.blob_shapes == before
    # A runtime run at another size does the same.
    x = rand((2, c, h, w))
    out = forward(net, {"data": x})
    assert next(iter(out.values())).shape[0] == 2
    assert net.inputs == declared and net.blob_shapes == before


def test_param_roles_cover_every_learned_param():
    net = convertkit.load(SMALL / "icnet.prototxt", SMALL / "icnet.caffemodel")
    seen = set()
    for layer in net.layers:
        assert len(layer.roles) == len(layer.params), layer.name
        seen.update(layer.roles)
    assert seen <= set(ROLES)
    bn = next(l for l in net.layers if l.type == "BN")
    assert bn.roles == ("gamma", "beta", "mean", "variance")
    assert bn.param("variance") is bn.params[3]
    assert bn.param("weight") is None


@pytest.mark.parametrize("body, roles", [
    ('type: "BatchNorm" bottom: "x" top: "y"', ("mean", "variance", "scale_factor")),
    ('type: "Scale" bottom: "x" top: "y"', ("gamma",)),
    ('type: "Scale" bottom: "x" top: "y" scale_param { bias_term: true }', ("gamma", "beta")),
    ('type: "Scale" bottom: "x" bottom: "s" top: "y" scale_param { bias_term: true }', ("beta",)),
    ('type: "Bias" bottom: "x" top: "y"', ("bias",)),
    ('type: "Bias" bottom: "x" bottom: "b" top: "y"', ()),
    ('type: "PReLU" bottom: "x" top: "y"', ("slope",)),
    ('type: "InnerProduct" bottom: "x" top: "y" inner_product_param { num_output: 2 }',
     ("weight", "bias")),
    ('type: "Deconvolution" bottom: "x" top: "y" convolution_param { num_output: 2 '
     'kernel_size: 2 bias_term: false }', ("weight",)),
    ('type: "ReLU" bottom: "x" top: "y"', ()),
])
def test_roles_match_the_param_shapes(body, roles):
    layer = make_layer(f'name: "l" {body}')
    assert layer.roles == roles
    bottoms = [(2, 3, 4, 5)] + [(3,)] * (len(layer.bottoms) - 1)
    assert len(layer.impl.param_shapes(bottoms)) == len(roles)


def test_pycaffe_words_on_the_net():
    net = convertkit.load(SMALL / "icnet.prototxt", SMALL / "icnet.caffemodel")
    assert set(net.params) == {l.name for l in net.layers if l.params}
    assert net.num_learned_blobs == sum(len(p) for p in net.params.values())
    assert net.num_params == sum(a.size for p in net.params.values() for a in p)
    assert net.blob_names[0] == "data" and set(net.outputs) <= set(net.blob_names)


def test_layer_modules_import_numpy_and_their_siblings_only():
    """layers/ is Caffe's meaning alone: no graph, proto or framework imports."""
    # ast: ProposalLayer's param_str is read as literals (never executed).
    allowed_top = {"numpy", "__future__", "dataclasses", "typing", "math", "functools",
                   "itertools", "collections", "enum", "ast"}
    for path in sorted((ROOT / "convertkit" / "layers").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] in allowed_top, f"{path.name}: import {alias.name}"
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0:
                    assert node.module.split(".")[0] in allowed_top, f"{path.name}: from {node.module}"
                elif node.level == 2:  # from ..X: only the error types
                    assert node.module == "errors", f"{path.name}: from ..{node.module}"
                else:
                    assert node.level == 1, f"{path.name}: relative import level {node.level}"


def test_an_impl_is_built_from_a_definition_not_a_graph_node():
    layer = conv()
    impl = type(layer.impl)(layer.to_proto())
    assert impl.name == "c" and impl.bottoms == ["x"] and impl.tops == ["c"]
    assert not hasattr(impl, "layer")
    assert "graph" not in layers_base.__dict__


def test_outside_packages_register_a_type_through_register():
    @register("Twice_Test")
    class Twice(LayerImpl):
        def forward(self, bottoms, params):
            return [bottoms[0] * np.float32(2)]

    try:
        assert "Twice_Test" in registered_types()
        layer = make_layer('name: "t" type: "Twice_Test" bottom: "x" top: "y"')
        x = rand((1, 2, 3, 3))
        np.testing.assert_array_equal(layer.impl.forward([x], [])[0], 2 * x)
        with pytest.raises(RuntimeError, match="registered twice"):
            register("Twice_Test")(type("Other", (LayerImpl,), {}))
    finally:
        layers_base._REGISTRY.pop("Twice_Test")


def test_peak_memory_is_planned_and_refused_before_allocation():
    net = convertkit.load(SMALL / "icnet.prototxt", SMALL / "icnet.caffemodel")
    plan = net.plan()
    peak = plan.peak_bytes(net)
    biggest = max(4 * int(np.prod(s)) for s in plan.blobs.values())
    assert biggest <= peak <= 4 * sum(int(np.prod(s)) for s in plan.blobs.values())
    # Keeping every blob can only need more.
    assert plan.peak_bytes(net, keep=net.blob_names) >= peak
    assert check_memory(net, plan, available=peak) == peak
    with pytest.raises(ShapeError, match=r"needs about .* GiB of activations, but only"):
        check_memory(net, plan, available=peak - 1)


def test_a_chain_peak_is_exact():
    text = """
name: "chain" input: "x" input_shape { dim: 1 dim: 1 dim: 10 dim: 10 }
layer { name: "a" type: "ReLU" bottom: "x" top: "a" }
layer { name: "b" type: "ReLU" bottom: "a" top: "b" }
layer { name: "c" type: "ReLU" bottom: "b" top: "b" }
"""
    from convertkit.caffe.loader import build_net
    from convertkit.caffe.proto import parse_text

    net = build_net(parse_text(text))
    # x and a live together (800 B), then a and b (x freed), then b is rewritten in place.
    assert net.plan().peak_bytes(net) == 800
    assert net.plan().peak_bytes(net, keep=["x"]) == 1200


def test_huge_sizes_at_run_time_are_refused_naming_the_layer():
    text = """
name: "up" input: "x" input_shape { dim: 1 dim: 1 dim: 8 dim: 8 }
layer { name: "zoom" type: "Interp" bottom: "x" top: "y" interp_param { zoom_factor: 9 } }
"""
    from convertkit.caffe.loader import build_net
    from convertkit.caffe.proto import parse_text

    net = build_net(parse_text(text))
    with pytest.raises(ShapeError, match=r"layer 'zoom'.*refusing before allocating"):
        # A broadcast view: the input itself allocates nothing.
        forward(net, {"x": np.broadcast_to(np.float32(0), (64, 64, 1000, 1000))})
