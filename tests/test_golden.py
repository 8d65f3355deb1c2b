"""Golden fingerprints: model specs, robustness of the quantised hash, record/check with
a readable diff, and the CI check of every zoo net's golden file (all runtimes, both
BN variants)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from convertkit import runtime
from convertkit.cli import main
from convertkit.errors import UsageError
from convertkit.verify import golden

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "fixtures" / "golden"
SMALL = ROOT / "fixtures" / "models" / "icnet_small"
IMAGE = ROOT / "fixtures" / "images" / "chelsea.png"


def test_model_specs():
    s = golden.parse_spec("icnet:size=193x385,bn=keep,width=0.125")
    assert s.zoo == "icnet" and s.canonical() == "icnet:width=0.125,size=193x385,bn=keep"
    assert golden.parse_spec("pspnet50").canonical() == "pspnet50"
    pair = golden.parse_spec("a/net.prototxt+b/net.caffemodel")
    assert (pair.prototxt, pair.caffemodel) == ("a/net.prototxt", "b/net.caffemodel")
    alone = golden.parse_spec(str(SMALL / "icnet.prototxt"))
    assert alone.caffemodel == str(SMALL / "icnet.caffemodel")
    with pytest.raises(UsageError, match="'depth=3' is not one of width=..., size=..."):
        golden.parse_spec("icnet:depth=3")
    with pytest.raises(UsageError, match="neither a zoo model .icnet, pspnet50, pspnet101. nor a prototxt"):
        golden.parse_spec("icnett")


def test_quantised_hash_ignores_noise_and_catches_changes():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((1, 19, 40, 60)).astype(np.float32) * 3
    want = golden.fingerprint({"out": logits}, ["out"])
    entry = want["outputs"]["out"]
    assert len(entry["small"]) <= golden.SMALL_VALUES
    assert 0 < len(entry["skip"]) < 0.2 * len(entry["small"])
    for scale in (1e-7, 1e-5):  # BLAS and thread noise, far inside the tolerance
        noisy = logits + scale * np.abs(logits).max() * rng.standard_normal(logits.shape).astype(np.float32)
        got = golden.fingerprint({"out": noisy}, ["out"])
        small = np.asarray(got["outputs"]["out"]["small"])
        # Checked with the recorded step and left-out cells, as `golden check` does.
        assert golden.quant_hash(small, entry["step"], entry["skip"]) == entry["hash"]
        assert golden.compare_image(want, got, 1e-4) == []
    moved = logits.copy()
    moved[0, 3, :10, :15] += 1.0  # one class changed in one corner
    diff = golden.compare_image(want, golden.fingerprint({"out": moved}, ["out"]), 1e-4)
    assert any("small copy max|diff|" in d and "class 3, cell (0, 0)" in d for d in diff), diff
    assert any("quantised hash" in d for d in diff), diff
    assert any(d.startswith("blob out: mean recorded") for d in diff), diff


def test_a_value_on_a_rounding_boundary_stays_out_of_the_hash():
    small = np.array([0.5, 1.0, 2.49999, 3.2]) * 0.01
    skip = golden.fragile(small, 0.01)
    assert skip == [0, 2]
    a = golden.quant_hash(small, 0.01, skip)
    nudged = small + np.array([2e-5, 0, -2e-5, 0]) * 0.01 * 10
    assert golden.quant_hash(nudged, 0.01, skip) == a


def needs(*names):
    missing = [n for n in names if n not in runtime.installed_runtimes()]
    if missing:
        pytest.skip(f"runtime(s) not installed here: {', '.join(missing)}")


def test_record_and_check_files_with_a_readable_diff(tmp_path, capsys):
    needs("onnx")
    out = tmp_path / "g" / "mine.json"
    spec = f"{SMALL / 'icnet.prototxt'}+{SMALL / 'icnet.caffemodel'}"
    assert main(["golden", "record", spec, "--image", str(IMAGE), "-o", str(out), "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["written"] == [str(out)] and rec["images"] == ["sample:chelsea.png"]
    doc = json.loads(out.read_text())
    assert doc["schema"] == "convertkit.golden/1"
    model = doc["models"][0]["model"]
    assert "+" in model and not Path(model.split("+")[0]).is_absolute()  # relative to the file
    before = out.read_bytes()
    assert main(["golden", "check", str(out), "--runtimes", "numpy,onnx", "-q"]) == 0
    text = capsys.readouterr().out
    assert "4 runs (numpy, onnx; bn keep, merge): ok" in text
    assert "golden check: PASS: 4 of 4 runs match" in text
    assert out.read_bytes() == before  # a check never writes
    # Tamper: a statistic and a cell of the small copy.
    image = doc["models"][0]["images"][0]
    image["blobs"]["conv5_3"][0] += 0.01
    image["outputs"]["conv6_interp"]["small"][7] += 0.5
    bad = tmp_path / "g" / "bad.json"
    bad.write_text(golden.dumps(doc))
    assert main(["golden", "check", str(bad), "--runtimes", "numpy", "--bn", "keep", "-q"]) == 1
    text = capsys.readouterr().out
    assert "FAIL (1 of 1 runs)" in text
    assert "[bn keep, numpy] chelsea.png: blob conv5_3: mean recorded" in text
    assert "[bn keep, numpy] chelsea.png: output conv6_interp: small copy max|diff| 0.5" in text
    assert "golden check: FAIL: 0 of 1 runs match" in text


def test_an_ssd_golden_holds_for_every_runtime(tmp_path, capsys):
    """SSD's detections are fingerprinted as a set (OpenCV orders and pads its rows its
    own way); ONNX, TF and PyTorch express DetectionOutput and are checked whole, every
    recorded blob statistic included."""
    needs("onnx", "opencv", "tf", "torch")
    from support import tiny_ssd

    proto, model = tiny_ssd(tmp_path)
    out = tmp_path / "ssd.json"
    assert main(["golden", "record", f"{proto}+{model}", "--image", str(IMAGE), "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["golden", "check", str(out), "--runtimes", "numpy,opencv,onnx,tf,torch",
                 "--json"]) == 0
    runs = {r["runtime"]: r for r in json.loads(capsys.readouterr().out)["models"][0]["runs"]}
    assert all(r["verdict"] == "pass" for r in runs.values())
    for name in ("opencv", "onnx", "tf", "torch"):
        assert runs[name]["ends_at"] is None, name
    doc = json.loads(out.read_text())  # a changed conf statistic is caught
    doc["models"][0]["images"][0]["blobs"]["conf_out"][0] += 0.01
    out.write_text(golden.dumps(doc))
    assert main(["golden", "check", str(out), "--runtimes", "onnx", "-q"]) == 1
    assert "blob conf_out: mean recorded" in capsys.readouterr().out


def test_record_follows_the_output_conventions(tmp_path, capsys):
    out = tmp_path / "g.json"
    out.write_text("{}")
    rc = main(["golden", "record", "icnet:width=0.125,size=193x385", "-o", str(out)])
    assert rc == 2 and "already exists; pass --force" in capsys.readouterr().err
    assert out.read_text() == "{}"
    rc = main(["golden", "record", "icnet:width=0.125", "-o", str(tmp_path / "g.txt")])
    assert rc == 2 and "must end in .json" in capsys.readouterr().err


@pytest.mark.parametrize("content, words", [
    ("not json", "not a JSON golden file"),
    ('{"schema": "other/1"}', "not a golden file of schema convertkit.golden/1"),
    ('{"schema": "convertkit.golden/1", "models": []}', "lists no models"),
])
def test_bad_golden_files_exit_2(tmp_path, capsys, content, words):
    f = tmp_path / "g.json"
    f.write_text(content)
    assert main(["golden", "check", str(f)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0] and str(f) in err[0]


def test_goldens_cover_every_zoo_net_at_width_one_eighth():
    models = {json.loads(p.read_text())["models"][0]["model"] for p in GOLDEN.glob("*.json")}
    assert models == {"icnet:width=0.125,size=193x385", "pspnet50:width=0.125,size=97",
                      "pspnet101:width=0.125,size=97x129"}


@pytest.mark.parametrize("name", ["icnet", "pspnet50", "pspnet101"])
def test_golden_check_every_runtime_and_bn_variant(name, capsys):
    """CI: every installed runtime, BN kept and merged, against the recorded numpy
    fingerprints (re-record only on purpose: convertkit golden record ... --force)."""
    rc = main(["golden", "check", str(GOLDEN / f"{name}.json"), "-q"])
    out = capsys.readouterr().out
    assert rc == 0, out
    runs = 2 * len(runtime.installed_runtimes())
    assert f"golden check: PASS: {runs} of {runs} runs match" in out


def test_check_converted_files_against_a_golden(tmp_path, capsys):
    """What a user's CI does with their own model: record once, then check the files
    every conversion writes."""
    needs("onnx")
    import convertkit
    from convertkit.emit import convert as conv

    g = tmp_path / "mine.json"
    spec = f"{SMALL / 'icnet.prototxt'}+{SMALL / 'icnet.caffemodel'}"
    assert main(["golden", "record", spec, "--image", str(IMAGE), "-o", str(g)]) == 0
    net = convertkit.load(SMALL / "icnet.prototxt", SMALL / "icnet.caffemodel")
    d = tmp_path / "converted"
    conv.convert(net, conv.plan_outputs(["onnx", "npz"], d, "icnet", inputs=[], force=True))
    capsys.readouterr()
    args = ["golden", "check", str(g), "--converted", str(d), "-q"]
    assert main(args) == 2 and "give --bn keep or --bn merge" in capsys.readouterr().err
    assert main(args + ["--bn", "keep"]) == 0
    out = capsys.readouterr().out
    assert "2 runs (numpy[icnet.npz], onnx[icnet.onnx]; bn keep): ok" in out
    arrays = dict(np.load(d / "icnet.npz"))
    arrays["conv6_cls/bias"] = arrays["conv6_cls/bias"] + np.float32(0.5)
    np.savez(d / "icnet.npz", **arrays)
    assert main(args + ["--bn", "keep"]) == 1
    out = capsys.readouterr().out
    assert "[bn keep, numpy[icnet.npz]] chelsea.png: blob conv6_interp: mean recorded" in out
    assert "[bn keep, numpy[icnet.npz]] chelsea.png: output conv6_interp: small copy" in out


def _perturbed(doc: dict, rel: float) -> dict:
    """A copy of a golden document with every recorded number moved by ``rel`` of the
    blob's (or copy's) largest magnitude: last-digit noise for small ``rel``."""
    import copy

    doc = copy.deepcopy(doc)
    for entry in doc["models"]:
        for img in entry["images"]:
            for stats in img["blobs"].values():
                scale = max(abs(stats[2]), abs(stats[3]))
                stats[:] = [v + rel * scale for v in stats]
            for out in img["outputs"].values():
                scale = max(abs(v) for v in out["small"])
                out["small"] = [v + rel * scale for v in out["small"]]
    return doc


def test_golden_compare_allows_last_digit_noise_and_catches_changes(tmp_path, capsys):
    """Two records are compared within the tolerance, never byte by byte (their last
    digits differ across CPUs and BLAS thread counts)."""
    doc = golden.read_golden(GOLDEN / "icnet.json")
    noisy, changed = tmp_path / "noisy.json", tmp_path / "changed.json"
    noisy.write_text(golden.dumps(_perturbed(doc, 3e-7)))
    changed.write_text(golden.dumps(_perturbed(doc, 3e-3)))
    assert noisy.read_bytes() != (GOLDEN / "icnet.json").read_bytes()
    assert main(["golden", "compare", str(noisy), str(GOLDEN / "icnet.json")]) == 0
    assert "golden compare: PASS: 1 model(s), 4 image(s)" in capsys.readouterr().out
    assert main(["golden", "compare", str(changed), str(GOLDEN / "icnet.json")]) == 1
    out = capsys.readouterr().out
    assert "golden compare: FAIL" in out and "blob data: " in out
    other = golden.read_golden(GOLDEN / "pspnet50.json")
    assert golden.compare_documents(doc, other, 1e-4)[0].endswith("not in the second file")
