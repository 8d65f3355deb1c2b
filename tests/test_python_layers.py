"""Published Python layers, built in: py-faster-rcnn's ProposalLayer and ENet's
SpatialDropoutLayer get a meaning (with a note saying which implementation was
assumed); unknown Python layers stay refused, naming the module and class. Faster
R-CNN's test nets (data + im_info, RPN, Proposal, ROIPooling, heads) run end to end."""
from pathlib import Path

import numpy as np
import pytest

import convertkit
from convertkit.cli import main
from convertkit.errors import PrototxtError, UnsupportedLayerError
from convertkit.layers.proposal import generate_anchors, nms, parse_param_str
from convertkit.runtime import create
from convertkit.zoo.anynet import calibration_data, make_from

from support import assert_close

REAL = Path(__file__).resolve().parents[2] / "shared" / "real-models" / "prototxt"

#: A small Faster R-CNN test net in py-faster-rcnn's layout (written for this test).
FRCNN = """
name: "tiny_frcnn"
input: "data" input_shape { dim: 1 dim: 3 dim: 64 dim: 80 }
input: "im_info" input_shape { dim: 1 dim: 3 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 8 kernel_size: 3 pad: 1 stride: 4 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "conv2" type: "Convolution" bottom: "conv1" top: "conv2"
  convolution_param { num_output: 8 kernel_size: 3 pad: 1 stride: 4 } }
layer { name: "relu2" type: "ReLU" bottom: "conv2" top: "conv2" }
layer { name: "rpn_cls_score" type: "Convolution" bottom: "conv2" top: "rpn_cls_score"
  convolution_param { num_output: 18 kernel_size: 1 } }
layer { name: "rpn_bbox_pred" type: "Convolution" bottom: "conv2" top: "rpn_bbox_pred"
  convolution_param { num_output: 36 kernel_size: 1 } }
layer { name: "rpn_cls_score_reshape" type: "Reshape" bottom: "rpn_cls_score"
  top: "rpn_cls_score_reshape" reshape_param { shape { dim: 0 dim: 2 dim: -1 dim: 0 } } }
layer { name: "rpn_cls_prob" type: "Softmax" bottom: "rpn_cls_score_reshape" top: "rpn_cls_prob" }
layer { name: "rpn_cls_prob_reshape" type: "Reshape" bottom: "rpn_cls_prob"
  top: "rpn_cls_prob_reshape" reshape_param { shape { dim: 0 dim: 18 dim: -1 dim: 0 } } }
layer { name: "proposal" type: "Python" bottom: "rpn_cls_prob_reshape" bottom: "rpn_bbox_pred"
  bottom: "im_info" top: "rois"
  python_param { module: "rpn.proposal_layer" layer: "ProposalLayer" param_str: "'feat_stride': 16" } }
layer { name: "roi_pool" type: "ROIPooling" bottom: "conv2" bottom: "rois" top: "pool"
  roi_pooling_param { pooled_w: 2 pooled_h: 2 spatial_scale: 0.0625 } }
layer { name: "fc" type: "InnerProduct" bottom: "pool" top: "fc" inner_product_param { num_output: 16 } }
layer { name: "relu_fc" type: "ReLU" bottom: "fc" top: "fc" }
layer { name: "drop" type: "Python" bottom: "fc" top: "fc"
  python_param { module: "spatial_dropout" layer: "SpatialDropoutLayer" param_str: "0.1" } }
layer { name: "cls_score" type: "InnerProduct" bottom: "fc" top: "cls_score"
  inner_product_param { num_output: 4 } }
layer { name: "bbox_pred" type: "InnerProduct" bottom: "fc" top: "bbox_pred"
  inner_product_param { num_output: 16 } }
layer { name: "cls_prob" type: "Softmax" bottom: "cls_score" top: "cls_prob" }
"""


def test_anchors_are_py_faster_rcnns():
    a = generate_anchors(16, [0.5, 1, 2], [8, 16, 32])
    assert a.shape == (9, 4)
    assert a[0].tolist() == [-84, -40, 99, 55] and a[4].tolist() == [-120, -120, 135, 135]
    assert a[8].tolist() == [-168, -344, 183, 359]


@pytest.mark.parametrize("text, expected", [
    ("'feat_stride': 16", {"feat_stride": 16}),
    ("{'feat_stride': 8, 'scales': (4, 8)}", {"feat_stride": 8, "scales": (4, 8)}),
    ("'feat_stride': 16\n'scales': [8, 16]", {"feat_stride": 16, "scales": [8, 16]}),
    ("", {}),
])
def test_param_str_is_read_as_literals(text, expected):
    assert parse_param_str(text, "proposal") == expected


def test_param_str_is_never_executed():
    with pytest.raises(PrototxtError, match="cannot read python_param.param_str"):
        parse_param_str("__import__('os').system('true')", "proposal")


