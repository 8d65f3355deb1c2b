"""verify shows every kind of output in its own terms (convertkit/verify/kinds.py):
classification, regression, image-to-image, detection and segmentation, on the small
nets of fixtures/nets with seeded weights; a report never crashes on an output shape."""
import json
from pathlib import Path

import numpy as np
import pytest

import convertkit
from convertkit.cli import main
from convertkit.runtime.preprocess import sample_images
from convertkit.verify import Options, Verifier, samples_from_images
from convertkit.verify import kinds as K
from convertkit.verify import report as rep
from convertkit.zoo.anynet import make_from

NETS = Path(__file__).resolve().parents[1] / "fixtures" / "nets"


def fixture_net(name: str, shape=None):
    """A fixture net with seeded, calibrated weights (zoo make --from)."""
    net = convertkit.load(NETS / f"{name}.prototxt",
                          input_shapes={None: shape} if shape else None)
    return make_from(net, 0)[0]


@pytest.mark.parametrize("shape, hint, image, kind", [
    ((2, 10), "probabilities", (2, 3, 32, 32), "classification"),
    ((2, 10, 1, 1), "probabilities", (2, 3, 32, 32), "classification"),
    ((2, 10), None, (2, 3, 40, 40), "regression"),
    ((1, 1, 14, 14), None, (1, 1, 7, 7), "image"),
    ((1, 3, 64, 64), None, (1, 3, 64, 64), "image"),
    ((1, 3, 64, 64), "probabilities", (1, 3, 64, 64), "segmentation"),
    ((1, 21, 16, 16), None, (1, 3, 64, 64), "segmentation"),
    ((1, 1, 16, 16), None, (1, 3, 64, 64), "values"),
    ((1, 1, 5, 7), "detections", (1, 3, 64, 64), "detection"),
    ((1, 8, 16, 16), "indices", (1, 3, 64, 64), "values"),
    ((7,), None, (1, 3, 8, 8), "values"),
    ((1, 4, 5), None, (1, 3, 8, 8), "values"),
])
def test_kind_of(shape, hint, image, kind):
    assert K.kind_of(shape, hint, image) == kind


def test_top_k_orders_by_score_and_keeps_the_first_of_ties():
    a = np.array([[0.1, 0.5, 0.5, 0.2, 0.0, 0.9]], np.float32)
    assert [c for c, _ in K.top_k(a)[0]] == [5, 1, 2, 3, 0]
    assert K.topk_agreement(a, a[:, ::-1].copy(), 1) == (0, 1)
    assert K.topk_agreement(a, a + 1e-3, 5) == (1, 1)


def test_points_and_boxes_are_drawn_where_they_are():
    pic = np.zeros((40, 40, 3), np.uint8)
    pts, how = K.points_of(np.array([0.25, 0.5, 0.75, 0.5]), (40, 40))
    assert "fractions" in how and np.allclose(pts, [[10, 20], [30, 20]])
    out = K.draw_points(pic, pts, (255, 0, 0))
    assert tuple(out[20, 10]) == (255, 0, 0) and tuple(out[20, 30]) == (255, 0, 0)
    assert tuple(out[0, 0]) == (0, 0, 0)
    rows = np.array([[0, 1, 0.9, 0.25, 0.25, 0.75, 0.75], [0, -1, -1, -1, -1, -1, -1]], np.float32)
    boxed = K.draw_boxes(pic, rows, (0, 255, 0))
    assert tuple(boxed[10, 20]) == (0, 255, 0) and tuple(boxed[20, 20]) == (0, 0, 0)


def test_difference_map_is_white_where_equal_and_red_at_the_tolerance():
    ref = np.zeros((4, 4, 1), np.float32)
    got = ref.copy()
    got[1, 2] = 0.5
    pic, top = K.difference_map(got, ref, tol=0.25)
    assert top == 0.5 and tuple(pic[0, 0]) == (255, 255, 255) and tuple(pic[1, 2]) == (255, 0, 0)


