"""Real-world Caffe: other forks' parameter blocks, V0 nets, template prototxts, data
layers that give the input size, and Python layers named for what they are."""
from pathlib import Path

import numpy as np
import pytest

import convertkit
from convertkit.errors import PrototxtError, UnsupportedLayerError
from convertkit.caffe.loader import build_net
from convertkit.caffe.prototxt import parse_prototxt_text, upgrade
from convertkit.caffe.proto import parse_text

REAL = Path(__file__).resolve().parents[2] / "shared" / "real-models" / "prototxt"


def real(name):
    path = REAL / name
    if not path.is_file():
        pytest.skip(f"real-model prototxt not found at {path} (needs ../shared/real-models)")
    return path


def all_real():
    if not REAL.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(
            reason=f"{REAL} is absent (needs ../shared/real-models)"))]
    return sorted(p.name for p in REAL.glob("*.prototxt"))


@pytest.mark.parametrize("name", all_real())
def test_every_real_prototxt_parses(name):
    """Parsing (the schema) never stops at another fork's parameter block."""
    text = real(name).read_text()
    from convertkit.caffe.prototxt import substitute

    net = parse_prototxt_text(substitute(text, {"NUM_LABELS": "21"}), name)
    upgrade(net, name)
    assert len(net.layer) > 5


def test_a_misspelt_field_is_still_an_error():
    text = 'layer { name: "bn" type: "BN" bottom: "x" top: "x" bn_param { bn_mdoe: INFERENCE } }'
    with pytest.raises(PrototxtError, match="no field named \"bn_mdoe\""):
        parse_prototxt_text(text, "t.prototxt")
    ok = 'layer { name: "bn" type: "BN" bottom: "x" top: "x" bn_param { bn_mode: INFERENCE } }'
    assert parse_prototxt_text(ok, "t.prototxt").layer[0].bn_param.bn_mode == 1


def test_fork_field_numbers():
    from convertkit.caffe.proto import caffe_pb2

    lp = caffe_pb2().LayerParameter.DESCRIPTOR.fields_by_name
    numbers = {n: lp[n].number for n in ("permute_param", "prior_box_param",
                                          "detection_output_param", "norm_param",
                                          "upsample_param", "roi_pooling_param",
                                          "shuffle_channel_param")}
    assert numbers == {"permute_param": 202, "prior_box_param": 203,
                       "detection_output_param": 204, "norm_param": 206, "upsample_param": 137,
                       "roi_pooling_param": 8266711, "shuffle_channel_param": 164}


def test_v0_caffenet_upgrades_to_the_modern_caffenet():
    old = convertkit.load(real("caffenet_imagenet_deploy_v0_2014.prototxt"))
    new = convertkit.load(real("bvlc_reference_caffenet_deploy.prototxt"))
    assert "upgraded 23 legacy V0 (2013) layers" in old.notes[0]

    def view(net):
        plan = net.plan({"data": (1, 3, 227, 227)})
        return [(l.type, len(l.bottoms), tuple(plan.top_shapes(l)[0]),
                 tuple(map(tuple, l.impl.param_shapes(plan.bottom_shapes(l))))) for l in net.layers]

    assert view(old) == view(new)
    assert old.layer("conv2").hparams.group == 2 and old.layer("conv2").hparams.pad == (2, 2)
    assert old.layer("norm1").hparams.local_size == 5


def test_v0_padding_layers_become_the_pad_of_their_reader():
    text = """
name: "v0" input: "data" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8
layers { layer { name: "pad1" type: "padding" pad: 2 } bottom: "data" top: "pad1" }
layers { layer { name: "conv1" type: "conv" num_output: 4 kernelsize: 5 biasterm: false }
         bottom: "pad1" top: "conv1" }
"""
    net_param = parse_text(text)
    upgrade(net_param)
    net = build_net(net_param)
    conv = net.layer("conv1")
    assert conv.bottoms == ["data"] and conv.hparams.pad == (2, 2)
    assert not conv.hparams.bias_term
    assert net.blob_shapes["conv1"] == (1, 4, 8, 8)


