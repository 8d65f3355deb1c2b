"""A caffemodel alone: inspect, caffe2npz, convert and run read the net definition
stored in it. Training snapshots work: data layers become inputs, labels and the
layers computed from them leave, loss/accuracy/silence layers are dropped with a note,
and the Split layers Caffe inserted are taken out again."""
from pathlib import Path

import numpy as np
import pytest

import convertkit
from convertkit.cli import main
from convertkit.caffe.proto import parse_text
from convertkit.runtime import create

REAL = Path(__file__).resolve().parents[2] / "shared" / "real-models"

#: A training net as Caffe saves it in a snapshot: TRAIN-phase data layer, the Split
#: layers Caffe inserted, labels sliced for two losses, an unknown loss type.
SNAPSHOT = """
name: "snap"
layer { name: "mnist" type: "Data" top: "data" top: "label" include { phase: TRAIN }
  transform_param { scale: 0.00390625 } data_param { source: "train_lmdb" batch_size: 64 } }
layer { name: "slicer" type: "Slice" bottom: "label" top: "label_a" top: "label_b"
  slice_param { slice_point: 1 } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 4 kernel_size: 5 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "ip" type: "InnerProduct" bottom: "conv1" top: "ip"
  inner_product_param { num_output: 10 } }
layer { name: "ip_ip_0_split" type: "Split" bottom: "ip" top: "ip_ip_0_split_0"
  top: "ip_ip_0_split_1" top: "ip_ip_0_split_2" }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip_ip_0_split_0" bottom: "label_a" top: "loss" }
layer { name: "accuracy" type: "Accuracy" bottom: "ip_ip_0_split_1" bottom: "label_a" top: "acc" }
layer { name: "triplet" type: "TripletLoss" bottom: "ip_ip_0_split_2" bottom: "label_b" top: "tl" }
"""


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> Path:
    rng = np.random.default_rng(3)
    net = parse_text(SNAPSHOT)
    params = {"conv1": [(4, 1, 5, 5), (4,)], "ip": [(10, 4 * 8 * 8), (10,)]}
    for lp in net.layer:
        for shape in params.get(lp.name, ()):
            b = lp.blobs.add()
            b.shape.dim.extend(shape)
            b.data.extend(rng.standard_normal(shape).astype(np.float32).ravel().tolist())
    path = tmp_path_factory.mktemp("snap") / "snap_iter_1000.caffemodel"
    path.write_bytes(net.SerializeToString())
    return path


def test_the_net_inside_a_snapshot(snapshot):
    net = convertkit.load(snapshot)
    assert [l.name for l in net.layers] == ["conv1", "relu1", "ip"]
    assert net.inputs == {"data": None}
    assert net.outputs == ["ip"]
    notes = " | ".join(net.notes)
    assert "the net definition stored in the caffemodel is used" in notes
    assert "removed 1 Split layers Caffe had inserted" in notes
    assert "training net (a snapshot)" in notes
    assert "mnist (Data)" in notes and "loss (SoftmaxWithLoss)" in notes and "accuracy (Accuracy)" in notes
    assert "triplet (TripletLoss)" in notes
    assert "dropped the label input(s) label of the data layers and the 1 layer computed from them: slicer" in notes


def test_commands_take_a_caffemodel_alone(snapshot, tmp_path, capsys):
    assert main(["inspect", str(snapshot)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"convertkit: error: {snapshot}: the shape of input(s) data is unknown")
    assert "--input-shape data:N,C,H,W" in err
    assert main(["inspect", str(snapshot), "--input-shape", "1,1,12,12", "--json"]) == 0
    capsys.readouterr()
    assert main(["caffe2npz", str(snapshot), "-o", str(tmp_path / "w.npz")]) == 0
    with np.load(tmp_path / "w.npz") as z:
        assert len(z.files) == 4
    x = np.random.default_rng(0).standard_normal((2, 1, 12, 12)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(snapshot), "--input", str(tmp_path / "x.npy"),
                 "-o", str(tmp_path / "r.npz")]) == 0
    net = convertkit.load(snapshot, input_shapes={None: x.shape})
    ref = create("numpy", net).forward({"data": x})["ip"]
    with np.load(tmp_path / "r.npz") as z:
        np.testing.assert_array_equal(z["ip"], ref)
    assert main(["convert", str(snapshot), "--to", "onnx", "-o", str(tmp_path / "c"),
                 "--quiet"]) == 2
    assert f"{snapshot}: the shape of input 'data' is unknown" in capsys.readouterr().err
    assert main(["convert", str(snapshot), "--to", "onnx,npz", "-o", str(tmp_path / "c"),
                 "--input-shape", "1,1,12,12", "--quiet"]) == 0
    assert (tmp_path / "c" / "snap_iter_1000.onnx").is_file()