#: fixture net -> {output: kind}
EXPECTED = {
    "classifier": {"prob": "classification"},
    "landmarks": {"landmarks": "regression"},
    "fsrcnn": {"deconv": "image"},
    "enet_like": {"score": "segmentation"},
    "detector_stage1": {"prob1": "segmentation", "conv3-2": "segmentation"},
    "detector_stage2": {"prob": "classification", "fc-box": "regression",
                        "fc-points": "regression"},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_report_shows_each_output_in_its_terms(name, tmp_path):
    net = fixture_net(name)
    samples = samples_from_images(net, sample_images()[:2])
    result = Verifier(net, Options(direct=True, runtimes=["torch"], visuals=True)).run(samples)
    report = result.report
    assert report["model"]["output_kinds"] == EXPECTED[name]
    paths = rep.write(result, tmp_path)
    html = paths[2].read_text()
    md = paths[1].read_text()
    sub = report["variants"][0]["subjects"][0]
    for o, kind in EXPECTED[name].items():
        assert sub["outputs"][o]["kind"] == kind
        if kind != "values":
            assert f"<h3>{o} ({kind})</h3>" in html or kind == "segmentation"
        if kind == "classification":
            assert sub["outputs"][o]["top1_agreement"] == 1.0
            assert sub["outputs"][o]["top5_agreement"] == 1.0
            assert f"{o} (classification): top-1 agreement 100.00%" in md
            assert "top 5 classes" in html or "top 2 classes" in html
    if name == "landmarks":
        assert "5 points read as" in html  # drawn on the input
    if name == "fsrcnn":
        assert "full red at the tolerance" in html and "input (as the net sees it)" in html
    json.loads(paths[0].read_text())


def test_classification_table_marks_a_runtime_that_orders_classes_otherwise(tmp_path):
    """A runtime whose top-5 differs from the reference's is flagged in the table and
    in the top-1 agreement."""
    net = fixture_net("classifier")
    samples = samples_from_images(net, sample_images()[:1])
    result = Verifier(net, Options(direct=True, runtimes=["torch"], visuals=True)).run(samples)
    v = result.visuals["variants"][0]
    view = v["subjects"][0]["views"][0]["prob"]
    view[0] = list(reversed(view[0]))  # the runtime's classes in the opposite order
    html = rep.html(result.report, result.visuals)
    assert 'class="num bad"' in html.split("(classification)")[1]


def make_files(name: str, folder: Path) -> tuple[Path, Path]:
    """fixtures/nets/NAME.prototxt and seeded weights written by `zoo make --from`."""
    assert main(["zoo", "make", "--from", str(NETS / f"{name}.prototxt"), "-o", str(folder)]) == 0
    return folder / f"{name}.prototxt", folder / f"{name}.caffemodel"


@pytest.mark.parametrize("name", ["detector_stage2", "landmarks"])
def test_verify_report_on_n_by_k_outputs_does_not_crash(name, tmp_path, capsys):
    """N x K outputs only (the report code once unpacked H x W from them): a report and
    exit 0 from the command line."""
    proto, model = make_files(name, tmp_path / "m")
    rc = main(["verify", str(proto), str(model), "--direct", "--runtimes", "onnx",
               "--report", str(tmp_path / "r"), "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert (tmp_path / "r" / "report.html").stat().st_size > 1000
    assert "verdict: PASS" in out


def test_detections_are_drawn_per_runtime(tmp_path):
    """SSD rows: compared as a set, each runtime's boxes drawn over the reference's."""
    from support import tiny_ssd

    net = convertkit.load(*tiny_ssd(tmp_path))
    samples = samples_from_images(net, sample_images()[:1])
    result = Verifier(net, Options(direct=True, runtimes=["torch"], visuals=True)).run(samples)
    out = next(iter(result.report["model"]["output_kinds"].items()))
    assert out[1] == "detection"
    html = rep.html(result.report, result.visuals)
    assert f"<h3>{out[0]} (detection)</h3>" in html
    assert "numpy reference (BN keep), 30 detections" in html
    assert "torch: 30 detections" in html
