"""The model zoo: generated definitions equal the official ones, any valid size and
width works, weights are seeded, calibrated and byte-deterministic, and bad requests
fail in one line."""
from __future__ import annotations

import numpy as np
import pytest

import convertkit
from convertkit import zoo
from convertkit.cli import main
from convertkit.errors import UsageError
from convertkit.caffe.proto import parse_text
from convertkit.runtime.numpy import forward
from convertkit.zoo import geometry
from convertkit.zoo.calibrate import MIN_PIXELS_PER_CHANNEL, activation_stats, bn_statistics
from convertkit.zoo.nets import channels

from support import assert_close

#: Official file -> the zoo request that reproduces it.
OFFICIAL_REQUESTS = {
    "icnet_cityscapes_bnnomerge": dict(name="icnet", bn="keep"),
    "icnet_cityscapes": dict(name="icnet", bn="merge"),
    "pspnet50_ADE20K_473": dict(name="pspnet50"),
    "pspnet101_cityscapes_713": dict(name="pspnet101"),
    "pspnet101_VOC2012_473": dict(name="pspnet101", input_size=473, classes=21),
}

#: Small copies of the real topologies (width 0.125) at small valid sizes.
SMALL = {
    "pspnet50": dict(input_size=97),
    "pspnet101": dict(input_size=(97, 129)),
    "icnet": dict(input_size=(193, 385)),
}


def _run(net, batch, **kw):
    return forward(net, {"data": batch}, **kw)


def _layer_view(net):
    """Everything that defines a graph, per layer, with blob shapes."""
    rows = []
    plan = net.plan()
    for layer in net.layers:
        rows.append((layer.name, layer.type, tuple(layer.bottoms), tuple(layer.tops),
                     layer.proto.SerializeToString(deterministic=True),
                     tuple(tuple(s) for s in layer.impl.param_shapes(plan.bottom_shapes(layer))),
                     tuple(tuple(s) for s in plan.top_shapes(layer))))
    return rows


# ---------------------------------------------------------------------------------------
# Equality with the five official definitions
# ---------------------------------------------------------------------------------------

def test_generated_definition_equals_the_official_one(official_prototxt, tmp_path):
    request = dict(OFFICIAL_REQUESTS[official_prototxt.stem])
    name = request.pop("name")
    text = zoo.make_prototxt(name, **request)
    ours = tmp_path / f"{name}.prototxt"
    ours.write_text(text)

    # The whole NetParameter: input + input_dim, every layer field, fillers and params.
    assert parse_text(text) == parse_text(official_prototxt.read_text())

    # The graph convertkit builds from it: names, types, bottoms, tops, hyper-parameters,
    # blob shapes and inferred top shapes, layer by layer.
    mine, theirs = convertkit.load(ours), convertkit.load(official_prototxt)
    assert mine.inputs == theirs.inputs
    assert [l.name for l in mine.layers] == [l.name for l in theirs.layers]
    for a, b in zip(_layer_view(mine), _layer_view(theirs)):
        assert a == b, f"layer {a[0]} differs"
    assert mine.num_params == 0 and mine.outputs == theirs.outputs
    # The text is generated, not a copy of the official file.
    assert text != official_prototxt.read_text()


def test_zoo_make_prototxt_only_writes_the_definition(tmp_path, capsys):
    assert main(["zoo", "make", "pspnet101", "-o", str(tmp_path), "--input-size", "473",
                 "--classes", "21", "--prototxt-only"]) == 0
    assert (tmp_path / "pspnet101.prototxt").is_file()
    assert not (tmp_path / "pspnet101.caffemodel").exists()
    out = capsys.readouterr().out
    assert "pspnet101.prototxt" in out and "1x21x473x473" in out
    net = convertkit.load(tmp_path / "pspnet101.prototxt")
    assert net.blob_shapes["conv6_interp"] == (1, 21, 473, 473)
    assert net.layer("conv3_1_3x3").hparams.stride == (2, 2)  # PSPNet101: stride on the 3x3


# ---------------------------------------------------------------------------------------
# Size derivations
# ---------------------------------------------------------------------------------------

def test_pyramid_windows_reproduce_the_published_numbers():
    for n, kernels in ((60, (60, 30, 20, 10)), (90, (90, 45, 30, 15))):
        for bins, k in zip(geometry.PSP_BINS, kernels):
            assert geometry.psp_window_pspnet(n, bins) == (k, k)
    published = {1: ((33, 65), (33, 65)), 2: ((17, 33), (16, 32)),
                 3: ((13, 25), (10, 20)), 6: ((8, 15), (5, 10))}
    for bins, windows in published.items():
        assert geometry.psp_windows_icnet(33, 65, bins) == windows
        # the same windows with the axes swapped
        (kh, kw), (sh, sw) = windows
        assert geometry.psp_windows_icnet(65, 33, bins) == ((kw, kh), (sw, sh))


