"""SSD's DetectionOutput in TensorFlow (the runtime, the SavedModel, the .keras) and in
torch ops (the eager runtime and torch.export's .pt2): the detections equal the numpy
reference's as sets of rows, in Caffe's label order, for every code type, with 0, 1
and keep_top_k detections, for one image and a batch of two; inverted boxes overlap
nothing and eta tightens the threshold, as Caffe's; the real SSDs pass verify whole in
every runtime and format."""
import json
from pathlib import Path

import numpy as np
import pytest

import convertkit
from convertkit.cli import main
from convertkit.layers import detection_output as det
from convertkit.runtime import create


from support import SSD_CASES, detection_rows, image_batch, tiny_ssd_with

tf = pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

REAL = Path(__file__).resolve().parents[2] / "shared" / "real-models"

#: The tiny SSD with other DetectionOutput parameters, its detections as a set, photos.
ssd, rows, inputs = tiny_ssd_with, detection_rows, image_batch


def same_detections(net, got, ref):
    got = np.asarray(got)
    assert got.shape == ref.shape
    np.testing.assert_allclose(rows(net, got), rows(net, ref), rtol=1e-5, atol=1e-6)
    # Caffe's order too: images in order, labels ascending, each label's boxes best first.
    np.testing.assert_array_equal(got.reshape(-1, 7)[:, :2], ref.reshape(-1, 7)[:, :2])


def exported(net, folder):
    """The SavedModel's serve, the loaded .keras and the .pt2's module of ``net``."""
    import convertkit.backends.tf  # noqa: F401  (registers the Keras layers)

    assert main(["convert", net.prototxt_path, net.caffemodel_path, "--to", "savedmodel,keras,pt2",
                 "-o", str(folder), "--quiet"]) == 0
    stem = Path(net.prototxt_path).stem
    saved = tf.saved_model.load(str(folder / f"{stem}.savedmodel"))
    model = keras.models.load_model(folder / f"{stem}.keras")
    program = torch.export.load(folder / f"{stem}.pt2").module()

    def pt2(x):
        with torch.no_grad():
            return program(torch.from_numpy(x))[0].numpy()

    def one(out):
        return next(iter(out.values())) if isinstance(out, dict) else out

    return {"savedmodel": lambda x: one(saved.serve(tf.constant(x))).numpy(),
            "keras": lambda x: np.asarray(one(model(x))),
            "pt2": pt2}


@pytest.mark.parametrize("changes, expect", SSD_CASES)
def test_detections_equal_caffes_in_tf_and_torch(changes, expect, tmp_path):
    (tmp_path / "m").mkdir()
    net = ssd(tmp_path / "m", **changes)
    files = exported(net, tmp_path / "c")
    for n in (1, 2):
        x = inputs(net, n)
        ref = create("numpy", net).forward(x)[net.outputs[0]]
        if expect == 0:  # Caffe's row of -1s after each image's index
            np.testing.assert_array_equal(ref.reshape(-1, 7),
                                          [[i, -1, -1, -1, -1, -1, -1] for i in range(n)])
        elif expect is not None and n == 1:
            assert ref.shape[2] == expect
        for name in ("tf", "torch"):
            same_detections(net, create(name, net).forward(x)[net.outputs[0]], ref)
        for name, run in files.items():
            same_detections(net, run(x["data"]), ref)


