"""convertkit.load: prototxt parsing and upgrades, weights by name, validation errors."""
import numpy as np
import pytest

import convertkit
from convertkit.errors import (CaffemodelError, InputFileError, PrototxtError, ShapeError,
                               UnsupportedLayerError, UsageError, WeightMismatchError)
from convertkit.caffe.wire import save_caffemodel

RNG = np.random.default_rng(1)

TINY = """
name: "tiny"
input: "data"
input_dim: 1 input_dim: 3 input_dim: 9 input_dim: 9
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 bias_term: false } }
layer { name: "conv1/bn" type: "BN" bottom: "conv1" top: "conv1" bn_param { frozen: true } }
layer { name: "conv1/relu" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool" type: "Pooling" bottom: "conv1" top: "pool"
        pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "up" type: "Interp" bottom: "pool" top: "up" interp_param { zoom_factor: 2 } }
"""


def tiny_blobs():
    return {
        "conv1": [RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)],
        "conv1/bn": [RNG.uniform(0.5, 1.5, (1, 4, 1, 1)).astype(np.float32),
                     RNG.standard_normal((1, 4, 1, 1)).astype(np.float32),
                     RNG.standard_normal((1, 4, 1, 1)).astype(np.float32),
                     RNG.uniform(0.5, 2, (1, 4, 1, 1)).astype(np.float32)],
    }


def write_model(tmp_path, text=TINY, blobs=None, name="tiny"):
    proto = tmp_path / f"{name}.prototxt"
    proto.write_text(text)
    net = convertkit.load(proto)
    for layer in net.layers:
        layer.params = list((blobs if blobs is not None else tiny_blobs()).get(layer.name, []))
    model = tmp_path / f"{name}.caffemodel"
    save_caffemodel(net, model)
    return proto, model


def test_prototxt_graph_shapes_and_in_place_layers(tmp_path):
    proto = tmp_path / "t.prototxt"
    proto.write_text(TINY)
    net = convertkit.load(proto)
    assert net.inputs == {"data": (1, 3, 9, 9)}
    assert [l.name for l in net.layers] == ["conv1", "conv1/bn", "conv1/relu", "pool", "up"]
    assert net.layer("conv1/bn").tops == ["conv1"]
    # pool: ceil((9+2-3)/2)+1 = 5; zoom 2: 5 + 4*1 = 9
    assert net.blob_shapes["pool"] == (1, 4, 5, 5)
    assert net.blob_shapes["up"] == (1, 4, 9, 9)
    assert net.outputs == ["up"]
    assert net.layer("conv1").hparams.num_output == 4


def test_weights_matched_by_name_and_hyper_parameters_from_the_prototxt(tmp_path):
    proto, model = write_model(tmp_path)
    blobs = tiny_blobs()
    # The prototxt given at load time says eps 1e-3; the caffemodel keeps the default.
    proto2 = tmp_path / "eps.prototxt"
    proto2.write_text(TINY.replace("frozen: true", "frozen: true eps: 0.001"))
    net = convertkit.load(proto2, model)
    assert net.layer("conv1/bn").hparams.eps == pytest.approx(1e-3)
    assert len(net.layer("conv1/bn").params) == 4
    assert net.num_learned_blobs == 5
    assert net.num_params == 4 * 3 * 9 + 16
    assert net.layer("conv1").params[0].shape == blobs["conv1"][0].shape


def test_caffemodel_alone_is_readable(tmp_path):
    _, model = write_model(tmp_path)
    net = convertkit.load(None, model)
    assert [l.type for l in net.layers] == ["Convolution", "BN", "ReLU", "Pooling", "Interp"]
    assert net.inputs == {"data": (1, 3, 9, 9)}
    assert net.blob_shapes["up"] == (1, 4, 9, 9)
    assert any("no prototxt" in n for n in net.notes)