@pytest.mark.parametrize("n", [6, 7, 11, 13, 33, 34, 61, 97])
def test_pyramid_windows_always_give_exactly_the_bins(n):
    for bins in geometry.PSP_BINS:
        k, s = geometry.psp_window_pspnet(n, bins)
        assert k >= s >= 1 and geometry.pool_out(n, k, s) == bins and (bins - 1) * s + k == n
        if n >= 7:  # corner-aligned ratio 2 (as 33x65), and a width with no whole ratio
            for w in (2 * n - 1, n + 3):
                (kh, kw), (sh, sw) = geometry.psp_windows_icnet(n, w, bins)
                assert geometry.pool_out(n, kh, sh) == bins == geometry.pool_out(w, kw, sw)
                assert (bins - 1) * sw + kw == w and kw >= sw >= 1


def test_icnet_valid_sizes_are_mod_32_in_1_to_8():
    valid = [h for h in range(193, 1100) if geometry.trace_icnet(h).ok]
    assert valid == [h for h in range(193, 1100) if 1 <= h % 32 <= 8]
    assert not any(geometry.trace_icnet(h).ok for h in range(1, 193))  # conv5_3 < 7 cells
    assert all(geometry.trace_icnet(h).ok for h in range(1025, 1033))
    assert not geometry.trace_icnet(1024).ok and not geometry.trace_icnet(1033).ok
    assert geometry.trace_icnet(1025).output == 1025 and geometry.trace_icnet(1025).conv5 == 33
    assert geometry.trace_pspnet(473).conv5 == 60 and geometry.trace_pspnet(713).conv5 == 90
    assert geometry.trace_pspnet(713).output == 713


@pytest.mark.parametrize("name,size", [("icnet", (225, 451)), ("icnet", (232, 200)),
                                       ("icnet", (257, 513)), ("pspnet50", (40, 41)),
                                       ("pspnet50", (41, 49)), ("pspnet101", (480, 500))])
def test_other_sizes_pass_caffe_shape_inference(name, size, tmp_path):
    path = tmp_path / "net.prototxt"
    path.write_text(zoo.make_prototxt(name, size, classes=3, width=0.125))
    net = convertkit.load(path)
    family = zoo.SPECS[name].family
    th, tw = (geometry.TRACES[family](n) for n in size)
    # Sides of 8k+1 (PSPNet) / 32k+1 (ICNet) give the input size back; others get a note.
    _, made = zoo.make(name, size, classes=3, width=0.125, prototxt_only=True)
    differs = (th.output, tw.output) != tuple(size)
    assert differs == (size not in ((41, 49), (257, 513)))
    assert any("not the input's" in n for n in made.notes) == differs
    assert net.blob_shapes["conv5_3"][2:] == (th.conv5, tw.conv5)
    assert net.blob_shapes[net.outputs[0]] == (1, 3, th.output, tw.output)
    for bins in geometry.PSP_BINS:
        assert net.blob_shapes[f"conv5_3_pool{bins}"][2:] == (bins, bins)


def test_width_multiplier_scales_channels():
    assert [channels(c, 0.125) for c in (3, 32, 64, 2048)] == [1, 4, 8, 256]
    assert channels(1, 0.01) == 1 and channels(20, 0.125) == 3  # 2.5 rounds up
    text = zoo.make_prototxt("icnet", width=0.125)
    net = parse_text(text)
    conv = {l.name: l.convolution_param.num_output for l in net.layer if l.type == "Convolution"}
    assert conv["conv1_1_3x3_s2"] == 4 and conv["conv5_3_1x1_increase"] == 128
    assert conv["conv6_cls"] == 19  # classes are not scaled


# ---------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_models():
    built = {}
    for name, kw in SMALL.items():
        for bn in ("keep", "merge") if name == "icnet" else ("keep",):
            info = zoo.MakeResult(name, (0, 0), 0, 0.125, 0, bn)
            text, net = zoo.make(name, width=0.125, bn=bn, info=info, **kw)
            built[name, bn] = (text, net, info)
    return built


@pytest.mark.parametrize("key", [("pspnet50", "keep"), ("pspnet101", "keep"),
                                 ("icnet", "keep"), ("icnet", "merge")])