def test_a_batch_of_two_images_keeps_the_best_per_image(tmp_path):
    net = ssd(tmp_path, keep_top_k=7)
    x = inputs(net, 2)
    ref = create("numpy", net).forward(x)[net.outputs[0]].reshape(-1, 7)
    assert (ref[:, 0] == 0).sum() == 7 and (ref[:, 0] == 1).sum() == 7
    for name in ("tf", "torch"):
        got = create(name, net).forward(x)[net.outputs[0]].reshape(-1, 7)
        np.testing.assert_array_equal(got[:, :2], ref[:, :2])
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def crowded(seed=0, n=2, priors=60, classes=3):
    """Random loc/conf/prior arrays whose CORNER boxes crowd one another and are often
    inverted (xmax < xmin or ymax < ymin)."""
    rng = np.random.default_rng(seed)
    corners = rng.uniform(0.2, 0.6, (priors, 2))
    corners = np.concatenate([corners, corners + rng.uniform(0.05, 0.3, (priors, 2))], 1)
    prior = np.stack([corners, np.full((priors, 4), 0.1)]).astype(np.float32).reshape(1, 2, -1)
    loc = rng.normal(0, 2.0, (n, priors * 4)).astype(np.float32)
    logits = rng.normal(0, 2, (n, priors, classes))
    conf = (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype(np.float32)
    return loc, conf.reshape(n, -1), prior


def params(**changes):
    base = dict(num_classes=3, share_location=True, background_label_id=0, nms_threshold=0.3,
                top_k=40, eta=1.0, code_type="CORNER", variance_encoded_in_target=False,
                keep_top_k=50, confidence_threshold=0.05)
    return det.DetectionOutputParams(**(base | changes))


def reference(loc, conf, prior, p):
    n = loc.shape[0]
    boxes = det.decode(prior.reshape(2, -1, 4), loc.reshape(n, -1, 4), p)
    return boxes, det.detections(boxes, conf.reshape(n, boxes.shape[1], p.num_classes), p)


def ours(loc, conf, prior, p):
    """(torch's rows, TF's rows in a tf.function) for the same arrays."""
    from convertkit.backends.tf.detection import CaffeDetectionOutput
    from convertkit.backends.torch.detection import detections

    priors = prior.shape[2] // 4
    got_torch = detections(*(torch.from_numpy(a) for a in (loc, conf, prior)), p, priors).numpy()
    layer = CaffeDetectionOutput(p.num_classes, priors, p.background_label_id, p.nms_threshold,
                                 p.top_k, p.eta, p.code_type, p.variance_encoded_in_target,
                                 p.keep_top_k, p.confidence_threshold)
    graph = tf.function(lambda a, b, c: layer([a, b, c]))
    got_tf = graph(tf.constant(loc), tf.constant(conf), tf.constant(prior)).numpy()
    return got_torch, np.transpose(got_tf, (0, 3, 1, 2))  # NHWC -> Caffe's 1 x 1 x D x 7


@pytest.mark.parametrize("changes", [{}, {"eta": 0.7, "nms_threshold": 0.9},
                                     {"keep_top_k": -1, "top_k": -1}])
def test_inverted_boxes_overlap_nothing_and_eta_tightens(changes):
    """Crowded boxes, many inverted: Caffe gives an inverted box size 0 and overlap 0
    (the overlap TF's and ONNX's NMS would compute from its ordered corners is not
    Caffe's); the kept rows are the reference's, row for row."""
    loc, conf, prior = crowded()
    p = params(**changes)
    boxes, ref = reference(loc, conf, prior, p)
    inverted = (boxes[..., 2] < boxes[..., 0]) | (boxes[..., 3] < boxes[..., 1])
    assert inverted.mean() > 0.2
    kept = ref.reshape(-1, 7)
    assert ((kept[:, 5] < kept[:, 3]) | (kept[:, 6] < kept[:, 4])).sum() > 3
    # Among the kept rows are boxes that ordered corners would have suppressed.
    ordered = np.concatenate([np.minimum(kept[:, 3:5], kept[:, 5:7]),
                              np.maximum(kept[:, 3:5], kept[:, 5:7])], 1)
    suppressed = sum(
        ((det.iou(ordered[i], ordered[:i]) > p.nms_threshold)
         & (kept[:i, 0] == kept[i, 0]) & (kept[:i, 1] == kept[i, 1])).any()
        for i in range(len(kept)))
    assert suppressed > 0 or p.nms_threshold > 0.5
    for got in ours(loc, conf, prior, p):
        assert got.shape == ref.shape
        np.testing.assert_array_equal(got.reshape(-1, 7)[:, :2], ref.reshape(-1, 7)[:, :2])
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_eta_changes_the_detections():
    """The eta case above is not vacuous: with eta 1 the rows differ."""
    loc, conf, prior = crowded()
    adaptive = reference(loc, conf, prior, params(eta=0.7, nms_threshold=0.9))[1]
    fixed = reference(loc, conf, prior, params(nms_threshold=0.9))[1]
    assert adaptive.shape != fixed.shape or not np.array_equal(adaptive, fixed)


@pytest.mark.slow
@pytest.mark.parametrize("folder, proto, model", [
    ("yufacedetectnet_v1", "yufacedetectnet-open-v1.prototxt", "yufacedetectnet-open-v1.caffemodel"),
    ("wechat_qrcode_detect", "detect.prototxt", "detect.caffemodel"),
])
def test_real_ssds_pass_verify_whole_in_every_format(folder, proto, model, capsys):
    """A fresh conversion to every format, each run by its runtime (opencv, torch .pt
    and .pt2, onnx, tf checkpoint, SavedModel, .keras, keras-weights): PASS, none cut
    before DetectionOutput."""
    src = REAL / folder
    if not (src / proto).is_file() or not (src / model).is_file():
        pytest.skip(f"{src} not found (needs ../shared/real-models)")
    rc = main(["verify", str(src / proto), str(src / model), "--layers", "auto", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["verdict"] == "pass"
    subjects = {s["name"]: s for v in report["variants"] for s in v["subjects"]}
    for suffix in (".pt2", ".savedmodel", ".keras", ".weights.h5", ".onnx", ".pt"):
        name = next(n for n in subjects if n.endswith(suffix + "]"))
        s = subjects[name]
        assert s["verdict"] == "pass" and s["ends_at"] is None, name
        assert all(o["within"] for o in s["outputs"].values()), name
    assert subjects["opencv"]["verdict"] == "pass"
