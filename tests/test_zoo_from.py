"""``zoo make --from``: seeded, calibrated weights for any prototxt, and the BVLC
classics built that way at reduced sizes agree across every runtime."""
import json
from pathlib import Path

import numpy as np
import pytest

import convertkit
from convertkit import runtime
from convertkit.cli import main
from convertkit.zoo.anynet import calibration_data, make_from

from support import assert_close

REAL = Path(__file__).resolve().parents[2] / "shared" / "real-models" / "prototxt"

#: (prototxt, reduced input shape): the smallest sizes each topology runs at.
CLASSICS = [
    ("bvlc_alexnet_deploy", (1, 3, 67, 67)),
    ("bvlc_googlenet_deploy", (1, 3, 224, 224)),
    ("vgg16_ilsvrc_deploy_v1", (1, 3, 8, 8)),       # this copy pools with stride 1
    ("resnet50_deploy", (1, 3, 224, 224)),
    ("squeezenet_v1.1_deploy", (1, 3, 64, 64)),
    ("mobilenet_v1_deploy", (1, 3, 64, 64)),
    ("mobilenet_v2_deploy", (1, 3, 64, 64)),
    ("fcn_voc_fcn8s_deploy", (1, 3, 64, 64)),
    ("densenet121", (1, 3, 64, 64)),
    ("se_bn_inception", (1, 3, 224, 224)),
    ("se_resnet50", (1, 3, 224, 224)),
]
FRAMEWORKS = ["opencv", "torch", "onnx", "tf"]


def built(name, shape, seed=0):
    path = REAL / f"{name}.prototxt"
    if not path.is_file():
        pytest.skip(f"{path} not found (needs ../shared/real-models)")
    net = convertkit.load(path, input_shapes={None: shape})
    return make_from(net, seed)[0]


@pytest.fixture(scope="module", params=CLASSICS, ids=[c[0] for c in CLASSICS])
def classic(request):
    name, shape = request.param
    net = built(name, shape)
    inputs, _ = calibration_data(net, seed=7)
    ref = runtime.create("numpy", net).forward(inputs, keep="all")
    return net, inputs, ref


def test_activations_stay_order_one(classic):
    net, inputs, ref = classic
    for name, value in ref.items():
        if name in inputs:
            continue
        assert np.isfinite(value).all(), name
        assert float(np.mean(np.abs(value))) < 4.0, name
        assert float(np.max(np.abs(value))) < 100.0, name


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_every_runtime_agrees(classic, framework):
    if framework not in runtime.installed_runtimes():
        pytest.skip(f"the {framework} runtime is not installed")
    net, inputs, ref = classic
    got = runtime.create(framework, net).forward(inputs, keep="outputs")
    for name in net.outputs:
        assert_close(got[name], ref[name], what=f"{framework} {name}")
        if ref[name].ndim >= 2 and ref[name].shape[1] > 1:
            assert np.array_equal(got[name].argmax(1), ref[name].argmax(1)), name


def test_cli_writes_a_loadable_pair_byte_identically(tmp_path, capsys):
    src = REAL / "squeezenet_v1.1_deploy.prototxt"
    if not src.is_file():
        pytest.skip(f"{src} not found (needs ../shared/real-models)")
    args = ["zoo", "make", "--from", str(src), "--input-shape", "1,3,64,64", "--json"]
    assert main(args + ["-o", str(tmp_path / "a")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["inputs"] == {"data": [1, 3, 64, 64]}
    assert main(args + ["-o", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    for suffix in (".prototxt", ".caffemodel"):
        a = (tmp_path / "a" / f"squeezenet_v1.1_deploy{suffix}").read_bytes()
        assert a == (tmp_path / "b" / f"squeezenet_v1.1_deploy{suffix}").read_bytes()
    net = convertkit.load(tmp_path / "a" / "squeezenet_v1.1_deploy.prototxt",
                          tmp_path / "a" / "squeezenet_v1.1_deploy.caffemodel")
    assert net.num_params == out["params"]
    assert main(["zoo", "make", "--from", str(src), "icnet", "-o", str(tmp_path / "c")]) == 2
    assert "not both" in capsys.readouterr().err
