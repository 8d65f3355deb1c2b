"""Real Caffe as a runtime, where a user has pycaffe (``--runtimes caffe``).

Without a Caffe build, tests/fake_pycaffe stands in for pycaffe's interface (computing
with convertkit's reference) to test how convertkit drives it. Where the oracle build
of ../shared/tools/build_caffe_oracle.sh exists (~/.caffe-oracle), the last test runs
verify against real BVLC Caffe."""
import importlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import convertkit
from convertkit.cli import main
from convertkit.errors import UnsupportedLayerError
from convertkit.runtime import create
from convertkit.verify.selection import select_runtimes

ROOT = Path(__file__).resolve().parents[1]
NETS = ROOT / "fixtures" / "nets"
SMALL = ROOT / "fixtures" / "models" / "icnet_small"
ORACLE = Path(os.environ.get("CAFFE_ORACLE_VENV", Path.home() / ".caffe-oracle")) / "bin" / "python"


@pytest.fixture
def fake_caffe(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "fake_pycaffe"))
    importlib.invalidate_caches()
    sys.modules.pop("caffe", None)
    import caffe

    caffe.OPENED.clear()
    caffe.TYPES = None
    yield caffe
    sys.modules.pop("caffe", None)


def _absent():
    return importlib.util.find_spec("caffe") is None


def test_absent_pycaffe_is_a_note_when_asked_for_and_silent_otherwise():
    if not _absent():
        pytest.skip("pycaffe is importable here")
    chosen, notes = select_runtimes(None)
    assert "caffe" not in chosen and not any("caffe" in n for n in notes)
    chosen, notes = select_runtimes(["numpy", "caffe"])
    assert chosen == ["numpy"]
    assert notes == ["runtime caffe skipped: the caffe runtime needs caffe: build Caffe (BVLC's "
                     "or your fork's) with its Python interface and put its python/ folder on "
                     "PYTHONPATH"]


def test_caffe_reads_the_original_files_and_reports_each_layer(fake_caffe):
    net = convertkit.load(SMALL / "icnet.prototxt", SMALL / "icnet.caffemodel")
    x = np.random.default_rng(0).standard_normal(net.inputs["data"]).astype(np.float32)
    seen = {}
    got = create("caffe", net).forward({"data": x}, keep="all",
                                       on_layer=lambda name, tops: seen.setdefault(name, tops))
    assert fake_caffe.OPENED == [(str(SMALL / "icnet.prototxt"), str(SMALL / "icnet.caffemodel"))]
    ref_layers = {}
    ref = create("numpy", net).forward({"data": x}, keep="all",
                                       on_layer=lambda name, tops: ref_layers.setdefault(name, tops))
    assert set(got) == set(ref)
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name], rtol=0, atol=0, err_msg=name)
    # Each layer's own outputs, before an in-place ReLU overwrote a BN's.
    assert list(seen) == [layer.name for layer in net.layers]
    for name, tops in ref_layers.items():
        np.testing.assert_array_equal(seen[name][0], tops[0], err_msg=name)


def test_a_changed_net_is_written_out_first(fake_caffe):
    from convertkit.emit.convert import prepare

    net = convertkit.load(SMALL / "icnet.prototxt", SMALL / "icnet.caffemodel")
    merged, _ = prepare(net, bn="merge")
    rt = create("caffe", merged)
    assert fake_caffe.OPENED[0][0] != str(SMALL / "icnet.prototxt")
    assert "copy of the net" in rt.notes[0]


def test_a_type_the_build_lacks_is_refused_before_caffe_sees_it(fake_caffe):
    fake_caffe.TYPES = ["Input", "Convolution", "ReLU", "Pooling"]
    net = convertkit.load(SMALL / "icnet.prototxt", SMALL / "icnet.caffemodel")
    with pytest.raises(UnsupportedLayerError, match=r"this Caffe build has no BN, Eltwise, Interp, Scale layers \(another fork.s types\?\)"):
        create("caffe", net)
    assert fake_caffe.OPENED == []


def test_verify_and_run_with_the_caffe_runtime(fake_caffe, tmp_path, capsys):
    assert main(["zoo", "make", "--from", str(NETS / "classifier.prototxt"), "-o", str(tmp_path)]) == 0
    capsys.readouterr()
    proto, model = tmp_path / "classifier.prototxt", tmp_path / "classifier.caffemodel"
    assert "caffe" in select_runtimes(None)[0]  # used by default where present
    assert main(["verify", str(proto), str(model), "--runtimes", "caffe", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "caffe " in out and "verdict: PASS (1 runtime runs" in out
    assert main(["run", str(proto), str(model), "--runtime", "caffe", "--image",
                 str(ROOT / "fixtures" / "images" / "coffee.jpg"), "-o", str(tmp_path / "c.npz")]) == 0


def test_golden_check_with_the_caffe_runtime(fake_caffe, tmp_path, capsys):
    golden = tmp_path / "g.json"
    assert main(["golden", "record", "icnet:width=0.125,size=193x385", "-o", str(golden),
                 "--image", str(ROOT / "fixtures" / "images" / "coffee.jpg")]) == 0
    fake_caffe.OPENED.clear()
    capsys.readouterr()
    assert main(["golden", "check", str(golden), "--runtimes", "caffe", "--bn", "keep", "-q"]) == 0
    assert "1 runs (caffe; bn keep): ok" in capsys.readouterr().out
    assert len(fake_caffe.OPENED) == 1  # pycaffe itself ran the net


def _oracle_ready() -> str | None:
    """Why the oracle test cannot run, or None."""
    if not ORACLE.exists():
        return f"no Caffe oracle build at {ORACLE} (bash ../shared/tools/build_caffe_oracle.sh)"
    res = subprocess.run([str(ORACLE), "-c", "import caffe, convertkit.cli"], capture_output=True,
                         text=True, cwd="/", env=dict(os.environ, PYTHONPATH=str(ROOT),
                                                      GLOG_minloglevel="2"))
    if res.returncode != 0:
        return ("the oracle's python cannot import caffe and convertkit "
                f"(pip install click rich into it): {res.stderr.strip().splitlines()[-1:]}")
    return None


@pytest.mark.slow
def test_verify_against_real_caffe(tmp_path):
    """convertkit's conversion of a model against real BVLC Caffe reading its files."""
    why = _oracle_ready()
    if why:
        pytest.skip(why)
    assert main(["zoo", "make", "--from", str(NETS / "classifier.prototxt"), "-o", str(tmp_path)]) == 0
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32))
    code = ("import sys; from convertkit.cli import main; sys.exit(main(sys.argv[1:]))")
    res = subprocess.run(  # arrays, not images: the oracle's python has no OpenCV
        [str(ORACLE), "-c", code, "verify", str(tmp_path / "classifier.prototxt"),
         str(tmp_path / "classifier.caffemodel"), "--input", str(tmp_path / "x.npy"),
         "--runtimes", "caffe", "--direct", "--quiet"],
        capture_output=True, text=True, timeout=600,
        env=dict(os.environ, PYTHONPATH=str(ROOT), GLOG_minloglevel="2"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "verdict: PASS (1 runtime runs" in res.stdout
