"""A user's own model, end to end, for every kind of output: the small nets of
fixtures/nets (a classifier, a landmark regressor, an FSRCNN-like super-resolution net,
an ENet-like max-unpooling net, a two-stage detector pair) with `zoo make --from`
weights, through `run`, `convert --to all`, `verify --converted --report` (the report
opened in headless Chromium) and, for segmentation, `segment` with the model's own
preprocessing."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from convertkit.cli import main

ROOT = Path(__file__).resolve().parents[1]
NETS = ROOT / "fixtures" / "nets"
IMAGES = ROOT / "fixtures" / "images"

#: net -> (extra preprocessing flags for run/verify, {output: kind})
MODELS = {
    "classifier": ([], {"prob": "classification"}),
    "landmarks": (["--mean", "127.5", "--scale", "0.0078125"], {"landmarks": "regression"}),
    "fsrcnn": (["--mean", "0", "--scale", "1/255", "--input-size", "24x20"], {"deconv": "image"}),
    "enet_like": (["--mean", "0", "--input-size", "48x80"], {"score": "segmentation"}),
    "detector_stage1": (["--mean", "127.5", "--scale", "0.0078125", "--input-size", "36x52"],
                        {"prob1": "segmentation", "conv3-2": "segmentation"}),
    "detector_stage2": (["--mean", "127.5", "--scale", "0.0078125"],
                        {"prob": "classification", "fc-box": "regression",
                         "fc-points": "regression"}),
}


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_your_own_model_end_to_end(name, tmp_path, capsys):
    flags, kinds = MODELS[name]
    model = tmp_path / "model"
    assert main(["zoo", "make", "--from", str(NETS / f"{name}.prototxt"), "-o", str(model)]) == 0
    proto, weights = model / f"{name}.prototxt", model / f"{name}.caffemodel"
    capsys.readouterr()
    photo = str(IMAGES / "chelsea.png")
    # run: one image with the model's own preprocessing
    assert main(["run", str(proto), str(weights), "--image", photo, *flags,
                 "-o", str(tmp_path / "run.npz"), "--json"]) == 0
    ran = _json(capsys)
    assert set(kinds) <= set(ran["blobs"])
    assert ran["preprocessing"]["from"]["mean"] == ("flag" if "--mean" in flags else "default")
    # convert to every format
    assert main(["convert", str(proto), str(weights), "--to", "all", "-o", str(tmp_path / "c"),
                 "--quiet", "--json"]) == 0
    written = _json(capsys)
    assert {"onnx", "pt2", "savedmodel", "keras", "npz"} <= set(written["formats"])
    # verify the converted files, with a report
    rc = main(["verify", str(proto), str(weights), "--converted", str(tmp_path / "c"),
               "--image", photo, "--image", str(IMAGES / "rocket.jpg"), *flags,
               "--report", str(tmp_path / "r"), "--quiet", "--json"])
    report = _json(capsys)
    assert rc == 0, [(s["name"], s["verdict"], s["message"]) for v in report["variants"]
                     for s in v["subjects"]]
    assert report["verdict"] == "pass"
    assert report["model"]["output_kinds"] == kinds
    checked = {s["format"] for s in report["variants"][0]["subjects"] if s["verdict"] == "pass"}
    assert {"onnx", "pt2", "savedmodel", "keras", "torch"} <= checked
    html = (tmp_path / "r" / "report.html").read_text()
    for o, kind in kinds.items():
        if kind != "segmentation":
            assert f"<h3>{o} ({kind})</h3>" in html
    _opens_in_chromium(tmp_path / "r" / "report.html", tmp_path)


def _opens_in_chromium(page: Path, tmp_path: Path) -> None:
    from test_report_html import _browser, _console_lines, chromium

    chromium()  # skips, saying why, without a browser
    res = _browser(["--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri()])
    assert res.returncode == 0, res.stderr[-2000:]
    assert "<h1>" in res.stdout and "Outputs</h2>" in res.stdout
    assert _console_lines(res.stderr) == []


def test_segment_with_enets_preprocessing(tmp_path, capsys):
    """ENet's published preprocessing (BGR 0-255, no mean, 512x1024) with flags alone,
    here at a reduced size: the net sees the raw pixels, and the masks have the
    image's size."""
    model = tmp_path / "model"
    assert main(["zoo", "make", "--from", str(NETS / "enet_like.prototxt"), "-o", str(model)]) == 0
    capsys.readouterr()
    photos = tmp_path / "photos"
    photos.mkdir()
    for p in ("chelsea.png", "coffee.jpg"):
        shutil.copy(IMAGES / p, photos / p)
    assert main(["segment", str(model / "enet_like.prototxt"), str(photos), "--weights",
                 str(model / "enet_like.caffemodel"), "--mean", "0", "--input-size", "64x96",
                 "-o", str(tmp_path / "masks"), "--json"]) == 0
    prep = _json(capsys)["preprocessing"]
    assert prep["mean"] is None and prep["from"]["mean"] == "flag"
    assert prep["input_size"] == [64, 96] and prep["summary"] == "resize to 64x96, BGR, no mean"
    masks = sorted(p.name for p in (tmp_path / "masks").iterdir())
    assert masks == ["chelsea_color.png", "coffee_color.png"]
    import cv2

    mask = cv2.imread(str(tmp_path / "masks" / "chelsea_color.png"), cv2.IMREAD_UNCHANGED)
    photo = cv2.imread(str(IMAGES / "chelsea.png"))
    assert mask.shape[:2] == photo.shape[:2]
    assert len(np.unique(mask)) >= 2