#: The training snapshots in ../shared/real-models, with an input shape for each.
SNAPSHOTS = [
    ("mtcnn_kpzhang93/det1.caffemodel", (1, 3, 12, 12)),
    ("mtcnn_kpzhang93/det2.caffemodel", (1, 3, 24, 24)),
    ("mtcnn_kpzhang93/det3.caffemodel", (1, 3, 48, 48)),
    ("mtcnn_kpzhang93/det4.caffemodel", (1, 15, 24, 24)),
    ("lenet_caffe_tensorflow/lenet_iter_10000.caffemodel", (1, 1, 28, 28)),
    ("bvlc_examples_v1_everpeace/lenet_iter_10000.caffemodel", (1, 1, 28, 28)),
    ("bvlc_examples_v1_everpeace/cifar10_quick_iter_5000.caffemodel", (1, 3, 32, 32)),
    ("bvlc_examples_v1_everpeace/cifar10_full_iter_60000.caffemodel", (1, 3, 32, 32)),
]


def real(path: str) -> Path:
    p = REAL / path
    if not p.is_file():
        pytest.skip(f"{p} not found (needs ../shared/real-models)")
    return p


@pytest.mark.parametrize("path, shape", SNAPSHOTS, ids=[s[0] for s in SNAPSHOTS])
def test_real_training_snapshots_load_alone(path, shape, capsys):
    model = real(path)
    assert main(["inspect", str(model), "--input-shape", ",".join(map(str, shape))]) == 0
    out = capsys.readouterr()
    assert "training-only layers" in out.out + out.err
    net = convertkit.load(model, input_shapes={None: shape})
    assert not any(l.impl.training_only for l in net.layers)
    assert all("split" not in l.name for l in net.layers)
    assert all("label" not in b for l in net.layers for b in l.bottoms)


@pytest.mark.parametrize("stage, shape", [("det1", (1, 3, 12, 12)), ("det3", (1, 3, 48, 48))])
def test_a_snapshot_computes_what_its_deploy_net_computes(stage, shape):
    """MTCNN's released caffemodels are training snapshots; its deploy prototxts name
    the same layers. Alone, the caffemodel computes the deploy net's logits exactly."""
    model = real(f"mtcnn_kpzhang93/{stage}.caffemodel")
    x = np.random.default_rng(1).uniform(-1, 1, shape).astype(np.float32)
    alone = convertkit.load(model, input_shapes={None: shape})
    deploy = convertkit.load(model.with_suffix(".prototxt"), model)
    got = create("numpy", alone).forward({next(iter(alone.inputs)): x}, keep="all")
    ref = create("numpy", deploy).forward({next(iter(deploy.inputs)): x}, keep="all")
    shared = [b for b in got if b in ref and b not in alone.inputs]
    assert len(shared) >= 5
    for b in shared:
        np.testing.assert_array_equal(got[b], ref[b], err_msg=b)


def test_unknown_layer_types_that_are_not_losses_are_still_refused(tmp_path, capsys):
    net = parse_text(SNAPSHOT.replace('type: "ReLU"', 'type: "MyFancyReLU"'))
    path = tmp_path / "bad.caffemodel"
    path.write_bytes(net.SerializeToString())
    assert main(["inspect", str(path)]) == 2
    assert "MyFancyReLU (relu1)" in capsys.readouterr().err


def test_caffe2npz_in_chainercvs_form(snapshot, tmp_path, capsys):
    """``caffe2npz SOURCE.caffemodel TARGET.npz``, as ChainerCV's script takes it."""
    target = tmp_path / "target.npz"
    assert main(["caffe2npz", str(snapshot), str(target)]) == 0
    with np.load(target) as z:
        assert len(z.files) == 4
    assert main(["caffe2npz", str(snapshot), str(target)]) == 2  # exists: --force
    assert "already exists" in capsys.readouterr().err
    assert main(["caffe2npz", str(snapshot)]) == 2
    assert "give the .npz to write: -o OUT.npz" in capsys.readouterr().err