def test_mismatching_layers_are_listed_at_once(tmp_path):
    """Every problem of the first few layers, in one error (at most three layers are
    named, then a count: see tests/test_faults.py)."""
    _, model = write_model(tmp_path)
    bad = TINY.replace("num_output: 4", "num_output: 5").replace("bias_term: false", "")
    proto = tmp_path / "bad.prototxt"
    proto.write_text(bad)
    with pytest.raises(WeightMismatchError) as err:
        convertkit.load(proto, model)
    msg = str(err.value)
    assert "conv1: the prototxt needs 2 blobs (5x3x3x3, 5)" in msg
    assert "conv1/bn: blob 0: the prototxt needs 1x5x1x1, the caffemodel has 1x4x1x1" in msg
    assert "2 of 5 layers do not match" in msg


def test_layer_without_weights_in_the_caffemodel(tmp_path):
    blobs = tiny_blobs()
    del blobs["conv1/bn"]
    proto, model = write_model(tmp_path, blobs=blobs)
    with pytest.raises(WeightMismatchError, match=r"conv1/bn: needs 4 blobs .* has none"):
        convertkit.load(proto, model)


def test_extra_caffemodel_layers_are_ignored_with_a_note(tmp_path):
    extra = TINY + 'layer { name: "aux" type: "Convolution" bottom: "conv1" top: "aux" ' \
                   'convolution_param { num_output: 2 kernel_size: 1 } }\n'
    blobs = tiny_blobs()
    blobs["aux"] = [np.ones((2, 4, 1, 1), np.float32), np.zeros(2, np.float32)]
    _, model = write_model(tmp_path, text=extra, blobs=blobs, name="train")
    proto = tmp_path / "deploy.prototxt"
    proto.write_text(TINY)
    net = convertkit.load(proto, model)
    assert any("ignored 1 caffemodel layers" in n and "aux" in n for n in net.notes)


def test_legacy_v1_layers_and_hole_convolution(tmp_path):
    v1 = """
    name: "old"
    input: "data"
    input_dim: 1 input_dim: 1 input_dim: 8 input_dim: 8
    layers { name: "c" type: CONVOLUTION bottom: "data" top: "c"
             blobs_lr: 1 blobs_lr: 2 convolution_param { num_output: 2 kernel_size: 3 } }
    layers { name: "r" type: RELU bottom: "c" top: "c" }
    layers { name: "h" type: SOFTMAX bottom: "c" top: "p" }
    """
    proto = tmp_path / "v1.prototxt"
    proto.write_text(v1)
    net = convertkit.load(proto)
    assert [(l.name, l.type) for l in net.layers] == [
        ("c", "Convolution"), ("r", "ReLU"), ("h", "Softmax")]
    assert net.layer("c").proto.param[1].lr_mult == 2
    assert net.blob_shapes["p"] == (1, 2, 6, 6)
    assert any("V1" in n for n in net.notes)

    hole = tmp_path / "hole.prototxt"
    hole.write_text('input: "data" input_dim: 1 input_dim: 1 input_dim: 9 input_dim: 9\n'
                    'layer { name: "d" type: "HoleConvolution" bottom: "data" top: "d" '
                    'convolution_param { num_output: 1 kernel_size: 3 hole: 2 } }')
    net = convertkit.load(hole)
    assert net.layer("d").type == "Convolution"
    assert list(net.layer("d").proto.convolution_param.dilation) == [2]
    assert net.blob_shapes["d"] == (1, 1, 5, 5)  # 9 - (2*(3-1)+1) + 1


def test_test_phase_filter_and_training_layers_dropped(tmp_path):
    text = """
    layer { name: "data" type: "Data" top: "data" top: "label"
            include { phase: TRAIN } data_param { source: "x" batch_size: 2 } }
    layer { name: "data_test" type: "Data" top: "data" top: "label"
            include { phase: TEST } data_param { source: "y" batch_size: 1 } }
    layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc"
            inner_product_param { num_output: 3 } }
    layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }
    layer { name: "acc" type: "Accuracy" bottom: "fc" bottom: "label" top: "acc"
            exclude { phase: TRAIN } }
    """
    proto = tmp_path / "train_val.prototxt"
    proto.write_text(text)
    net = convertkit.load(proto, input_shapes={"data": (2, 4, 1, 1)})
    assert [l.name for l in net.layers] == ["fc"]
    assert net.blob_shapes["fc"] == (2, 3)
    notes = " ".join(net.notes)
    assert "not in the TEST phase: data" in notes
    assert "data_test (Data)" in notes and "loss (SoftmaxWithLoss)" in notes


