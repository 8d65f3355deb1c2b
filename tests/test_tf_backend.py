"""The TensorFlow backend: a Keras 3 model built from the graph (NHWC inside, Caffe
layout at its boundary), its params loaded by name from an emitted TF checkpoint, its
standalone exports, and its Caffe semantics, each checked against the numpy reference.

Criterion: max|diff| <= 1e-4 * max|ref| on every blob and every layer's own output,
and 100% argmax agreement of the final logits."""
import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow",
                    reason="the tf backend needs tensorflow: pip install 'convertkit[tensorflow]'")

from convertkit import emit, runtime, zoo  # noqa: E402
from convertkit.backends import backend  # noqa: E402
from convertkit.errors import UnsupportedLayerError, UsageError, WeightMismatchError  # noqa: E402
from convertkit.caffe.loader import build_net  # noqa: E402
from convertkit.mapping import load_table, resolve  # noqa: E402
from convertkit.runtime.preprocess import preprocess_batch, sample_images  # noqa: E402
from convertkit.caffe.proto import parse_text  # noqa: E402

from support import assert_close, fill_params  # noqa: E402

REL = 1e-4


def compare(net, inputs, rt=None, **options):
    """Every blob and every layer's own output, tf against numpy."""
    ref_layers, got_layers = {}, {}
    ref = runtime.create("numpy", net).forward(
        inputs, keep="all", on_layer=lambda n, t: ref_layers.setdefault(n, list(t)))
    rt = rt or runtime.create("tf", net, **options)
    got = rt.forward(inputs, keep="all", on_layer=lambda n, t: got_layers.setdefault(n, list(t)))
    assert set(got) == set(ref)
    for k in ref:
        assert got[k].dtype == np.float32
        assert_close(got[k], ref[k], rel=REL, what=f"blob {k}")
    assert set(got_layers) == set(ref_layers)
    for k, tops in ref_layers.items():
        assert len(got_layers[k]) == len(tops)
        for i, t in enumerate(tops):
            assert_close(got_layers[k][i], t, rel=REL, what=f"layer {k} top {i}")
    return ref, got


def strip_params(net):
    """The same net without learned params (a prototxt alone)."""
    return net.replace(layers=[lay.replace(params=[]) for lay in net.layers])


ZOO = [
    ("icnet", dict(input_size=(193, 385), bn="keep")),
    ("icnet", dict(input_size=(193, 385), bn="merge")),
    ("pspnet50", dict(input_size=97)),
    ("pspnet101", dict(input_size=(97, 129))),
]


@pytest.fixture(scope="module")
def zoo_nets():
    cache = {}

    def get(name, **kw):
        key = (name, tuple(sorted(kw.items())))
        if key not in cache:
            cache[key] = zoo.make(name, width=0.125, **kw)[1]
        return cache[key]

    return get


def images(net, n=2):
    return preprocess_batch(sample_images()[:n], net.inputs["data"][2:])


# -- the zoo nets --------------------------------------------------------------------------

@pytest.mark.parametrize("name, kw", ZOO, ids=[f"{n}-{kw.get('bn', 'keep')}" for n, kw in ZOO])
def test_zoo_nets_match_numpy(zoo_nets, name, kw):
    net = zoo_nets(name, **kw)
    ref, got = compare(net, {"data": images(net)})
    out = net.outputs[0]
    assert np.array_equal(ref[out].argmax(1), got[out].argmax(1))


def test_the_batch_is_free(zoo_nets):
    """One Keras model (built for batch 1) runs batches of 1 and 3; the runtime
    re-plans for another batch too."""
    net = zoo_nets("icnet", input_size=(193, 385), bn="merge")
    x = np.concatenate([images(net, 2), images(net, 1)])
    ref = runtime.create("numpy", net).forward({"data": x})["conv6_interp"]
    rt = runtime.create("tf", net)
    knet = rt.keras_net({"data": (1,) + x.shape[1:]})
    assert knet.model.inputs[0].shape == (None,) + x.shape[1:]
    for n in (1, 3):
        out = knet.run_outputs({"data": x[:n]})["conv6_interp"]
        assert_close(out, ref[:n], rel=REL, what=f"batch {n}")
        assert np.array_equal(out.argmax(1), ref[:n].argmax(1))
    assert_close(rt.forward({"data": x})["conv6_interp"], ref, rel=REL)
    assert knet.batch_free and rt.keras_net({"data": x.shape}) is knet  # not rebuilt


