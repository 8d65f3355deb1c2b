"""Writers: every format loads with its framework's own loader in a fresh process that
never imports convertkit; the same targets give the same bytes; outputs are atomic,
never replace a file without force, and never replace an input."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import convertkit
from convertkit import emit, zoo
from convertkit.errors import OutputFileError, UsageError
from convertkit.mapping import load_table, resolve
from convertkit.runtime.numpy import forward

from support import caffemodel_bytes

#: Python packages each format's writer or loader needs (tests skip, saying so, without).
NEEDS = {"npy": (), "npz": (), "h5": ("h5py",), "tf": ("tensorflow",), "torch": ("torch",),
         "safetensors": ("safetensors", "torch")}


def needs(fmt):
    for module in NEEDS[fmt]:
        pytest.importorskip(module, reason=f"{module} is not installed (needed for {fmt})")


FORMATS = {  # format -> (table, naming variant, file name)
    "npy": ("hellochick-tf", "npy", "w.npy"),
    "npz": ("chainercv", None, "w.npz"),
    "h5": ("caffe", None, "w.h5"),
    "tf": ("hellochick-tf", "tf", "ckpt/model.ckpt"),
    "torch": ("torch", None, "w.pt"),
    "safetensors": ("torch", None, "w.safetensors"),
}


@pytest.fixture(scope="module")
def nets():
    cache = {}

    def get(name):
        if name not in cache:
            size = (193, 385) if name == "icnet" else (97, 97)
            cache[name] = zoo.make(name, width=0.125, input_size=size, bn="keep")[1]
        return cache[name]
    return get


def targets_for(nets, fmt):
    table, variant, _ = FORMATS[fmt]
    net = nets("pspnet50" if table == "chainercv" else "icnet")
    return resolve(load_table(table), net, variant)


def digest(a) -> list:
    a = np.ascontiguousarray(np.asarray(a)) if np.ndim(a) else np.asarray(a)
    return [list(a.shape), a.dtype.name, hashlib.sha256(a.tobytes()).hexdigest()]


def digests(targets) -> dict:
    return {t.key: digest(t.array) for t in targets}


#: Prelude and check run in every loader process: a digest helper, and at the end
#: proof that convertkit was never imported (a pickle naming one of its classes would).
PRELUDE = """
import hashlib, json, sys
import numpy as np
def digest(a):
    a = np.asarray(a)
    b = np.ascontiguousarray(a).tobytes() if a.ndim else a.tobytes()
    return [list(a.shape), a.dtype.name, hashlib.sha256(b).hexdigest()]