def test_nms_suppresses_overlaps_above_the_threshold():
    boxes = np.array([[0, 0, 9, 9], [1, 1, 10, 10], [20, 20, 29, 29], [0, 0, 9, 8]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.95], np.float32)
    # [3] beats [0] (IoU 0.9) and [1] (IoU 0.66 > 0.5); [2] overlaps nothing.
    assert nms(boxes, scores, 0.5) == [3, 2]
    assert nms(boxes, scores, 0.95) == [3, 0, 1, 2]


@pytest.fixture(scope="module")
def frcnn(tmp_path_factory):
    path = tmp_path_factory.mktemp("frcnn") / "test.prototxt"
    path.write_text(FRCNN)
    net, _ = make_from(convertkit.load(path), 0)
    return net


def test_known_python_layers_get_their_meaning_with_a_note(frcnn):
    types = {l.name: l.type for l in frcnn.layers}
    assert types["proposal"] == "Proposal" and types["drop"] == "SpatialDropout"
    notes = " | ".join(frcnn.notes)
    assert "Python layer 'proposal' (rpn.proposal_layer.ProposalLayer) taken as py-faster-rcnn's" in notes
    assert "(spatial_dropout.SpatialDropoutLayer) taken as ENet's SpatialDropoutLayer" in notes
    assert frcnn.input_values() == {"im_info": pytest.approx(np.array([[64, 80, 1]], np.float32))}


def test_an_unknown_python_layer_is_still_refused(tmp_path):
    path = tmp_path / "net.prototxt"
    path.write_text(FRCNN.replace("rpn.proposal_layer", "my_lab.proposals"))
    with pytest.raises(UnsupportedLayerError, match=r"module my_lab.proposals, class ProposalLayer"):
        convertkit.load(path)


def test_proposals_follow_the_release_rules(frcnn):
    inputs, _ = calibration_data(frcnn, 0)
    inputs["data"] = inputs["data"][:1]
    blobs = create("numpy", frcnn).forward(inputs, keep="all")
    rois = blobs["rois"]
    assert rois.ndim == 2 and rois.shape[1] == 5 and 1 <= len(rois) <= 300
    assert (rois[:, 0] == 0).all()
    h, w = 64, 80
    assert (rois[:, 1] >= 0).all() and (rois[:, 3] <= w - 1).all()
    assert (rois[:, 2] >= 0).all() and (rois[:, 4] <= h - 1).all()
    assert ((rois[:, 3] - rois[:, 1] + 1 >= 16) & (rois[:, 4] - rois[:, 2] + 1 >= 16)).all()
    assert blobs["cls_prob"].shape == (len(rois), 4) and blobs["bbox_pred"].shape == (len(rois), 16)


def test_faster_rcnn_runs_in_torch_and_is_cut_for_the_others(frcnn, tmp_path, capsys):
    pytest.importorskip("torch")
    inputs, _ = calibration_data(frcnn, 0)
    inputs["data"] = inputs["data"][:1]
    ref = create("numpy", frcnn).forward(inputs, keep="all")
    got = create("torch", frcnn).forward(inputs, keep="all")
    for name in ("rois", "pool", "cls_prob", "bbox_pred"):
        assert got[name].shape == ref[name].shape, name
        assert_close(got[name], ref[name], rel=1e-4, what=name)
    from convertkit.emit.convert import cut_for

    cut = cut_for(frcnn, "onnx", "onnx")
    assert cut is not None and set(cut[0].outputs) >= {"rpn_cls_prob_reshape", "rpn_bbox_pred"}


@pytest.mark.slow
def test_py_faster_rcnn_vgg16_test_net_end_to_end(tmp_path, capsys):
    """The released VGG16 test net (zoo weights at 128x160): numpy and PyTorch agree on
    the proposals and the heads."""
    src = REAL / "faster_rcnn_vgg16_voc_test.prototxt"
    if not src.is_file():
        pytest.skip(f"{src} not found (needs ../shared/real-models)")
    pytest.importorskip("torch")
    assert main(["zoo", "make", "--from", str(src), "--input-shape", "data:1,3,128,160",
                 "-o", str(tmp_path)]) == 0
    net = convertkit.load(tmp_path / src.name, tmp_path / src.with_suffix(".caffemodel").name)
    inputs, _ = calibration_data(net, 0)
    inputs["data"] = inputs["data"][:1]
    ref = create("numpy", net).forward(inputs, keep=["rois", "cls_prob", "bbox_pred"])
    got = create("torch", net).forward(inputs, keep=["rois", "cls_prob", "bbox_pred"])
    assert len(ref["rois"]) > 10
    for name in ref:
        assert_close(got[name], ref[name], rel=1e-4, what=name)