def test_a_layer_that_fixes_the_batch_is_rebuilt_per_batch():
    text = one_layer((2, 3, 4, 5), 'type: "Reshape" reshape_param { shape { dim: -1 dim: 20 } }')
    net, inputs = net_from(text)
    rt = runtime.create("tf", net)
    compare(net, inputs, rt)
    assert not rt.keras_net().batch_free
    x3 = np.random.default_rng(1).standard_normal((3, 3, 4, 5)).astype(np.float32)
    compare(net, {"x": x3}, rt)
    assert rt.keras_net({"x": x3.shape}) is not rt.keras_net()


def test_keras_model_structure(zoo_nets):
    import keras

    from convertkit.backends.tf.convolution import CaffeConv2D
    from convertkit.backends.tf.model import KerasNet

    net = zoo_nets("icnet", input_size=(193, 385), bn="keep")
    knet = KerasNet(net)
    model = knet.model
    bn = model.get_layer("conv1_1_3x3_s2_bn")
    assert isinstance(bn, keras.layers.BatchNormalization)
    assert bn.epsilon == pytest.approx(net.layer("conv1_1_3x3_s2/bn").hparams.eps)
    assert bn.epsilon != 1e-3 and not bn.trainable  # prototxt eps; frozen as in Caffe
    conv = model.get_layer("conv1_1_3x3_s2")
    assert isinstance(conv, CaffeConv2D) and isinstance(conv, keras.layers.Conv2D)
    assert tuple(conv.kernel.shape) == (3, 3, 3, net.layer("conv1_1_3x3_s2").hparams.num_output)
    assert conv.pad == (1, 1) and conv.strides == (2, 2)
    # NCHW at the boundary, NHWC inside.
    assert model.inputs[0].shape[1:] == net.inputs["data"][1:]
    out = model.outputs[0]
    assert tuple(out.shape[1:]) == net.blob_shapes["conv6_interp"][1:]
    inner = knet.layer_outputs["conv1_1_3x3_s2"][0]
    n, c, h, w = net.blob_shapes["conv1_1_3x3_s2"]
    assert tuple(inner.shape[1:]) == (h, w, c)
    # One Keras layer per Caffe layer (Split has none), named after it.
    names = {lay.name for lay in model.layers}
    for lay in net.layers:
        assert lay.name.replace("/", "_") in names


SMALL = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "icnet_small"


def test_hook_sees_each_layers_own_output_and_blobs_are_in_place():
    import convertkit

    net = convertkit.load(SMALL / "icnet.prototxt", SMALL / "icnet.caffemodel")
    x = np.random.default_rng(3).standard_normal(net.inputs["data"]).astype(np.float32) * 50
    own = {}
    rt = runtime.create("tf", net)
    blobs = rt.forward({"data": x}, keep="all", on_layer=lambda n, tops: own.setdefault(n, tops[0]))
    assert list(own) == [lay.name for lay in net.layers]
    bn = next(lay for lay in net.layers if lay.type == "BN")
    relu = next(lay for lay in net.layers if lay.type == "ReLU" and lay.bottoms == bn.tops)
    assert own[bn.name].min() < 0  # the BN's own output, before the in-place ReLU
    assert_close(blobs[bn.tops[0]], own[relu.name], what=bn.tops[0])
    assert blobs[bn.tops[0]].min() >= 0
    assert set(blobs) == set(net.blob_names)
    assert all(b.dtype == np.float32 for b in blobs.values())
    out = rt.forward({"data": x}, keep=["conv6_interp", "data"])
    assert list(out) == ["data", "conv6_interp"]
    np.testing.assert_array_equal(out["data"], x)
    bare = convertkit.load(SMALL / "icnet.prototxt")
    with pytest.raises(WeightMismatchError, match="layers lack learned params"):
        runtime.create("tf", bare).forward({"data": x})


