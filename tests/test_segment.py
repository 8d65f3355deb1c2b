"""segment, evaluate and inspect --benchmark: outputs checked against the model's own
predictions, and datasets in every official layout whose confusion matrix is known by
construction (ground truth made from the predictions, with known pixels changed)."""
import json
from pathlib import Path

import numpy as np
import pytest

from convertkit import runtime, zoo
from convertkit.cli import main
from convertkit.apps.evaluate import IGNORE, cityscapes_train_ids, confusion, scores
from convertkit.runtime.preprocess import read_image, sample_images
from convertkit.apps.segment import Predictor, Protocol, label_ids, palette_png
from convertkit.caffe.wire import save_caffemodel

cv2 = pytest.importorskip("cv2", reason="opencv-python-headless is not installed")
PIL = pytest.importorskip("PIL.Image", reason="Pillow is not installed")


def model(tmp, name, **kw):
    text, net = zoo.make(name, width=0.125, **kw)
    d = tmp / name
    d.mkdir(exist_ok=True)
    (d / "m.prototxt").write_text(text)
    save_caffemodel(net, d / "m.caffemodel")
    return d / "m.prototxt", d / "m.caffemodel", net


@pytest.fixture(scope="module")
def icnet(tmp_path_factory):
    return model(tmp_path_factory.mktemp("m"), "icnet", input_size=(193, 385))


def predict(net, img, protocol=Protocol()):
    return Predictor(runtime.create("numpy", net), net).logits(img, protocol).argmax(0)


