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


#: py-faster-rcnn's VGG16 test net: fc6 -> relu6 -> drop6 with its fork's field.
FAST_RCNN = """
name: "drop" input: "x" input_shape { dim: 2 dim: 8 }
layer { name: "fc6" type: "InnerProduct" bottom: "x" top: "fc6" inner_product_param { num_output: 6 } }
layer { name: "drop6" type: "Dropout" bottom: "fc6" top: "fc6"
  dropout_param { dropout_ratio: 0.3 scale_train: false } }
layer { name: "cls" type: "InnerProduct" bottom: "fc6" top: "cls" inner_product_param { num_output: 3 } }
"""


def test_scale_train_false_scales_at_test_as_the_fork_does():
    """caffe-fast-rcnn: scale_ = 1 / (1 - ratio) held in float32, and TEST multiplies by
    float32(1 / scale_)."""
    x = rand((2, 3, 4, 4), 2)
    layer = make_layer('name: "d" type: "Dropout" bottom: "x" top: "x" '
                       'dropout_param { dropout_ratio: 0.3 scale_train: false }')
    assert layer.hparams.scale_train is False
    factor = np.float32(1.0 / float(np.float32(1.0 / (1.0 - float(np.float32(0.3))))))
    assert layer.impl.test_scale() == factor and abs(float(factor) - 0.7) < 1e-7
    np.testing.assert_array_equal(run_layer(layer, x)[0], x * factor)
    assert layer.impl.macs([x.shape], [x.shape]) == x.size
    plain = make_layer('name: "d" type: "Dropout" bottom: "x" top: "x" dropout_param { dropout_ratio: 0.3 }')
    assert plain.impl.test_scale() is None


@pytest.mark.parametrize("runtime", ["torch", "onnx", "tf", "opencv"])
def test_every_runtime_and_writer_keeps_the_factor(runtime, tmp_path):
    import convertkit
    from convertkit.emit.convert import prepare
    from convertkit.runtime import create

    pytest.importorskip({"torch": "torch", "onnx": "onnxruntime", "tf": "tensorflow",
                         "opencv": "cv2"}[runtime])
    (tmp_path / "net.prototxt").write_text(FAST_RCNN)
    net = convertkit.load(tmp_path / "net.prototxt")
    rng = np.random.default_rng(0)
    for layer in net.layers:
        layer.params = [rng.standard_normal(s).astype(np.float32)
                        for s in layer.impl.param_shapes(net.plan().bottom_shapes(layer))]
    x = rand((2, 8), 3)
    ref = create("numpy", net).forward({"x": x}, keep="all")
    plain = create("numpy", net.replace(layers=[l for l in net.layers if l.name != "drop6"]))
    assert not np.allclose(plain.forward({"x": x})["cls"], ref["cls"], rtol=1e-3)
    got = create(runtime, net).forward({"x": x}, keep="all")
    for name in ("fc6", "cls"):
        assert_close(got[name], ref[name], rel=1e-5, what=name)
    merged, _ = prepare(net, bn="merge")  # passes keep the layer
    assert any(l.name == "drop6" for l in merged.layers)
