"""Every framework runtime against the numpy reference: the zoo nets (BN kept and
merged), hand-made layer cases at sizes where ceil and floor pooling or TF SAME and
Caffe padding differ, and the real models in ../shared/real-models.

Criterion: every shared blob and every layer's own output within
max|diff| <= 1e-4 * max|ref|, and 100% argmax agreement of the final logits."""
import csv
from pathlib import Path

import numpy as np
import pytest

import convertkit
from convertkit import runtime, zoo
from convertkit.caffe.loader import build_net
from convertkit.runtime.preprocess import preprocess_batch, sample_images
from convertkit.caffe.proto import parse_text
from convertkit.errors import UnsupportedLayerError

from support import assert_close, fill_params

REL = 1e-4
FRAMEWORKS = ["torch", "onnx", "tf"]
REAL = Path(__file__).resolve().parents[2] / "shared" / "real-models"


def framework(name):
    if name not in runtime.installed_runtimes():
        pytest.skip(f"the {name} runtime is not installed here")
    return name


def compare(net, inputs, name, rel=REL):
    """Blobs (as net.blobs holds them) and each layer's own output, runtime vs numpy."""
    ref_layers, got_layers = {}, {}
    ref = runtime.create("numpy", net).forward(
        inputs, keep="all", on_layer=lambda n, t: ref_layers.setdefault(n, t[0]))
    got = runtime.create(name, net).forward(
        inputs, keep="all", on_layer=lambda n, t: got_layers.setdefault(n, t[0]))
    assert set(got) == set(ref)
    for k in ref:
        assert_close(got[k], ref[k], rel=rel, what=f"{name} blob {k}")
    assert set(got_layers) == set(ref_layers)
    for k in ref_layers:
        assert_close(got_layers[k], ref_layers[k], rel=rel, what=f"{name} layer {k}")
    return ref, got


ZOO = [
    ("icnet", dict(input_size=(193, 385), bn="keep")),
    ("icnet", dict(input_size=(193, 385), bn="merge")),
    ("pspnet50", dict(input_size=97)),
    ("pspnet101", dict(input_size=(97, 129))),
]


@pytest.fixture(scope="module", params=ZOO, ids=lambda z: f"{z[0]}-{z[1].get('bn', 'keep')}")
def zoo_net(request):
    name, kw = request.param
    return zoo.make(name, width=0.125, **kw)[1]


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_zoo_nets(zoo_net, name):
    framework(name)
    hw = zoo_net.inputs["data"][2:]
    batch = preprocess_batch(sample_images()[:2], hw)
    ref, got = compare(zoo_net, {"data": batch}, name)
    out = zoo_net.outputs[0]
    assert np.array_equal(ref[out].argmax(1), got[out].argmax(1))


_FULL: dict = {}


def full_size(model, kw):
    """(net, input, numpy outputs) of a full-size zoo net, built once per session."""
    key = (model, tuple(sorted(kw.items())))
    if key not in _FULL:
        net = zoo.make(model, **kw)[1]
        x = preprocess_batch(sample_images()[:1], net.inputs["data"][2:])
        _FULL[key] = (net, x, runtime.create("numpy", net).forward({"data": x}))
    return _FULL[key]


@pytest.mark.slow
@pytest.mark.parametrize("model, kw", [("icnet", dict(bn="keep")), ("icnet", dict(bn="merge")),
                                       ("pspnet50", {})])
@pytest.mark.parametrize("name", FRAMEWORKS)
def test_full_size(model, kw, name):
    framework(name)
    net, x, ref = full_size(model, kw)
    got = runtime.create(name, net).forward({"data": x})
    for k in ref:
        assert_close(got[k], ref[k], rel=REL, what=k)
        assert_same_labels(ref[k], got[k], REL * float(np.abs(ref[k]).max()))


def assert_same_labels(ref, got, tol):
    """100% argmax agreement wherever the reference's top two logits differ by more
    than the comparison tolerance (two million pixels of random weights hold a few
    near-ties that a 1e-6 difference may flip either way); and at most 1e-4 overall."""
    agree = ref.argmax(1) == got.argmax(1)
    top2 = np.sort(ref, axis=1)[:, -2:]
    decided = (top2[:, 1] - top2[:, 0]) > tol
    assert agree[decided].all(), f"{int((~agree & decided).sum())} decided pixels disagree"
    assert agree.mean() >= 1 - 1e-4, agree.mean()


