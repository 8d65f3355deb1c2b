"""DeepLab v1's V1-format nets (the deeplab-public fork): its V1 layer types
(IMAGE_SEG_DATA, INTERP, MAT_WRITE, SEG_ACCURACY...), V1 convolution's `hole`, its
`strict_dim` field, and its `${NAME}` templates; an unknown V1 type is one line."""
import numpy as np
import pytest

import convertkit
from convertkit.cli import main
from convertkit.errors import PrototxtError
from convertkit.runtime import create

from support import assert_close

#: A DeepLab-v1-style test net in the fork's V1 format, written for this test.
V1_NET = """
name: "${NET_ID}"
layers {
  name: "data" type: IMAGE_SEG_DATA top: "data" top: "label"
  image_data_param { root_folder: "${DATA_ROOT}" source: "list.txt" batch_size: 1 has_label: false }
  transform_param { mean_value: 104.008 mean_value: 116.669 mean_value: 122.675 crop_size: 33 }
  include: { phase: TEST }
}
layers { bottom: "data" top: "conv1" name: "conv1" type: CONVOLUTION
  convolution_param { num_output: 4 pad: 1 kernel_size: 3 } }
layers { bottom: "conv1" top: "conv1" name: "relu1" type: RELU }
layers { bottom: "conv1" top: "pool1" name: "pool1" type: POOLING
  pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 } }
layers { bottom: "pool1" top: "fc6" name: "fc6" type: CONVOLUTION strict_dim: false
  convolution_param { num_output: 6 pad: 2 hole: 2 kernel_size: 3 } }
layers { bottom: "fc6" top: "fc6" name: "drop6" type: DROPOUT dropout_param { dropout_ratio: 0.5 } }
layers { bottom: "fc6" top: "fc8_${EXP}" name: "fc8_${EXP}" type: CONVOLUTION
  convolution_param { num_output: ${NUM_LABELS} kernel_size: 1 } }
layers { bottom: "fc8_${EXP}" top: "fc8_interp" name: "fc8_interp" type: INTERP
  interp_param { zoom_factor: 2 } }
layers { name: "fc8_mat" type: MAT_WRITE bottom: "fc8_interp"
  mat_write_param { prefix: "out/" source: "ids.txt" strip: 0 period: 1 } include: { phase: TEST } }
layers { bottom: "label" name: "silence" type: SILENCE include: { phase: TEST } }
"""
DEFINES = {"NET_ID": "deeplab_v1", "DATA_ROOT": "/data", "EXP": "voc12", "NUM_LABELS": "5"}


@pytest.fixture
def v1_net(tmp_path):
    path = tmp_path / "test.prototxt"
    path.write_text(V1_NET)
    return path


def test_a_deeplab_v1_net_is_read_and_upgraded(v1_net):
    net = convertkit.load(v1_net, defines=DEFINES)
    assert [(l.name, l.type) for l in net.layers] == [
        ("conv1", "Convolution"), ("relu1", "ReLU"), ("pool1", "Pooling"), ("fc6", "Convolution"),
        ("drop6", "Dropout"), ("fc8_voc12", "Convolution"), ("fc8_interp", "Interp")]
    assert net.inputs == {"data": (1, 3, 33, 33)}  # from crop_size
    fc6 = net.layer("fc6")
    assert list(fc6.proto.convolution_param.dilation) == [2]
    assert not fc6.proto.convolution_param.HasField("hole")
    assert net.blob_shapes["fc8_interp"] == (1, 5, 33, 33)
    notes = " | ".join(net.notes)
    assert "upgraded 10 legacy V1 layers" in notes
    assert "upgraded 1 HoleConvolution layers (DeepLab-v1's `hole`)" in notes
    assert "data (ImageSegData), fc8_mat (MatWrite), silence (Silence)" in notes


@pytest.mark.parametrize("runtime", ["torch", "onnx"])
def test_the_hole_is_a_dilation_in_every_runtime(v1_net, runtime, tmp_path):
    """The hole convolution computes what the same net written with `dilation` does."""
    pytest.importorskip({"torch": "torch", "onnx": "onnxruntime"}[runtime])
    net = convertkit.load(v1_net, defines=DEFINES)
    rng = np.random.default_rng(0)
    plan = net.plan()
    for layer in net.layers:
        layer.params = [rng.standard_normal(s).astype(np.float32)
                        for s in layer.impl.param_shapes(plan.bottom_shapes(layer))]
    x = rng.standard_normal((1, 3, 33, 33)).astype(np.float32)
    ref = create("numpy", net).forward({"data": x}, keep="all")
    # By hand: fc6 as a dilated convolution of pool1.
    w, b = net.layer("fc6").params
    xp = np.pad(ref["pool1"], ((0, 0), (0, 0), (2, 2), (2, 2)))
    h, w_ = ref["pool1"].shape[2:]
    fc6 = sum(np.einsum("ok,nkhw->nohw", w[:, :, i, j], xp[:, :, 2 * i:2 * i + h, 2 * j:2 * j + w_])
              for i in range(3) for j in range(3)) + b[None, :, None, None]
    assert_close(ref["fc6"], fc6, rel=1e-5, what="fc6")
    got = create(runtime, net).forward({"data": x}, keep="all")
    for name in ("fc6", "fc8_interp"):
        assert_close(got[name], ref[name], rel=1e-4, what=name)


def test_an_unknown_v1_type_is_one_line_naming_it_and_the_line(tmp_path, capsys):
    path = tmp_path / "bad.prototxt"
    path.write_text(V1_NET.replace("type: INTERP", "type: FROBNICATE"))
    with pytest.raises(PrototxtError, match=r"bad.prototxt:\d+:\d+: unknown V1 layer type FROBNICATE"):
        convertkit.load(path, defines=DEFINES)
    args = ["inspect", str(path)] + [a for k, v in DEFINES.items() for a in ("--define", f"{k}={v}")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown V1 layer type FROBNICATE" in err[0]


def test_a_template_without_its_defines_names_the_placeholders(v1_net):
    with pytest.raises(PrototxtError, match=r"give a value for \$\{NUM_LABELS\}"):
        convertkit.load(v1_net)
