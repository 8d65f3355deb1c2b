"""Any input size (issue #17 item 2): runnable exports leave batch, height and width
free where every layer allows it, and compute the sizes that follow from the input's
shape by Caffe's integer rules; each net is run at three sizes other than its
prototxt's in every runtime and every runnable export, against the numpy reference."""
from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

import convertkit
from convertkit.cli import main
from convertkit.errors import ConvertError
from convertkit.runtime.numpy import NumpyRuntime
from convertkit.sizes import free_sizes

from support import fill_params

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
REAL = Path("/work/shared/real-models/prototxt")
RTOL = 1e-4


def _net(path: Path, seed: int = 0):
    net = convertkit.load(str(path))
    fill_params(net, np.random.default_rng(seed))
    return net


def _zoo(name: str, size, width: float):
    from convertkit import zoo

    return zoo.make(name, input_size=size, width=width, classes=5)[1]


def other_sizes(net, count: int = 3, reach: int = 12) -> list[tuple[int, ...]]:
    """``count`` input shapes at which the net plans (Caffe would run it), each with a
    height and a width other than the declared ones (and than each other's), batch 1
    or 2, as far apart as ``reach`` allows."""
    (name, shape), = net.plan().inputs.items()
    found = []
    for dh, dw in itertools.product(range(reach, -reach - 1, -1), range(-reach, reach + 1)):
        if dh == 0 or dw == 0 or shape[2] + dh < 1 or shape[3] + dw < 1:
            continue
        cand = (1 + len(found) % 2, shape[1], shape[2] + dh, shape[3] + dw)
        if any(c[2] == cand[2] or c[3] == cand[3] for c in found):
            continue
        try:
            net.plan({name: cand})
        except ConvertError:
            continue
        found.append(cand)
        if len(found) == count:
            return found
    raise AssertionError(f"fewer than {count} other sizes plan for {net.name}")


def _inputs(net, shape, seed=1):
    (name, _), = net.inputs.items()
    return {name: np.random.default_rng(seed).standard_normal(shape).astype(np.float32)}


#: Subject -> the worst max|d| / max|ref| seen (printed per net; pytest -s shows it).
WORST: dict[str, float] = {}


def _close(got, want, what):
    got = np.asarray(got, np.float32)
    assert got.shape == want.shape, f"{what}: {got.shape} != {want.shape}"
    err = float(np.abs(got - want).max())
    bound = RTOL * float(np.abs(want).max())
    assert err <= bound, f"{what}: max|d| {err:.3g} > {bound:.3g}"
    subject = what.split(" at ")[0]
    WORST[subject] = max(WORST.get(subject, 0.0), err / max(float(np.abs(want).max()), 1e-30))


