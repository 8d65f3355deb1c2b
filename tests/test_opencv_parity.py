"""The numpy runtime against OpenCV dnn, an outside implementation of Caffe's layers,
on the zoo's real topologies: every layer OpenCV exposes, element-wise, within
max|diff| <= 1e-4 * max|ref| (issue #3)."""
from __future__ import annotations

import numpy as np
import pytest

from convertkit import zoo
from convertkit.preprocess import preprocess_batch, sample_images
from convertkit.runtime.numpy import forward_layers
from convertkit.runtime.opencv import OpenCVRuntime

from support import assert_close

pytest.importorskip("cv2", reason="opencv-python-headless is not installed")

REL = 1e-4

SMALL = [
    ("icnet", dict(input_size=(193, 385), bn="keep")),
    ("icnet", dict(input_size=(193, 385), bn="merge")),
    ("pspnet50", dict(input_size=97)),
    ("pspnet101", dict(input_size=(97, 129))),
]


def images(hw, n=2):
    paths = sample_images()[:n]
    if not paths:
        pytest.skip("fixtures/images is not present")
    return preprocess_batch(paths, hw)


def compare_every_layer(net, batch):
    ours = forward_layers(net, {"data": batch})
    cv = OpenCVRuntime(net)
    theirs = cv.forward_layers({"data": batch}, list(ours))
    assert set(theirs) == set(ours)
    worst = []
    for name, ref in theirs.items():
        assert_close(ours[name], ref, rel=REL, what=name)
        scale = float(np.max(np.abs(ref))) or 1.0
        worst.append((float(np.max(np.abs(ours[name] - ref))) / scale, name))
    return max(worst)


@pytest.mark.parametrize("name, kw", SMALL, ids=[f"{n}-{kw.get('bn', 'keep')}" for n, kw in SMALL])
def test_every_layer_matches_opencv_on_small_real_topologies(name, kw):
    _, net = zoo.make(name, width=0.125, seed=0, **kw)
    batch = images(net.inputs["data"][2:], n=1)
    compare_every_layer(net, batch)


def test_batch_of_two_and_the_rewrite_keeps_names():
    _, net = zoo.make("icnet", input_size=(193, 385), width=0.125, bn="keep")
    batch = images(net.inputs["data"][2:], n=2)
    cv = OpenCVRuntime(net)
    rewritten = cv.loaded({"data": batch}).net
    kinds = {l.type for l in rewritten.layers}
    assert "BN" not in kinds and {"BatchNorm", "Scale"} <= kinds
    for layer in rewritten.layers:
        if layer.type == "Interp":
            p = layer.proto.interp_param
            assert p.HasField("height") and not p.HasField("shrink_factor") \
                and not p.HasField("zoom_factor")
    ours = forward_layers(net, {"data": batch}, ["conv6_interp", "sub24_sum", "conv1_sub1/bn"])
    theirs = cv.forward_layers({"data": batch}, list(ours))
    for k in ours:
        assert ours[k].shape[0] == 2
        assert_close(ours[k], theirs[k], rel=REL, what=k)


@pytest.mark.slow
@pytest.mark.parametrize("name, kw", [("icnet", dict(bn="keep")), ("icnet", dict(bn="merge")),
                                      ("pspnet50", {})], ids=["icnet", "icnet-merged", "pspnet50"])
def test_full_size_official_nets_match_opencv(name, kw):
    _, net = zoo.make(name, **kw)
    batch = images(net.inputs["data"][2:], n=1)
    compare_every_layer(net, batch)
