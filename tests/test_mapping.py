"""Mapping tables: the built-in tables on zoo nets (which carry the official layer
names at any width), the validation that names every offender at once, user tables
and their errors, templates, and each layout against an independent computation."""
from __future__ import annotations

import re
import textwrap

import numpy as np
import pytest

import convertkit
from convertkit import mapping
from convertkit import zoo
from convertkit.errors import MappingError
from convertkit.mapping import describe, load_table, module_name, resolve

from conftest import official_path
from support import caffemodel_bytes

SMALL = {"icnet": (193, 385), "pspnet50": (97, 97), "pspnet101": (97, 97)}


@pytest.fixture(scope="module")
def nets():
    """Zoo nets at width 0.125 (the official names and topology), built once."""
    cache = {}

    def get(name, bn="keep"):
        if (name, bn) not in cache:
            cache[name, bn] = zoo.make(name, width=0.125, input_size=SMALL[name], bn=bn)[1]
        return cache[name, bn]
    return get


def small_net(tmp_path, text: str, blobs: dict, name="net"):
    """A net from prototxt text and {layer: [arrays]}, through the real loader."""
    proto = tmp_path / f"{name}.prototxt"
    model = tmp_path / f"{name}.caffemodel"
    proto.write_text(text)
    model.write_bytes(caffemodel_bytes(text, blobs))
    return convertkit.load(proto, model)


