"""``convertkit verify``: metrics, every kind of converted file run against the numpy
reference, the first divergent layer named exactly, bad files turned into verdicts,
bad input into exit code 2."""
from __future__ import annotations

import io
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

import convertkit
from convertkit.emit import convert as conv
from convertkit import runtime
from convertkit.cli import main
from convertkit.mapping import load_table, resolve
from convertkit.verify import Options, Verifier, metrics as M, samples_from_images
from convertkit.verify.subjects import discover, format_of
from convertkit.verify.weights import read_arrays, read_back
from support import tiny_ssd

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "fixtures" / "models" / "icnet_small"
PROTO, WEIGHTS = SMALL / "icnet.prototxt", SMALL / "icnet.caffemodel"
IMAGE = ROOT / "fixtures" / "images" / "chelsea.png"
FAST = "torch,safetensors,onnx,npz,npy,h5"


def needs(*names):
    missing = [n for n in names if n not in runtime.installed_runtimes()]
    if missing:
        pytest.skip(f"runtime(s) not installed here: {', '.join(missing)}")


@pytest.fixture(scope="module")
def net():
    return convertkit.load(PROTO, WEIGHTS)


def converted(net, out_dir: Path, formats: str, bn: str = "keep") -> Path:
    """``convertkit convert`` of the small ICNet (prepared for ``bn``) into out_dir."""
    vnet, _ = conv.prepare(net, bn=bn)
    outputs = conv.plan_outputs(formats.split(","), out_dir, "icnet", inputs=[], force=True)
    conv.convert(vnet, outputs, meta={"bn": bn})
    return out_dir


@pytest.fixture(scope="module")
def fast_dir(net, tmp_path_factory):
    needs("torch", "onnx")
    return converted(net, tmp_path_factory.mktemp("converted"), FAST)


def verify_json(args, capsys):
    rc = main(["verify", str(PROTO), str(WEIGHTS), "--image", str(IMAGE), "-q", "--json"] + args)
    out = capsys.readouterr()
    assert rc in (0, 1), out.err
    report = json.loads(out.out)
    assert rc == (0 if report["verdict"] == "pass" else 1)
    return rc, report


def subjects(report, bn="keep"):
    return {s["name"]: s for v in report["variants"] if v["bn"] == bn for s in v["subjects"]}


# -- metrics ---------------------------------------------------------------------------------

def test_compare_metrics_exact_values():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((1, 3, 40, 50)).astype(np.float32)
    assert M.compare(ref.copy(), ref).max_rel == 0.0
    got = ref.copy()
    got[0, 1, 2, 3] += 0.5
    d = M.compare(got, ref)
    scale = float(np.abs(ref).max())
    assert d.max_abs == pytest.approx(0.5, rel=1e-6)
    assert d.max_rel == pytest.approx(0.5 / scale, rel=1e-6)
    assert d.mean_abs == pytest.approx(0.5 / ref.size, rel=1e-4)
    cos = float(np.dot(got.ravel().astype(np.float64), ref.ravel())
                / np.linalg.norm(got.astype(np.float64)) / np.linalg.norm(ref.astype(np.float64)))
    assert d.cosine == pytest.approx(cos, abs=1e-6)
    assert not d.within(1e-4) and d.within(1.0)


def test_compare_large_blobs_in_chunks_and_threads():
    """Over PARALLEL_MIN elements the work is split; the result is the same."""
    rng = np.random.default_rng(1)
    ref = rng.standard_normal(M.PARALLEL_MIN * 2 + 12345).astype(np.float32)
    got = ref + np.float32(1e-3) * rng.standard_normal(ref.size).astype(np.float32)
    got[-1] = ref[-1] + 7.0  # the worst element in the last, partial chunk
    d = M.compare(got, ref)
    diff = np.abs(got.astype(np.float64) - ref)
    assert d.max_abs == pytest.approx(diff.max(), rel=1e-6)
    assert d.mean_abs == pytest.approx(diff.mean(), rel=1e-4)
    assert M.ref_stats(ref).max_abs == pytest.approx(np.abs(ref).max())