"""
EPILOGUE = """
assert not [m for m in sys.modules if m.split(".")[0] == "convertkit"], "convertkit imported"
print(json.dumps(out))
"""


def load_elsewhere(tmp_path, body: str, *args) -> dict:
    """Run ``body`` (which fills ``out``) in a fresh interpreter outside the repository."""
    script = PRELUDE + textwrap.dedent(body) + EPILOGUE
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    proc = subprocess.run([sys.executable, "-c", script, *map(str, args)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- each format, loaded by its own framework ---------------------------------------------

def test_npy_loads_as_a_dict_of_dicts(nets, tmp_path):
    targets = targets_for(nets, "npy")
    path = tmp_path / "w.npy"
    emit.write("npy", targets, path)
    out = load_elsewhere(tmp_path, """
        d = np.load(sys.argv[1], allow_pickle=True).item()
        assert type(d) is dict and all(type(v) is dict for v in d.values())
        out = {f"{op}/{p}": digest(a) for op, params in d.items() for p, a in params.items()}
        """, path)
    assert out == digests(targets)
    assert "conv1_1_3x3_s2_bn/scale" in out  # hellochick's npy names


def test_npy_splits_keys_at_the_first_slash(tmp_path):
    class T:
        def __init__(self, key):
            self.key, self.array = key, np.zeros(2, np.float32)
    d = emit.npy.as_dict([T("conv1_bn/a/b"), T("conv1_bn/c")])
    assert list(d) == ["conv1_bn"] and list(d["conv1_bn"]) == ["a/b", "c"]
    with pytest.raises(UsageError, match="keys 'op/param'.*2 keys have no '/': x, y"):
        emit.write("npy", [T("x"), T("y")], tmp_path / "bad.npy")
    assert list(tmp_path.iterdir()) == []  # nothing written, no temp file left


def test_npz_loads_with_numpy(nets, tmp_path):
    targets = targets_for(nets, "npz")
    path = tmp_path / "w.npz"
    emit.write("npz", targets, path)
    out = load_elsewhere(tmp_path, """
        with np.load(sys.argv[1]) as z:
            out = {k: digest(z[k]) for k in z.files}
        """, path)
    assert out == digests(targets)
    assert "extractor/res4/b5/conv1/conv/W" in out and "head_conv2/b" in out


def test_h5_datasets_carry_caffe_shape_and_layout(nets, tmp_path):
    needs("h5")
    net = nets("icnet")
    targets = resolve(load_table("hellochick-tf"), net, "tf")
    path = tmp_path / "w.h5"
    emit.write("h5", targets, path, meta={"table": "hellochick-tf", "source": "zoo icnet"})
    out = load_elsewhere(tmp_path, """
        import h5py
        out = {"attrs": {}, "data": {}}
        with h5py.File(sys.argv[1], "r") as f:
            out["root"] = {k: str(v) for k, v in f.attrs.items()}
            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    out["data"][name] = digest(obj[()])
                    a = obj.attrs
                    out["attrs"][name] = [str(a["caffe_layer"]), str(a["caffe_role"]),
                                          [int(d) for d in a["caffe_shape"]], str(a["layout"])]
            f.visititems(visit)
        """, path)
    assert out["data"] == digests(targets)
    assert out["root"] == {"table": "hellochick-tf", "source": "zoo icnet"}
    assert out["attrs"]["conv1_1_3x3_s2/weights"] == [
        "conv1_1_3x3_s2", "weight", list(net.layer("conv1_1_3x3_s2").param("weight").shape), "hwio"]
    assert out["attrs"]["conv1_1_3x3_s2_bn/moving_variance"][1:] == ["variance", [1, 4, 1, 1], "flat"]


def test_h5_caffe_table_nests_layer_and_role(nets, tmp_path):
    needs("h5")
    targets = resolve(load_table("caffe"), nets("icnet"))
    path = tmp_path / "c.h5"
    emit.write("h5", targets, path)
    import h5py
    with h5py.File(path, "r") as f:
        assert f["conv1_1_3x3_s2/bn/gamma"].shape == (1, 4, 1, 1)
        assert f["conv1_1_3x3_s2/weight"].attrs["layout"] == "caffe"


def test_h5_key_clash_is_refused(tmp_path):
    needs("h5")
    class T:
        def __init__(self, key):
            self.key, self.array, self.layer, self.role = key, np.zeros(1, np.float32), "l", "r"
            self.caffe_shape, self.layout = (1,), "caffe"
    with pytest.raises(UsageError, match="'a/b' clashes"):
        emit.write("h5", [T("a"), T("a/b")], tmp_path / "x.h5")
    assert list(tmp_path.iterdir()) == []


TF_LOAD = """
import os
import tensorflow as tf
prefix, names = sys.argv[1], json.loads(sys.argv[2])
reader = tf.train.load_checkpoint(prefix)
shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
out = {"read": {k: digest(reader.get_tensor(k)) for k in shapes}}
graph = tf.Graph()
with graph.as_default():
    # What a TF1 model does: declare the variables by name, then Saver.restore.
    variables = {k: tf.compat.v1.get_variable(k, shape=shapes[k], dtype=dtypes[k]) for k in names}
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session(graph=graph) as sess:
        saver.restore(sess, prefix)
        out["restored"] = {k: digest(v) for k, v in sess.run(variables).items()}