def test_v0_field_for_the_wrong_type_is_an_error():
    net_param = parse_text('layers { layer { name: "r" type: "relu" num_output: 3 } '
                           'bottom: "x" top: "x" }')
    with pytest.raises(PrototxtError, match="layer 'r'.*'num_output' does not apply to a 'relu'"):
        upgrade(net_param)


def test_template_prototxts_need_their_values():
    path = real("deeplab_v2_vgg16_aspp_test.prototxt")
    with pytest.raises(PrototxtError, match=r"is a template: give a value for \$\{NUM_LABELS\} "
                       r"\(line \d+\) with --define"):
        convertkit.load(path)
    net = convertkit.load(path, defines={"NUM_LABELS": "21"})
    assert net.blob_shapes["fc8_interp"] == (1, 21, 513, 513)


def test_a_data_layer_gives_the_input_shape():
    net = convertkit.load(real("deeplab_v2_resnet101_msc_test.prototxt"),
                          defines={"NUM_LABELS": "21"})
    assert net.inputs["data"] == (1, 3, 513, 513)
    assert any("from ImageSegData layer 'data'" in n for n in net.notes)
    text = """
layer { name: "data" type: "MemoryData" top: "data" top: "label"
        memory_data_param { batch_size: 2 channels: 1 height: 28 width: 28 } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
        inner_product_param { num_output: 10 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
"""
    net = build_net(parse_text(text))
    assert net.inputs == {"data": (2, 1, 28, 28)}
    unknown = build_net(parse_text(text.replace("MemoryData", "Data").replace(
        "memory_data_param { batch_size: 2 channels: 1 height: 28 width: 28 }",
        'data_param { source: "lmdb" batch_size: 4 }')))
    assert unknown.inputs == {"data": None}


def test_python_layers_fail_naming_module_class_and_file():
    with pytest.raises(UnsupportedLayerError) as err:
        convertkit.load(real("fcn_voc_fcn_alexnet_val.prototxt"))
    msg = str(err.value)
    assert "fcn_voc_fcn_alexnet_val.prototxt" in msg and "layer 'data'" in msg
    assert "module voc_layers, class VOCSegDataLayer" in msg


USER_PROTO = """syntax = "proto2";
package caffe;
message MyForkParameter { optional float alpha = 1 [default = 1]; }
message LayerParameter {
  optional string name = 1;
  optional string type = 2;
  repeated string bottom = 3;
  repeated string top = 4;
  optional MyForkParameter my_fork_param = 9999;
}
message NetParameter {
  optional string name = 1;
  repeated string input = 3;
  repeated int32 input_dim = 4;
  repeated LayerParameter layer = 100;
}
"""

FORK_NET = """name: "forked"
input: "data" input_dim: 1 input_dim: 2 input_dim: 3 input_dim: 3
layer { name: "relu" type: "ReLU" bottom: "data" top: "relu" my_fork_param { alpha: 2 } }
"""


def test_a_users_own_caffe_proto_reads_its_fork_fields(tmp_path, capsys):
    pytest.importorskip("grpc_tools", reason="--caffe-proto needs grpcio-tools")
    from convertkit.cli import main
    from convertkit.caffe import userproto

    (tmp_path / "fork.proto").write_text(USER_PROTO)
    (tmp_path / "net.prototxt").write_text(FORK_NET)
    try:
        assert main(["inspect", str(tmp_path / "net.prototxt")]) == 2
        assert 'no field named "my_fork_param"' in capsys.readouterr().err
        assert main(["--caffe-proto", str(tmp_path / "fork.proto"), "inspect",
                     str(tmp_path / "net.prototxt"), "--json"]) == 0
        import json

        out = json.loads(capsys.readouterr().out)
        assert [l["type"] for l in out["layers"]] == ["ReLU"]
        (tmp_path / "bad.proto").write_text("syntax = \"proto2\"; message { }")
        assert main(["--caffe-proto", str(tmp_path / "bad.proto"), "inspect",
                     str(tmp_path / "net.prototxt")]) == 2
        err = capsys.readouterr().err
        assert "bad.proto: does not compile:" in err and err.count("\n") == 1
    finally:
        userproto.use(None)