def test_segment_writes_the_predictions(icnet, tmp_path, capsys):
    proto, weights, net = icnet
    photo = sample_images()[1]
    args = ["segment", str(proto), str(photo), "--weights", str(weights), "-o", str(tmp_path / "o"),
            "--label-ids", "--overlay", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    color, ids, over = (Path(f) for f in out["images"][str(photo)])
    want = predict(net, read_image(photo))
    np.testing.assert_array_equal(np.asarray(PIL.open(color)), want)
    np.testing.assert_array_equal(cv2.imread(str(ids), cv2.IMREAD_UNCHANGED), label_ids(want))
    assert cv2.imread(str(over)).shape == read_image(photo).shape
    assert main(args) == 2 and "already exists" in capsys.readouterr().err
    assert main(["segment", str(proto), str(proto), "--weights", str(weights), "-o",
                 str(tmp_path / "p")]) == 2
    assert "not an image" in capsys.readouterr().err


def test_protocols(icnet):
    _, _, net = icnet
    pred = Predictor(runtime.create("numpy", net), net)
    img = cv2.resize(read_image(sample_images()[0]), (385, 193))
    base = pred.logits(img)
    # At the net's own size, sliding and padding are one pass, like resize.
    np.testing.assert_allclose(pred.logits(img, Protocol(mode="sliding")), base, atol=1e-4)
    np.testing.assert_allclose(pred.logits(img, Protocol(mode="pad")), base, atol=1e-4)
    mirrored = pred.logits(np.ascontiguousarray(img[:, ::-1]))[:, :, ::-1]
    np.testing.assert_allclose(pred.logits(img, Protocol(flip=True)), (base + mirrored) / 2,
                               atol=1e-4)
    # A bigger image: sliding windows cover it, each crop the net's size.
    big = cv2.resize(img, (500, 300))
    calls = []
    real = pred.forward
    pred.forward = lambda x: calls.append(x.shape) or real(x)
    out = pred.logits(big, Protocol(mode="sliding", scales=(1.0, 0.75)))
    assert out.shape == (19, 300, 500)
    assert all(s == (1, 3, 193, 385) for s in calls) and len(calls) == 4 + 2


def make_dataset(kind, root, net, photos, moved=500):
    """Ground truth = the model's predictions, with ``moved`` pixels of the top-left
    block relabelled to another class: the confusion matrix is known."""
    classes = int(net.blob_shapes[net.outputs[0]][1])
    expected = np.zeros((classes, classes), np.int64)
    for i, photo in enumerate(photos):
        img = read_image(photo)
        pred = predict(net, img).astype(np.int64)
        truth = pred.copy()
        flat = truth.reshape(-1)[:moved]
        flat[:] = (flat + 1) % classes
        truth.reshape(-1)[moved:moved + 50] = IGNORE
        expected += confusion(pred, truth, classes)
        name = f"img{i}"
        if kind == "cityscapes":
            d = root / "leftImg8bit" / "val" / "city"
            g = root / "gtFine" / "val" / "city"
            d.mkdir(parents=True, exist_ok=True)
            g.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(d / f"{name}_leftImg8bit.png"), img)
            ids = np.where(truth == IGNORE, 0, label_ids(truth.clip(0, 18)))  # 0: unlabeled
            cv2.imwrite(str(g / f"{name}_gtFine_labelIds.png"), ids.astype(np.uint8))
        elif kind == "ade20k":
            d, g = root / "images" / "validation", root / "annotations" / "validation"
            d.mkdir(parents=True, exist_ok=True)
            g.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(d / f"{name}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 100])
            cv2.imwrite(str(g / f"{name}.png"), np.where(truth == IGNORE, 0, truth + 1).astype(np.uint8))
        else:
            d, g = root / "JPEGImages", root / "SegmentationClass"
            d.mkdir(parents=True, exist_ok=True)
            g.mkdir(parents=True, exist_ok=True)
            (root / "ImageSets" / "Segmentation").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(d / f"{name}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 100])
            (g / f"{name}.png").write_bytes(palette_png(truth.astype(np.uint8), np.zeros((256, 3), np.uint8)))
            with open(root / "ImageSets" / "Segmentation" / "val.txt", "a") as fh:
                fh.write(name + "\n")
    return expected


@pytest.mark.parametrize("kind, name, kw", [
    ("cityscapes", "icnet", dict(input_size=(193, 385))),
    ("ade20k", "pspnet50", dict(input_size=97)),
    ("voc", "pspnet50", dict(input_size=97, classes=21)),
])
def test_evaluate_every_layout(kind, name, kw, tmp_path, capsys):
    proto, weights, net = model(tmp_path, name, **kw)
    photos = sample_images()[:2]
    root = tmp_path / "data"
    expected = make_dataset(kind, root, net, photos)
    if kind != "cityscapes":  # the saved JPEGs decode slightly differently: predict on them
        expected = np.zeros_like(expected)
        for img_path in sorted((root / ("images/validation" if kind == "ade20k" else "JPEGImages")).glob("*.jpg")):
            pred = predict(net, read_image(img_path)).astype(np.int64)
            label = root / ("annotations/validation" if kind == "ade20k" else "SegmentationClass") / (img_path.stem + ".png")
            if kind == "ade20k":
                raw = cv2.imread(str(label), cv2.IMREAD_UNCHANGED).astype(np.int64) - 1
                truth = np.where(raw < 0, IGNORE, raw)
            else:
                truth = np.asarray(PIL.open(label)).astype(np.int64)
            expected += confusion(pred, truth, expected.shape[0])
    assert main(["evaluate", str(proto), str(root), "--dataset", kind, "--weights", str(weights),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    np.testing.assert_array_equal(np.array(out["confusion"]), expected)
    want = scores(expected)
    assert out["miou"] == pytest.approx(want["miou"]) and out["images"] == 2
    assert 0 < out["miou"] < 1 and out["pixel_accuracy"] < 1


def test_evaluate_names_and_skips_bad_pairs_and_workers_agree(icnet, tmp_path, capsys):
    proto, weights, net = icnet
    root = tmp_path / "cs"
    make_dataset("cityscapes", root, net, sample_images()[:2])
    base = ["evaluate", str(proto), str(root), "--dataset", "cityscapes", "--weights", str(weights), "--json"]
    assert main(base) == 0
    one = json.loads(capsys.readouterr().out)
    assert main(base + ["--workers", "2"]) == 0
    two = json.loads(capsys.readouterr().out)
    assert two["confusion"] == one["confusion"]
    gt = root / "gtFine" / "val" / "city"
    (gt / "img1_gtFine_labelIds.png").unlink()
    img2 = root / "leftImg8bit" / "val" / "city" / "img2_leftImg8bit.png"
    cv2.imwrite(str(img2), read_image(sample_images()[2]))
    cv2.imwrite(str(gt / "img2_gtFine_labelIds.png"), np.zeros((5, 5), np.uint8))
    assert main(base) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["images"] == 1 and len(out["skipped"]) == 2
    assert "img1_gtFine_labelIds.png: label map not found" in out["skipped"][0]
    assert "label map is 5x5, the image" in out["skipped"][1]
    assert main(["evaluate", str(proto), str(tmp_path), "--dataset", "voc", "--weights", str(weights)]) == 2
    assert "is not a VOC layout" in capsys.readouterr().err


def test_inspect_benchmark_writes_the_per_layer_file(icnet, tmp_path, capsys):
    proto, weights, net = icnet
    out = tmp_path / "benchmark.txt"
    assert main(["inspect", str(proto), str(weights), "--benchmark", "--repeat", "1", "-o", str(out),
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert all(l["ms"] >= 0 for l in summary["layers"]) and summary["totals"]["ms"] > 0
    text = out.read_text()
    assert "ms in the numpy runtime" in text and text.splitlines()[0].startswith("net ")
    assert main(["inspect", str(proto), "-o", str(tmp_path / "x.txt")]) == 2
    assert "add --benchmark" in capsys.readouterr().err


def test_label_id_tables_are_inverse():
    train = np.arange(19)
    np.testing.assert_array_equal(cityscapes_train_ids()[label_ids(train)], train)
    assert cityscapes_train_ids()[0] == IGNORE


def test_segment_runs_converted_weights(icnet, tmp_path, capsys):
    pytest.importorskip("torch", reason="the torch runtime is not installed")
    proto, weights, net = icnet
    assert main(["convert", str(proto), str(weights), "--to", "torch,onnx", "-o", str(tmp_path / "c"),
                 "--json"]) == 0
    files = json.loads(capsys.readouterr().out)["formats"]
    photo = sample_images()[0]
    want = predict(net, read_image(photo))
    for fmt in ("torch", "onnx"):
        out = tmp_path / fmt
        assert main(["segment", str(proto), str(photo), "--weights", files[fmt]["files"][0],
                     "-o", str(out)]) == 0
        got = np.asarray(PIL.open(out / f"{photo.stem}_color.png"))
        assert np.mean(got == want) > 0.999, fmt
    assert main(["segment", str(proto), str(photo), "--weights", files["torch"]["files"][0],
                 "--runtime", "onnx", "-o", str(tmp_path / "x")]) == 2
    assert "runs in the torch runtime, not onnx" in capsys.readouterr().err


def test_batched_segmentation_equals_one_by_one(icnet, tmp_path, capsys):
    proto, weights, net = icnet
    photos = [str(p) for p in sample_images()]
    for batch in ("1", "3"):
        assert main(["segment", str(proto), *photos, "--weights", str(weights), "--batch", batch,
                     "-o", str(tmp_path / batch)]) == 0
    capsys.readouterr()
    for p in sample_images():
        a = np.asarray(PIL.open(tmp_path / "1" / f"{p.stem}_color.png"))
        b = np.asarray(PIL.open(tmp_path / "3" / f"{p.stem}_color.png"))
        assert np.mean(a == b) > 0.999
