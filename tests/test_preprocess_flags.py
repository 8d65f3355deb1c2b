"""Preprocessing as data (issue #17): every setting checked on exact numbers, the
prototxt's transform_param picked up, the note and the JSON/report entry, and each
image-reading command end to end showing that the flags change what the net sees."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from convertkit.cli import main
from convertkit.errors import ConvertError, InputFileError, UsageError
from convertkit.runtime.preprocess import (MEAN_BGR, MeanArray, Preprocessing, build, grey_mean,
                                   parse_scale, read_array, read_image)
from convertkit.caffe.proto import caffe_pb2

from conftest import ROOT
from test_preprocess import write_rgb_png

cv2 = pytest.importorskip("cv2", reason="opencv-python-headless (convertkit[opencv]) is not installed")

IMAGE = ROOT / "fixtures" / "images" / "chelsea.png"
NETS = ROOT / "fixtures" / "nets"
REAL = ROOT.parent / "shared" / "real-models" / "prototxt"
F32 = np.float32


@pytest.fixture
def img():
    """A 10 x 12 BGR uint8 image of seeded noise."""
    return np.random.default_rng(0).integers(0, 256, (10, 12, 3), dtype=np.uint8)


def nchw(hwc: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(hwc, F32).transpose(2, 0, 1)[None])


def write_blobproto(path: Path, arr: np.ndarray, legacy: bool = True) -> Path:
    """A Caffe mean file as compute_image_mean writes it: a BlobProto, 1 x C x H x W."""
    blob = caffe_pb2().BlobProto()
    if legacy:
        blob.num, (blob.channels, blob.height, blob.width) = 1, arr.shape
    else:
        blob.shape.dim.extend((1,) + arr.shape)
    blob.data.extend(arr.astype(F32).ravel().tolist())
    path.write_bytes(blob.SerializeToString())
    return path


def cli(args, capsys):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def one_line_error(rc, err) -> str:
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("convertkit: error: "), err
    return lines[0]


# -- each setting, on exact numbers -------------------------------------------------------------

def test_mean_values_one_value_and_zero(img):
    shape = (1, 3, 10, 12)
    x = build(mean="10,20,30").apply(img, shape)
    np.testing.assert_array_equal(x, nchw(img.astype(F32) - np.array([10, 20, 30], F32)))
    np.testing.assert_array_equal(build(mean="7").apply(img, shape), nchw(img.astype(F32) - F32(7)))
    none = build(mean="0")
    assert none.mean is None and "no mean" in none.describe()
    np.testing.assert_array_equal(none.apply(img, shape), nchw(img))
    # the default: ImageNet's BGR mean
    np.testing.assert_array_equal(build().apply(img, shape),
                                  nchw(img.astype(F32) - np.asarray(MEAN_BGR, F32)))


@pytest.mark.parametrize("legacy", [True, False])
def test_mean_binaryproto_is_read_with_caffe_proto(img, tmp_path, legacy):
    mean = np.random.default_rng(1).uniform(0, 255, (3, 10, 12)).astype(F32)
    path = write_blobproto(tmp_path / "mean.binaryproto", mean, legacy)
    prep = build(mean=str(path))
    assert isinstance(prep.mean, MeanArray) and prep.mean.kind == "binaryproto"
    assert prep.to_json()["mean"] == {"file": str(path), "kind": "binaryproto", "shape": [3, 10, 12]}
    np.testing.assert_array_equal(prep.apply(img, (1, 3, 10, 12)),
                                  nchw(img.astype(F32) - mean.transpose(1, 2, 0)))


def test_mean_npy_array_and_values(img, tmp_path):
    mean = np.random.default_rng(2).uniform(0, 255, (3, 10, 12)).astype(F32)
    np.save(tmp_path / "m.npy", mean)
    x = build(mean=str(tmp_path / "m.npy")).apply(img, (1, 3, 10, 12))
    np.testing.assert_array_equal(x, nchw(img.astype(F32) - mean.transpose(1, 2, 0)))
    np.save(tmp_path / "v.npy", np.array([1.5, 2.5, 3.5]))
    assert read_array(tmp_path / "v.npy") == (1.5, 2.5, 3.5)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputFileError, match="never unpickled"):
        build(mean=str(tmp_path / "obj.npy"))


def test_mean_image_is_resized_to_the_input(img, tmp_path):
    rgb = np.random.default_rng(3).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    path = write_rgb_png(tmp_path / "meanface.png", rgb)
    x = build(mean=str(path)).apply(img, (1, 3, 10, 12))
    resized = cv2.resize(np.ascontiguousarray(rgb[:, :, ::-1]), (12, 10), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(x, nchw(img.astype(F32) - resized.astype(F32)))


def test_std_values_and_std_image_vanillacnn(img, tmp_path):
    shape = (1, 3, 10, 12)
    x = build(mean="10,20,30", std="2,4,5").apply(img, shape)
    want = (img.astype(F32) - np.array([10, 20, 30], F32)) / np.array([2, 4, 5], F32)
    np.testing.assert_array_equal(x, nchw(want))
    # VanillaCNN: a mean face and a std face, both images
    rng = np.random.default_rng(4)
    mean_rgb = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    std_rgb = rng.integers(1, 256, (10, 12, 3), dtype=np.uint8)
    m = write_rgb_png(tmp_path / "mean.png", mean_rgb)
    s = write_rgb_png(tmp_path / "std.png", std_rgb)
    x = build(mean=str(m), std=str(s)).apply(img, shape)
    want = (img.astype(F32) - mean_rgb[:, :, ::-1].astype(F32)) / std_rgb[:, :, ::-1].astype(F32)
    np.testing.assert_array_equal(x, nchw(want))
    with pytest.raises(UsageError, match="must not be 0"):
        build(std="1,0,1")


def test_scale_after_the_mean_as_caffe(img):
    x = build(mean="103.94,116.78,123.68", scale="0.017").apply(img, (1, 3, 10, 12))
    want = (img.astype(F32) - np.array([103.94, 116.78, 123.68], F32)) * F32(0.017)
    np.testing.assert_array_equal(x, nchw(want))
    assert parse_scale("1/255") == 1 / 255
    np.testing.assert_array_equal(build(mean="0", scale="1/255").apply(img, (1, 3, 10, 12)),
                                  nchw(img.astype(F32) * F32(1 / 255)))


def test_rgb_order_reverses_channels_and_means_follow_the_input_order(img):
    x = build(channel_order="rgb", mean="1,2,3").apply(img, (1, 3, 10, 12))
    np.testing.assert_array_equal(x, nchw(img[:, :, ::-1].astype(F32) - np.array([1, 2, 3], F32)))
    assert "RGB" in build(channel_order="rgb").describe()


def test_grey_inputs(img):
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(F32)
    prep = Preprocessing(channels=1)
    np.testing.assert_array_equal(prep.apply(img, (1, 1, 10, 12))[0, 0], grey - F32(grey_mean()))
    x = Preprocessing(mean=None, scale=0.5, channels=1).apply(img, (1, 1, 10, 12))
    np.testing.assert_array_equal(x[0, 0], grey * F32(0.5))
    assert "grey" in prep.describe()


def test_input_size_resizes(img):
    prep = build(mean="0", input_size="5x6")
    assert prep.output_size((10, 12)) == (5, 6)
    want = cv2.resize(img, (6, 5), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(prep.apply(img, (1, 3, 10, 12)), nchw(want))


def test_crop_takes_caffes_centre_window_of_image_and_mean(img, tmp_path):
    mean = np.random.default_rng(5).uniform(0, 255, (3, 10, 12)).astype(F32)
    path = write_blobproto(tmp_path / "mean.binaryproto", mean)
    prep = build(mean=str(path), crop="8")
    x = prep.apply(img, (1, 3, 8, 8))
    # TEST phase: h_off = (10 - 8) / 2 = 1, w_off = (12 - 8) / 2 = 2; the mean cropped alike
    want = img[1:9, 2:10].astype(F32) - mean[:, 1:9, 2:10].transpose(1, 2, 0)
    np.testing.assert_array_equal(x, nchw(want))
    # A bigger image is first resized to the mean's size, the size Caffe requires.
    big = np.random.default_rng(6).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    small = cv2.resize(big, (12, 10), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(prep.apply(big, (1, 3, 8, 8)),
                                  nchw(small[1:9, 2:10].astype(F32) - mean[:, 1:9, 2:10].transpose(1, 2, 0)))
    # --input-size then --crop HxW: the window of the resized image
    x = build(mean="0", input_size="20x24", crop="16x18").apply(img, (1, 3, 16, 18))
    resized = cv2.resize(img, (24, 20), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(x, nchw(resized[2:18, 3:21]))
    with pytest.raises(UsageError, match="smaller than the crop"):
        build(crop="11").apply(img, (1, 3, 11, 11))


def test_mean_files_that_do_not_fit_are_named(img, tmp_path):
    path = write_blobproto(tmp_path / "m.binaryproto", np.zeros((3, 5, 5), F32))
    with pytest.raises(InputFileError) as err:
        build(mean=str(path)).apply(img, (1, 3, 10, 12))
    assert str(path) in str(err.value) and "5x5" in str(err.value) and "10x12" in str(err.value)
    grey = write_blobproto(tmp_path / "g.binaryproto", np.zeros((1, 10, 12), F32))
    with pytest.raises(InputFileError, match="1 channel"):
        build(mean=str(grey)).apply(img, (1, 3, 10, 12))
    junk = tmp_path / "junk.binaryproto"
    junk.write_bytes(b"\xff\xff\xff\xff")
    with pytest.raises(InputFileError) as err:
        build(mean=str(junk))
    assert str(junk) in str(err.value) and "\n" not in str(err.value)
    for bad in (dict(scale="abc"), dict(input_size="0x5"), dict(crop="axb"), dict(mean="1,2,x"),
                dict(mean="1,2")):
        with pytest.raises(UsageError):
            build(**bad)


# -- transform_param -------------------------------------------------------------------------

def test_transform_param_of_a_real_test_net_deeplab():
    import convertkit

    path = REAL / "deeplab_v2_vgg16_aspp_test.prototxt"
    if not path.is_file():
        pytest.skip(f"{path} not found (needs ../shared/real-models)")
    defines = dict(DATA_ROOT="d", EXP="e", TEST_SET="t", FEATURE_DIR="f", NUM_LABELS="21")
    net = convertkit.load(path, defines=defines)
    prep = build(net, prototxt=path, defines=defines)
    assert prep.mean == (104.008, 116.669, 122.675) and prep.crop == (513, 513)
    assert prep.source("mean") == f"transform_param of {path}" and prep.source("std") == "default"
    assert prep.note().startswith(f"using transform_param from {path}: mean_value "
                                  "104.008,116.669,122.675, crop_size 513 -> ")
    assert build(net, prototxt=path, defines=defines, mean="0").mean is None  # a flag overrides


def lenet_with_imagedata(tmp_path) -> Path:
    """BVLC's LeNet with its Input layer replaced by the data layer of its train_test
    net (transform_param { scale: 0.00390625 }), as an ImageData layer of grey 28x28."""
    src = REAL / "bvlc_lenet.prototxt"
    if not src.is_file():
        pytest.skip(f"{src} not found (needs ../shared/real-models)")
    text = src.read_text()
    a = text.index("layer {")
    b = text.index("layer {", a + 1)
    data = ('layer { name: "mnist" type: "ImageData" top: "data" top: "label"\n'
            '  include { phase: TEST }\n  transform_param { scale: 0.00390625 }\n'
            '  image_data_param { source: "test.txt" batch_size: 1 new_height: 28 '
            'new_width: 28 is_color: false } }\n')
    out = tmp_path / "lenet_train_test.prototxt"
    out.write_text(text[:a] + data + text[b:])
    return out


def test_transform_param_scale_without_mean_end_to_end(tmp_path, capsys):
    """Caffe applies what transform_param says and nothing else: no mean, scale 1/256."""
    proto = lenet_with_imagedata(tmp_path)
    rc, out, err = cli(["zoo", "make", "--from", proto, "-o", tmp_path / "m"], capsys)
    assert rc == 0, err
    model = next((tmp_path / "m").glob("*.caffemodel"))
    rc, _, err = cli(["run", proto, model, "--image", IMAGE, "-o", tmp_path / "o.npz"], capsys)
    assert rc == 0, err
    assert err.startswith(f"note: using transform_param from {proto}: scale 0.00390625, "
                          "new_height 28 new_width 28 -> resize to 28x28, grey, no mean, "
                          "times scale 0.00390625")
    grey = cv2.cvtColor(cv2.resize(read_image(IMAGE), (28, 28), interpolation=cv2.INTER_LINEAR),
                        cv2.COLOR_BGR2GRAY)
    np.testing.assert_array_equal(np.load(tmp_path / "o.npz")["data"][0, 0],
                                  grey.astype(F32) * F32(0.00390625))


def test_transform_param_mean_file_beside_the_prototxt(tmp_path, capsys):
    mean = np.random.default_rng(7).uniform(0, 255, (3, 10, 12)).astype(F32)
    write_blobproto(tmp_path / "mean.binaryproto", mean)
    proto = tmp_path / "net.prototxt"
    proto.write_text(
        'layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TEST }\n'
        '  transform_param { mean_file: "data/ilsvrc12/mean.binaryproto" crop_size: 8 }\n'
        '  data_param { source: "val_lmdb" batch_size: 1 } }\n'
        'layer { name: "pool" type: "Pooling" bottom: "data" top: "pool"\n'
        '  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n')
    img = np.random.default_rng(8).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    png = write_rgb_png(tmp_path / "img.png", img[:, :, ::-1])
    rc, _, err = cli(["run", proto, "--image", png, "-o", tmp_path / "o.npz"], capsys)
    assert rc == 0, err
    assert "note: using transform_param from" in err and "mean_file data/ilsvrc12/mean.binaryproto" in err
    want = img[1:9, 2:10].astype(F32) - mean[:, 1:9, 2:10].transpose(1, 2, 0)
    np.testing.assert_array_equal(np.load(tmp_path / "o.npz")["data"], nchw(want))
    (tmp_path / "mean.binaryproto").unlink()
    rc, _, err = cli(["run", proto, "--image", png, "-o", tmp_path / "p.npz"], capsys)
    line = one_line_error(rc, err)
    assert str(proto) in line and "mean_file" in line and "--mean" in line
    rc, _, err = cli(["run", proto, "--image", png, "--mean", "0", "-o", tmp_path / "p.npz"], capsys)
    assert rc == 0, err  # the flag overrides the missing file


# -- the note, the JSON and the report -------------------------------------------------------

@pytest.fixture(scope="module")
def enet(tmp_path_factory):
    """fixtures/nets/enet_like.prototxt (ENet's max-unpooling style, 64x64) with seeded,
    calibrated weights from `zoo make --from`."""
    out = tmp_path_factory.mktemp("enet")
    assert main(["zoo", "make", "--from", str(NETS / "enet_like.prototxt"), "-o", str(out)]) == 0
    return out / "enet_like.prototxt", out / "enet_like.caffemodel"


def test_run_reproduces_enets_preprocessing_with_flags_alone(enet, tmp_path, capsys):
    """ENet (TimoSaemann/ENet): BGR 0-255, no mean, 512 x 1024."""
    proto, model = enet
    rc, out, err = cli(["run", proto, model, "--image", IMAGE, "--mean", "0", "--input-size",
                        "512x1024", "-o", tmp_path / "e.npz", "--json"], capsys)
    assert rc == 0, err
    assert "note:" not in err  # --json: the JSON says it
    saved = np.load(tmp_path / "e.npz")
    want = cv2.resize(read_image(IMAGE), (1024, 512), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(saved["data"], nchw(want))
    assert saved["score"].shape == (1, 5, 512, 1024)
    prep = json.loads(out)["preprocessing"]
    assert prep["summary"] == "resize to 512x1024, BGR, no mean"
    assert prep["mean"] is None and prep["input_size"] == [512, 1024] and prep["scale"] == 1.0
    assert prep["from"]["mean"] == "flag" and prep["from"]["input_size"] == "flag"


def test_the_default_is_named_in_one_note(enet, tmp_path, capsys):
    proto, model = enet
    rc, _, err = cli(["run", proto, model, "--image", IMAGE, "-o", tmp_path / "d.npz"], capsys)
    assert rc == 0
    assert err.splitlines()[0] == (
        "note: preprocessing: resize to 64x64, BGR, minus mean B 103.939 G 116.779 R 123.68 "
        "(the default, ImageNet's; the model's own: --mean, --scale, --std, --channel-order, "
        "--input-size, --crop)")
    rc, _, err = cli(["run", proto, model, "--image", IMAGE, "--mean", "1,2,3",
                      "-o", tmp_path / "e.npz"], capsys)
    assert rc == 0 and "note:" not in err
    rc, _, err = cli(["run", proto, model, "--input", tmp_path / "x.npy", "--mean", "0",
                      "-o", tmp_path / "f.npz"], capsys)
    assert "--mean" in one_line_error(rc, err)
    for bad in (["--scale", "x"], ["--input-size", "12x0"], ["--crop", "0"]):
        rc, _, err = cli(["run", proto, model, "--image", IMAGE, *bad, "-o", tmp_path / "g.npz"],
                         capsys)
        one_line_error(rc, err)


def test_verify_json_and_report_state_the_preprocessing(tmp_path, capsys):
    """A grey super-resolution net (declares 7x7, runs at any size) at 16x20, 0-1 input."""
    proto = NETS / "fsrcnn.prototxt"
    rc, _, err = cli(["zoo", "make", "--from", proto, "-o", tmp_path / "m"], capsys)
    assert rc == 0, err
    model = tmp_path / "m" / "fsrcnn.caffemodel"
    proto = tmp_path / "m" / "fsrcnn.prototxt"
    rc, out, err = cli(["verify", proto, model, "--direct", "--runtimes", "opencv", "--image", IMAGE,
                        "--mean", "0", "--scale", "1/255", "--input-size", "16x20", "--json",
                        "--report", tmp_path / "r"], capsys)
    assert rc == 0, err
    report = json.loads(out)
    prep = report["preprocessing"]
    assert prep["summary"] == "resize to 16x20, grey, no mean, times scale 0.00392157"
    assert prep["channel_order"] == "grey" and prep["scale"] == 1 / 255
    assert report["inputs"][0]["shape"] == {"data": [1, 1, 16, 20]}
    assert report["model"]["inputs"] == {"data": [1, 1, 16, 20]}
    md = (tmp_path / "r" / "report.md").read_text()
    assert "- preprocessing: resize to 16x20, grey, no mean, times scale 0.00392157" in md
    assert "preprocessing: resize to 16x20" in (tmp_path / "r" / "report.html").read_text()


def test_samples_keep_the_picture_the_net_saw_before_the_mean():
    import convertkit
    from convertkit.verify import samples_from_images

    net = convertkit.load(NETS / "enet_like.prototxt")
    prep = build(net, mean="50,60,70", scale="0.5", channel_order="rgb")
    (s,) = samples_from_images(net, [IMAGE], prep=prep)
    want = cv2.resize(read_image(IMAGE), (64, 64), interpolation=cv2.INTER_LINEAR)[:, :, ::-1]
    np.testing.assert_array_equal(s.picture, want)  # RGB uint8, before mean and scale
    np.testing.assert_array_equal(s.arrays["data"],
                                  nchw((want.astype(F32) - np.array([50, 60, 70], F32)) * F32(0.5)))
    assert s.preprocessing == prep.to_json()


# -- segment, golden, inspect --benchmark ---------------------------------------------------

def identity_net(tmp_path) -> tuple[Path, Path]:
    """A "segmentation" net whose scores are its input (a 1x1 identity convolution):
    the predicted class of a pixel is the channel the preprocessing made largest."""
    import convertkit
    from convertkit.caffe.wire import save_caffemodel

    proto = tmp_path / "identity.prototxt"
    proto.write_text('input: "data" input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n'
                     'layer { name: "score" type: "Convolution" bottom: "data" top: "score"\n'
                     '  convolution_param { num_output: 3 kernel_size: 1 bias_term: false } }\n')
    net = convertkit.load(proto)
    net.layer("score").params = [np.eye(3, dtype=F32).reshape(3, 3, 1, 1)]
    save_caffemodel(net, tmp_path / "identity.caffemodel")
    return proto, tmp_path / "identity.caffemodel"


@pytest.mark.parametrize("flags, label", [
    ([], 1),                                    # B -94, G 83, R -94: green
    (["--mean", "0,255,0"], 2),                 # B 10, G -55, R 30: red
    (["--mean", "0", "--scale", "-1"], 0),      # B -10, G -200, R -30: blue
    (["--mean", "0,0,190", "--channel-order", "rgb"], 1),  # R 30, G 200, B -180: channel 1
])
def test_segment_flags_change_what_the_net_sees(tmp_path, capsys, flags, label):
    proto, model = identity_net(tmp_path)
    img = np.zeros((6, 9, 3), np.uint8)
    img[:] = (30, 200, 10)  # RGB: red 30, green 200, blue 10
    png = write_rgb_png(tmp_path / "flat.png", img)
    rc, out, err = cli(["segment", proto, png, "--weights", model, "--train-ids", "-o",
                        tmp_path / "out", "--json", *flags], capsys)
    assert rc == 0, err
    ids = cv2.imread(str(tmp_path / "out" / "flat_trainIds.png"), cv2.IMREAD_UNCHANGED)
    assert ids.shape == (6, 9) and (ids == label).all()
    got = json.loads(out)
    assert got["preprocessing"] == got["protocol"]["preprocessing"]
    assert got["preprocessing"]["from"]["mean"] == ("flag" if flags else "default")


def test_segment_runs_at_the_input_size_and_refuses_a_crop(enet, tmp_path, capsys):
    proto, model = enet
    rc, out, err = cli(["segment", proto, IMAGE, "--weights", model, "--mean", "0",
                        "--input-size", "32x48", "-o", tmp_path / "s", "--json"], capsys)
    assert rc == 0, err
    assert json.loads(out)["protocol"]["preprocessing"]["input_size"] == [32, 48]
    rc, _, err = cli(["segment", proto, IMAGE, "--weights", model, "--crop", "32",
                      "-o", tmp_path / "t"], capsys)
    assert "--crop" in one_line_error(rc, err)


def test_golden_records_the_preprocessing_and_check_uses_it(enet, tmp_path, capsys):
    proto, model = enet
    gold = tmp_path / "g.json"
    rc, _, err = cli(["golden", "record", f"{proto}+{model}", "--image", IMAGE, "--mean", "0",
                      "--input-size", "32x48", "-o", gold], capsys)
    assert rc == 0, err
    entry = json.loads(gold.read_text())["models"][0]
    assert entry["preprocessing"]["mean"] is None and entry["preprocessing"]["input_size"] == [32, 48]
    assert entry["input"] == {"data": [1, 3, 32, 48]}
    rc, out, err = cli(["golden", "check", gold, "--runtimes", "numpy", "--bn", "keep", "--json"],
                       capsys)
    assert rc == 0, out
    assert json.loads(out)["models"][0]["preprocessing"]["summary"] == "resize to 32x48, BGR, no mean"
    # A flag overrides the recorded setting: the input differs, and the check says so.
    rc, out, err = cli(["golden", "check", gold, "--runtimes", "numpy", "--bn", "keep",
                        "--mean", "10"], capsys)
    assert rc == 1 and "input 'data' differs from the recorded one" in out
    assert "note: the recorded preprocessing, overridden by --mean" in err


def test_inspect_benchmark_times_a_preprocessed_image(enet, tmp_path, capsys):
    proto, model = enet
    rc, out, err = cli(["inspect", proto, model, "--benchmark", "--repeat", "1", "--image", IMAGE,
                        "--input-size", "32x48", "--mean", "0", "--json"], capsys)
    assert rc == 0, err
    got = json.loads(out)
    assert got["benchmark"]["preprocessing"]["input_size"] == [32, 48]
    assert all("ms" in layer for layer in got["layers"])
    rc, _, err = cli(["inspect", proto, "--mean", "0"], capsys)
    assert "--image" in one_line_error(rc, err)


def test_a_recorded_preprocessing_reads_back(tmp_path):
    mean = write_blobproto(tmp_path / "m.binaryproto", np.ones((3, 4, 4), F32))
    prep = build(mean=str(mean), std="2", scale="0.5",
                 channel_order="rgb", input_size="4x4")
    back = Preprocessing.from_json(json.loads(json.dumps(prep.to_json())))
    assert back.describe() == prep.describe()
    img = np.full((4, 4, 3), 9, np.uint8)
    np.testing.assert_array_equal(back.apply(img, (1, 3, 4, 4)), prep.apply(img, (1, 3, 4, 4)))
    with pytest.raises(ConvertError):
        Preprocessing.from_json({"resize": "stretch"})


def test_transform_param_of_a_caffemodel_given_alone(tmp_path, capsys):
    """A training snapshot holds the net Caffe ran, data layer included: given alone,
    its transform_param is used."""
    pb = caffe_pb2()
    net = pb.NetParameter(name="snapshot")
    data = net.layer.add(name="data", type="ImageData", top=["data", "label"])
    data.transform_param.mean_value.extend([10, 20, 30])
    data.transform_param.scale = 0.5
    data.image_data_param.batch_size = 1
    data.image_data_param.new_height, data.image_data_param.new_width = 6, 8
    conv = net.layer.add(name="conv", type="Convolution", bottom=["data"], top=["conv"])
    conv.convolution_param.num_output, conv.convolution_param.bias_term = 3, False
    conv.convolution_param.kernel_size.append(1)
    blob = conv.blobs.add()
    blob.shape.dim.extend([3, 3, 1, 1])
    blob.data.extend(np.eye(3, dtype=F32).ravel().tolist())
    model = tmp_path / "snapshot_iter_100.caffemodel"
    model.write_bytes(net.SerializeToString())
    rc, _, err = cli(["run", model, "--image", IMAGE, "--blobs", "conv", "-o", tmp_path / "o.npz"],
                     capsys)
    assert rc == 0, err
    assert f"note: using transform_param from {model}: mean_value 10,20,30, scale 0.5" in err
    want = cv2.resize(read_image(IMAGE), (8, 6), interpolation=cv2.INTER_LINEAR)
    want = (want.astype(F32) - np.array([10, 20, 30], F32)) * F32(0.5)
    np.testing.assert_array_equal(np.load(tmp_path / "o.npz")["data"], nchw(want))