# Hand-made layer cases ------------------------------------------------------------------

CASES = {
    "max_pool_ceil_even": ('input_shape { dim: 2 dim: 3 dim: 8 dim: 10 }',
                           'type: "Pooling" pooling_param { pool: MAX kernel_size: 3 stride: 2 }'),
    "max_pool_pad_even": ('input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }',
                          'type: "Pooling" pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 }'),
    "ave_pool_overhang": ('input_shape { dim: 1 dim: 2 dim: 7 dim: 9 }',
                          'type: "Pooling" pooling_param { pool: AVE kernel_size: 2 stride: 2 }'),
    "ave_pool_pad": ('input_shape { dim: 1 dim: 2 dim: 8 dim: 6 }',
                     'type: "Pooling" pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 }'),
    "ave_pool_big_pad": ('input_shape { dim: 1 dim: 2 dim: 9 dim: 9 }',
                         'type: "Pooling" pooling_param { pool: AVE kernel_size: 3 stride: 3 pad: 2 }'),
    "max_pool_rect": ('input_shape { dim: 1 dim: 2 dim: 10 dim: 12 }',
                      'type: "Pooling" pooling_param { pool: MAX kernel_h: 3 kernel_w: 2 '
                      'stride_h: 2 stride_w: 3 pad_h: 1 pad_w: 1 }'),
    "max_pool_floor": ('input_shape { dim: 1 dim: 3 dim: 8 dim: 10 }',
                       'type: "Pooling" pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 '
                       'ceil_mode: false }'),
    "ave_pool_floor": ('input_shape { dim: 1 dim: 2 dim: 9 dim: 7 }',
                       'type: "Pooling" pooling_param { pool: AVE kernel_size: 2 stride: 2 '
                       'round_mode: FLOOR }'),
    "global_ave": ('input_shape { dim: 2 dim: 4 dim: 6 dim: 7 }',
                   'type: "Pooling" pooling_param { pool: AVE global_pooling: true }'),
    "conv_s2_even": ('input_shape { dim: 2 dim: 3 dim: 8 dim: 10 }',
                     'type: "Convolution" convolution_param { num_output: 4 kernel_size: 3 '
                     'stride: 2 pad: 1 }'),
    "conv_group_dilated": ('input_shape { dim: 1 dim: 4 dim: 11 dim: 9 }',
                           'type: "Convolution" convolution_param { num_output: 6 kernel_size: 3 '
                           'pad: 2 dilation: 2 group: 2 }'),
    "conv_rect_nobias": ('input_shape { dim: 1 dim: 3 dim: 9 dim: 8 }',
                         'type: "Convolution" convolution_param { num_output: 2 kernel_h: 3 '
                         'kernel_w: 1 pad_h: 1 pad_w: 0 stride_h: 2 stride_w: 1 bias_term: false }'),
    "deconv_group": ('input_shape { dim: 1 dim: 4 dim: 5 dim: 6 }',
                     'type: "Deconvolution" convolution_param { num_output: 6 kernel_size: 4 '
                     'stride: 2 pad: 1 group: 2 }'),
    "inner_product": ('input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }',
                      'type: "InnerProduct" inner_product_param { num_output: 7 }'),
    "inner_product_t": ('input_shape { dim: 2 dim: 6 }',
                        'type: "InnerProduct" inner_product_param { num_output: 3 transpose: true }'),
    "bn": ('input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }', 'type: "BN" bn_param { eps: 0.001 }'),
    "batchnorm": ('input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }',
                  'type: "BatchNorm" batch_norm_param { eps: 0.0001 }'),
    "scale_bias": ('input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }',
                   'type: "Scale" scale_param { bias_term: true }'),
    "scale_axes": ('input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }',
                   'type: "Scale" scale_param { axis: 1 num_axes: 2 }'),
    "bias": ('input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }', 'type: "Bias"'),
    "prelu": ('input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }', 'type: "PReLU"'),
    "prelu_shared": ('input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }',
                     'type: "PReLU" prelu_param { channel_shared: true }'),
    "relu_leaky": ('input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }',
                   'type: "ReLU" relu_param { negative_slope: 0.1 }'),
    "elu": ('input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }', 'type: "ELU" elu_param { alpha: 0.5 }'),
    "sigmoid": ('input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }', 'type: "Sigmoid"'),
    "tanh": ('input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }', 'type: "TanH"'),
    "absval": ('input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }', 'type: "AbsVal"'),
    "bnll": ('input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }', 'type: "BNLL"'),
    "threshold": ('input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }',
                  'type: "Threshold" threshold_param { threshold: 0.3 }'),
    "power": ('input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }',
              'type: "Power" power_param { power: 2 scale: 0.5 shift: 3 }'),
    "power_const": ('input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }',
                    'type: "Power" power_param { power: 2 scale: 0 shift: 3 }'),
    "exp": ('input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }',
            'type: "Exp" exp_param { base: 2 scale: 0.5 shift: 0.1 }'),
    "log": ('input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }',
            'type: "Log" log_param { base: 10 scale: 2 shift: 5 }'),
    "mvn": ('input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }', 'type: "MVN"'),
    "mvn_across": ('input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }',
                   'type: "MVN" mvn_param { across_channels: true normalize_variance: false }'),
    "softmax": ('input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }', 'type: "Softmax"'),
    "lrn_across": ('input_shape { dim: 2 dim: 7 dim: 4 dim: 5 }',
                   'type: "LRN" lrn_param { local_size: 5 alpha: 0.1 beta: 0.75 k: 2 }'),
    "lrn_within": ('input_shape { dim: 2 dim: 3 dim: 6 dim: 5 }',
                   'type: "LRN" lrn_param { local_size: 3 alpha: 0.1 beta: 0.75 '
                   'norm_region: WITHIN_CHANNEL }'),
    "interp_zoom": ('input_shape { dim: 1 dim: 2 dim: 5 dim: 8 }',
                    'type: "Interp" interp_param { zoom_factor: 3 }'),
    "interp_shrink_even": ('input_shape { dim: 1 dim: 2 dim: 10 dim: 8 }',
                           'type: "Interp" interp_param { shrink_factor: 2 }'),
    "interp_size": ('input_shape { dim: 1 dim: 2 dim: 5 dim: 8 }',
                    'type: "Interp" interp_param { height: 9 width: 4 }'),
    "interp_crop": ('input_shape { dim: 1 dim: 2 dim: 9 dim: 9 }',
                    'type: "Interp" interp_param { zoom_factor: 2 pad_beg: -1 pad_end: -2 }'),
    "flatten": ('input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }', 'type: "Flatten"'),
    "reshape": ('input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }',
                'type: "Reshape" reshape_param { shape { dim: 0 dim: -1 dim: 10 } }'),
    "argmax": ('input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }',
               'type: "ArgMax" argmax_param { axis: 1 }'),
    "dropout": ('input_shape { dim: 2 dim: 3 dim: 4 dim: 5 }', 'type: "Dropout"'),
}