"""


def test_tf_checkpoint_reads_and_restores_in_a_tf1_graph(nets, tmp_path):
    needs("tf")
    targets = targets_for(nets, "tf")
    prefix = tmp_path / "ckpt" / "model.ckpt"
    files = emit.write("tf", targets, prefix)
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "model.ckpt.data-00000-of-00001", "model.ckpt.index"] == sorted(f.name for f in files)
    out = load_elsewhere(tmp_path, TF_LOAD, prefix, json.dumps([t.key for t in targets]))
    assert out["read"] == out["restored"] == digests(targets)
    assert "conv1_1_3x3_s2_bn/moving_mean" in out["restored"]


def test_tf_refuses_names_tf_cannot_declare(tmp_path):
    needs("tf")
    class T:
        def __init__(self, key):
            self.key, self.array = key, np.zeros(1, np.float32)
    with pytest.raises(UsageError, match="2 keys are not valid TensorFlow variable names.*'a b'.*'_x'"):
        emit.write("tf", [T("a b"), T("ok/name"), T("_x")], tmp_path / "m.ckpt")
    assert list(tmp_path.iterdir()) == []


def test_tf_failure_leaves_nothing_and_force_replaces_whole(nets, tmp_path, monkeypatch):
    needs("tf")
    import tensorflow as tf
    targets = targets_for(nets, "tf")
    prefix = tmp_path / "model.ckpt"

    def boom(**kw):
        raise RuntimeError("disk full")
    with monkeypatch.context() as m:
        m.setattr(tf.raw_ops, "SaveV2", boom)
        with pytest.raises(RuntimeError, match="disk full"):
            emit.write("tf", targets, prefix)
    assert list(tmp_path.iterdir()) == []  # no files, no temp folder
    emit.write("tf", targets[:3], prefix)
    with pytest.raises(OutputFileError, match="model.ckpt.data-00000-of-00001: already exists"):
        emit.write("tf", targets, prefix)
    emit.write("tf", targets, prefix, force=True)
    assert sorted(tf.train.load_checkpoint(str(prefix)).get_variable_to_shape_map()) == \
        sorted(t.key for t in targets)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model.ckpt.data-00000-of-00001", "model.ckpt.index"]


TINY = """
name: "tiny"
input: "data"
input_dim: 2 input_dim: 3 input_dim: 4 input_dim: 5
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 bias_term: false } }
layer { name: "conv1/bn" type: "BN" bottom: "conv1" top: "conv1" }
layer { name: "relu" type: "PReLU" bottom: "conv1" top: "conv1" }
layer { name: "up" type: "Deconvolution" bottom: "conv1" top: "up"
        convolution_param { num_output: 2 kernel_size: 2 stride: 2 } }
layer { name: "up/bn" type: "BatchNorm" bottom: "up" top: "up" }
layer { name: "fc-1" type: "InnerProduct" bottom: "up" top: "fc" inner_product_param { num_output: 6 } }
"""

TORCH_LOAD = """
import torch
sd = torch.load(sys.argv[1], weights_only=True)
assert type(sd).__name__ == "OrderedDict"

class Tiny(torch.nn.Module):  # the module the torch table names
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.conv1_bn = torch.nn.BatchNorm2d(4, eps=1e-5)
        self.relu = torch.nn.PReLU(4)
        self.up = torch.nn.ConvTranspose2d(4, 2, 2, stride=2)
        self.up_bn = torch.nn.BatchNorm2d(2, eps=1e-5, affine=False)
        self.fc_1 = torch.nn.Linear(2 * 8 * 10, 6)

    def forward(self, x):
        x = self.up_bn(self.up(self.relu(self.conv1_bn(self.conv1(x)))))
        return self.fc_1(x.flatten(1))

model = Tiny().eval()
model.load_state_dict(sd, strict=True)
with torch.no_grad():
    y = model(torch.from_numpy(np.load(sys.argv[2]))).numpy()