# -- params by name -------------------------------------------------------------------------

def test_tf_table_names_match_hellochick(zoo_nets):
    """For the official names, the generic tf table gives hellochick's TF keys, and
    keeps the data_sub1 scale hellochick drops."""
    net = zoo_nets("icnet", input_size=(193, 385), bn="keep")
    ours = {t.key: t for t in resolve(load_table("tf"), net)}
    theirs = {t.key: t for t in resolve(load_table("hellochick-tf"), net, "tf")}
    assert set(ours) - set(theirs) == {"data_sub1/gamma"}
    assert set(theirs) <= set(ours)
    for key, t in theirs.items():
        np.testing.assert_array_equal(ours[key].array, t.array)
    assert ours["conv1_1_3x3_s2/weights"].layout == "hwio"
    assert ours["conv1_1_3x3_s2_bn/moving_variance"].layout == "flat"


@pytest.mark.parametrize("table, fmt", [("tf", None), ("hellochick-tf", "tf"),
                                        ("hellochick-tf", None)])
def test_loading_an_emitted_checkpoint(zoo_nets, tmp_path, table, fmt):
    """By name, into the prototxt alone; hellochick's table is read with its TF names
    (its default naming is the .npy one) and its dropped data_sub1 stays all ones."""
    net = zoo_nets("icnet", input_size=(193, 385), bn="keep")
    prefix = tmp_path / "ckpt" / "model.ckpt"
    emit.write("tf", resolve(load_table(table), net, "tf" if table == "hellochick-tf" else None),
               prefix)
    bare = strip_params(net)  # the prototxt alone: every param comes from the checkpoint
    x = images(net)
    ref = runtime.create("numpy", net).forward({"data": x})["conv6_interp"]
    rt = runtime.create("tf", bare, checkpoint=prefix, table=table, fmt=fmt)
    out = rt.forward({"data": x})["conv6_interp"]
    assert_close(out, ref, rel=REL)
    assert np.array_equal(out.argmax(1), ref.argmax(1))
    # The checkpoint's arrays are what the model holds.
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(prefix))
    knet = rt.keras_net()
    var, layout = knet.variables[("conv3_1_1x1_proj", "weight")]
    np.testing.assert_array_equal(var.numpy(), reader.get_tensor("conv3_1_1x1_proj/weights"))
    assert layout == "hwio"


def test_every_checkpoint_mismatch_is_listed(zoo_nets, tmp_path):
    net = zoo_nets("icnet", input_size=(193, 385), bn="merge")
    targets = list(resolve(load_table("tf"), net))
    kept = [t for t in targets if t.key != "conv6_cls/biases"]
    bad = [dataclasses.replace(t, array=t.array[:, :, :-1]) if t.key == "conv5_4_k1/weights"
           else t for t in kept]
    extra = dataclasses.replace(targets[0], key="stray/weights", array=np.ones(3, np.float32))
    prefix = tmp_path / "bad.ckpt"
    emit.write("tf", bad + [extra], prefix)
    rt = runtime.create("tf", strip_params(net), checkpoint=prefix)
    with pytest.raises(WeightMismatchError) as err:
        rt.forward({"data": images(net, 1)})
    msg = str(err.value)
    assert "'conv6_cls/biases' (from conv6_cls/bias): missing from the file" in msg
    assert "'conv5_4_k1/weights' (from conv5_4_k1/weight): is 1x1x" in msg
    assert "stray/weights" in msg and "the net does not use" in msg
    assert str(prefix) in msg