def test_small_models_are_calibrated_on_every_blob(small_models, key):
    _, net, info = small_models[key]
    assert info.calibration_size == info.input_size  # small: calibrated at its own size
    batch, source = zoo.calibration_inputs(info.input_size)
    values = _run(net, batch, keep="all")
    stats = activation_stats({k: v for k, v in values.items() if not k.startswith("data")})
    assert len(stats) > 50
    for blob, (mean_abs, max_abs) in stats.items():
        assert np.isfinite(mean_abs) and np.isfinite(max_abs), blob
        # O(1) everywhere: 0.1 for the damped residual branches (x0.25; ICNet's conv5
        # stream x0.5 more), 2.4 the guideline's upper end.
        assert 0.1 < mean_abs < 2.4, f"{blob}: mean|x| {mean_abs:.3g}"
        assert max_abs < 30, f"{blob}: max|x| {max_abs:.3g}"
    # The logits are not degenerate: several classes win somewhere.
    out = values[net.outputs[0]]
    assert len(np.unique(out.argmax(axis=1))) >= 2


def test_bn_statistics_are_measured_on_the_bottom(small_models):
    _, net, info = small_models["pspnet50", "keep"]
    batch, _ = zoo.calibration_inputs(info.input_size)
    seen = {}

    def grab(layer, bottoms):
        if layer.type == "BN":
            seen[layer.name] = bn_statistics(bottoms[0])

    _run(net, batch, before_layer=grab)
    pooled = [n for n, (_, _, p) in seen.items() if p]
    # The PSP branches see 1, 4, 9 and 36 pixels: pooled over channels and pixels.
    assert {"conv5_3_pool1_conv/bn", "conv5_3_pool6_conv/bn"} <= set(pooled)
    assert sorted(pooled) == sorted(info.pooled_bns)
    for layer in net.layers:
        if layer.type != "BN":
            continue
        mean, var, _ = seen[layer.name]
        # Stored on a coarse grid: variance within 2.2%, mean within 1/16 std.
        std = float(np.sqrt(var.mean()))
        np.testing.assert_allclose(layer.params[2].ravel(), mean, rtol=0, atol=std / 16)
        np.testing.assert_allclose(layer.params[3].ravel(), var, rtol=0.023)
        slope = layer.params[0].ravel()
        lo, hi = (0.125, 0.375) if layer.name.endswith("_1x1_increase/bn") else (0.5, 1.5)
        assert lo <= slope.min() and slope.max() <= hi, layer.name
        assert abs(float(layer.params[1].mean())) < 0.2
    assert MIN_PIXELS_PER_CHANNEL == 64


def test_merged_icnet_computes_the_same_function(small_models):
    _, keep, info = small_models["icnet", "keep"]
    text, merged, _ = small_models["icnet", "merge"]
    assert all(l.type != "BN" for l in merged.layers)
    convs = [l for l in merged.layers if l.type == "Convolution"]
    assert all(len(l.params) == 2 for l in convs)  # every merged conv has a bias
    np.testing.assert_array_equal(merged.layer("data_sub1").params[0], np.ones(3, np.float32))
    # conv5_3_sum adds four pooled copies of conv5_3 with no BN: the stream is halved.
    for bn, hi in (("conv5_1_1x1_proj/bn", 0.75), ("conv5_2_1x1_increase/bn", 0.1875),
                   ("conv4_1_1x1_proj/bn", 1.5)):
        assert keep.layer(bn).params[0].max() <= hi
    batch, _ = zoo.calibration_inputs(info.input_size, 1)
    a = _run(keep, batch)["conv6_interp"]
    b = _run(merged, batch)["conv6_interp"]
    assert_close(b, a, rel=1e-4, what="merged vs BN icnet")


def test_same_seed_gives_byte_identical_files(tmp_path):
    kw = dict(input_size=97, width=0.125)
    a = zoo.write("pspnet50", tmp_path / "a", seed=7, **kw)
    b = zoo.write("pspnet50", tmp_path / "b", seed=7, **kw)
    c = zoo.write("pspnet50", tmp_path / "c", seed=8, **kw)
    read = lambda p: open(p, "rb").read()  # noqa: E731
    assert read(a["prototxt"]) == read(b["prototxt"]) == read(c["prototxt"])
    assert read(a["caffemodel"]) == read(b["caffemodel"])
    assert read(a["caffemodel"]) != read(c["caffemodel"])
    # The written files load back with every blob checked against the definition.
    net = convertkit.load(a["prototxt"], a["caffemodel"])
    assert net.num_params == a["params"] and net.num_learned_blobs == a["learned_blobs"]


def test_files_do_not_depend_on_the_blas_thread_count(tmp_path):
    """The stored statistics are snapped to a coarse grid, so the summation order of a
    multi-threaded GEMM does not reach the bytes."""
    import os
    import subprocess
    import sys

    kw = dict(input_size=(97, 129), width=0.25, seed=5)
    here = zoo.write("pspnet101", tmp_path / "here", **kw)
    code = ("import sys; from convertkit import zoo; "
            f"zoo.write('pspnet101', sys.argv[1], **{kw!r})")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "one")], check=True, env=env)
    assert (tmp_path / "one" / "pspnet101.caffemodel").read_bytes() == \
        open(here["caffemodel"], "rb").read()