np.save(sys.argv[3], y)
out = {k: digest(v.numpy()) for k, v in sd.items()}
"""


def tiny_net(tmp_path):
    rng = np.random.default_rng(3)
    r = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    blobs = {"conv1": [r(4, 3, 3, 3)],
             "conv1/bn": [r(1, 4, 1, 1), r(1, 4, 1, 1), r(1, 4, 1, 1),
                          np.abs(r(1, 4, 1, 1)) + 0.5],
             "relu": [r(4) * 0.2], "up": [r(4, 2, 2, 2), r(2)],
             "up/bn": [r(2) * 3, np.abs(r(2)) * 3 + 1, np.float32([3.0])],
             "fc-1": [r(6, 160), r(6)]}
    (tmp_path / "tiny.prototxt").write_text(TINY)
    (tmp_path / "tiny.caffemodel").write_bytes(caffemodel_bytes(TINY, blobs))
    return convertkit.load(tmp_path / "tiny.prototxt", tmp_path / "tiny.caffemodel")


def test_torch_state_dict_loads_strictly_and_computes_the_caffe_net(tmp_path):
    needs("torch")
    net = tiny_net(tmp_path)
    targets = resolve(load_table("torch"), net)
    path = tmp_path / "w.pt"
    emit.write("torch", targets, path)
    x = np.random.default_rng(5).standard_normal((2, 3, 4, 5)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = load_elsewhere(tmp_path, TORCH_LOAD, path, tmp_path / "x.npy", tmp_path / "y.npy")
    assert out == digests(targets)
    caffe = forward(net, {"data": x})["fc"]
    torch_y = np.load(tmp_path / "y.npy")
    np.testing.assert_allclose(torch_y, caffe, rtol=1e-4, atol=1e-4 * np.abs(caffe).max())


def test_safetensors_loads_with_safetensors_torch(nets, tmp_path):
    needs("safetensors")
    targets = targets_for(nets, "safetensors")
    path = tmp_path / "w.safetensors"
    emit.write("safetensors", targets, path, meta={"format": "pt"})
    out = load_elsewhere(tmp_path, """
        from safetensors import safe_open
        from safetensors.torch import load_file
        out = {k: digest(v.numpy()) for k, v in load_file(sys.argv[1]).items()}
        with safe_open(sys.argv[1], framework="np") as f:
            assert f.metadata() == {"format": "pt"}
        """, path)
    assert out == digests(targets)
    # The same bytes as the library's own writer (which, with more than one metadata
    # key, orders them differently from run to run).
    import safetensors.numpy
    own = safetensors.numpy.save({t.key: np.asarray(t.array) for t in targets},
                                 metadata={"format": "pt"})
    assert path.read_bytes() == own


# -- byte identity ------------------------------------------------------------------------

def test_every_format_is_byte_identical_run_after_run(nets, tmp_path):
    def write_all(folder):
        got = {}
        for fmt, (_, _, name) in FORMATS.items():
            if not all(importlib.util.find_spec(m) for m in NEEDS[fmt]):
                continue  # a framework that is not installed
            files = emit.write(fmt, targets_for(nets, fmt), folder / name,
                               meta={"source": "zoo", "table": "x"})
            got[fmt] = [f.read_bytes() for f in files]
        return got
    first = write_all(tmp_path / "a")
    time.sleep(1.1)  # any timestamp with one-second resolution would now differ
    second = write_all(tmp_path / "b")
    assert first.keys() == second.keys() and {"npy", "npz"} <= first.keys()
    for fmt in first:
        assert first[fmt] == second[fmt], fmt


def test_torch_and_npz_bytes_do_not_depend_on_the_process(nets, tmp_path):
    """A fresh process (other object ids, another hash seed) writes the same bytes."""
    needs("torch")
    tables = {"torch": "torch", "npz": "caffe"}
    for fmt, table in tables.items():
        emit.write(fmt, resolve(load_table(table), nets("icnet")), tmp_path / f"here.{fmt}")
    code = textwrap.dedent(f"""
        from convertkit import emit, zoo
        from convertkit.mapping import load_table, resolve
        net = zoo.make("icnet", width=0.125, input_size=(193, 385), bn="keep")[1]
        for fmt, table in {tables!r}.items():
            emit.write(fmt, resolve(load_table(table), net), f"there.{{fmt}}")
        """)
    env = dict(os.environ, PYTHONHASHSEED="123")
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True,
                   timeout=300)
    for fmt in tables:
        assert (tmp_path / f"here.{fmt}").read_bytes() == (tmp_path / f"there.{fmt}").read_bytes()


# -- never lose data ----------------------------------------------------------------------

def test_no_overwrite_without_force(nets, tmp_path):
    targets = targets_for(nets, "npz")
    path = tmp_path / "w.npz"
    emit.write("npz", targets[:2], path)
    before = path.read_bytes()
    with pytest.raises(OutputFileError) as err:
        emit.write("npz", targets, path)
    assert str(err.value) == f"{path}: already exists; pass --force to replace it"
    assert path.read_bytes() == before
    emit.write("npz", targets, path, force=True)
    assert path.read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.npz"]  # no temp files left


def test_never_writes_over_an_input(nets, tmp_path):
    targets = targets_for(nets, "npz")
    model = tmp_path / "in.caffemodel"
    model.write_bytes(b"weights")
    (tmp_path / "sub").mkdir()
    os.symlink(model, tmp_path / "link.npz")
    for out in (model, tmp_path / "sub" / ".." / "in.caffemodel", tmp_path / "link.npz"):
        with pytest.raises(OutputFileError, match="never replaces an input"):
            emit.write("npz", targets, out, force=True, inputs=[tmp_path / "x.prototxt", model])
    assert model.read_bytes() == b"weights"


def test_unknown_format_lists_the_known_ones(tmp_path):
    with pytest.raises(UsageError, match="unknown output format 'onnx'; known: npy, npz, h5, "
                                         "tf, torch, safetensors"):
        emit.write("onnx", [], tmp_path / "x.onnx")
    assert emit.output_files("tf", tmp_path / "m.ckpt") == [
        tmp_path / "m.ckpt.data-00000-of-00001", tmp_path / "m.ckpt.index"]


def test_hwio_and_hwoi_are_what_tf_conv_ops_take(tmp_path):
    """The TF layouts checked with TensorFlow's own conv2d / conv2d_transpose."""
    needs("tf")
    import tensorflow as tf
    text = """
    input: "data"
    input_dim: 1 input_dim: 3 input_dim: 7 input_dim: 6
    layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
            convolution_param { num_output: 4 kernel_size: 3 stride: 2 } }
    layer { name: "up" type: "Deconvolution" bottom: "conv" top: "up"
            convolution_param { num_output: 2 kernel_size: 3 stride: 2 bias_term: false } }
    """
    rng = np.random.default_rng(11)
    blobs = {"conv": [rng.standard_normal((4, 3, 3, 3)).astype(np.float32), np.zeros(4, np.float32)],
             "up": [rng.standard_normal((4, 2, 3, 3)).astype(np.float32)]}
    (tmp_path / "n.prototxt").write_text(text)
    (tmp_path / "n.caffemodel").write_bytes(caffemodel_bytes(text, blobs))
    net = convertkit.load(tmp_path / "n.prototxt", tmp_path / "n.caffemodel")
    table = tmp_path / "tf.toml"
    table.write_text('[[rule]]\ntype = "Convolution"\nkey = "{layer}/{role}"\nlayout = { weight = "hwio" }\n'
                     '[[rule]]\ntype = "Deconvolution"\nkey = "{layer}/{role}"\nlayout = "hwoi"\n')
    w = {t.key: t.array for t in resolve(load_table(table), net)}
    x = rng.standard_normal((1, 3, 7, 6)).astype(np.float32)
    blobs_out = forward(net, {"data": x}, keep="all")
    y = tf.nn.conv2d(x.transpose(0, 2, 3, 1), w["conv/weight"], strides=2, padding="VALID")
    np.testing.assert_allclose(y.numpy().transpose(0, 3, 1, 2), blobs_out["conv"], rtol=1e-5, atol=1e-5)
    up = tf.nn.conv2d_transpose(y, w["up/weight"], output_shape=(1, 7, 5, 2), strides=2,
                                padding="VALID")
    np.testing.assert_allclose(up.numpy().transpose(0, 3, 1, 2), blobs_out["up"], rtol=1e-5, atol=1e-5)


def test_duplicate_keys_are_refused_before_writing(tmp_path):
    class T:
        def __init__(self, key):
            self.key, self.array = key, np.zeros(1, np.float32)
    with pytest.raises(UsageError, match="1 keys appear more than once: a/b"):
        emit.write("npz", [T("a/b"), T("c/d"), T("a/b")], tmp_path / "x.npz")
    assert list(tmp_path.iterdir()) == []