def test_a_missing_checkpoint_is_one_line(zoo_nets, tmp_path):
    net = zoo_nets("icnet", input_size=(193, 385), bn="merge")
    rt = runtime.create("tf", net, checkpoint=tmp_path / "nothing.ckpt")
    with pytest.raises(UsageError) as err:
        rt.forward({"data": images(net, 1)})
    assert "cannot read a TensorFlow checkpoint" in str(err.value)
    assert "\n" not in str(err.value)


# -- exports, run by TensorFlow alone ------------------------------------------------------------

def run_python(code: str, cwd: Path) -> str:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def export_case(zoo_nets, tmp_path_factory):
    net = zoo_nets("icnet", input_size=(193, 385), bn="keep")
    folder = tmp_path_factory.mktemp("tf_export")
    x = images(net, 2)
    np.save(folder / "x.npy", x)
    ref = runtime.create("numpy", net).forward({"data": x})["conv6_interp"]
    return net, folder, x, ref


def test_saved_model_runs_with_tensorflow_alone(export_case):
    from convertkit.backends.tf.export import write_saved_model

    net, folder, x, ref = export_case
    files = write_saved_model(net, folder / "saved")
    assert any(p.name == "saved_model.pb" for p in files)
    out = run_python(f"""
        import sys
        import numpy as np
        import tensorflow as tf
        m = tf.saved_model.load("saved")
        x = np.load("x.npy")
        a = m.serve(tf.constant(x))["conv6_interp"].numpy()
        b = m.signatures["serving_default"](data=tf.constant(x[1:]))["conv6_interp"].numpy()
        np.save("saved_a.npy", a)
        np.save("saved_b.npy", b)
        print(sorted(n for n in sys.modules if n.startswith("convertkit")))
    """, folder)
    assert out.strip() == "[]"
    a, b = np.load(folder / "saved_a.npy"), np.load(folder / "saved_b.npy")
    assert_close(a, ref, rel=REL)
    assert_close(b, ref[1:], rel=REL)
    assert np.array_equal(a.argmax(1), ref.argmax(1))
    with pytest.raises(UsageError, match="not empty"):
        write_saved_model(net, folder / "saved")


def test_keras_file_loads_with_the_backend_imported(export_case):
    from convertkit.backends.tf.export import keras_bytes

    net, folder, x, ref = export_case
    (folder / "model.keras").write_bytes(keras_bytes(net))
    out = run_python("""
        import numpy as np
        import keras
        import convertkit.backends.tf  # registers convertkit's Keras layers
        m = keras.models.load_model("model.keras")
        y = m({"data": np.load("x.npy")}, training=False)["conv6_interp"]
        np.save("keras_out.npy", keras.ops.convert_to_numpy(y))
        print(type(m.get_layer("conv1_1_3x3_s2_bn")).__name__)
    """, folder)
    assert out.strip() == "BatchNormalization"
    got = np.load(folder / "keras_out.npy")
    assert_close(got, ref, rel=REL)
    assert np.array_equal(got.argmax(1), ref.argmax(1))


def test_weights_h5_round_trip(export_case, tmp_path):
    from convertkit.backends.tf.export import load_weights_h5, weights_h5_bytes

    net, _, x, ref = export_case
    path = tmp_path / "model.weights.h5"
    path.write_bytes(weights_h5_bytes(net))
    knet = load_weights_h5(strip_params(net), path)
    out = knet.run_outputs({"data": x})["conv6_interp"]
    assert_close(out, ref, rel=REL)
    with pytest.raises(UsageError, match="weights.h5"):
        load_weights_h5(net, tmp_path / "model.h5")


# -- Caffe semantics, layer by layer ----------------------------------------------------------

def net_from(text, seed=0):
    """A net from prototxt text with seeded random params, and random inputs."""
    rng = np.random.default_rng(seed)
    net = build_net(parse_text(text))
    fill_params(net, rng, scale_factor=4.0)
    inputs = {n: rng.standard_normal(s).astype(np.float32) for n, s in net.plan().inputs.items()}
    return net, inputs


