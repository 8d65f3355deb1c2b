"""Graph passes: BN folding, BGR <-> RGB flips and the input scale, each checked by
running the net before and after on the same input."""
import numpy as np
import pytest

from convertkit import zoo
from convertkit.errors import UsageError
from convertkit.caffe.loader import build_net, load
from convertkit.passes import flip_input_channels, fold_batchnorm, fold_input_scale
from convertkit.caffe.proto import parse_text
from convertkit.runtime.numpy import forward

from conftest import official_path
from support import assert_close, rand

REL = 1e-4


@pytest.fixture(scope="module")
def icnet():
    return zoo.make("icnet", input_size=(193, 385), width=0.125, bn="keep")[1]


@pytest.fixture(scope="module")
def photo():
    from convertkit.runtime.preprocess import preprocess, sample_images

    return preprocess(sample_images()[0], (193, 385))


def same_outputs(a, b, x, names=None):
    ra = forward(a, {"data": x}, keep="all")
    rb = forward(b, {"data": x}, keep="all")
    shared = names or sorted(set(ra) & set(rb))
    assert shared
    for name in shared:
        assert_close(rb[name], ra[name], rel=REL, what=name)
    return shared


def test_folding_the_zoo_icnet_keeps_every_shared_blob(icnet, photo):
    folded, notes = fold_batchnorm(icnet)
    assert "folded 63 BN layers" in notes[0]
    assert not any(l.type == "BN" for l in folded.layers)
    assert any(l.type == "BN" for l in icnet.layers)  # the input is unchanged
    shared = same_outputs(icnet, folded, photo)
    assert len(shared) > 50
    conv = folded.layer("conv1_1_3x3_s2")
    assert conv.hparams.bias_term and conv.roles == ("weight", "bias")
    assert conv.params[0].dtype == np.float32


def test_folded_official_bnnomerge_graph_equals_the_official_merged_graph():
    keep = build_net(parse_text(official_path("icnet_cityscapes_bnnomerge").read_text()))
    merged = build_net(parse_text(official_path("icnet_cityscapes").read_text()))
    folded, _ = fold_batchnorm(keep)  # weightless: the structure alone

    def view(net):
        plan = net.plan()
        rows = []
        for layer in net.layers:
            bias = getattr(layer.hparams, "bias_term", None)
            rows.append((layer.name, layer.type, tuple(layer.bottoms), tuple(layer.tops), bias,
                         tuple(map(tuple, layer.impl.param_shapes(plan.bottom_shapes(layer))))))
        return rows

    assert view(folded) == view(merged)


def test_the_zoo_merge_uses_the_pass(icnet):
    merged = zoo.make("icnet", input_size=(193, 385), width=0.125, bn="merge")[1]
    folded, _ = fold_batchnorm(icnet)
    for layer in merged.layers:
        ref = folded.layer(layer.name)
        assert len(ref.params) == len(layer.params)
        for a, b in zip(layer.params, ref.params):
            np.testing.assert_array_equal(a, b)


BVLC = """
name: "bvlc" input: "data" input_shape { dim: 2 dim: 4 dim: 9 dim: 9 }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 6 kernel_size: 3 bias_term: false } }
layer { name: "bn" type: "BatchNorm" bottom: "conv" top: "conv" batch_norm_param { eps: 0.001 } }
layer { name: "sc" type: "Scale" bottom: "conv" top: "conv" scale_param { bias_term: true } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "up" type: "Deconvolution" bottom: "conv" top: "up"
        convolution_param { num_output: 4 kernel_size: 2 stride: 2 group: 2 } }
layer { name: "up/bn" type: "BN" bottom: "up" top: "up" }
layer { name: "sum" type: "Eltwise" bottom: "up" bottom: "up" top: "sum" }
layer { name: "sum/bn" type: "BN" bottom: "sum" top: "sum_bn" }
layer { name: "fc" type: "InnerProduct" bottom: "sum_bn" top: "fc"
        inner_product_param { num_output: 5 transpose: true } }
layer { name: "fc/bn" type: "BatchNorm" bottom: "fc" top: "fc" }
layer { name: "side" type: "Convolution" bottom: "data" top: "side"
        convolution_param { num_output: 3 kernel_size: 1 } }
layer { name: "side/bn" type: "BN" bottom: "side" top: "side_bn" }
layer { name: "side/relu" type: "ReLU" bottom: "side" top: "side_relu" }
"""


def bvlc_net(factor=3.0):
    rng = np.random.default_rng(4)
    net = build_net(parse_text(BVLC))
    plan = net.plan()
    for layer in net.layers:
        shapes = layer.impl.param_shapes(plan.bottom_shapes(layer))
        params = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        for role in ("variance", "gamma"):
            if role in layer.roles:
                k = layer.roles.index(role)
                params[k] = rng.uniform(0.5, 2.0, shapes[k]).astype(np.float32)
        if "scale_factor" in layer.roles:
            params[0] *= factor
            params[1] *= factor
            params[2] = np.full(1, factor, np.float32)
        layer.params = params
    return net


@pytest.mark.parametrize("factor", [3.0, 0.0])
def test_bvlc_batchnorm_scale_deconv_groups_and_a_bn_after_eltwise(factor):
    net = bvlc_net(factor)
    folded, notes = fold_batchnorm(net)
    types = {l.name: l.type for l in folded.layers}
    assert "bn" not in types and "sc" not in types and "up/bn" not in types
    assert "fc/bn" not in types
    # After an Eltwise, and where the conv's own output is read elsewhere: a Scale.
    assert types["sum/bn"] == "Scale" and types["side/bn"] == "Scale"
    assert "became a per-channel Scale" in notes[1]
    x = rand((2, 4, 9, 9), seed=2)
    ra = forward(net, {"data": x}, keep="all")
    rb = forward(folded, {"data": x}, keep="all")
    for name in ("conv", "up", "sum", "sum_bn", "fc", "side_bn", "side_relu"):
        assert_close(rb[name], ra[name], rel=REL, what=name)