def check_any_size(net, tmp_path: Path, sizes=None, runtimes=("torch", "onnx", "tf")):
    """The net at three other sizes: every runtime and every runnable export (the ONNX
    file in onnxruntime alone, .pt2, SavedModel, .keras) against the numpy reference."""
    import onnxruntime as ort
    import tensorflow as tf
    import torch

    from convertkit import runtime
    from convertkit.backends.onnx.graph import checked_export
    from convertkit.backends.tf.export import (keras_bytes, keras_model, load_keras,
                                               write_saved_model)
    from convertkit.backends.torch.export import export_with_sizes
    from convertkit.backends.torch.model import CaffeModule
    from convertkit.backends.torch.model import load_into, state_dict_from_net

    fs = free_sizes(net)
    (name, declared), = fs.plan.inputs.items()
    assert fs.free[name] == (0, 2, 3), fs.note()
    model, onnx_sizes = checked_export(net, sizes=fs)
    assert onnx_sizes.free == fs.free, onnx_sizes.note()
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", declared[1], "height", "width"]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    pt2, pt2_dims = export_with_sizes(net, sizes=fs)
    assert pt2_dims[name][2:] == ["height", "width"], pt2_dims
    program = torch.export.load(io.BytesIO(pt2)).module()
    knet = keras_model(net, fs)
    write_saved_model(knet, tmp_path / "sm")
    (tmp_path / "m.keras").write_bytes(keras_bytes(knet))
    served = tf.saved_model.load(str(tmp_path / "sm"))
    keras = load_keras(tmp_path / "m.keras")
    eager = CaffeModule(net)  # built at the declared size, run at others
    load_into(eager, state_dict_from_net(net), None)
    reference = NumpyRuntime(net)
    rts = {r: runtime.create(r, net) for r in runtimes}
    sizes = sizes or other_sizes(net)
    WORST.clear()
    for shape in sizes:
        assert tuple(shape) != tuple(declared)
        feed = _inputs(net, shape)
        want = reference.forward(feed)
        x = feed[name]
        for r, rt in rts.items():
            for blob, value in rt.forward(feed).items():
                _close(value, want[blob], f"{r} at {shape}")
        outs = net.outputs
        for blob, value in zip(outs, session.run(None, feed)):
            _close(value, want[blob], f"onnx file at {shape}")
        with torch.no_grad():
            for blob, value in zip(outs, program(torch.from_numpy(x))):
                _close(value.numpy(), want[blob], f"pt2 at {shape}")
            for blob, value in zip(outs, eager(torch.from_numpy(x))):
                _close(value.numpy(), want[blob], f"eager torch at {shape}")
        got = served.serve(tf.constant(x))
        for blob in outs:
            _close(got[blob].numpy(), want[blob], f"SavedModel at {shape}")
        got = keras({name: x})
        for blob in outs:
            _close(np.asarray(got[blob]), want[blob], f".keras at {shape}")
    print(f"\n{net.name or net.prototxt_path or 'net'} {fs.plan.inputs[name]} at {sizes}: worst max|d|/max|ref| "
          + ", ".join(f"{k} {v:.1e}" for k, v in WORST.items()))
    return sizes


# -- the nets -------------------------------------------------------------------------------

def test_fsrcnn_any_size(tmp_path):
    """FSRCNN's prototxt says 7x7; every export takes other sizes, Deconvolution's
    size rule included."""
    net = _net(FIXTURES / "nets" / "fsrcnn.prototxt")
    check_any_size(net, tmp_path, [(1, 1, 40, 36), (2, 1, 9, 13), (1, 1, 3, 2)])


def test_icnet_any_size(tmp_path):
    """The bundled ICNet (width 0.125): Interp shrink/zoom and ceil-mode pooling at the
    other sizes its pyramid's explicit Interp sizes allow (each side mod 32 in 1..8)."""
    m = FIXTURES / "models" / "icnet_small"
    net = convertkit.load(str(m / "icnet.prototxt"), str(m / "icnet.caffemodel"))
    sizes = check_any_size(net, tmp_path)
    assert all(s[2] % 32 in range(1, 9) and s[3] % 32 in range(1, 9) for s in sizes)


@pytest.mark.slow
def test_pspnet_any_size(tmp_path):
    """PSPNet50 at width 0.125: its pyramid pools and resizes to explicit sizes, so Caffe
    runs it at the sizes that keep conv5_3 at the built size. (PSPNet101 only repeats
    res4's blocks, and ICNet at another width only changes channel counts: dropped
    from the tier to keep CI near 20 minutes, 60 s and 37 s.)"""
    net = _zoo("pspnet50", (49, 57), 0.125)
    check_any_size(net, tmp_path)