def one_layer(shape, body):
    dims = " ".join(f"dim: {d}" for d in shape)
    return (f'name: "t" input: "x" input_shape {{ {dims} }}\n'
            f'layer {{ name: "l" bottom: "x" top: "y" {body} }}')


CASES = {
    # TF's SAME pads 0 before and 1 after on these even sizes; Caffe pads 1 and 1.
    "conv_s2_even_sizes": one_layer((2, 3, 12, 16), 'type: "Convolution" convolution_param '
                                    '{ num_output: 5 kernel_size: 3 stride: 2 pad: 1 }'),
    "conv_stride_and_dilation": one_layer((1, 4, 15, 14), 'type: "Convolution" convolution_param '
                                          '{ num_output: 4 kernel_size: 3 stride: 2 pad: 2 '
                                          'dilation: 2 }'),
    "conv_depthwise": one_layer((1, 4, 9, 8), 'type: "Convolution" convolution_param '
                                '{ num_output: 8 kernel_size: 3 pad: 1 group: 4 }'),
    "deconv_dilated_strided": one_layer((2, 3, 5, 6), 'type: "Deconvolution" convolution_param '
                                        '{ num_output: 4 kernel_size: 3 stride: 2 pad: 2 '
                                        'dilation: 2 }'),
    "deconv_group_dilated": one_layer((1, 4, 5, 4), 'type: "Deconvolution" convolution_param '
                                      '{ num_output: 2 kernel_h: 2 kernel_w: 3 stride: 3 pad: 1 '
                                      'dilation: 2 group: 2 bias_term: false }'),
    "max_pool_ceil_even": one_layer((2, 3, 238, 10), 'type: "Pooling" pooling_param '
                                    '{ pool: MAX kernel_size: 3 stride: 2 pad: 1 }'),
    "ave_pool_overhang_pad": one_layer((1, 2, 10, 11), 'type: "Pooling" pooling_param '
                                       '{ pool: AVE kernel_size: 4 stride: 3 pad: 1 }'),
    "max_pool_floor_even": one_layer((2, 3, 8, 10), 'type: "Pooling" pooling_param '
                                     '{ pool: MAX kernel_size: 3 stride: 2 round_mode: FLOOR }'),
    "ave_pool_floor_pad": one_layer((1, 2, 9, 8), 'type: "Pooling" pooling_param '
                                    '{ pool: AVE kernel_size: 3 stride: 2 pad: 1 round_mode: FLOOR }'),
    "max_pool_kernel_below_stride": one_layer((1, 2, 5, 5), 'type: "Pooling" pooling_param '
                                              '{ pool: MAX kernel_size: 1 stride: 3 }'),
    "psp_pool_overlapping": one_layer((1, 3, 33, 65), 'type: "Pooling" pooling_param '
                                      '{ pool: AVE kernel_h: 13 kernel_w: 25 stride_h: 10 '
                                      'stride_w: 20 }'),
    "stochastic_pool": one_layer((1, 2, 7, 9), 'type: "Pooling" pooling_param '
                                 '{ pool: STOCHASTIC kernel_size: 3 stride: 2 }'),
    "interp_zoom_8": one_layer((1, 2, 60, 7), 'type: "Interp" interp_param { zoom_factor: 8 }'),
    "interp_shrink_zoom": one_layer((1, 2, 65, 33), 'type: "Interp" interp_param '
                                    '{ shrink_factor: 2 zoom_factor: 3 pad_beg: -2 pad_end: -1 }'),
    "bn_eps": one_layer((2, 3, 4, 5), 'type: "BN" bn_param { eps: 0.5 }'),
    "bn_2d": one_layer((4, 6), 'type: "BN"'),
    "batchnorm_batch_stats": one_layer((3, 4, 5, 2), 'type: "BatchNorm" '
                                       'batch_norm_param { use_global_stats: false eps: 0.001 }'),
    "batchnorm_3d": one_layer((2, 3, 7), 'type: "BatchNorm"'),
    "inner_product_axis2": one_layer((2, 3, 4, 5), 'type: "InnerProduct" '
                                     'inner_product_param { num_output: 6 axis: 2 }'),
    "inner_product_axis3": one_layer((2, 3, 4, 5), 'type: "InnerProduct" '
                                     'inner_product_param { num_output: 6 axis: -1 }'),
    "softmax_axis2": one_layer((2, 3, 4, 5), 'type: "Softmax" softmax_param { axis: 2 }'),
    "argmax_all_top2_values": one_layer((2, 3, 4, 5), 'type: "ArgMax" argmax_param '
                                        '{ top_k: 2 out_max_val: true }'),
    "argmax_axis3_top3": one_layer((2, 3, 4, 5), 'type: "ArgMax" argmax_param '
                                   '{ axis: 3 top_k: 3 }'),
    "argmax_axis2_values": one_layer((2, 3, 4, 5), 'type: "ArgMax" argmax_param '
                                     '{ axis: -2 out_max_val: true }'),
    "reshape_to_4d": one_layer((2, 60), 'type: "Reshape" reshape_param '
                               '{ shape { dim: 0 dim: 3 dim: 4 dim: -1 } }'),
    "flatten_middle": one_layer((2, 3, 4, 5), 'type: "Flatten" flatten_param '
                                '{ axis: 1 end_axis: 2 }'),
    "scale_axis2_bias": one_layer((2, 3, 4, 5), 'type: "Scale" scale_param '
                                  '{ axis: 2 num_axes: 2 bias_term: true }'),
    "bias_scalar": one_layer((2, 3, 4, 5), 'type: "Bias" bias_param { num_axes: 0 }'),
    "prelu_2d": one_layer((3, 4), 'type: "PReLU"'),
    "mvn_3d": one_layer((2, 3, 6), 'type: "MVN"'),
}

