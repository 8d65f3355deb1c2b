"""``convertkit convert``, ``caffe2npz`` and ``mappings``: end to end on zoo models, each
output read back by its framework alone."""
import json
import subprocess
import sys

import numpy as np
import pytest

import convertkit
from convertkit.emit import convert as conv
from convertkit import zoo
from convertkit.cli import main
from convertkit.runtime.preprocess import preprocess, sample_images
from convertkit.runtime.numpy import forward
from convertkit.caffe.wire import save_caffemodel

from support import assert_close, tiny_ssd

WEIGHTS = "npy,npz,h5,torch,safetensors"


@pytest.fixture(scope="module")
def icnet(tmp_path_factory):
    d = tmp_path_factory.mktemp("icnet")
    text, net = zoo.make("icnet", input_size=(193, 385), width=0.125, bn="keep")
    (d / "icnet.prototxt").write_text(text)
    save_caffemodel(net, d / "icnet.caffemodel")
    return d / "icnet.prototxt", d / "icnet.caffemodel", net


def run_json(args, capsys):
    rc = main(args + ["--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    return json.loads(out.out)


def test_convert_writes_every_weight_format_byte_identically(icnet, tmp_path, capsys):
    proto, model, net = icnet
    args = ["convert", str(proto), str(model), "--to", WEIGHTS, "-o", str(tmp_path / "a")]
    first = run_json(args, capsys)
    assert set(first["formats"]) == set(WEIGHTS.split(","))
    assert first["params"] == net.num_params
    again = run_json(args[:-1] + [str(tmp_path / "b")], capsys)
    for fmt, info in first["formats"].items():
        for a, b in zip(info["files"], again["formats"][fmt]["files"]):
            assert open(a, "rb").read() == open(b, "rb").read(), fmt
    # Without --force the second run into the same folder changes nothing.
    before = {f: open(f, "rb").read() for f in first["written"]}
    assert main(args) == 2
    assert "exists" in capsys.readouterr().err
    assert all(open(f, "rb").read() == data for f, data in before.items())


def test_outputs_load_with_their_own_frameworks(icnet, tmp_path, capsys):
    proto, model, net = icnet
    out = run_json(["convert", str(proto), str(model), "--to", "npy,npz,torch", "-o",
                    str(tmp_path)], capsys)
    files = {k: v["files"][0] for k, v in out["formats"].items()}
    w = net.layer("conv1_1_3x3_s2").params[0]
    npz = np.load(files["npz"])
    np.testing.assert_array_equal(npz["conv1_1_3x3_s2/weight"], w)
    d = np.load(files["npy"], allow_pickle=True).item()
    np.testing.assert_array_equal(d["conv1_1_3x3_s2"]["weight"], w)
    import torch

    sd = torch.load(files["torch"], weights_only=True)
    np.testing.assert_array_equal(sd["conv1_1_3x3_s2.weight"].numpy(), w)


def test_standalone_onnx_and_pt2_match_the_reference(icnet, tmp_path, capsys):
    proto, model, net = icnet
    out = run_json(["convert", str(proto), str(model), "--to", "onnx,pt2", "-o", str(tmp_path)],
                   capsys)
    x = preprocess(sample_images()[0], (193, 385))
    np.save(tmp_path / "x.npy", x)
    ref = forward(net, {"data": x})["conv6_interp"]
    script = """
import sys, numpy as np
x = np.load(sys.argv[3])
if sys.argv[1] == "onnx":
    import onnxruntime as ort
    s = ort.InferenceSession(sys.argv[2], providers=["CPUExecutionProvider"])
    y = s.run(None, {"data": x})[0]
else:
    import torch
    y = torch.export.load(sys.argv[2]).module()(torch.from_numpy(x))[0].detach().numpy()
assert "convertkit" not in sys.modules
np.save(sys.argv[4], y)
"""
    for fmt in ("onnx", "pt2"):
        dest = tmp_path / f"{fmt}.npy"
        subprocess.run([sys.executable, "-c", script, fmt, out["formats"][fmt]["files"][0],
                        str(tmp_path / "x.npy"), str(dest)], check=True, cwd=tmp_path)
        assert_close(np.load(dest), ref, what=fmt)


def test_caffe2npz_with_the_chainercv_table_flips_conv1_1(tmp_path, capsys):
    text, net = zoo.make("pspnet101", input_size=(97, 129), width=0.125)
    (tmp_path / "p.prototxt").write_text(text)
    save_caffemodel(net, tmp_path / "p.caffemodel")
    out = run_json(["caffe2npz", str(tmp_path / "p.prototxt"), str(tmp_path / "p.caffemodel"),
                    "--mapping", "chainercv", "-o", str(tmp_path / "c.npz")], capsys)
    assert out["written"] == [str(tmp_path / "c.npz")]
    npz = np.load(tmp_path / "c.npz")
    w = net.layer("conv1_1_3x3_s2").params[0]
    np.testing.assert_array_equal(npz["extractor/conv1_1/conv/W"], w[:, ::-1])
    assert "extractor/res4/b22/conv1/conv/W" in npz.files
    # --rgb flips in the graph instead; the table then leaves conv1_1 alone: same file.
    again = run_json(["caffe2npz", str(tmp_path / "p.prototxt"), str(tmp_path / "p.caffemodel"),
                      "--mapping", "chainercv", "--rgb", "-o", str(tmp_path / "r.npz")], capsys)
    assert again["written"]
    assert (tmp_path / "c.npz").read_bytes() == (tmp_path / "r.npz").read_bytes()


def test_hellochick_table_folds_a_non_unit_data_sub1(icnet, tmp_path, capsys):
    proto, model, net = icnet
    scaled = net.replace()
    sub1 = scaled.layer("data_sub1").replace()
    sub1.params = [np.array([0.5, 1.0, 2.0], np.float32)]
    scaled.layers[scaled.layers.index(scaled.layer("data_sub1"))] = sub1
    save_caffemodel(scaled, tmp_path / "s.caffemodel")
    out = run_json(["convert", str(proto), str(tmp_path / "s.caffemodel"), "--to", "npy,tf",
                    "--mapping", "hellochick-tf", "-o", str(tmp_path / "tf")], capsys)
    assert any("folded Scale 'data_sub1'" in n for n in out["notes"])
    d = np.load(out["formats"]["npy"]["files"][0], allow_pickle=True).item()
    w = net.layer("conv1_sub1").params[0].transpose(2, 3, 1, 0)
    np.testing.assert_allclose(d["conv1_sub1"]["weights"], w * np.float32([0.5, 1, 2])[:, None],
                               rtol=1e-6)
    assert "conv1_sub1_bn" in d and set(d["conv1_sub1_bn"]) == {"scale", "offset", "mean", "variance"}
    import tensorflow as tf

    names = {n for n, _ in tf.train.list_variables(out["formats"]["tf"]["files"][0].rsplit(".data", 1)[0])}
    assert "conv1_sub1_bn/moving_variance" in names and "conv1_sub1/weights" in names


def test_bn_merge_with_nothing_to_fold_says_so(tmp_path, capsys):
    proto = tmp_path / "r.prototxt"
    proto.write_text('name: "r" input: "data" input_shape { dim: 1 dim: 1 dim: 2 dim: 2 }\n'
                     'layer { name: "r" type: "ReLU" bottom: "data" top: "r" }\n')
    out = run_json(["convert", str(proto), "--to", "onnx", "--bn", "merge", "-o",
                    str(tmp_path / "o")], capsys)
    assert "nothing to fold" in out["notes"][0]


def faster_rcnn(folder):
    """py-faster-rcnn's small test net (tests/test_python_layers.py) with seeded
    weights, written into ``folder``: (prototxt, caffemodel)."""
    from test_python_layers import FRCNN

    from convertkit.zoo.anynet import make_from

    proto = folder / "frcnn.prototxt"
    proto.write_text(FRCNN)
    net, _ = make_from(convertkit.load(proto), 0)
    save_caffemodel(net, folder / "frcnn.caffemodel")
    return proto, folder / "frcnn.caffemodel"


def test_a_format_that_cannot_express_a_layer_is_refused_before_writing(tmp_path, capsys):
    """py-faster-rcnn's Proposal has no ONNX, TF or torch.export expression: asked for
    by name, the run stops before writing anything; --to all writes every other format."""
    pytest.importorskip("onnx")
    pytest.importorskip("torch")
    proto, model = faster_rcnn(tmp_path)
    out_dir = tmp_path / "out"
    rc = main(["convert", str(proto), str(model), "--to", "torch,onnx", "-o", str(out_dir), "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert "layer 'proposal': onnx cannot express Proposal" in err
    assert not out_dir.exists()
    out = run_json(["convert", str(proto), str(model), "--to", "all", "-o", str(out_dir)], capsys)
    left_out = {n.split(" ")[0] for n in out["notes"] if " left out: " in n}
    assert left_out == {"onnx", "pt2", "savedmodel", "keras", "keras-weights"}
    assert "torch.export cannot trace Proposal" in " ".join(out["notes"])
    assert set(out["formats"]) == set(conv.all_formats()) - left_out
    assert not list(out_dir.glob("*.onnx")) and (out_dir / "frcnn.pt").is_file()
    # --cut-data-dependent: written from the net cut before Proposal.
    import onnx

    cut_dir = tmp_path / "cut"
    out = run_json(["convert", str(proto), str(model), "--to", "torch,onnx,pt2",
                    "--cut-data-dependent", "-o", str(cut_dir)], capsys)
    assert list(out["formats"]) == ["torch", "onnx", "pt2"]
    assert ("onnx ends at rpn_bbox_pred, rpn_cls_prob_reshape: proposal (Proposal)"
            in out["notes"][0])
    graph = onnx.load(cut_dir / "frcnn.onnx").graph
    assert sorted(o.name for o in graph.output) == ["rpn_bbox_pred", "rpn_cls_prob_reshape"]


def test_every_format_writes_an_ssd_whole(tmp_path, capsys):
    """SSD's DetectionOutput is expressed by every model format (ONNX, pt2, SavedModel,
    Keras): --to all leaves nothing out and cuts nothing."""
    pytest.importorskip("onnx")
    pytest.importorskip("torch")
    pytest.importorskip("tensorflow")
    proto, model = tiny_ssd(tmp_path)
    out = run_json(["convert", str(proto), str(model), "--to", "all", "-o", str(tmp_path / "o")],
                   capsys)
    assert not [n for n in out["notes"] if " left out: " in n or " ends at " in n], out["notes"]
    assert set(out["formats"]) == set(conv.all_formats())


def test_bad_input_is_one_line_and_writes_nothing(icnet, tmp_path, capsys):
    proto, model, net = icnet
    other = zoo.make("icnet", input_size=(193, 385), width=0.25, prototxt_only=True)[0]
    (tmp_path / "wide.prototxt").write_text(other)
    out_dir = tmp_path / "out"
    cases = [
        (["convert", str(tmp_path / "wide.prototxt"), str(model), "--to", "npz"],
         "layers do not match the caffemodel"),
        (["convert", str(proto), str(model), "--to", "npz", "--mapping", "nosuch"],
         "available"),
        (["convert", str(proto), str(model), "--to", "npz,zip"], "unknown output format"),
        (["caffe2npz", str(proto), str(model)], "give the .npz to write: -o OUT.npz"),
        (["convert", str(proto), "--to", "npz"], "give the CAFFEMODEL"),
    ]
    for args, message in cases:
        rc = main(args + ["-o", str(out_dir)] if "-o" not in args and args[0] == "convert" else args)
        err = capsys.readouterr().err
        assert rc == 2, args
        assert message in err and err.count("\n") == 1, err
    assert not out_dir.exists()
    assert main(["caffe2npz", str(proto), str(model), "-o", str(tmp_path / "x.txt")]) == 2
    assert ".npz" in capsys.readouterr().err
    assert main(["caffe2npz", str(proto), str(model), "-o", str(model)]) == 2
    assert "input" in capsys.readouterr().err


def test_mappings_list_and_show(capsys):
    rows = run_json(["mappings", "list"], capsys)
    names = {r["name"] for r in rows}
    assert {"caffe", "torch", "tf", "hellochick-tf", "chainercv"} <= names
    shown = run_json(["mappings", "show", "hellochick-tf"], capsys)
    assert shown["passes"] == ["fold_input_scale"] and shown["formats"] == ["npy", "tf"]
    assert main(["mappings", "show", "chainercv"]) == 0
    assert "avg_mean" in capsys.readouterr().out
