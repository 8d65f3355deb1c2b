"""The five official definitions (../shared/reference/prototxt), read as they are.

The expected numbers are CAFFE_SEMANTICS.md section 4's, counted there from the
released files: layers, learned blobs and scalars a caffemodel stores for them.
"""
import json
from collections import Counter

import pytest

import convertkit
from convertkit.cli import main
from convertkit.errors import ShapeError
from convertkit.apps.summary import summarize

from conftest import official_path

EXPECTED = {
    # name: (layers, blobs, scalars, output shape, type counts)
    "pspnet50_ADE20K_473": (205, 302, 46_841_174, (1, 150, 473, 473),
                            dict(Convolution=61, BN=60, ReLU=56, Eltwise=16, Pooling=5,
                                 Interp=5, Concat=1, Dropout=1)),
    "pspnet101_cityscapes_713": (375, 557, 65_818_323, (1, 19, 713, 713),
                                 dict(Convolution=112, BN=111, ReLU=107, Eltwise=33, Pooling=5,
                                      Interp=5, Concat=1, Dropout=1)),
    "pspnet101_VOC2012_473": (375, 557, 65_819_349, (1, 21, 473, 473), None),
    "icnet_cityscapes": (156, 129, 6_685_718, (1, 19, 1025, 2049),
                         dict(Convolution=64, ReLU=57, Eltwise=19, Interp=10, Pooling=5, Scale=1)),
    "icnet_cityscapes_bnnomerge": (219, 318, 6_728_534, (1, 19, 1025, 2049),
                                   dict(Convolution=64, BN=63, ReLU=57, Eltwise=19, Interp=10,
                                        Pooling=5, Scale=1)),
}


def test_counts_match_the_released_files(official_prototxt):
    layers, blobs, scalars, out_shape, types = EXPECTED[official_prototxt.stem]
    net = convertkit.load(official_prototxt)
    s = summarize(net)
    assert s["totals"]["layers"] == layers
    assert s["totals"]["learned_blobs"] == blobs
    assert s["totals"]["params"] == scalars
    assert s["outputs"] == {"conv6_interp": list(out_shape)}
    if types:
        assert Counter(l["type"] for l in s["layers"]) == Counter(types)
    assert s["totals"]["macs"] > 0
    assert s["totals"]["flops"] == s["totals"]["macs"]  # the deprecated alias


def test_inspect_json_contract(official_prototxt, capsys):
    assert main(["inspect", str(official_prototxt), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"inputs", "layers", "totals"}
    assert set(out["totals"]) >= {"layers", "learned_blobs", "params", "macs"}
    assert "blobs" not in out["totals"]  # "blobs" are activations; never a count of weights
    first = out["layers"][0]
    assert set(first) >= {"name", "type", "bottoms", "tops", "top_shapes", "param_shapes",
                          "param_roles", "params", "macs"}
    assert out["totals"]["layers"] == EXPECTED[official_prototxt.stem][0]


def test_known_sizes(official_prototxt):
    """Spot checks of CAFFE_SEMANTICS.md sections 2-4."""
    net = convertkit.load(official_prototxt)
    shapes = net.blob_shapes
    name = official_prototxt.stem
    if name.startswith("pspnet50"):
        assert shapes["conv1_1_3x3_s2"][2:] == (237, 237)
        assert shapes["pool1_3x3_s2"][2:] == (119, 119)
        assert shapes["conv5_3"][1:] == (2048, 60, 60)
        assert shapes["conv5_3_pool6"][2:] == (6, 6)
        assert shapes["conv5_3_concat"][1] == 4096
    elif name.startswith("pspnet101_city"):
        assert shapes["conv1_1_3x3_s2"][2:] == (357, 357)
        assert shapes["pool1_3x3_s2"][2:] == (179, 179)
        assert shapes["conv5_3"][2:] == (90, 90)
        assert net.layer("conv3_1_3x3").hparams.stride == (2, 2)
    elif name.startswith("icnet"):
        assert shapes["data_sub2"][2:] == (513, 1025)
        assert shapes["pool1_3x3_s2"][2:] == (129, 257)
        assert shapes["conv3_1_sub4"][2:] == (33, 65)
        assert shapes["conv5_3_pool3"][2:] == (3, 3)
        assert shapes["sub12_sum_interp"][2:] == (257, 513)


@pytest.mark.parametrize("name", ["icnet_cityscapes", "icnet_cityscapes_bnnomerge"])
def test_icnet_at_1024x2048_fails_at_sub12_sum(name):
    with pytest.raises(ShapeError) as err:
        convertkit.load(official_path(name), input_shapes={"data": (1, 3, 1024, 2048)})
    msg = str(err.value)
    assert "layer 'sub12_sum'" in msg
    assert "128x256" in msg and "129x257" in msg


@pytest.mark.parametrize("size", [480, 512, 465])
def test_pspnet50_rejects_other_sizes(size):
    with pytest.raises(ShapeError, match="conv5_3_concat"):
        convertkit.load(official_path("pspnet50_ADE20K_473"), input_shapes={"data": (1, 3, size, size)})