MULTI = {
    "concat_axis3": 'type: "Concat" bottom: "x" bottom: "a" concat_param { axis: 3 }',
    "concat_axis2": 'type: "Concat" bottom: "x" bottom: "a" concat_param { axis: -2 }',
    "slice_axis2": 'type: "Slice" bottom: "x" top: "y2" top: "y3" '
                   'slice_param { axis: 2 slice_point: 1 slice_point: 4 }',
    "slice_axis3_even": 'type: "Slice" bottom: "x" top: "y2" slice_param { axis: 3 }',
    "crop_axis1": 'type: "Crop" bottom: "x" bottom: "small" '
                  'crop_param { axis: 1 offset: 0 offset: 2 offset: 1 }',
    "eltwise_sum_three_coeffs": 'type: "Eltwise" bottom: "x" bottom: "a" bottom: "x" '
                                'eltwise_param { coeff: 1 coeff: -0.5 coeff: 2 }',
    "bias_two_bottoms_axis0": 'type: "Bias" bottom: "x" bottom: "v" bias_param { axis: 0 }',
    "scale_two_bottoms_axis2": 'type: "Scale" bottom: "x" bottom: "s" '
                               'scale_param { axis: 2 bias_term: true }',
    "split_of_an_input": 'type: "Split" bottom: "v" top: "y2"',
    "eltwise_max_three": 'type: "Eltwise" bottom: "a" bottom: "x" bottom: "b" '
                         'eltwise_param { operation: MAX }',
}


def multi_net(body):
    """x: 2x3x6x8, a = tanh(x), b = -x, small = x max-pooled to 2x3x3x4, and two
    more inputs: v (2x3) and s (6x8)."""
    return f"""name: "m" input: "x" input_shape {{ dim: 2 dim: 3 dim: 6 dim: 8 }}
input: "v" input_shape {{ dim: 2 dim: 3 }}
input: "s" input_shape {{ dim: 6 dim: 8 }}
layer {{ name: "a" type: "TanH" bottom: "x" top: "a" }}
layer {{ name: "b" type: "Power" bottom: "x" top: "b" power_param {{ scale: -1 }} }}
layer {{ name: "small" type: "Pooling" bottom: "x" top: "small"
        pooling_param {{ pool: MAX kernel_size: 2 stride: 2 }} }}
layer {{ name: "l" {body} top: "y" }}"""