def test_nothing_to_fold_is_said():
    net = build_net(parse_text('name: "r" input: "data" input_shape { dim: 1 dim: 1 dim: 2 dim: 2 }'
                               ' layer { name: "r" type: "ReLU" bottom: "data" top: "r" }'))
    out, notes = fold_batchnorm(net)
    assert notes == ["nothing to fold: the net has no BN or BatchNorm layers"]
    assert [l.name for l in out.layers] == ["r"]


def test_flipping_the_input_channels_of_icnet(icnet, photo):
    flipped, notes = flip_input_channels(icnet)
    assert "conv1_1_3x3_s2, conv1_sub1 (through data_sub1, data_sub2)" in notes[0]
    ref = forward(icnet, {"data": photo})
    out = forward(flipped, {"data": np.ascontiguousarray(photo[:, ::-1])})
    for k in ref:
        assert_close(out[k], ref[k], rel=REL, what=k)
    w0 = icnet.layer("conv1_sub1").params[0]
    np.testing.assert_array_equal(flipped.layer("conv1_sub1").params[0], w0[:, ::-1])


def test_flipping_the_input_through_a_scale_reverses_its_params(icnet):
    net = icnet.replace()
    sub1 = net.layer("data_sub1").replace()
    sub1.params = [np.array([1.0, 2.0, 3.0], np.float32)]
    net.layers[net.layers.index(net.layer("data_sub1"))] = sub1
    flipped, _ = flip_input_channels(net)
    np.testing.assert_array_equal(flipped.layer("data_sub1").params[0], [3.0, 2.0, 1.0])
    np.testing.assert_array_equal(icnet.layer("data_sub1").params[0], [1, 1, 1])


def test_flipping_refuses_a_layer_that_mixes_channels_first():
    net = build_net(parse_text("""
name: "c" input: "data" input_shape { dim: 1 dim: 3 dim: 4 dim: 4 }
layer { name: "cat" type: "Concat" bottom: "data" bottom: "data" top: "cat" }
layer { name: "conv" type: "Convolution" bottom: "cat" top: "conv"
        convolution_param { num_output: 2 kernel_size: 1 } }
"""))
    with pytest.raises(UsageError, match="through Concat layer 'cat'"):
        flip_input_channels(net)


def test_input_scale_all_ones_is_dropped(icnet, photo):
    out, notes = fold_input_scale(icnet)
    assert notes == ["dropped Scale 'data_sub1' on input 'data': all its scales are 1"]
    assert "data_sub1" not in {l.name for l in out.layers}
    assert out.layer("conv1_sub1").bottoms == ["data"]
    same_outputs(icnet, out, photo, names=["conv6_interp"])


def test_input_scale_is_folded_exactly(icnet, photo):
    net = icnet.replace()
    sub1 = net.layer("data_sub1").replace()
    sub1.params = [np.array([0.5, 2.0, 1.25], np.float32)]
    net.layers[net.layers.index(net.layer("data_sub1"))] = sub1
    out, notes = fold_input_scale(net)
    assert notes == ["folded Scale 'data_sub1' on input 'data' into conv1_1_3x3_s2, conv1_sub1"]
    same_outputs(net, out, photo, names=["conv6_interp", "sub12_sum", "conv5_3"])


def test_input_scale_with_a_bias_is_kept():
    net = build_net(parse_text("""
name: "s" input: "data" input_shape { dim: 1 dim: 3 dim: 4 dim: 4 }
layer { name: "s" type: "Scale" bottom: "data" top: "s" scale_param { bias_term: true } }
layer { name: "conv" type: "Convolution" bottom: "s" top: "conv"
        convolution_param { num_output: 2 kernel_size: 3 pad: 1 } }
"""))
    net.layer("s").params = [np.full(3, 2, np.float32), np.ones(3, np.float32)]
    net.layer("conv").params = [rand((2, 3, 3, 3)), np.zeros(2, np.float32)]
    out, notes = fold_input_scale(net)
    assert "kept Scale 's'" in notes[0] and [l.name for l in out.layers] == ["s", "conv"]


def test_cutting_before_data_dependent_layers(tmp_path):
    """SSD cut before DetectionOutput ends at its bottoms; a layer fed by it goes too;
    a net with nothing data-dependent is kept whole, with no note."""
    from convertkit.passes import cut_data_dependent
    from support import TINY_SSD

    text = TINY_SSD + ('layer { name: "after" type: "Power" bottom: "detection_out" '
                       'top: "after" }\n')
    net = build_net(parse_text(text))
    cut, notes = cut_data_dependent(net)
    assert [layer.name for layer in cut.layers] == [layer.name for layer in net.layers][:-2]
    assert cut.outputs == ["loc_flat", "conf_out", "prior"]
    assert notes == ["ends at loc_flat, conf_out, prior: detection_out (DetectionOutput) gives a "
                     "number of rows that depends on the data, and 1 more layer(s) follow it"]
    assert len(net.layers) == 14  # the input is unchanged
    plain = build_net(parse_text('input: "x" input_shape { dim: 1 dim: 1 dim: 2 dim: 2 }\n'
                                 'layer { name: "r" type: "ReLU" bottom: "x" top: "y" }'))
    same, notes = cut_data_dependent(plain)
    assert [layer.name for layer in same.layers] == ["r"] and notes == []