def test_without_photographs_calibration_uses_synthetic_images(monkeypatch):
    import convertkit.runtime.preprocess

    monkeypatch.setattr(convertkit.runtime.preprocess, "sample_images", lambda: [])
    info = zoo.MakeResult("pspnet50", (0, 0), 0, 0.125, 0, "keep")
    _, net = zoo.make("pspnet50", 97, width=0.125, info=info)
    assert info.calibration_source.startswith("synthetic")
    batch, _ = zoo.calibration_inputs((97, 97))
    assert batch.shape == (4, 3, 97, 97) and -130 < batch.min() and batch.max() < 160
    out = _run(net, batch)["conv6_interp"]
    assert np.isfinite(out).all() and 0.1 < np.abs(out).mean() < 2.4


def test_large_input_calibrates_at_a_smaller_valid_size():
    assert zoo.calibration_size("pspnet101") == (281, 281)
    assert zoo.calibration_size("pspnet50", 97) == (97, 97)
    assert zoo.calibration_size("icnet") == (1025, 2049)
    h, w = zoo.calibration_size("icnet", (2049, 4097))
    assert geometry.trace_icnet(h).ok and geometry.trace_icnet(w).ok and h * w <= 1025 * 2049
    # The weights do not depend on the input size: a bigger net gets the same blobs.
    _, small = zoo.make("pspnet50", 97, width=0.125, seed=3)
    _, big = zoo.make("pspnet50", 113, width=0.125, seed=3, calibration=(97, 97))
    for a, b in zip(small.layers, big.layers):
        for x, y in zip(a.params, b.params):
            np.testing.assert_array_equal(x, y)


def test_cli_make_writes_both_files_and_reports_json(tmp_path, capsys):
    import json

    assert main(["zoo", "make", "icnet", "-o", str(tmp_path), "--input-size", "193x385",
                 "--width", "0.125", "--classes", "5", "--bn", "merge", "--seed", "1",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["output_shape"] == {"conv6_interp": [1, 5, 193, 385]}
    assert report["bn"] == "merge" and report["calibration_size"] == [193, 385]
    net = convertkit.load(tmp_path / "icnet.prototxt", tmp_path / "icnet.caffemodel")
    assert not any(l.type == "BN" for l in net.layers)
    assert main(["zoo", "list"]) == 0
    assert "pspnet101_VOC2012_473" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------
# Bad requests
# ---------------------------------------------------------------------------------------

def test_unknown_name_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown zoo model 'resnet'.*icnet, pspnet50, pspnet101"):
        zoo.make("resnet")


def test_invalid_size_names_the_nearest_valid_sizes():
    with pytest.raises(UsageError) as err:
        zoo.make_prototxt("icnet", (1024, 2048))
    msg = str(err.value)
    assert "1000 or 1025" in msg and "2024 or 2049" in msg and "mod 32" in msg
    with pytest.raises(UsageError, match="nearest valid sizes: height 39"):
        zoo.make_prototxt("pspnet50", 30)


@pytest.mark.parametrize("argv,needle", [
    (["zoo", "make", "vgg16"], "unknown zoo model 'vgg16'"),
    (["zoo", "make", "icnet", "--input-size", "1024x2048"], "1000 or 1025"),
    (["zoo", "make", "icnet", "--input-size", "big"], "not HxW"),
    (["zoo", "make", "icnet", "--bn", "fold"], "--bn must be one of keep, merge"),
    (["zoo", "make", "pspnet50", "--classes", "0"], "--classes must be at least 1"),
    (["zoo", "make", "pspnet50", "--width", "0"], "--width must be in (0, 4]"),
])
def test_cli_errors_are_one_line_with_exit_code_2(argv, needle, tmp_path, capsys):
    assert main(argv + ["-o", str(tmp_path), "--prototxt-only"]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and err.startswith("convertkit: error:")
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("name,bn", [("icnet", "keep"), ("icnet", "merge"),
                                     ("pspnet50", "keep"), ("pspnet101", "keep")])
def test_official_size_models_have_the_official_parameter_counts(name, bn, tmp_path):
    # How long this takes is measured by bench/bench_zoo.py, not asserted here.
    report = zoo.write(name, tmp_path, bn=bn)
    expected = {("icnet", "keep"): 6_728_534, ("icnet", "merge"): 6_685_718,
                ("pspnet50", "keep"): 46_841_174, ("pspnet101", "keep"): 65_818_323}
    assert report["params"] == expected[name, bn]  # CAFFE_SEMANTICS.md §4 scalar counts