def test_pooling_and_crop_layouts_any_size(tmp_path):
    """The size rules that change with the input: ceil pooling whose last window must
    start inside the padded input (pad > 0, pad > kernel / 2, and kernel < stride
    without pad), AVE
    divisors, global pooling, Crop offsets, Deconvolution and Interp zoom/shrink.
    (Odd sizes not divisible by 3: at others Caffe itself leaves windows of p_max and
    p_ave2 empty, giving -FLT_MAX and 0/0.)"""
    text = """
name: "layouts"
input: "data"
input_shape { dim: 1 dim: 2 dim: 11 dim: 13 }
layer { name: "c0" type: "Convolution" bottom: "data" top: "c0"
  convolution_param { num_output: 3 kernel_size: 3 pad: 1 } }
layer { name: "p_ave" type: "Pooling" bottom: "c0" top: "p_ave"
  pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "p_max" type: "Pooling" bottom: "c0" top: "p_max"
  pooling_param { pool: MAX kernel_size: 2 stride: 3 } }
layer { name: "p_ave2" type: "Pooling" bottom: "c0" top: "p_ave2"
  pooling_param { pool: AVE kernel_size: 1 stride: 2 } }
layer { name: "p_pad2" type: "Pooling" bottom: "c0" top: "p_pad2"
  pooling_param { pool: AVE kernel_size: 2 stride: 2 pad: 1 } }
layer { name: "p_wide" type: "Pooling" bottom: "c0" top: "p_wide"
  pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 2 } }
layer { name: "p_wide_max" type: "Pooling" bottom: "c0" top: "p_wide_max"
  pooling_param { pool: MAX kernel_size: 3 stride: 3 pad: 2 } }
layer { name: "g" type: "Pooling" bottom: "c0" top: "g"
  pooling_param { pool: AVE global_pooling: true } }
layer { name: "up" type: "Deconvolution" bottom: "p_ave" top: "up"
  convolution_param { num_output: 3 kernel_size: 4 stride: 2 pad: 1 } }
layer { name: "crop" type: "Crop" bottom: "up" bottom: "data" top: "crop"
  crop_param { axis: 2 offset: 1 } }
layer { name: "zoom" type: "Interp" bottom: "p_max" top: "zoom" interp_param { zoom_factor: 3 } }
layer { name: "shrink" type: "Interp" bottom: "c0" top: "shrink"
  interp_param { shrink_factor: 2 pad_beg: 0 pad_end: -1 } }
layer { name: "gf" type: "Flatten" bottom: "g" top: "gf" }
layer { name: "s" type: "Scale" bottom: "crop" bottom: "gf" top: "s"
  scale_param { axis: 0 } }
layer { name: "flat" type: "Flatten" bottom: "p_ave2" top: "flat" }
layer { name: "flat2" type: "Flatten" bottom: "p_pad2" top: "flat2" }
"""
    path = tmp_path / "layouts.prototxt"
    path.write_text(text)
    net = _net(path)
    check_any_size(net, tmp_path, [(1, 2, 17, 7), (2, 2, 7, 17), (1, 2, 25, 23)])


def _real(name: str, shape: str, tmp_path: Path):
    src = REAL / name
    if not src.is_file():
        pytest.skip(f"{src} is absent (the shared real-models folder is not mounted here)")
    assert main(["zoo", "make", "--from", str(src), "--input-shape", shape, "-o",
                 str(tmp_path / "m")]) == 0
    stem = src.stem
    return convertkit.load(str(tmp_path / "m" / f"{stem}.prototxt"),
                           str(tmp_path / "m" / f"{stem}.caffemodel"))


@pytest.mark.slow
def test_real_mobilenet_v2_any_size(tmp_path):
    """A real model: MobileNet v2 (global pooling, a convolutional classifier)."""
    net = _real("mobilenet_v2_deploy.prototxt", "1,3,64,64", tmp_path)
    check_any_size(net, tmp_path, [(1, 3, 72, 56), (2, 3, 40, 48), (1, 3, 97, 65)])


# -- what stays fixed ------------------------------------------------------------------------

LENET_LIKE = """
name: "lenet_like"
input: "data"
input_shape { dim: 1 dim: 1 dim: 12 dim: 12 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "ip1" type: "InnerProduct" bottom: "pool1" top: "ip1"
  inner_product_param { num_output: 3 } }
"""


def test_inner_product_fixes_height_and_width(tmp_path):
    path = tmp_path / "lenet_like.prototxt"
    path.write_text(LENET_LIKE)
    net = _net(path)
    fs = free_sizes(net)
    assert fs.free == {"data": (0,)}
    assert fs.fixed == [{"layer": "ip1", "type": "InnerProduct", "axes": ["height", "width"],
                         "why": "InnerProduct takes 100 features (4x5x5 of its bottom)"}]
    note = fs.note()
    assert "height and width fixed by ip1: InnerProduct takes 100 features" in note
    assert "--input-shape" in note