@pytest.mark.parametrize("case", sorted(CASES) + sorted(MULTI))
def test_layer_semantics(case):
    text = CASES[case] if case in CASES else multi_net(MULTI[case])
    net, inputs = net_from(text, seed=len(case))
    ref, _ = compare(net, inputs)
    out = runtime.create("tf", net).forward(inputs)  # the outputs alone: the model itself
    assert list(out) == net.outputs
    for k, v in out.items():
        assert_close(v, ref[k], rel=REL, what=k)


def test_max_pool_mask_and_unpooling_with_overlapping_windows():
    """SegNet's mask (h * W + w of each max, padding never wins) and unpooling through
    it; overlapping windows point at one cell twice: the later write wins."""
    text = """name: "u" input: "x" input_shape { dim: 2 dim: 3 dim: 7 dim: 8 }
layer { name: "pool" type: "Pooling" bottom: "x" top: "pool" top: "mask"
        pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "up" type: "Upsample" bottom: "pool" bottom: "mask" top: "up"
        upsample_param { upsample_h: 7 upsample_w: 8 } }"""
    net, inputs = net_from(text)
    inputs["x"] = np.round(inputs["x"])  # ties: the first maximum in the window wins
    ref, _ = compare(net, inputs)
    mask = ref["mask"].astype(np.int64)
    assert len(np.unique(mask[0, 0])) < mask[0, 0].size  # some cells are written twice


def test_batchnorm_scale_factor_zero_means_zero_statistics():
    net, inputs = net_from(one_layer((2, 3, 4, 5), 'type: "BatchNorm" batch_norm_param { eps: 0.25 }'))
    layer = net.layers[0]
    layer.params = [layer.params[0], layer.params[1], np.zeros(1, np.float32)]
    ref, _ = compare(net, inputs)
    np.testing.assert_allclose(ref["y"], inputs["x"] / np.sqrt(np.float32(0.25)), rtol=1e-6)


FORKS = """name: "forks" input: "x" input_shape { dim: 2 dim: 6 dim: 10 dim: 12 }
input: "rois" input_shape { dim: 3 dim: 5 }
layer { name: "bn_inf" type: "BN" bottom: "x" top: "a" bn_param { bn_mode: INFERENCE } }
layer { name: "bn_learn" type: "BN" bottom: "a" top: "b" bn_param { bn_mode: LEARN } }
layer { name: "r6" type: "ReLU6" bottom: "b" top: "r6" }
layer { name: "shuffle" type: "ShuffleChannel" bottom: "r6" top: "sh" shuffle_channel_param { group: 3 } }
layer { name: "gap" type: "Pooling" bottom: "x" top: "gap" pooling_param { pool: AVE global_pooling: true } }
layer { name: "axpy" type: "Axpy" bottom: "gap" bottom: "sh" bottom: "b" top: "axpy" }
layer { name: "pool" type: "Pooling" bottom: "axpy" top: "pool" top: "mask"
        pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "unpool" type: "Upsample" bottom: "pool" bottom: "mask" top: "unpool"
        upsample_param { scale: 2 } }
layer { name: "near" type: "Upsample" bottom: "pool" top: "near" upsample_param { scale_h: 2 scale_w: 3 } }
layer { name: "norm" type: "Normalize" bottom: "unpool" top: "norm"
        norm_param { across_spatial: false channel_shared: false } }
layer { name: "perm" type: "Permute" bottom: "norm" top: "perm" permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "prior" type: "PriorBox" bottom: "pool" bottom: "x" top: "prior"
        prior_box_param { min_size: 4 max_size: 9 aspect_ratio: 2 flip: true clip: true
                          variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 } }
layer { name: "roi" type: "ROIPooling" bottom: "x" bottom: "rois" top: "roi"
        roi_pooling_param { pooled_h: 2 pooled_w: 3 spatial_scale: 0.5 } }
"""