#: Layers with several bottoms, fed from x (2x3x6x7), a = tanh(x), c = a copy of x
#: and small = x max-pooled to 2x3x3x3.
MULTI = {
    "eltwise_coeff": 'type: "Eltwise" bottom: "a" bottom: "x" eltwise_param { coeff: 0.5 coeff: -2 }',
    "eltwise_prod": 'type: "Eltwise" bottom: "a" bottom: "x" bottom: "c" eltwise_param { operation: PROD }',
    "eltwise_max": 'type: "Eltwise" bottom: "a" bottom: "x" eltwise_param { operation: MAX }',
    "concat": 'type: "Concat" bottom: "a" bottom: "x" concat_param { axis: 1 }',
    "scale_two_bottoms": 'type: "Scale" bottom: "c" bottom: "x" scale_param { axis: 0 }',
    "crop": 'type: "Crop" bottom: "x" bottom: "small" crop_param { axis: 2 offset: 1 offset: 2 }',
    "slice": 'type: "Slice" bottom: "x" top: "y2" slice_param { axis: 1 slice_point: 1 }',
    "split": 'type: "Split" bottom: "x" top: "y2"',
}


def case_net(name):
    rng = np.random.default_rng(hash(name) % 2**32)
    if name in CASES:
        shape, body = CASES[name]
        text = f'name: "{name}" input: "x" {shape}\nlayer {{ name: "l" {body} bottom: "x" top: "y" }}'
        net = build_net(parse_text(text))
    else:
        text = f"""name: "{name}" input: "x" input_shape {{ dim: 2 dim: 3 dim: 6 dim: 7 }}
layer {{ name: "a" type: "TanH" bottom: "x" top: "a" }}
layer {{ name: "c" type: "Reshape" bottom: "x" top: "c" reshape_param {{ shape {{ dim: 2 dim: 3 dim: 6 dim: 7 }} }} }}
layer {{ name: "small" type: "Pooling" bottom: "x" top: "small" pooling_param {{ pool: MAX kernel_size: 2 stride: 2 }} }}
layer {{ name: "l" {MULTI[name]} top: "y" }}"""
        net = build_net(parse_text(text))
    fill_params(net, rng, scale_factor=2.0)
    x = rng.standard_normal(net.inputs["x"]).astype(np.float32)
    if name in ("log",):
        x = np.abs(x) + 0.1
    return net, {"x": x}


