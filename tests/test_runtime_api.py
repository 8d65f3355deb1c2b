"""One runtime interface: the registry, each layer's own outputs through the hook,
Caffe's in-place semantics, keep handling, and the install hint."""
from pathlib import Path

import numpy as np
import pytest

import convertkit
from convertkit import runtime
from convertkit.errors import UsageError, WeightMismatchError
from convertkit.runtime.base import register_runtime, _RUNTIMES

from support import assert_close, rand

SMALL = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "icnet_small"


@pytest.fixture(scope="module")
def net():
    return convertkit.load(SMALL / "icnet.prototxt", SMALL / "icnet.caffemodel")


def test_registry_lists_runtimes_and_builds_them(net):
    names = [i.name for i in runtime.runtime_infos()]
    assert names[:2] == ["numpy", "opencv"]
    assert "numpy" in runtime.installed_runtimes()
    rt = runtime.create("numpy", net)
    assert isinstance(rt, runtime.Runtime) and rt.name == "numpy"
    with pytest.raises(UsageError, match="unknown runtime 'caffee'.*known: numpy, opencv"):
        runtime.create("caffee", net)


def test_a_runtime_whose_framework_is_missing_names_the_extra(net):
    register_runtime("ghost", "nowhere:Ghost", requires=("no_such_framework_xyz",), extra="ghost")
    try:
        assert "ghost" not in runtime.installed_runtimes()
        with pytest.raises(UsageError, match=r"pip install 'convertkit\[ghost\]'"):
            runtime.create("ghost", net)
    finally:
        del _RUNTIMES["ghost"]


def hooked_pass(net, name: str, seed: int):
    """(input, every blob, each layer's own first output) of one pass of runtime
    ``name`` (skipped where it is not installed)."""
    if name not in runtime.installed_runtimes():
        pytest.skip(f"{name} runtime not installed")
    x = rand(net.inputs["data"], seed=seed) * 50
    own = {}
    blobs = runtime.create(name, net).forward(
        {"data": x}, keep="all", on_layer=lambda n, tops: own.setdefault(n, tops[0]))
    return x, blobs, own


@pytest.mark.parametrize("name", ["numpy", "opencv"])
def test_hook_sees_each_layers_own_output_and_blobs_are_in_place(net, name):
    _, blobs, own = hooked_pass(net, name, seed=3)
    assert list(own) == [l.name for l in net.layers]
    # conv1_sub1 is rewritten in place by its BN and ReLU: the blob holds the ReLU's
    # output, the BN's own output has negative values.
    bn = next(l for l in net.layers if l.type == "BN")
    relu = next(l for l in net.layers if l.type == "ReLU" and l.bottoms == bn.tops)
    assert own[bn.name].min() < 0
    assert_close(blobs[bn.tops[0]], own[relu.name], what=bn.tops[0])
    assert blobs[bn.tops[0]].min() >= 0
    assert set(blobs) == set(net.blob_names)
    assert all(b.dtype == np.float32 for b in blobs.values())


@pytest.mark.parametrize("name", ["torch", "tf"])
def test_channels_last_frameworks_lend_their_own_memory(net, name):
    """PyTorch (channels_last) and TensorFlow (NHWC) hand each layer's outputs to the
    hook as N x C x H x W views of their own memory, not as copies in Caffe's order
    (copying is most of what exposing ICNet's 1.7 GB of layer outputs cost); the
    blobs ``forward`` returns are in Caffe's order, and the views hold their values
    after the pass."""
    x, blobs, own = hooked_pass(net, name, seed=4)
    ref = {}
    runtime.create("numpy", net).forward({"data": x}, on_layer=lambda n, t: ref.setdefault(n, t[0]))
    conv = next(l for l in net.layers if l.type == "Convolution")
    view = own[conv.name]
    assert view.shape == ref[conv.name].shape and view.shape[1] > 1
    assert not view.flags.c_contiguous and view.transpose(0, 2, 3, 1).flags.c_contiguous
    assert all(b.flags.c_contiguous for b in blobs.values())
    # The first convolution's output, read after every later layer ran (its BN and
    # ReLU work in place in Caffe), still holds the convolution's own values.
    assert own[conv.name].min() < 0
    assert_close(own[conv.name], ref[conv.name], what=conv.name)