def user_table(tmp_path, text: str, name="user.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return load_table(path)


def params_of(net):
    return [(lay, role, arr) for lay in net.layers for role, arr in zip(lay.roles, lay.params)]


RNG = np.random.default_rng(7)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# -- listing and loading ----------------------------------------------------------------

def test_list_tables_names_the_built_in_tables():
    tables = dict(mapping.list_tables())
    assert {"caffe", "torch", "hellochick-tf", "chainercv"} <= set(tables)
    assert all(about for about in tables.values())
    for name in tables:
        text = describe(load_table(name))
        assert text.startswith(name)


def test_unknown_table_lists_the_available_ones():
    with pytest.raises(MappingError) as err:
        load_table("hellochick")
    msg = str(err.value)
    assert "unknown mapping table 'hellochick'" in msg
    for name in ("caffe", "chainercv", "hellochick-tf", "torch"):
        assert name in msg


def test_missing_user_file_is_named(tmp_path):
    with pytest.raises(MappingError, match=re.escape(str(tmp_path / "nope.toml"))):
        load_table(tmp_path / "nope.toml")


# -- generic tables -----------------------------------------------------------------------

def test_caffe_table_maps_every_param_as_is(nets):
    net = nets("icnet")
    targets = resolve(load_table("caffe"), net)
    pairs = params_of(net)
    assert len(targets) == len(pairs) == net.num_learned_blobs
    for t, (lay, role, arr) in zip(targets, pairs):
        assert (t.layer, t.role, t.key, t.layout) == (lay.name, role, f"{lay.name}/{role}", "caffe")
        assert t.array is arr or np.shares_memory(t.array, arr)  # no copy
        assert t.caffe_shape == arr.shape


def test_torch_table_on_pspnet50(nets):
    net = nets("pspnet50")
    targets = resolve(load_table("torch"), net)
    keys = [t.key for t in targets]
    bn = net.layer("conv1_1_3x3_s2/bn")
    assert keys[:7] == ["conv1_1_3x3_s2.weight", "conv1_1_3x3_s2_bn.weight",
                        "conv1_1_3x3_s2_bn.bias", "conv1_1_3x3_s2_bn.running_mean",
                        "conv1_1_3x3_s2_bn.running_var",
                        "conv1_1_3x3_s2_bn.num_batches_tracked", "conv1_2_3x3.weight"]
    by_key = {t.key: t for t in targets}
    np.testing.assert_array_equal(by_key["conv1_1_3x3_s2_bn.running_var"].array,
                                  bn.param("variance").reshape(-1))
    nbt = by_key["conv1_1_3x3_s2_bn.num_batches_tracked"].array
    assert nbt.dtype == np.int64 and nbt.shape == () and nbt == 0
    n_bn = sum(lay.type == "BN" for lay in net.layers)
    assert len(targets) == net.num_learned_blobs + n_bn
    assert all(t.array.dtype == np.float32 for t in targets if t.layout != "const")
    assert by_key["conv6.bias"].array.shape == (150,)


BVLC_NET = """
name: "bvlc"
input: "data"
input_dim: 2 input_dim: 3 input_dim: 4 input_dim: 5
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "conv1/bn" type: "BatchNorm" bottom: "conv1" top: "conv1" }
layer { name: "conv1/scale" type: "Scale" bottom: "conv1" top: "conv1" scale_param { bias_term: true } }
layer { name: "relu" type: "PReLU" bottom: "conv1" top: "conv1" }
layer { name: "up" type: "Deconvolution" bottom: "conv1" top: "up"
        convolution_param { num_output: 2 kernel_size: 2 stride: 2 } }
layer { name: "fc-1" type: "InnerProduct" bottom: "up" top: "fc" inner_product_param { num_output: 6 } }
"""


def bvlc_blobs(factor=2.0):
    return {"conv1": [rand(4, 3, 3, 3), rand(4)],
            "conv1/bn": [rand(4) * factor, np.abs(rand(4)) * factor, np.float32([factor])],
            "conv1/scale": [rand(4), rand(4)], "relu": [rand(4)],
            "up": [rand(4, 2, 2, 2), rand(2)], "fc-1": [rand(6, 2 * 8 * 10), rand(6)]}


def test_torch_table_on_bvlc_layers(tmp_path):
    blobs = bvlc_blobs(2.0)
    net = small_net(tmp_path, BVLC_NET, blobs)
    res = resolve(load_table("torch"), net)
    got = {t.key: t.array for t in res}
    assert list(got) == [
        "conv1.weight", "conv1.bias", "conv1_bn.running_mean", "conv1_bn.running_var",
        "conv1_bn.num_batches_tracked", "conv1_scale.weight", "conv1_scale.bias",
        "relu.weight", "up.weight", "up.bias", "fc_1.weight", "fc_1.bias"]
    mean, var, _ = blobs["conv1/bn"]
    np.testing.assert_allclose(got["conv1_bn.running_mean"], mean / 2, rtol=1e-6)
    np.testing.assert_allclose(got["conv1_bn.running_var"], var / 2, rtol=1e-6)
    np.testing.assert_array_equal(got["up.weight"], blobs["up"][0])  # ConvTranspose2d layout
    np.testing.assert_array_equal(got["fc_1.weight"], blobs["fc-1"][0])  # Linear: out x in
    assert [d.role for d in res.dropped] == ["scale_factor"]
    assert "divided" in res.dropped[0].reason


def test_bvlc_batchnorm_scale_factor_zero_means_zero(tmp_path):
    blobs = bvlc_blobs(2.0)
    blobs["conv1/bn"][2] = np.float32([0.0])
    net = small_net(tmp_path, BVLC_NET, blobs)
    got = {t.key: t.array for t in resolve(load_table("torch"), net)}
    assert not got["conv1_bn.running_mean"].any() and not got["conv1_bn.running_var"].any()


def test_module_name_rule_and_collisions(tmp_path):
    assert module_name("conv1_1_3x3_s2/bn") == "conv1_1_3x3_s2_bn"
    assert module_name("fc-1.a b") == "fc_1_a_b"
    text = """
    input: "data"
    input_dim: 1 input_dim: 3 input_dim: 4 input_dim: 4
    layer { name: "a/b" type: "Convolution" bottom: "data" top: "x"
            convolution_param { num_output: 2 kernel_size: 1 bias_term: false } }
    layer { name: "a-b" type: "BatchNorm" bottom: "x" top: "x" }
    """
    net = small_net(tmp_path, text, {"a/b": [rand(2, 3, 1, 1)],
                                     "a-b": [rand(2), rand(2), np.float32([1])]})
    with pytest.raises(MappingError) as err:
        resolve(load_table("torch"), net)
    assert "'a-b', 'a/b' all become {module} 'a_b'" in str(err.value)


# -- hellochick-tf ------------------------------------------------------------------------

@pytest.mark.parametrize("name,bn", [("icnet", "keep"), ("icnet", "merge"),
                                     ("pspnet50", "keep"), ("pspnet101", "keep")])
def test_hellochick_tables(nets, name, bn):
    net = nets(name, bn)
    table = load_table("hellochick-tf")
    npy = resolve(table, net)  # default format: npy
    tf = resolve(table, net, "tf")
    assert [t.source for t in npy] == [t.source for t in tf]
    for t_npy, t_tf in zip(npy, tf):
        lay = net.layer(t_npy.layer)
        op = lay.name.replace("/", "_")
        if lay.type == "Convolution":
            assert t_npy.key == t_tf.key == f"{op}/{ {'weight': 'weights', 'bias': 'biases'}[t_npy.role]}"
            if t_npy.role == "weight":
                np.testing.assert_array_equal(t_npy.array, lay.param("weight").transpose(2, 3, 1, 0))
        else:
            assert lay.type == "BN" and lay.name.endswith("/bn")
            npy_name = {"gamma": "scale", "beta": "offset", "mean": "mean", "variance": "variance"}
            tf_name = {"gamma": "gamma", "beta": "beta", "mean": "moving_mean",
                       "variance": "moving_variance"}
            assert t_npy.key == f"{op}/{npy_name[t_npy.role]}"
            assert t_tf.key == f"{op}/{tf_name[t_tf.role]}"
            assert t_npy.array.shape == (lay.param(t_npy.role).size,)
    mapped = {t.layer for t in npy}
    dropped = {(d.layer, d.role) for d in npy.dropped}
    with_params = {lay.name for lay in net.layers if lay.params}
    if name == "icnet":
        assert dropped == {("data_sub1", "gamma")}
        assert "fold_input_scale" in npy.dropped[0].reason
        assert mapped == with_params - {"data_sub1"}
    else:
        assert not dropped and mapped == with_params
    stride_note = [n for n in npy.notes if "conv3_1" in n]
    assert bool(stride_note) == (name == "pspnet101")


def test_hellochick_refuses_a_data_sub1_that_is_not_ones(nets):
    net = nets("icnet", "merge")
    lay = net.layer("data_sub1")
    changed = net.replace(layers=[l if l is not lay else lay.replace(
        params=[np.float32([1.0, 0.5, 1.0])]) for l in net.layers])
    with pytest.raises(MappingError) as err:
        resolve(load_table("hellochick-tf"), changed)
    msg = str(err.value)
    assert "data_sub1/gamma: is dropped only when it is all ones" in msg
    assert "run fold_input_scale first" in msg


def test_hellochick_does_not_fit_a_foreign_net(tmp_path):
    net = small_net(tmp_path, BVLC_NET, bvlc_blobs())
    with pytest.raises(MappingError) as err:
        resolve(load_table("hellochick-tf"), net)
    msg = str(err.value)
    assert "no rule maps 12 params" in msg
    for src in ("conv1/weight", "conv1/bn/scale_factor", "relu/slope", "up/bias", "fc-1/weight"):
        assert src in msg


@pytest.mark.parametrize("official,name,bn", [
    ("icnet_cityscapes_bnnomerge", "icnet", "keep"), ("icnet_cityscapes", "icnet", "merge"),
    ("pspnet50_ADE20K_473", "pspnet50", "keep"), ("pspnet101_cityscapes_713", "pspnet101", "keep")])
def test_small_zoo_nets_carry_the_official_param_names(official, name, bn):
    """The table tests above run on width-0.125 zoo nets: their param layers are the
    official files' layers, name for name and type for type."""
    path = official_path(official)
    want = [(l.name, l.type, l.roles) for l in convertkit.load(path).layers if l.roles]
    small = zoo.make_prototxt(name, input_size=SMALL[name], width=0.125, bn=bn)
    from convertkit.caffe.loader import build_net
    from convertkit.caffe.proto import parse_text
    got = [(l.name, l.type, l.roles) for l in build_net(parse_text(small), "<zoo>").layers
           if l.roles]
    assert got == want


# -- chainercv ----------------------------------------------------------------------------

def chainercv_keys(blocks) -> list[str]:
    """The npz keys of ChainerCV's PSPNet, built from its structure (see the TOML)."""
    def cba(prefix):
        return [f"{prefix}/conv/W"] + [f"{prefix}/bn/{p}" for p in
                                       ("gamma", "beta", "avg_mean", "avg_var", "N")]
    keys = []
    for i in (1, 2, 3):
        keys += cba(f"extractor/conv1_{i}")
    for stage, n in zip((2, 3, 4, 5), blocks):
        for b in range(n):
            block = "a" if b == 0 else f"b{b}"
            for conv in ("conv1", "conv2", "conv3") + (("residual_conv",) if b == 0 else ()):
                keys += cba(f"extractor/res{stage}/{block}/{conv}")
    for child in range(4):
        keys += cba(f"ppm/{child}")
    return keys + cba("head_conv1") + ["head_conv2/W", "head_conv2/b"]


@pytest.mark.parametrize("name,blocks", [("pspnet101", (3, 4, 23, 3)), ("pspnet50", (3, 4, 6, 3))])
def test_chainercv_table(nets, name, blocks):
    net = nets(name)
    res = resolve(load_table("chainercv"), net)
    keys = [t.key for t in res]
    assert sorted(keys) == sorted(chainercv_keys(blocks)) and len(keys) == len(set(keys))
    got = {t.key: t.array for t in res}
    w = net.layer("conv1_1_3x3_s2").param("weight")
    np.testing.assert_array_equal(got["extractor/conv1_1/conv/W"], w[:, ::-1])  # BGR -> RGB
    np.testing.assert_array_equal(got["extractor/res3/a/residual_conv/conv/W"],
                                  net.layer("conv3_1_1x1_proj").param("weight"))
    last = blocks[2]
    np.testing.assert_array_equal(got[f"extractor/res4/b{last - 1}/conv1/conv/W"],
                                  net.layer(f"conv4_{last}_1x1_reduce").param("weight"))
    np.testing.assert_array_equal(got["ppm/0/bn/avg_var"],
                                  net.layer("conv5_3_pool6_conv/bn").param("variance").ravel())
    np.testing.assert_array_equal(got["ppm/3/conv/W"],
                                  net.layer("conv5_3_pool1_conv").param("weight"))
    np.testing.assert_array_equal(got["head_conv2/b"], net.layer("conv6").param("bias"))
    assert got["head_conv1/bn/N"].dtype == np.int64 and got["head_conv1/bn/N"].shape == ()
    assert any("eps 2e-5" in n for n in res.notes)
    assert any("stride_first" in n for n in res.notes) == (name == "pspnet50")
    if name == "pspnet101":
        assert "extractor/res4/b22/conv1/conv/W" in got
    # Already flipped by --rgb: the table's own flip is skipped.
    again = resolve(load_table("chainercv"), net, input_flipped=True)
    np.testing.assert_array_equal(again[0].array, w)


# -- validation ---------------------------------------------------------------------------

def test_unmapped_params_are_all_listed(tmp_path, nets):
    net = nets("pspnet50")
    table = user_table(tmp_path, """
        [[rule]]
        type = "Convolution"
        key = "{layer}/{role}"
        """)
    with pytest.raises(MappingError) as err:
        resolve(table, net)
    bn_params = [f"{l.name}/{r}" for l in net.layers if l.type == "BN" for r in l.roles]
    assert len(bn_params) == 240
    msg = str(err.value)
    assert f"no rule maps {len(bn_params)} params" in msg
    assert all(f"{p} (BN)" in msg for p in bn_params)


def test_duplicate_keys_and_stated_shapes_are_all_listed(tmp_path):
    net = small_net(tmp_path, BVLC_NET, bvlc_blobs())
    table = user_table(tmp_path, """
        [[rule]]
        type = ["Convolution", "Deconvolution"]
        role = "bias"
        key = "bias"
        [[rule]]
        key = "{layer}/{role}"
        [[entry]]
        layer = "conv1"
        role = "weight"
        key = "conv1/kernel"
        layout = "hwio"
        shape = [3, 3, 4, 3]
        [[entry]]
        layer = "conv2"
        role = "weight"
        key = "x"
        """)
    with pytest.raises(MappingError) as err:
        resolve(table, net)
    problems = err.value.problems
    assert any("entry 1 states the target shape 3x3x4x3, the param is 3x3x3x4" in p
               for p in problems)
    assert any("'bias' (from conv1/bias, up/bias)" in p for p in problems)
    assert any("entry 2: 'conv2/weight': no such layer" in p for p in problems)
    assert len(problems) == 3


def test_expected_keys_are_checked_both_ways(tmp_path):
    net = small_net(tmp_path, BVLC_NET, bvlc_blobs())
    table = load_table("torch")
    expect = {t.key: t.array.shape for t in resolve(table, net)}
    resolve(table, net, expect=expect)  # fits
    del expect["up.bias"]
    expect["up.weight"] = (2, 4, 2, 2)
    expect["head.weight"] = (3,)
    with pytest.raises(MappingError) as err:
        resolve(table, net, expect=expect)
    msg = str(err.value)
    assert "1 keys the target expects are not produced: head.weight" in msg
    assert "1 keys the target does not have: up.bias" in msg
    assert "'up.weight' (from up/weight): the target expects 2x4x2x2, the table gives 4x2x2x2" in msg


def test_a_layout_that_does_not_apply_is_reported(tmp_path):
    net = small_net(tmp_path, BVLC_NET, bvlc_blobs())
    table = user_table(tmp_path, """
        [[rule]]
        key = "{layer}/{role}"
        layout = "flat"
        """)
    with pytest.raises(MappingError) as err:
        resolve(table, net)
    msg = str(err.value)
    for src in ("conv1/weight", "up/weight", "fc-1/weight"):
        assert f"{src}: flat applies to per-channel params" in msg


def test_rgb_table_that_flips_nothing_is_refused(tmp_path, nets):
    table = user_table(tmp_path, """
        [table]
        bgr_to_rgb = true
        [[rule]]
        name = "first_conv"
        key = "w"
        flip = true
        [[rule]]
        key = "{layer}/{role}"
        """)
    with pytest.raises(MappingError, match="takes RGB input but no flip rule matched"):
        resolve(table, nets("pspnet50"))


# -- user tables: errors name file and line -----------------------------------------------

def test_toml_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[table]\nname = "x"\n\n[[rule]]\nkey = "{layer}/{role}\ntype = "BN"\n')
    with pytest.raises(MappingError) as err:
        load_table(path)
    assert re.match(re.escape(str(path)) + r":5:\d+: TOML syntax error: ", str(err.value))


@pytest.mark.parametrize("body,line,message", [
    ('[[rule]]\nkey = "a"\n\n[[rule]]\ntype = "BN"\nkey = "{layer}"\nlayout = "nchw"\n',
     4, "rule 2: unknown layout 'nchw'; known: caffe, flat, hwio"),
    ('[[rule]]\nname = "x"\ndrop = ""\n', 1, "rule 1: drop needs a reason"),
    ('[[rule]]\nname = "x"\nkey = "{nope}"\n', 1, "{nope} is neither built in"),
    ('[[rule]]\nname = "x(?P<i>1)"\nkey = "{i}"\nlookup.j = {}\n', 1, "lookup.j: the name regex has no group 'j'"),
    ('\n[[rule]]\nkey = "k"\nparams = { gama = "g" }\n', 2, "'gama' is not a param role"),
    ('[[rule]]\nkey = "k"\nfilp = true\n', 1, "rule 1: unknown field(s) filp"),
    ('[[rule]]\nkey = "k"\nflip = true\n', None, "flip rules need `bgr_to_rgb = true`"),
    ('[[entry]]\nrole = "weight"\nkey = "k"\n', 1, 'entry 1: needs layer = '),
])
def test_table_errors_name_file_and_line(tmp_path, body, line, message):
    path = tmp_path / "t.toml"
    path.write_text(body)
    with pytest.raises(MappingError) as err:
        load_table(path)
    where = f"{path}:{line}: " if line else f"{path}: "
    assert str(err.value).startswith(where), str(err.value)
    assert message in str(err.value)


def test_templates_lookup_offsets_and_braces(tmp_path, nets):
    table = user_table(tmp_path, """
        [[rule]]
        type = "Convolution"
        name = 'conv(?P<stage>[2-5])_(?P<block>[0-9]+)_(?P<kind>1x1_reduce|3x3|1x1_increase|1x1_proj)'
        key = "s{stage}.b{block-1}.{kind}.{{{param}}}"
        lookup.kind = { "1x1_reduce" = "c1", "3x3" = "c2", "1x1_increase" = "c3", "1x1_proj" = "p" }
        [[rule]]
        key = "{type}:{layer_}:{module}:{role}"
        """)
    got = {t.source: t.key for t in resolve(table, nets("pspnet50"))}
    assert got["conv4_6_3x3/weight"] == "s4.b5.c2.{weight}"
    assert got["conv2_1_1x1_proj/weight"] == "s2.b0.p.{weight}"
    assert got["conv2_1_1x1_proj/bn/gamma"] == "BN:conv2_1_1x1_proj_bn:conv2_1_1x1_proj_bn:gamma"


# -- layouts against independent computations ---------------------------------------------

def conv_net(tmp_path, group=1, stride=1):
    text = f"""
    input: "data"
    input_dim: 2 input_dim: 4 input_dim: 7 input_dim: 6
    layer {{ name: "conv" type: "Convolution" bottom: "data" top: "conv"
            convolution_param {{ num_output: 6 kernel_size: 3 pad: 1 stride: {stride} group: {group} }} }}
    """
    w, b = rand(6, 4 // group, 3, 3), rand(6)
    return small_net(tmp_path, text, {"conv": [w, b]}, name=f"conv{group}{stride}")


def nhwc_conv(x_nhwc, w_hwio, bias, stride, pad, group):
    """A plain NHWC convolution with an HWIO filter (the TF definition), in float64."""
    x = np.pad(x_nhwc.astype(np.float64), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    kh, kw, cin_g, cout = w_hwio.shape
    oh = (x.shape[1] - kh) // stride + 1
    ow = (x.shape[2] - kw) // stride + 1
    out = np.zeros((x.shape[0], oh, ow, cout))
    og = cout // group
    for g in range(group):
        xs = x[..., g * cin_g:(g + 1) * cin_g]
        ws = w_hwio[..., g * og:(g + 1) * og].astype(np.float64)
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, i:i + stride * oh:stride, j:j + stride * ow:stride, :]
                out[..., g * og:(g + 1) * og] += patch @ ws[i, j]
    return out + bias


@pytest.mark.parametrize("group,stride", [(1, 1), (2, 2)])
def test_hwio_computes_the_caffe_convolution_in_nhwc(tmp_path, group, stride):
    net = conv_net(tmp_path, group, stride)
    table = user_table(tmp_path, """
        [[rule]]
        key = "{layer}/{role}"
        layout = { weight = "hwio" }
        """)
    w_hwio, bias = (t.array for t in resolve(table, net))
    layer = net.layer("conv")
    np.testing.assert_array_equal(w_hwio, layer.param("weight").transpose(2, 3, 1, 0))
    x = rand(2, 4, 7, 6)
    caffe = layer.impl.forward([x], layer.params)[0]
    nhwc = nhwc_conv(x.transpose(0, 2, 3, 1), w_hwio, bias, stride, 1, group)
    np.testing.assert_allclose(nhwc.transpose(0, 3, 1, 2), caffe, rtol=1e-5, atol=1e-5)


def test_io_hwc_flattens_a_2x3x4_blob_in_nhwc_order(tmp_path):
    text = """
    input: "data"
    input_dim: 5 input_dim: 2 input_dim: 3 input_dim: 4
    layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc" inner_product_param { num_output: 7 } }
    """
    w, b = rand(7, 24), rand(7)
    net = small_net(tmp_path, text, {"fc": [w, b]})
    table = user_table(tmp_path, """
        [[rule]]
        key = "{layer}/{role}"
        layout = { weight = "io_hwc" }
        [[rule]]
        name = "nothing"
        key = "x"
        """)
    w_io, bias = (t.array for t in resolve(table, net))
    assert w_io.shape == (24, 7)
    x = rand(5, 2, 3, 4)
    caffe = x.reshape(5, -1).astype(np.float64) @ w.T.astype(np.float64) + b
    nhwc = x.transpose(0, 2, 3, 1).reshape(5, -1).astype(np.float64) @ w_io + bias  # TF-style
    np.testing.assert_allclose(nhwc, caffe, rtol=1e-6, atol=1e-6)
    # Plain io: the same weights transposed, which is only right for CHW flattening.
    plain = user_table(tmp_path, '[[rule]]\nkey = "{layer}/{role}"\nlayout = { weight = "io" }\n',
                       name="plain.toml")
    np.testing.assert_array_equal(resolve(plain, net)[0].array, w.T)


def test_io_and_oi_honour_caffe_transpose_flag(tmp_path):
    text = """
    input: "data"
    input_shape { dim: 2 dim: 6 }
    layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc"
            inner_product_param { num_output: 3 transpose: true } }
    """
    w = rand(6, 3)  # K x O with transpose: true
    net = small_net(tmp_path, text, {"fc": [w, rand(3)]})
    for layout, want in (("io", w), ("oi", w.T), ("io_hwc", w)):
        table = user_table(tmp_path, f'[[rule]]\nkey = "{{role}}"\nlayout = {{ weight = "{layout}" }}\n',
                           name=f"{layout}.toml")
        np.testing.assert_array_equal(resolve(table, net)[0].array, want)


def test_hwoi_is_tf_conv2d_transpose_layout(tmp_path):
    """Caffe Deconvolution (in, out, kh, kw) -> (kh, kw, out, in), checked against the
    definition of conv2d_transpose: out[y*s+i, x*s+j, o] += in[y, x, c] * F[i, j, o, c]."""
    text = """
    input: "data"
    input_dim: 1 input_dim: 3 input_dim: 4 input_dim: 5
    layer { name: "up" type: "Deconvolution" bottom: "data" top: "up"
            convolution_param { num_output: 2 kernel_size: 3 stride: 2 bias_term: false } }
    """
    w = rand(3, 2, 3, 3)
    net = small_net(tmp_path, text, {"up": [w]})
    table = user_table(tmp_path, '[[rule]]\nkey = "{role}"\nlayout = "hwoi"\n')
    f = resolve(table, net)[0].array
    assert f.shape == (3, 3, 2, 3)
    x = rand(1, 3, 4, 5)
    xh = x.transpose(0, 2, 3, 1)[0].astype(np.float64)
    out = np.zeros((2 * 3 + 3, 2 * 4 + 3, 2))
    for y in range(4):
        for xx in range(5):
            out[2 * y:2 * y + 3, 2 * xx:2 * xx + 3] += np.einsum("c,ijoc->ijo", xh[y, xx], f)
    layer = net.layer("up")
    caffe = layer.impl.forward([x], layer.params)[0][0]
    np.testing.assert_allclose(out.transpose(2, 0, 1), caffe, rtol=1e-5, atol=1e-5)


def test_entries_win_over_rules_and_add_constants(tmp_path):
    net = small_net(tmp_path, BVLC_NET, bvlc_blobs())
    table = user_table(tmp_path, """
        [table]
        formats = ["npz", "tf"]
        [[rule]]
        key = "{layer}/{role}"
        formats.tf.key = "tf/{layer_}/{role}"
        [[entry]]
        layer = "conv1"
        role = "bias"
        key = "stem/b"
        [[entry]]
        layer = "up"
        role = "step"
        key = "up/step"
        value = 7
        dtype = "int32"
        [[entry]]
        layer = "relu"
        role = "slope"
        drop = "the target uses a plain ReLU"
        """)
    res = resolve(table, net)
    keys = [t.key for t in res]
    assert keys[:3] == ["conv1/weight", "stem/b", "conv1/bn/mean"]
    assert keys[keys.index("up/bias") + 1] == "up/step"
    step = res[keys.index("up/step")]
    assert step.array.dtype == np.int32 and step.array == 7 and step.caffe_shape is None
    assert [(d.layer, d.role, d.reason) for d in res.dropped] == [
        ("relu", "slope", "the target uses a plain ReLU")]
    assert resolve(table, net, "tf")[0].key == "tf/conv1/weight"
    assert resolve(table, net, "tf")[1].key == "stem/b"


def test_format_overrides_must_name_a_declared_format(tmp_path):
    path = tmp_path / "f.toml"
    path.write_text('[table]\nformats = ["npy"]\n\n[[rule]]\nkey = "k"\nformats.tf.key = "t"\n')
    with pytest.raises(MappingError, match=r"f\.toml:4: rule 1: format 'tf' is not in \[table\] formats"):
        load_table(path)


@pytest.mark.parametrize("body,message", [
    ('[[rule]]\nname = 5\nkey = "k"\n', "rule 1: name must be a string, not 5"),
    ('[[rule]]\nkey = "k"\nflip = "yes"\n', "rule 1: flip must be true or false"),
    ('[[rule]]\nkey = "k"\nformats = ["tf"]\n', "rule 1: formats must be a table"),
    ('[[entry]]\nlayer = "a"\nrole = "weight"\nkey = "k"\nshape = ["x"]\n', "shape must be an array of sizes"),
    ('[table]\nformats = "npy"\n', "[table]: formats must be an array"),
    ('rule = 3\n', "'rule' must be written as [[rule]]"),
])
def test_wrong_value_types_are_named(tmp_path, body, message):
    path = tmp_path / "t.toml"
    path.write_text(body)
    with pytest.raises(MappingError) as err:
        load_table(path)
    assert message in str(err.value) and str(err.value).startswith(str(path))