@pytest.mark.parametrize("name", FRAMEWORKS)
@pytest.mark.parametrize("case", sorted(CASES) + sorted(MULTI))
def test_layer_cases(case, name):
    framework(name)
    net, inputs = case_net(case)
    compare(net, inputs, name)


# Real models -------------------------------------------------------------------------------

def real_models():
    index = REAL / "INDEX.tsv"
    if not index.is_file():
        return [pytest.param(None, marks=pytest.mark.skip(
            reason=f"real models not found at {REAL} (needs ../shared/real-models)"))]
    rows = list(csv.DictReader(index.open(), delimiter="\t"))
    return [pytest.param(r, id=f"{r['folder']}/{r['prototxt']}") for r in rows]


@pytest.mark.parametrize("name", ["opencv"] + FRAMEWORKS)
@pytest.mark.parametrize("row", real_models())
def test_real_models(row, name):
    """Every real model with weights, in every runtime, against the numpy reference
    (OpenCV included): every blob, and SSD's detections compared as sets of boxes. A
    runtime may refuse only a layer whose output size depends on the data; it is then
    compared up to that layer's bottoms."""
    framework(name)
    folder = REAL / row["folder"]
    net = convertkit.load(folder / row["prototxt"], folder / row["caffemodel"])
    if any(s is None for s in net.inputs.values()):
        pytest.skip("input shape not declared")
    rng = np.random.default_rng(0)
    inputs = {n: rng.uniform(-1, 1, s).astype(np.float32) * 50 for n, s in net.inputs.items()}
    ref = runtime.create("numpy", net).forward(inputs, keep="all")
    dynamic = [l for l in net.layers if l.impl.dynamic_output]
    try:
        got = runtime.create(name, net).forward(inputs, keep="all")
    except UnsupportedLayerError as exc:
        assert dynamic and any(f"layer '{l.name}'" in str(exc) for l in dynamic), str(exc)
        cut = net.replace(layers=[l for l in net.layers if l not in dynamic])
        got = runtime.create(name, cut).forward(inputs, keep="all")
    writers = {t: l for l in dynamic for t in l.tops}
    assert set(got) <= set(ref) and set(got) >= set(ref) - set(writers)
    for k in got:
        if k in writers:  # SSD's detections, as a set
            a, b = (writers[k].impl.comparable(x) for x in (got[k], ref[k]))
            assert a.shape == b.shape, f"{name} {k}: {a.shape[2]} detections, the reference {b.shape[2]}"
            assert_close(a, b, what=f"{name} {k}")
        else:
            assert_close(got[k], ref[k], what=f"{name} blob {k}")


# Other forks' layers ------------------------------------------------------------------