def test_keep_orders_names_and_suggests_close_matches(net):
    rt = runtime.create("numpy", net)
    x = rand(net.inputs["data"])
    out = rt.forward({"data": x}, keep=["conv6_interp", "data"])
    assert list(out) == ["data", "conv6_interp"]
    with pytest.raises(UsageError, match=r"'conv6_intrep' \(did you mean 'conv6_interp'"):
        rt.forward({"data": x}, keep=["conv6_intrep"])


def test_a_net_without_its_params_is_refused_before_running():
    net = convertkit.load(SMALL / "icnet.prototxt")
    with pytest.raises(WeightMismatchError, match=r"layers lack learned params: .*pass the caffemodel"):
        runtime.create("numpy", net).forward({"data": rand(net.inputs["data"])})


def test_torch_half_precision_and_devices(net):
    torch = pytest.importorskip("torch")
    x = rand(net.inputs["data"], seed=5) * 40
    ref = runtime.create("numpy", net).forward({"data": x})["conv6_interp"]
    half = runtime.create("torch", net, dtype=torch.float16).forward({"data": x})["conv6_interp"]
    assert half.dtype == np.float32
    assert_close(half, ref, rel=1e-2, what="float16")
    assert np.mean(half.argmax(1) == ref.argmax(1)) > 0.99
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="torch cannot use device 'cuda'"):
            runtime.create("torch", net, device="cuda")


def test_a_state_dict_that_does_not_fit_lists_every_mismatch(net, tmp_path):
    torch = pytest.importorskip("torch")
    from convertkit.backends.torch.model import state_dict_from_net

    sd = state_dict_from_net(net)
    del sd["conv1_sub1.weight"]
    sd["conv6_cls.bias"] = torch.zeros(7)
    sd["extra.weight"] = torch.zeros(1)
    torch.save(sd, tmp_path / "bad.pt")
    rt = runtime.create("torch", net, state_dict=tmp_path / "bad.pt")
    with pytest.raises(WeightMismatchError) as err:
        rt.forward({"data": rand(net.inputs["data"])})
    msg = str(err.value)
    assert "bad.pt" in msg and "1 missing: conv1_sub1.weight" in msg
    assert "1 unexpected: extra.weight" in msg and "conv6_cls.bias (7, the net needs 19)" in msg


def test_cli_runtime_options_are_checked(tmp_path, capsys):
    from convertkit.cli import main

    args = ["run", str(SMALL / "icnet.prototxt"), str(SMALL / "icnet.caffemodel"), "--image",
            str(SMALL.parents[1] / "images" / "chelsea.png"), "-o", str(tmp_path / "o.npz")]
    assert main(args + ["--runtime", "onnx", "--half"]) == 2
    assert "--device and --half apply to the torch runtime" in capsys.readouterr().err
    assert not (tmp_path / "o.npz").exists()


def test_torch_runs_the_bn_folded_net_when_only_outputs_are_asked_for(net):
    pytest.importorskip("torch")
    x = rand(net.inputs["data"], seed=8) * 40
    ref = runtime.create("numpy", net).forward({"data": x})["conv6_interp"]
    rt = runtime.create("torch", net)
    out = rt.forward({"data": x})["conv6_interp"]
    assert [k[1] for k in rt._modules] == [True]  # the folded module ran
    assert_close(out, ref, what="fused")
    rt.forward({"data": x}, on_layer=lambda n, t: None)  # per-layer outputs: BN kept
    assert sorted(k[1] for k in rt._modules) == [False, True]
    assert not runtime.create("torch", net, fuse=False)._fused
