"""Index outputs (MAX pooling masks, ArgMax) are compared as indices: by the values they
point at. An index that moved at a near-tie is counted and reported, and the layers
after it are judged against the reference computed from that runtime's choice; a wrong
index still fails. Exact ties break the way Caffe breaks them in every runtime."""
from pathlib import Path

import numpy as np
import pytest

import convertkit
from convertkit.runtime import base, create
from convertkit.runtime.numpy import NumpyRuntime, forward
from convertkit.verify import Options, Verifier
from convertkit.verify import Sample

#: Constant regions make exact ties in every pooling window they fill; the unpooling
#: puts each maximum back where the mask says, and a convolution mixes the result.
TIES = """
name: "ties"
input: "data"
input_shape { dim: 1 dim: 2 dim: 8 dim: 8 }
layer { name: "relu" type: "ReLU" bottom: "data" top: "r" }
layer { name: "pool" type: "Pooling" bottom: "r" top: "pool" top: "mask"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "up" type: "Upsample" bottom: "pool" bottom: "mask" top: "up"
  upsample_param { scale: 2 } }
layer { name: "conv" type: "Convolution" bottom: "up" top: "conv"
  convolution_param { num_output: 3 kernel_size: 3 pad: 1 } }
layer { name: "top" type: "ArgMax" bottom: "conv" top: "best" argmax_param { axis: 1 } }
"""


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    path = tmp_path_factory.mktemp("ties") / "ties.prototxt"
    path.write_text(TIES)
    net = convertkit.load(path)
    rng = np.random.default_rng(0)
    conv = next(l for l in net.layers if l.name == "conv")
    conv.params = [rng.standard_normal((3, 2, 3, 3)).astype(np.float32),
                   rng.standard_normal(3).astype(np.float32)]
    return net


def tied_input(seed: int = 0) -> np.ndarray:
    """Half the windows constant (exact ties), the rest distinct values."""
    x = np.random.default_rng(seed).standard_normal((1, 2, 8, 8)).astype(np.float32)
    x[:, :, :4] = 0.7
    return x


class _MovedMask(NumpyRuntime):
    """The reference, except that the pooling mask picks another position of each
    window: at exact ties only (``exact``) or anywhere (a wrong index)."""

    name = "moved"
    exact_only = True

    def forward(self, inputs, keep="outputs", on_layer=None):
        seen = {}

        def before(layer, bottoms):
            seen[layer.name] = bottoms

        def after(layer, tops):
            if layer.name == "pool":
                x = seen["pool"][0]
                n, c, h, w = x.shape
                moved = tops[1].copy()
                for i in range(h // 2):
                    for j in range(w // 2):
                        win = x[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2].reshape(n, c, 4)
                        last = 3 - np.argmax(win[:, :, ::-1], axis=2)  # the last maximum
                        anywhere = (np.argmax(win, axis=2) + 1) % 4  # not the maximum
                        pick = last if self.exact_only else anywhere
                        moved[:, :, i, j] = (2 * i + pick // 2) * w + 2 * j + pick % 2
                tops[1] = moved.astype(np.float32)
            if on_layer is not None:
                on_layer(layer.name, list(tops))

        return forward(self.net, inputs, keep, before_layer=before, after_layer=after)


class MovedAtTies(_MovedMask):
    exact_only = True


class MovedAnywhere(_MovedMask):
    exact_only = False


@pytest.fixture
def fake_runtimes(monkeypatch):
    for name, cls in (("ties", "MovedAtTies"), ("wrong", "MovedAnywhere")):
        monkeypatch.setitem(base._RUNTIMES, name,
                            base.RuntimeInfo(name, f"{__name__}:{cls}", (), None, "a test"))


def _verify(net, runtime, layers="all"):
    samples = [Sample(f"x{s}", {"data": tied_input(s)}) for s in range(2)]
    return Verifier(net, Options(direct=True, runtimes=[runtime], layers=layers)).run(samples).report


@pytest.mark.parametrize("layers", ["all", "auto"])
def test_indices_moved_at_ties_pass_and_are_counted(net, fake_runtimes, layers):
    report = _verify(net, "ties", layers)
    sub = report["variants"][0]["subjects"][0]
    assert sub["verdict"] == "pass", sub
    assert report["verdict"] == "pass"
    flips = sub["near_ties"]["pool"]["flips"]
    assert flips == 2 * 2 * 8  # 2 inputs x 2 channels x 8 constant windows (rows 0-3)
    assert sub["near_ties"]["pool"]["max_value_diff"] == 0
    assert any(f"{flips} near-tie index flips in pool" in n for n in sub["notes"])


def test_a_wrong_index_still_fails_at_its_layer(net, fake_runtimes):
    report = _verify(net, "wrong")
    sub = report["variants"][0]["subjects"][0]
    assert sub["verdict"] == "fail"
    assert sub["first_divergence"]["layer"] == "pool"
    assert report["verdict"] == "fail"


def test_index_values_gather_what_the_indices_point_at(net):
    pool = next(l for l in net.layers if l.name == "pool").impl
    x = np.arange(2 * 16, dtype=np.float32).reshape(1, 2, 4, 4)
    mask = np.array([[[[5, 7], [13, 15]], [[0, 3], [12, 16]]]], np.float32)
    got = pool.indexed_values([x], mask, 1)
    assert got[0, 0].tolist() == [[5, 7], [13, 15]]
    assert got[0, 1, 0].tolist() == [16, 19] and np.isnan(got[0, 1, 1, 1])  # 16 is out of range
    argmax = next(l for l in net.layers if l.name == "top").impl
    scores = np.random.default_rng(1).standard_normal((1, 3, 2, 2)).astype(np.float32)
    best = argmax.forward([scores], [])[0]
    np.testing.assert_array_equal(argmax.indexed_values([scores], best, 0), scores.max(1, keepdims=True))


@pytest.mark.parametrize("runtime", ["torch", "onnx", "tf"])
def test_exact_ties_break_as_caffe_does(net, runtime):
    """Caffe keeps the first maximum of each window in row-major order (it compares with
    '>'): so does every runtime, on windows of exact ties (constant regions)."""
    pytest.importorskip({"torch": "torch", "onnx": "onnxruntime", "tf": "tensorflow"}[runtime])
    x = tied_input()
    ref = create("numpy", net).forward({"data": x}, keep="all")
    got = create(runtime, net).forward({"data": x}, keep="all")
    np.testing.assert_array_equal(got["mask"], ref["mask"])
    np.testing.assert_array_equal(got["best"], ref["best"])