def test_other_forks_layers_and_their_keras_file(tmp_path):
    """SegNet's BN (both modes), mask and unpooling; ReLU6, ShuffleChannel, Axpy; SSD's
    Normalize, Permute and PriorBox; YOLO's Upsample; ROIPooling: per layer against
    numpy, then the same from a .keras file."""
    from convertkit.backends.tf.export import keras_bytes, load_keras

    net, inputs = net_from(FORKS)
    inputs["rois"] = np.array([[0, 0, 0, 23, 19], [1, 3.4, 5.5, 20.5, 17], [1, -4, 2, 9, 30]],
                              np.float32)
    ref, _ = compare(net, inputs)
    path = tmp_path / "forks.keras"
    path.write_bytes(keras_bytes(net))
    out = load_keras(path)(inputs, training=False)
    for k in net.outputs:
        assert_close(np.asarray(out[k]), ref[k], rel=REL, what=f".keras {k}")


def test_interp_sizes_are_caffes():
    """zoom 8 on 60 is 473 (not 480), shrink 2 on 1025 is 513 (not 512)."""
    net, _ = net_from(one_layer((1, 1, 60, 1025), 'type: "Interp" interp_param { zoom_factor: 8 }'))
    from convertkit.backends.tf.model import KerasNet

    assert tuple(KerasNet(net).model.outputs[0].shape) == (None, 1, 473, 8193)
    net, _ = net_from(one_layer((1, 1, 1025, 9),
                                'type: "Interp" interp_param { shrink_factor: 2 }'))
    assert tuple(KerasNet(net).model.outputs[0].shape) == (None, 1, 513, 5)
    # shrink 2 on an odd size is pure decimation: exact.
    x = np.random.default_rng(0).standard_normal((1, 1, 1025, 9)).astype(np.float32)
    out = runtime.create("tf", net).forward({"x": x})["y"]
    np.testing.assert_array_equal(out, x[:, :, ::2, ::2])


# -- refusals ------------------------------------------------------------------------------

def test_every_type_has_an_answer_in_tf():
    from convertkit.layers import registered_types

    b = backend("tf")
    answers = {t: b.answer(t) for t in registered_types()}
    assert all(answers.values()), [t for t, a in answers.items() if a is None]
    refused = sorted(t for t, a in answers.items() if a != "handler")
    from convertkit.layers.training_only import TRAINING_ONLY_TYPES

    # Besides training-only layers: user code, and the detector layers whose work is
    # read from the region values (SSD's DetectionOutput is expressed).
    assert refused == sorted(TRAINING_ONLY_TYPES + ("Python", "Proposal", "PSROIPooling"))
    assert "depend on the data" in answers["Proposal"]
    assert answers["DetectionOutput"] == "handler"


def test_a_layer_tf_cannot_express_names_layer_type_and_backend():
    net, inputs = net_from('name: "t" input: "x" input_shape { dim: 5 }\n'
                           'layer { name: "norm1" type: "BatchNorm" bottom: "x" top: "y" }')
    with pytest.raises(UnsupportedLayerError) as err:
        runtime.create("tf", net).forward(inputs)
    msg = str(err.value)
    assert "layer 'norm1'" in msg and "tf cannot express BatchNorm" in msg and "1-axis" in msg
    from support import make_layer

    acc = make_layer('name: "acc" type: "Accuracy" bottom: "x" bottom: "label" top: "a"')
    with pytest.raises(UnsupportedLayerError) as err:
        backend("tf").handler(acc)
    msg = str(err.value)
    assert "layer 'acc'" in msg and "tf cannot express Accuracy" in msg and "training-only" in msg


def test_the_runtime_names_its_pip_extra():
    info = {i.name: i for i in runtime.runtime_infos()}["tf"]
    assert info.extra == "tensorflow"
    assert "pip install 'convertkit[tensorflow]'" in info.install_hint()
