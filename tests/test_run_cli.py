"""`convertkit run` and `convertkit rewrite` on the bundled default model."""
from pathlib import Path

import numpy as np
import pytest

import convertkit
from convertkit.cli import main
from convertkit.runtime.preprocess import preprocess
from convertkit.runtime.numpy import forward

from support import assert_close

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "fixtures" / "models" / "icnet_small"
PROTO, WEIGHTS = str(MODEL / "icnet.prototxt"), str(MODEL / "icnet.caffemodel")
IMAGE = str(ROOT / "fixtures" / "images" / "chelsea.png")


def cli(args, capsys):
    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


def test_run_numpy_saves_caffe_blobs_and_the_input(tmp_path, capsys):
    out = tmp_path / "o.npz"
    rc, _, err = cli(["run", PROTO, WEIGHTS, "--image", IMAGE, "--blobs", "all", "-o", str(out)], capsys)
    assert rc == 0, err
    saved = np.load(out)
    net = convertkit.load(PROTO, WEIGHTS)
    x = preprocess(IMAGE, (193, 385))
    np.testing.assert_array_equal(saved["data"], x)
    ref = forward(net, {"data": x}, keep="all")
    assert set(saved.files) == set(ref)
    # in-place chains applied: the conv1 blob holds the value after its BN and ReLU
    np.testing.assert_array_equal(saved["conv1_1_3x3_s2"], ref["conv1_1_3x3_s2"])
    assert saved["conv1_1_3x3_s2"].min() >= 0
    assert saved["conv6_interp"].shape == (1, 19, 193, 385)
    assert saved["conv6_interp"].dtype == np.float32


def test_run_opencv_agrees_with_numpy(tmp_path, capsys):
    pytest.importorskip("cv2")
    a, b = tmp_path / "np.npz", tmp_path / "cv.npz"
    for runtime, path in (("numpy", a), ("opencv", b)):
        rc, _, err = cli(["run", PROTO, WEIGHTS, "--image", IMAGE, "--runtime", runtime,
                          "--blobs", "conv5_3,sub24_sum,conv6_interp", "-o", str(path)], capsys)
        assert rc == 0, err
    na, nb = np.load(a), np.load(b)
    assert set(na.files) == set(nb.files) == {"data", "conv5_3", "sub24_sum", "conv6_interp"}
    for k in na.files:
        assert_close(na[k], nb[k], rel=1e-4, what=k)


def test_run_with_a_plain_npy_input(tmp_path, capsys):
    x = np.random.default_rng(0).standard_normal((2, 3, 193, 385)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    rc, _, err = cli(["run", PROTO, WEIGHTS, "--input", str(tmp_path / "x.npy"),
                      "-o", str(tmp_path / "o.npz")], capsys)
    assert rc == 0, err
    assert np.load(tmp_path / "o.npz")["conv6_interp"].shape == (2, 19, 193, 385)


def one_line_error(rc, err):
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("convertkit: error: "), err
    return lines[0]


def test_pickles_are_never_loaded(tmp_path, capsys):
    np.save(tmp_path / "p.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    out = tmp_path / "o.npz"
    rc, _, err = cli(["run", PROTO, WEIGHTS, "--input", str(tmp_path / "p.npy"), "-o", str(out)], capsys)
    assert "pickles are never loaded" in one_line_error(rc, err)
    assert not out.exists()


def test_unreadable_image_and_wrong_size(tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    rc, _, err = cli(["run", PROTO, WEIGHTS, "--image", str(bad), "-o", str(tmp_path / "o.npz")], capsys)
    assert str(bad) in one_line_error(rc, err)
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 200, 400), np.float32))
    rc, _, err = cli(["run", PROTO, WEIGHTS, "--input", str(tmp_path / "x.npy"),
                      "-o", str(tmp_path / "o.npz")], capsys)
    line = one_line_error(rc, err)
    assert "layer '" in line and "differ in shape" in line
    assert not (tmp_path / "o.npz").exists()


def test_unknown_blob_and_missing_source(tmp_path, capsys):
    rc, _, err = cli(["run", PROTO, WEIGHTS, "--image", IMAGE, "--blobs", "nope",
                      "-o", str(tmp_path / "o.npz")], capsys)
    assert "no blob named 'nope'" in one_line_error(rc, err)
    rc, _, err = cli(["run", PROTO, WEIGHTS, "-o", str(tmp_path / "o.npz")], capsys)
    assert "exactly one of --image or --input" in one_line_error(rc, err)


def test_rewrite_for_opencv_writes_loadable_files(tmp_path, capsys):
    cv2 = pytest.importorskip("cv2")
    rc, _, err = cli(["rewrite", "--for", "opencv", PROTO, WEIGHTS, "-o", str(tmp_path)], capsys)
    assert rc == 0, err
    text = (tmp_path / "icnet.prototxt").read_text()
    assert 'type: "BN"' not in text and "shrink_factor" not in text and "zoom_factor" not in text
    net = cv2.dnn.readNetFromCaffe(str(tmp_path / "icnet.prototxt"), str(tmp_path / "icnet.caffemodel"))
    x = preprocess(IMAGE, (193, 385))
    net.setInput(x)
    out = net.forward("conv6_interp")
    ref = forward(convertkit.load(PROTO, WEIGHTS), {"data": x})["conv6_interp"]
    assert_close(out, ref, rel=1e-4, what="conv6_interp")
    # our own reader takes the rewritten files back and computes the same
    back = forward(convertkit.load(tmp_path / "icnet.prototxt", tmp_path / "icnet.caffemodel"),
                   {"data": x})["conv6_interp"]
    assert_close(back, ref, rel=1e-5, what="round trip")