@pytest.mark.parametrize("shape", [
    (2, 3, 5, 7),                         # small: one thread, whole rows per block
    (1, 24, 130, 700),                    # over PARALLEL_MIN: rows split over threads
    (1, M.BLOCK // 8 + 3, 3, 9),          # a row wider than a block: column blocks
    (3, 5, 1, 1),                         # 1 x 1: channels-last is also C order
])
def test_channels_last_views_compare_as_they_lie(shape):
    """A runtime's NHWC memory seen as NCHW (PyTorch channels_last, TensorFlow) is
    compared without a copy and gives what the same values in Caffe's order give."""
    rng = np.random.default_rng(2)
    ref = rng.standard_normal(shape).astype(np.float32)
    got = ref + np.float32(1e-3) * rng.standard_normal(shape).astype(np.float32)
    n, c, h, w = shape
    got[n - 1, c // 2, h - 1, w // 2] += 5.0  # the worst element, deep in the last block
    view = np.ascontiguousarray(got.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    assert np.array_equal(view, got)
    a, b = M.compare(got, ref), M.compare(view, ref)
    assert b.max_abs == a.max_abs and b.max_rel == a.max_rel
    assert b.mean_abs == pytest.approx(a.mean_abs, rel=1e-5)
    assert b.cosine == pytest.approx(a.cosine, abs=1e-7)
    assert b.max_abs == pytest.approx(float(np.abs(got.astype(np.float64) - ref).max()), rel=1e-6)
    if view.ndim == 4 and not view.flags.c_contiguous:
        assert M._channels_last(view) is not None  # the copy-free path was taken


def test_compare_reports_shape_mismatch_and_nan():
    ref = np.ones((1, 2, 3, 3), np.float32)
    d = M.compare(np.ones((1, 2, 3, 4), np.float32), ref)
    assert d.max_rel == float("inf") and "shape 1x2x3x4" in d.problem
    bad = ref.copy()
    bad[0, 0, 0, 0] = np.nan
    d = M.compare(bad, ref)
    assert not d.within(1.0) and d.problem == "NaN or infinite values"
    assert d.as_dict()["max_rel"] == "inf"


def test_agreement_and_per_class_iou():
    ref = np.array([[0, 0, 1, 1], [2, 2, 1, 1]])
    got = np.array([[0, 1, 1, 1], [2, 2, 1, 1]])
    a = M.Agreement(3)
    a.add(ref, got)
    assert a.agreement == 7 / 8
    assert a.iou() == {0: 0.5, 1: 0.8, 2: 1.0}
    logits = np.zeros((1, 3, 1, 2), np.float32)
    logits[0, :, 0, 0] = [1.0, 0.0, 0.0]
    logits[0, :, 0, 1] = [0.5, 0.50001, 0.0]
    assert M.decided_mask(logits, 1e-3).tolist() == [[[True, False]]]


# -- runtimes and files that agree -------------------------------------------------------------

def test_direct_runtimes_agree_on_every_layer(net):
    needs("opencv", "torch", "onnx")
    samples = samples_from_images(net, [IMAGE])
    result = Verifier(net, Options(direct=True, runtimes=["opencv", "torch", "onnx"])).run(samples)
    r = result.report
    assert r["schema"] == "convertkit.verify/1"
    assert r["verdict"] == "pass" and r["first_divergence"] is None and result.exit_code == 0
    subs = subjects(r)
    assert set(subs) == {"opencv", "torch", "onnx"}
    for s in subs.values():
        assert s["per_layer"] and s["verdict"] == "pass"
        assert len(s["layers"]) == len(net.layers)
        assert all(row["compared"] and row["within"] for row in s["layers"])
        assert {b["name"] for b in s["blobs"]} == set(net.blob_names) - set(net.inputs)
        out = s["outputs"]["conv6_interp"]
        assert out["argmax_agreement"] >= 0.9999 and out["within"]
        assert 0 < out["max_rel"] <= 1e-4


def test_converted_files_each_run_per_layer(fast_dir, capsys):
    rc, r = verify_json(["--converted", str(fast_dir)], capsys)
    subs = subjects(r)
    names = {"torch[icnet.pt]", "torch[icnet.safetensors]", "onnx[icnet.onnx]",
             "numpy[icnet.npz]", "numpy[icnet.npy]", "numpy[icnet.h5]"}
    assert names <= set(subs)
    for name in names:
        assert subs[name]["verdict"] == "pass", subs[name]
        assert Path(subs[name]["file"]).parent == fast_dir
    for name in ("torch[icnet.pt]", "torch[icnet.safetensors]", "onnx[icnet.onnx]"):
        assert subs[name]["per_layer"] and subs[name]["layers_compared"] == "all"
    # The weight files hold the caffemodel's values bit for bit: their numpy run would
    # be the reference run itself, so the params are what is compared.
    for name in ("numpy[icnet.npz]", "numpy[icnet.npy]", "numpy[icnet.h5]"):
        assert subs[name]["params_only"] and subs[name]["params_identical"]
        assert subs[name]["worst"]["max_rel"] == 0
    assert r["source"]["mode"] == "converted" and rc == 0


def test_fresh_conversion_is_the_default(capsys):
    needs("torch", "onnx")
    rc, r = verify_json(["--formats", "torch,onnx,npz", "--runtimes", "numpy,torch,onnx"], capsys)
    assert rc == 0 and r["source"]["mode"] == "fresh-conversion"
    assert set(subjects(r)) == {"torch[icnet.pt]", "onnx[icnet.onnx]", "numpy[icnet.npz]"}
    assert all(s["convert_seconds"] is not None for s in subjects(r).values())


def test_bn_both_checks_each_variant_and_the_fold(net):
    needs("onnx")
    samples = samples_from_images(net, [IMAGE])
    r = Verifier(net, Options(direct=True, bn="both", runtimes=["onnx"])).run(samples).report
    assert [v["bn"] for v in r["variants"]] == ["keep", "merge"]
    keep, merge = r["variants"]
    assert merge["layers"] < keep["layers"]  # BN layers folded away
    assert merge["fold_check"]["verdict"] == "pass"
    assert merge["fold_check"]["outputs"]["conv6_interp"]["argmax_agreement"] >= 0.999
    assert r["verdict"] == "pass"


def test_tf_checkpoint_and_keras_weights(net, tmp_path, capsys):
    needs("tf")
    d = converted(net, tmp_path, "tf,keras-weights")
    rc, r = verify_json(["--converted", str(d), "--runtimes", "tf"], capsys)
    subs = subjects(r)
    assert subs["tf[icnet.ckpt]"]["verdict"] == "pass" and subs["tf[icnet.ckpt]"]["per_layer"]
    assert subs["tf[icnet.weights.h5]"]["verdict"] == "pass"
    assert subs["tf[icnet.weights.h5]"]["per_layer"]
    assert rc == 0


def test_standalone_models_compare_outputs(net, tmp_path, capsys):
    """.pt2, SavedModel and .keras run on their own: their outputs are compared."""
    needs("torch", "tf")
    d = converted(net, tmp_path, "pt2,savedmodel,keras")
    rc, r = verify_json(["--converted", str(d), "--runtimes", "torch,tf"], capsys)
    subs = subjects(r)
    for name in ("torch[icnet.pt2]", "tf[icnet.savedmodel]", "tf[icnet.keras]"):
        assert subs[name]["verdict"] == "pass", subs[name]
        assert subs[name]["per_layer"] is False
        assert subs[name]["outputs"]["conv6_interp"]["argmax_agreement"] >= 0.9999
    assert rc == 0


# -- the first divergence, named exactly --------------------------------------------------------

@pytest.mark.parametrize("layers", ["all", "auto"])
def test_corrupt_bn_running_var_is_named_for_torch_only(fast_dir, tmp_path, capsys, layers):
    """With --layers auto, only the runtime whose outputs diverge is run again with
    every layer compared; the layer named is the same."""
    import torch

    d = tmp_path / "bad"
    d.mkdir()
    for f in ("icnet.pt", "icnet.onnx", "icnet.npz"):
        shutil.copy(fast_dir / f, d / f)
    state = torch.load(d / "icnet.pt", weights_only=True)
    state["conv3_1_1x1_reduce_bn.running_var"] *= 4
    torch.save(state, d / "icnet.pt")
    rc, r = verify_json(["--converted", str(d), "--layers", layers], capsys)
    assert rc == 1 and r["verdict"] == "fail"
    fd = r["first_divergence"]
    assert (fd["layer"], fd["type"], fd["runtime"], fd["bn"]) == (
        "conv3_1_1x1_reduce/bn", "BN", "torch[icnet.pt]", "keep")
    subs = subjects(r)
    assert subs["torch[icnet.pt]"]["first_divergence"]["layer"] == "conv3_1_1x1_reduce/bn"
    assert subs["torch[icnet.pt]"]["verdict"] == "fail"
    for name in ("opencv", "onnx[icnet.onnx]", "numpy[icnet.npz]"):
        assert subs[name]["verdict"] == "pass", name
    assert subs["torch[icnet.pt]"]["layers_compared"] == "all"
    assert subs["onnx[icnet.onnx]"]["layers_compared"] == ("all" if layers == "all" else "none")
    # Every layer before the BN (its convolution included) is still within tolerance.
    rows = subs["torch[icnet.pt]"]["layers"]
    index = fd["index"]
    assert all(row["within"] for row in rows[:index]) and not rows[index]["within"]


def test_folded_net_corruption_named_in_torch_and_onnx(net, tmp_path, capsys):
    """BN merged into the convolutions: a corrupt folded weight is named as that
    convolution, in the .pt and in the .onnx (whose own values are run)."""
    import onnx
    import torch
    from onnx import numpy_helper

    needs("torch", "onnx")
    d = converted(net, tmp_path, "torch,onnx", bn="merge")
    state = torch.load(d / "icnet.pt", weights_only=True)
    state["conv3_1_1x1_reduce.bias"] += 1.0
    torch.save(state, d / "icnet.pt")
    model = onnx.load(d / "icnet.onnx")
    for init in model.graph.initializer:
        if init.name == "conv4_2_3x3/weight":
            w = numpy_helper.to_array(init) * np.float32(1.5)
            init.CopyFrom(numpy_helper.from_array(w, init.name))
    onnx.save(model, d / "icnet.onnx")
    rc, r = verify_json(["--converted", str(d), "--bn", "merge"], capsys)
    subs = subjects(r, "merge")
    assert subs["torch[icnet.pt]"]["first_divergence"]["layer"] == "conv3_1_1x1_reduce"
    assert subs["onnx[icnet.onnx]"]["first_divergence"]["layer"] == "conv4_2_3x3"
    assert subs["opencv"]["verdict"] == "pass"
    assert r["first_divergence"]["runtime"] == "torch[icnet.pt]" and rc == 1


def test_corrupt_npz_value_named(fast_dir, tmp_path, capsys):
    d = tmp_path / "npz"
    d.mkdir()
    arrays = dict(np.load(fast_dir / "icnet.npz"))
    arrays["conv2_2_3x3/weight"] = arrays["conv2_2_3x3/weight"] * np.float32(-1)
    np.savez(d / "icnet.npz", **arrays)
    rc, r = verify_json(["--converted", str(d), "--runtimes", "numpy"], capsys)
    s = subjects(r)["numpy[icnet.npz]"]
    assert s["first_divergence"]["layer"] == "conv2_2_3x3" and rc == 1
    assert s["params_max_rel"] == 2.0


# -- files that do not fit: verdicts naming each one ----------------------------------------------

@pytest.fixture(scope="module")
def other_arch(tmp_path_factory):
    """PSPNet50 (another architecture) converted, to hand to a check of ICNet."""
    needs("torch", "onnx")
    from convertkit import zoo

    _, p50 = zoo.make("pspnet50", input_size=97, width=0.125)
    d = tmp_path_factory.mktemp("pspnet50")
    outputs = conv.plan_outputs(["torch", "onnx", "npz"], d, "pspnet50", inputs=[], force=True)
    conv.convert(p50, outputs)
    return d


def test_files_that_do_not_fit_are_named_never_a_crash(fast_dir, other_arch, tmp_path, capsys):
    import torch

    d = tmp_path / "mix"
    d.mkdir()
    for f in ("icnet.pt", "icnet.onnx", "icnet.npz", "icnet.safetensors"):  # truncated
        data = (fast_dir / f).read_bytes()
        (d / f"trunc_{f}").write_bytes(data[:len(data) // 3])
    for f in ("pspnet50.pt", "pspnet50.onnx", "pspnet50.npz"):  # another architecture
        shutil.copy(other_arch / f, d / f)
    state = torch.load(fast_dir / "icnet.pt", weights_only=True)  # a wrong shape, a lost key
    state["conv6_cls.weight"] = state["conv6_cls.weight"][:5]
    del state["conv5_4_k1.weight"]
    torch.save(state, d / "shapes.pt")
    arrays = dict(np.load(fast_dir / "icnet.npz"))
    del arrays["conv1_1_3x3_s2/weight"]
    np.savez(d / "missing.npz", **arrays)
    (d / "notes.bin").write_bytes(b"\x00\x01")
    rc, r = verify_json(["--converted", str(d)], capsys)
    assert rc == 1 and r["verdict"] == "fail"
    subs = subjects(r)
    problems = {p["runtime"]: p["message"] for p in r["problems"]}
    expect = {
        "torch[trunc_icnet.pt]": "cannot read a state_dict",
        "onnx[trunc_icnet.onnx]": "cannot read it as ONNX",
        "numpy[trunc_icnet.npz]": "cannot read it as npz",
        "torch[trunc_icnet.safetensors]": "cannot read a state_dict",
        "torch[pspnet50.pt]": "does not fit the net",
        "onnx[pspnet50.onnx]": "'conv1_1_3x3_s2/bn/mean' is 8, the net needs 4",
        "numpy[pspnet50.npz]": "is 8x3x3x3, the net needs 4x3x3x3",
        "torch[shapes.pt]": "1 missing: conv5_4_k1.weight",
        "numpy[missing.npz]": "missing key 'conv1_1_3x3_s2/weight'",
    }
    for name, words in expect.items():
        assert subs[name]["verdict"] == "error", name
        assert words in problems[name], (name, problems[name])
        assert str(d / subs[name]["file"].split("/")[-1]) in problems[name]  # names the file
    assert "conv6_cls.weight (5x16x1x1, the net needs 19x16x1x1)" in problems["torch[shapes.pt]"]
    assert subs["opencv"]["verdict"] == "pass"
    assert "notes.bin: not a converted model file (ignored)" in r["notes"]


def test_bn_hint_when_files_are_of_the_other_variant(net, tmp_path, capsys):
    needs("torch")
    d = converted(net, tmp_path, "safetensors", bn="merge")
    rc, r = verify_json(["--converted", str(d), "--runtimes", "torch"], capsys)
    msg = subjects(r)["torch[icnet.safetensors]"]["message"]
    assert "converted with --bn merge: verify with --bn merge" in msg and rc == 1


def test_npy_pickles_are_read_without_running_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": ()})
    pickle.dump(np.array({"conv": {"weight": Evil()}}, dtype=object), buf, protocol=4)
    (tmp_path / "evil.npy").write_bytes(buf.getvalue())
    with pytest.raises(convertkit.ConvertError, match="refusing to load builtins.print"):
        read_arrays(tmp_path / "evil.npy", "npy")


def test_weight_files_of_any_permutation_table_are_read_back(net):
    """The tf table stores convolutions HWIO: the probes invert it exactly. A table
    with a graph pass (hellochick-tf) computes values: arrays are compared instead."""
    table = load_table("tf")
    arrays = {t.key: t.array for t in resolve(table, net)}
    back = read_back(net, arrays, table, None)
    assert not back.problems and back.net is not None
    for a, b in zip(net.layers, back.net.layers):
        for p, q in zip(a.params, b.params):
            np.testing.assert_array_equal(p, q)
    hello = load_table("hellochick-tf")
    arrays = {t.key: t.array for t in resolve(hello, net, fmt="npy")}
    back = read_back(net, arrays, hello, "npy")
    assert back.net is None and not back.invertible and not back.problems
    assert max(back.param_rel.values()) == 0


# -- bad input: exit code 2, one line -----------------------------------------------------------

@pytest.mark.parametrize("args, words", [
    (["--image", "nope.png"], "nope.png: image not found"),
    (["--image", str(PROTO)], "is a text file"),
    (["--runtimes", "caffee"], "unknown runtime(s) caffee"),
    (["--converted", "no/such/dir"], "no/such/dir: --converted: directory not found"),
    (["--converted", ".", "--direct"], "--converted and --direct exclude each other"),
    (["--converted", ".", "--bn", "both"], "--converted holds files of one BN variant"),
    (["--rtol", "-1", "--direct"], "--rtol must be a positive number"),
    (["--formats", "docx"], "unknown format(s) docx"),
    (["--direct", "--runtimes", "numpy"], "nothing to compare with the numpy reference"),
])
def test_bad_input_is_one_line_and_exit_2(args, words, capsys):
    rc = main(["verify", str(PROTO), str(WEIGHTS)] + args + ["-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("convertkit: error: "), err
    assert words in err[0]


def test_an_empty_converted_directory_is_bad_input(tmp_path, capsys):
    (tmp_path / "README.md").write_text("nothing here")
    rc = main(["verify", str(PROTO), str(WEIGHTS), "--converted", str(tmp_path), "-q"])
    assert rc == 2 and "holds no converted model files" in capsys.readouterr().err


def test_report_is_refused_before_work_when_it_exists(tmp_path, capsys):
    needs("onnx")
    args = ["verify", str(PROTO), str(WEIGHTS), "--image", str(IMAGE), "--direct",
            "--runtimes", "onnx", "-q", "--report", str(tmp_path / "rep")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"report: {tmp_path / 'rep' / 'report.html'}" in out
    assert sorted(p.name for p in (tmp_path / "rep").iterdir()) == ["report.html", "report.json",
                                                                    "report.md"]
    before = (tmp_path / "rep" / "report.json").read_bytes()
    assert main(args) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert (tmp_path / "rep" / "report.json").read_bytes() == before
    assert main(args + ["--force"]) == 0


def test_input_array_and_json_written(tmp_path, capsys):
    needs("onnx")
    x = np.random.default_rng(0).uniform(-100, 100, (1, 3, 193, 385)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    rc = main(["verify", str(PROTO), str(WEIGHTS), "--input", str(tmp_path / "x.npy"), "--direct",
               "--runtimes", "onnx", "--json", "--report", str(tmp_path / "r")])
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert rc == 0 and report["inputs"][0]["name"] == "x.npy" and out.err == ""
    assert report["written"][0].endswith("report.json")
    on_disk = json.loads((tmp_path / "r" / "report.json").read_text())
    assert on_disk["verdict"] == report["verdict"] and on_disk["schema"] == report["schema"]


def test_discover_recognises_every_convert_output(net, tmp_path):
    names = ["a.pt", "a.safetensors", "a.pt2", "a.onnx", "a.ckpt.index", "a.ckpt.data-00000-of-00001",
             "a.weights.h5", "a.keras", "a.npz", "a.npy", "a.h5", "a.prototxt", "x.bin"]
    for n in names:
        (tmp_path / n).write_bytes(b"")
    (tmp_path / "a.savedmodel").mkdir()
    found, notes = discover(tmp_path)
    assert [(f, p.name) for f, p in found] == [
        ("torch", "a.pt"), ("safetensors", "a.safetensors"), ("pt2", "a.pt2"), ("onnx", "a.onnx"),
        ("tf", "a.ckpt.index"), ("keras-weights", "a.weights.h5"), ("savedmodel", "a.savedmodel"),
        ("keras", "a.keras"), ("npz", "a.npz"), ("npy", "a.npy"), ("h5", "a.h5")]
    assert notes == ["x.bin: not a converted model file (ignored)"]
    assert format_of(tmp_path / "a.weights.h5") == "keras-weights"


def test_a_runtime_not_installed_is_skipped_or_an_error_when_named(monkeypatch, net):
    from convertkit.runtime import base
    from convertkit.verify.selection import select_runtimes

    fake = base.RuntimeInfo("fake", "nowhere:Fake", ("no_such_module_ck",), "fake", "a test")
    monkeypatch.setitem(base._RUNTIMES, "fake", fake)
    chosen, notes = select_runtimes(None)
    assert "fake" not in chosen and "numpy" in chosen
    assert "runtime fake skipped: not installed (pip install 'convertkit[fake]')" in notes
    with pytest.raises(convertkit.ConvertError, match=r"pip install 'convertkit\[fake\]'"):
        select_runtimes(["numpy", "fake"])
    verifier = Verifier(net, Options(direct=True))  # the report carries these notes
    assert "fake" not in verifier.runtimes
    assert "runtime fake skipped: not installed (pip install 'convertkit[fake]')" in verifier.notes


# -- a net whose output size depends on the data (SSD) -------------------------------------------

@pytest.fixture(scope="module")
def ssd(tmp_path_factory):
    """A tiny SSD with seeded weights: 30 detections on the sample photo."""
    net = convertkit.load(*tiny_ssd(tmp_path_factory.mktemp("ssd")))
    return net, samples_from_images(net, [IMAGE])


def test_ssd_detections_compare_as_sets_in_every_runtime(ssd):
    """OpenCV orders SSD's detections by score over all classes (Caffe: by class):
    verify compares them as a set. ONNX (NonMaxSuppression), PyTorch and TF express
    DetectionOutput: every runtime is checked whole, no cut."""
    needs("opencv", "torch", "onnx", "tf")
    net, samples = ssd
    x = samples[0].arrays
    ref = runtime.create("numpy", net).forward(x)["detection_out"]
    raw = runtime.create("opencv", net).forward(x)["detection_out"]
    assert ref.shape[2] > 10 and not np.array_equal(raw, ref)  # the same set, in another order
    r = Verifier(net, Options(direct=True)).run(samples).report
    subs = subjects(r)
    assert r["verdict"] == "pass", json.dumps(r["variants"][0]["subjects"], indent=1)[:3000]
    for name in ("opencv", "torch", "onnx", "tf"):
        assert subs[name]["verdict"] == "pass" and subs[name]["ends_at"] is None
        assert set(subs[name]["outputs"]) == {"detection_out"}
        row = next(row for row in subs[name]["layers"] if row["name"] == "detection_out")
        assert row["compared"] and row["within"]


def test_ssd_files_of_every_torch_and_onnx_format(ssd, tmp_path):
    """A fresh conversion: the .pt and the .pt2 run DetectionOutput in torch ops and
    the .onnx with NonMaxSuppression, each checked whole. A file whose conf weights
    differ fails at that layer."""
    needs("torch", "onnx")
    net, samples = ssd
    verifier = Verifier(net, Options(runtimes=["torch", "onnx"]))
    r = verifier.run(samples, keep_open=True).report
    subs = subjects(r)
    assert r["verdict"] == "pass"
    for name in ("torch[tiny_ssd.pt]", "torch[tiny_ssd.pt2]", "onnx[tiny_ssd.onnx]"):
        assert subs[name]["verdict"] == "pass" and subs[name]["ends_at"] is None
        assert subs[name]["outputs"]["detection_out"]["within"]
    # The ONNX file with one conf weight changed: its conf leaves the tolerance.
    import onnx
    from onnx import numpy_helper

    path = tmp_path / "tiny_ssd.onnx"
    model = onnx.load(subs["onnx[tiny_ssd.onnx]"]["file"])
    verifier.close()
    init = next(i for i in model.graph.initializer if i.name.startswith("conf/"))
    w = numpy_helper.to_array(init).copy()
    w.flat[0] += 1.0
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    onnx.save(model, path)
    r = Verifier(net, Options(converted=tmp_path, runtimes=["onnx"])).run(samples).report
    s = subjects(r)["onnx[tiny_ssd.onnx]"]
    assert r["verdict"] == "fail" and s["first_divergence"]["layer"] == "conf"


UPSAMPLE = """input: "data" input_shape { dim: 1 dim: 3 dim: 16 dim: 16 }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "up" type: "Upsample" bottom: "conv" top: "up" upsample_param { scale: 2 } }
"""


def test_a_framework_refusing_a_layer_is_skipped_unless_asked_for_by_name(tmp_path, monkeypatch):
    """OpenCV has no Upsample: skipped with the reason by default, an error when asked
    for by name; a run where every subject was skipped is a fail."""
    needs("opencv", "onnx")
    from convertkit.verify import pipeline
    from support import fill_params

    (tmp_path / "up.prototxt").write_text(UPSAMPLE)
    net = convertkit.load(tmp_path / "up.prototxt")
    fill_params(net, np.random.default_rng(0))
    samples = samples_from_images(net, [IMAGE])
    r = Verifier(net, Options(direct=True, runtimes=["onnx", "opencv"])).run(samples).report
    assert r["verdict"] == "fail" and subjects(r)["opencv"]["verdict"] == "error"
    monkeypatch.setattr(pipeline, "select_runtimes", lambda requested: (["numpy", "opencv", "onnx"], []))
    r = Verifier(net, Options(direct=True)).run(samples).report
    subs = subjects(r)
    assert r["verdict"] == "pass" and subs["onnx"]["verdict"] == "pass"
    assert subs["opencv"]["verdict"] == "skipped"
    assert "layer 'up': opencv cannot express Upsample" in subs["opencv"]["message"]
    monkeypatch.setattr(pipeline, "select_runtimes", lambda requested: (["numpy", "opencv"], []))
    r = Verifier(net, Options(direct=True)).run(samples).report
    assert subjects(r)["opencv"]["verdict"] == "skipped" and r["verdict"] == "fail"


def test_grey_nets_take_the_sample_images_in_grey(tmp_path, capsys):
    """A 1-channel net (LeNet-like) gets each photo in grey; a 2-channel one is told to
    give --input arrays."""
    needs("onnx")
    proto = tmp_path / "grey.prototxt"
    proto.write_text('input: "data" input_shape { dim: 1 dim: 1 dim: 28 dim: 28 }\n'
                     'layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" '
                     'convolution_param { num_output: 4 kernel_size: 5 } }\n'
                     'layer { name: "pool" type: "Pooling" bottom: "conv" top: "pool" '
                     'pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n'
                     'layer { name: "ip" type: "InnerProduct" bottom: "pool" top: "ip" '
                     'inner_product_param { num_output: 10 } }\n')
    net = convertkit.load(proto)
    from support import fill_params

    fill_params(net, np.random.default_rng(0))
    samples = samples_from_images(net, [IMAGE])
    assert samples[0].arrays["data"].shape == (1, 1, 28, 28)
    assert samples[0].picture.shape == (28, 28, 3)
    r = Verifier(net, Options(direct=True, runtimes=["onnx"])).run(samples).report
    assert r["verdict"] == "pass" and subjects(r)["onnx"]["verdict"] == "pass"
    proto.write_text(proto.read_text().replace("dim: 1 dim: 28", "dim: 2 dim: 28"))
    rc = main(["verify", str(proto), "--runtimes", "onnx", "-q"])
    assert rc == 2 and "needs a 1- or 3-channel N x C x H x W input" in capsys.readouterr().err