def test_input_layer_becomes_a_net_input(tmp_path):
    proto = tmp_path / "input.prototxt"
    proto.write_text('layer { name: "in" type: "Input" top: "x" '
                     'input_param { shape { dim: 2 dim: 3 dim: 4 dim: 5 } } }\n'
                     'layer { name: "r" type: "ReLU" bottom: "x" top: "y" }')
    net = convertkit.load(proto)
    assert net.inputs == {"x": (2, 3, 4, 5)} and [l.name for l in net.layers] == ["r"]


def test_unsupported_types_are_all_listed(tmp_path):
    proto = tmp_path / "u.prototxt"
    proto.write_text('input: "data" input_dim: 1 input_dim: 1 input_dim: 2 input_dim: 2\n'
                     'layer { name: "a" type: "Frobnicate" bottom: "data" top: "a" }\n'
                     'layer { name: "b" type: "Warp" bottom: "a" top: "b" }\n'
                     'layer { name: "c" type: "Frobnicate" bottom: "b" top: "c" }\n')
    with pytest.raises(UnsupportedLayerError) as err:
        convertkit.load(proto)
    assert "3 layers of unsupported types: Frobnicate (a, c); Warp (b)" in str(err.value)


def test_syntax_error_has_line_and_column(tmp_path):
    proto = tmp_path / "s.prototxt"
    proto.write_text('name: "x"\nlayer {\n  name: "a"\n  tpye: "ReLU"\n}\n')
    with pytest.raises(PrototxtError) as err:
        convertkit.load(proto)
    assert str(err.value).startswith(f"{proto}:4:3: syntax error")
    assert "tpye" in str(err.value)


def test_absurd_input_shape_refused_before_allocation(tmp_path):
    proto = tmp_path / "big.prototxt"
    proto.write_text('input: "data" input_dim: 1 input_dim: 3 input_dim: 100000 input_dim: 100000\n'
                     'layer { name: "r" type: "ReLU" bottom: "data" top: "r" }')
    with pytest.raises(PrototxtError, match="absurd shape 1x3x100000x100000"):
        convertkit.load(proto)
    proto.write_text('input: "data" input_dim: 1 input_dim: 3 input_dim: 0 input_dim: 4\n')
    with pytest.raises(PrototxtError, match="non-positive"):
        convertkit.load(proto)


def test_inconsistent_model_names_layer_and_shapes(tmp_path):
    proto = tmp_path / "e.prototxt"
    proto.write_text('input: "a" input_dim: 1 input_dim: 2 input_dim: 4 input_dim: 4\n'
                     'input: "b" input_dim: 1 input_dim: 2 input_dim: 5 input_dim: 5\n'
                     'layer { name: "sum" type: "Eltwise" bottom: "a" bottom: "b" top: "s" }')
    with pytest.raises(ShapeError) as err:
        convertkit.load(proto)
    msg = str(err.value)
    assert "layer 'sum'" in msg and "1x2x4x4" in msg and "1x2x5x5" in msg


def test_missing_files_and_wrong_kinds(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        convertkit.load(tmp_path / "missing.prototxt")
    proto, model = write_model(tmp_path)
    # A caffemodel where the prototxt goes is read alone (its stored net definition).
    assert convertkit.load(model).inputs == convertkit.load(None, model).inputs
    junk = tmp_path / "junk.prototxt"
    junk.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(PrototxtError, match="binary file"):
        convertkit.load(junk)
    with pytest.raises(CaffemodelError, match="text prototxt"):
        convertkit.load(proto, proto)
    with pytest.raises(UsageError):
        convertkit.load(None, None)


def test_input_shape_override_by_name_or_for_the_only_input(tmp_path):
    proto = tmp_path / "t.prototxt"
    proto.write_text(TINY)
    net = convertkit.load(proto, input_shapes={None: (2, 3, 10, 10)})
    assert net.blob_shapes["pool"] == (2, 4, 6, 6)  # ceil((10+2-3)/2)+1 = 6
    with pytest.raises(UsageError, match="no network input named 'img'"):
        convertkit.load(proto, input_shapes={"img": (1, 3, 9, 9)})