def test_convert_notes_fixed_sizes_and_input_shape(tmp_path, capsys):
    """convert's one note names the layer that fixes a size, --json lists it, and
    --input-shape replans the net: a fixed-size file for another batch."""
    import onnx

    from convertkit.caffe.wire import save_caffemodel

    path = tmp_path / "lenet_like.prototxt"
    path.write_text(LENET_LIKE)
    net = _net(path)
    model = tmp_path / "lenet_like.caffemodel"
    save_caffemodel(net, model)
    rc = main(["convert", str(path), str(model), "--to", "onnx", "-o", str(tmp_path / "a")])
    assert rc == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if line.startswith("note: sizes:")]
    assert len(notes) == 1 and "fixed by ip1: InnerProduct takes" in notes[0], err
    rc = main(["convert", str(path), str(model), "--to", "onnx,pt2", "-o", str(tmp_path / "b"),
               "--input-shape", "data:3,1,12,12", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert summary["formats"]["onnx"]["sizes"]["inputs"]["data"] == ["batch", 1, 12, 12]
    assert summary["formats"]["onnx"]["sizes"]["fixed"][0]["layer"] == "ip1"
    m = onnx.load(str(tmp_path / "b" / "lenet_like.onnx"))
    dims = [d.dim_param or d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 1, 12, 12]


def test_input_shape_replans_a_fully_convolutional_net(tmp_path, capsys):
    from convertkit.caffe.wire import save_caffemodel

    net_path = FIXTURES / "nets" / "fsrcnn.prototxt"
    model = tmp_path / "fsrcnn.caffemodel"
    save_caffemodel(_net(net_path), model)
    rc = main(["convert", str(net_path), str(model), "--to", "onnx", "-o", str(tmp_path / "o"),
               "--input-shape", "1,1,16,20", "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["formats"]["onnx"]["sizes"]["inputs"]["data"] == ["batch", 1, "height", "width"]
    assert not any(n.startswith("sizes:") for n in summary["notes"])
    rc = main(["convert", str(net_path), str(model), "--to", "onnx", "-o", str(tmp_path / "x"),
               "--input-shape", "nope:1,1,16,20"])
    assert rc == 2


def test_fixed_size_file_is_refused_in_one_line(tmp_path):
    """A file made for one size, given another: one line naming the file, the size it
    takes and convert --input-shape (never an internal symbol)."""
    from convertkit.backends.onnx.graph import checked_model
    from convertkit.verify.subjects import Subject

    net = _net(FIXTURES / "nets" / "fsrcnn.prototxt")
    path = tmp_path / "old.onnx"
    path.write_bytes(checked_model(net).SerializeToString())  # the declared 7x7 only
    with pytest.raises(ConvertError) as info:
        Subject("onnx", "onnx", path).open(net, {"data": (1, 1, 40, 36)})
    text = str(info.value)
    assert "takes input 'data' of Nx1x7x7 only, not 1x1x40x36" in text
    assert "convert --input-shape data:1,1,40,36" in text and "\n" not in text
    assert str(path) in text


def test_unpooling_any_size(tmp_path):
    """ENet/SegNet-style MAX pooling with a mask and Upsample through it: the mask's
    plane indices and the top's size (H * scale) follow the input in every export."""
    net = _net(FIXTURES / "nets" / "enet_like.prototxt")
    check_any_size(net, tmp_path, [(1, 3, 32, 48), (2, 3, 16, 16), (1, 3, 40, 24)])


def test_verify_converts_at_the_inputs_size(tmp_path, capsys):
    """verify of a fresh conversion (and of --converted files with free sizes) runs at
    the size of its --input, not the prototxt's 7x7."""
    from convertkit.caffe.wire import save_caffemodel

    proto = FIXTURES / "nets" / "fsrcnn.prototxt"
    model = tmp_path / "fsrcnn.caffemodel"
    save_caffemodel(_net(proto), model)
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(0).standard_normal((1, 1, 40, 36)).astype(np.float32))
    rc = main(["verify", str(proto), str(model), "--input", str(x), "--runtimes",
               "torch,onnx,tf", "-q", "--json"])
    report = json.loads(capsys.readouterr().out)
    subs = {s["name"]: s["verdict"] for v in report["variants"] for s in v["subjects"]}
    assert rc == 0 and report["verdict"] == "pass", subs
    for name in ("torch[fsrcnn.pt2]", "onnx[fsrcnn.onnx]", "tf[fsrcnn.savedmodel]",
                 "tf[fsrcnn.keras]"):
        assert subs[name] == "pass", subs
    assert main(["convert", str(proto), str(model), "--to", "onnx,pt2,savedmodel,keras", "-o",
                 str(tmp_path / "out"), "-q"]) == 0
    rc = main(["verify", str(proto), str(model), "--input", str(x), "--converted",
               str(tmp_path / "out"), "--runtimes", "torch,onnx,tf", "-q", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["verdict"] == "pass"


@pytest.mark.slow
def test_real_enet_any_size(tmp_path):
    """A real model: ENet (MAX pooling masks, unpooling, dilated and asymmetric
    convolutions), built at 64x128 by zoo make --from."""
    net = _real("enet_deploy_final.prototxt", "1,3,64,128", tmp_path)
    check_any_size(net, tmp_path, [(1, 3, 96, 64), (2, 3, 32, 96), (1, 3, 128, 160)])


def test_reshape_fixes_what_it_names(tmp_path):
    """A Reshape to explicit dims fixes the count of the axes it replaces; one with a
    -1 (or 0s over the sizes that change) leaves them free."""
    def net_with(dims: str):
        path = tmp_path / "r.prototxt"
        path.write_text(f"""
name: "r"
input: "data"
input_shape {{ dim: 1 dim: 3 dim: 4 dim: 4 }}
layer {{ name: "c" type: "Convolution" bottom: "data" top: "c"
  convolution_param {{ num_output: 2 kernel_size: 1 }} }}
layer {{ name: "r" type: "Reshape" bottom: "c" top: "r" reshape_param {{ shape {{ {dims} }} }} }}
""")
        return _net(path)

    fixed = free_sizes(net_with("dim: 0 dim: 32"))
    assert fixed.free == {"data": (0,)}
    assert fixed.fixed[0]["layer"] == "r" and fixed.fixed[0]["axes"] == ["height", "width"]
    assert "Reshape to explicit dims [0, 32]" in fixed.note()
    free = free_sizes(net_with("dim: 0 dim: 2 dim: -1"))
    assert free.free == {"data": (0, 2, 3)} and free.note() is None
    net = net_with("dim: 0 dim: 0 dim: -1")
    check_any_size(net, tmp_path, [(2, 3, 5, 7), (1, 3, 9, 2), (1, 3, 3, 3)])


def test_a_framework_that_pins_a_size_says_so(tmp_path, capsys):
    """SSD's PriorBox is a constant of the sizes in ONNX, TF and PyTorch: those formats
    keep height and width (batch stays free), said in the one sizes note."""
    from support import tiny_ssd

    proto, model = tiny_ssd(tmp_path)
    rc = main(["convert", str(proto), str(model), "--to", "onnx,pt2", "--cut-data-dependent",
               "-o", str(tmp_path / "o"), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert rc == 0
    notes = [n for n in summary["notes"] if n.startswith("sizes:")]
    assert len(notes) == 1, summary["notes"]
    assert "in onnx height and width fixed by prior: PriorBox" in notes[0]
    assert "in pt2 height and width fixed by torch.export" in notes[0]
    for fmt in ("onnx", "pt2"):
        assert summary["formats"][fmt]["sizes"]["inputs"]["data"] == ["batch", 3, 48, 48]