FORK_NETS = {
    "segnet_inference": ("""
input: "x" input_shape { dim: 2 dim: 3 dim: 8 dim: 10 }
layer { name: "conv" type: "Convolution" bottom: "x" top: "conv" convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "bn" type: "BN" bottom: "conv" top: "conv" bn_param { bn_mode: INFERENCE } }
layer { name: "pool" type: "Pooling" bottom: "conv" top: "pool" top: "mask" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "up" type: "Upsample" bottom: "pool" bottom: "mask" top: "up" upsample_param { scale: 2 } }
""", {}),
    "segnet_learn": ("""
input: "x" input_shape { dim: 2 dim: 3 dim: 7 dim: 9 }
layer { name: "bn" type: "BN" bottom: "x" top: "y" bn_param { bn_mode: LEARN } }
layer { name: "pool" type: "Pooling" bottom: "y" top: "pool" top: "mask" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "up" type: "Upsample" bottom: "pool" bottom: "mask" top: "up" upsample_param { upsample_h: 7 upsample_w: 9 } }
""", {}),
    "ssd_head": ("""
input: "x" input_shape { dim: 1 dim: 3 dim: 30 dim: 40 }
layer { name: "conv" type: "Convolution" bottom: "x" top: "conv" convolution_param { num_output: 6 kernel_size: 3 stride: 4 pad: 1 } }
layer { name: "norm" type: "Normalize" bottom: "conv" top: "norm" norm_param { across_spatial: false channel_shared: false } }
layer { name: "norm2" type: "Normalize" bottom: "conv" top: "norm2" }
layer { name: "perm" type: "Permute" bottom: "norm" top: "perm" permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "flat" type: "Flatten" bottom: "perm" top: "flat" }
layer { name: "prior" type: "PriorBox" bottom: "conv" bottom: "x" top: "prior"
        prior_box_param { min_size: 10 max_size: 21 aspect_ratio: 2 aspect_ratio: 3 flip: true clip: true
                          variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 offset: 0.5 } }
layer { name: "prior2" type: "PriorBox" bottom: "conv" bottom: "x" top: "prior2"
        prior_box_param { min_size: 7 aspect_ratio: 2 variance: 0.1 step: 8 img_size: 32 } }
""", {}),
    "misc": ("""
input: "x" input_shape { dim: 2 dim: 6 dim: 5 dim: 7 }
layer { name: "r6" type: "ReLU6" bottom: "x" top: "r6" }
layer { name: "shuffle" type: "ShuffleChannel" bottom: "x" top: "shuffle" shuffle_channel_param { group: 3 } }
layer { name: "gap" type: "Pooling" bottom: "x" top: "gap" pooling_param { pool: AVE global_pooling: true } }
layer { name: "gate" type: "Sigmoid" bottom: "gap" top: "gate" }
layer { name: "axpy" type: "Axpy" bottom: "gate" bottom: "shuffle" bottom: "r6" top: "axpy" }
layer { name: "dw" type: "ConvolutionDepthwise" bottom: "axpy" top: "dw" convolution_param { num_output: 6 kernel_size: 3 pad: 1 } }
layer { name: "near" type: "Upsample" bottom: "dw" top: "near" upsample_param { scale: 2 } }
""", {}),
    "roi": ("""
input: "x" input_shape { dim: 2 dim: 3 dim: 20 dim: 24 }
input: "rois" input_shape { dim: 4 dim: 5 }
layer { name: "roi" type: "ROIPooling" bottom: "x" bottom: "rois" top: "roi" roi_pooling_param { pooled_h: 3 pooled_w: 4 spatial_scale: 0.5 } }
""", {"rois": np.array([[0, 0, 0, 47, 39], [1, 3.4, 5.5, 20.5, 17], [1, 10, 10, 10, 10],
                        [0, -4, 30, 60, 33]], np.float32)}),
}


def fork_net(name):
    from convertkit.caffe.prototxt import upgrade

    text, given = FORK_NETS[name]
    net_param = parse_text(text)
    upgrade(net_param)
    net = build_net(net_param)
    rng = np.random.default_rng(11)
    fill_params(net, rng)
    inputs = {n: given.get(n, rng.standard_normal(s).astype(np.float32) * 3)
              for n, s in net.inputs.items()}
    return net, inputs


@pytest.mark.parametrize("name", ["opencv"] + FRAMEWORKS)
@pytest.mark.parametrize("case", sorted(FORK_NETS))
def test_fork_layers(case, name):
    framework(name)
    from convertkit.backends import backend

    net, inputs = fork_net(case)
    refused = [f"{l.type}: {backend(name).answer(l.type)}" for l in net.layers
               if (backend(name).answer(l.type) or "").startswith("refused")]
    if refused:
        pytest.skip(f"{name} refuses " + "; ".join(refused))
    if name == "opencv" and case == "ssd_head":  # OpenCV ignores img_size: refused, by name
        with pytest.raises(UnsupportedLayerError, match="layer 'prior2'.*ignores img_size"):
            runtime.create(name, net).forward(inputs)
        net.layers = [l for l in net.layers if l.name != "prior2"]
    if name == "opencv":  # OpenCV reports blobs as net.blobs holds them, not per layer
        ref = runtime.create("numpy", net).forward(inputs, keep="all")
        got = runtime.create(name, net).forward(inputs, keep="all")
        for k in ref:
            assert_close(got[k], ref[k], what=f"opencv blob {k}")
        return
    compare(net, inputs, name)
