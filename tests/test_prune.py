"""Pruning and transplant: identity at factor 0, zero filters go first and change
nothing, the full-width ICNet pruned by half has the released ICNet's shapes, the
two-stage training of the seeds end to end, and fine-tuning the PyTorch module."""
import json

import numpy as np
import pytest

from convertkit import runtime, zoo
from convertkit.cli import main
from convertkit.errors import UsageError, WeightMismatchError
from convertkit.caffe.loader import build_net
from convertkit.passes.prune import channel_groups, prune
from convertkit.passes.transplant import transplant
from convertkit.caffe.proto import parse_text
from convertkit.caffe.wire import save_caffemodel
from convertkit.zoo.anynet import init_params

from conftest import official_path
from support import assert_close


def shapes(net):
    return [(l.name, tuple(tuple(p.shape) for p in l.params)) for l in net.layers]


@pytest.fixture(scope="module")
def merged():
    return zoo.make("icnet", input_size=(193, 385), width=0.25, bn="merge")[1]


def test_factor_zero_is_the_identity(merged, tmp_path):
    same, report = prune(merged, 0.0)
    assert all(g["kept"] == g["channels"] for g in report["groups"])
    save_caffemodel(merged, tmp_path / "a.caffemodel")
    save_caffemodel(same, tmp_path / "b.caffemodel")
    assert (tmp_path / "a.caffemodel").read_bytes() == (tmp_path / "b.caffemodel").read_bytes()


def test_zero_filters_go_first_and_pruning_them_changes_nothing(merged):
    net = merged.replace(layers=[l.replace() for l in merged.layers])
    groups, _ = channel_groups(net, set())
    rng = np.random.default_rng(3)
    zeroed = {}
    for g in groups.values():
        if not g.producers or g.blocked:
            continue
        idx = rng.choice(g.channels, g.channels // 2, replace=False)
        zeroed[tuple(g.producers)] = set(idx.tolist())
        for name in g.producers:  # a zero filter and bias: the channel is exactly 0
            layer = net.layer(name)
            w, b = (np.array(p) for p in layer.params)
            w[idx], b[idx] = 0, 0
            layer.params = [w, b]
    pruned, report = prune(net, 0.5)
    x = np.random.default_rng(1).standard_normal(net.inputs["data"]).astype(np.float32) * 30
    ref = runtime.create("numpy", net).forward({"data": x}, keep="all")
    got = runtime.create("numpy", pruned).forward({"data": x}, keep="all")
    kept_of = {}
    for g in report["groups"]:
        if "left_whole" not in g:
            dropped = zeroed[tuple(g["producers"])]
            assert set(g["kept_channels"]) == set(range(g["channels"])) - dropped
            kept_of.update({b: g["kept_channels"] for b in g["blobs"]})
    compared = 0
    for name, value in got.items():
        want = ref[name][:, kept_of[name]] if name in kept_of else ref[name]
        assert_close(value, want, rel=1e-5, what=name)
        compared += 1
    assert compared == len(ref) and len(kept_of) > 20


def test_full_width_icnet_pruned_by_half_has_the_released_shapes():
    wide = build_net(parse_text(zoo.make_prototxt("icnet", width=2, bn="keep")))
    init_params(wide, 0)
    pruned, report = prune(wide, 0.5)
    official = build_net(parse_text(official_path("icnet_cityscapes_bnnomerge").read_text()))
    plan = official.plan()
    want = [(l.name, tuple(map(tuple, l.impl.param_shapes(plan.bottom_shapes(l)))))
            for l in official.layers]
    assert shapes(pruned) == want
    assert [g["producers"] for g in report["groups"] if "left_whole" in g] == [["conv6_cls"]]


def test_the_seeds_two_stage_case_end_to_end():
    """PSPNet50 -> transplant into a full-width ICNet -> prune by 0.5: the released
    ICNet's shapes, whose shared branch carries PSPNet50's (pruned) weights."""
    size = (193, 385)
    _, psp = zoo.make("pspnet50", input_size=97, width=0.25)
    wide = build_net(parse_text(zoo.make_prototxt("icnet", width=0.5, input_size=size)))
    init_params(wide, 1)
    moved, report = transplant(psp, wide)
    assert "conv1_1_3x3_s2" in report["copied"] and "conv5_3_1x1_increase" in report["copied"]
    assert "conv_sub4" in report["initialised"] and "conv6_cls" in report["initialised"]
    np.testing.assert_array_equal(moved.layer("conv4_2_3x3").params[0],
                                  psp.layer("conv4_2_3x3").params[0])
    pruned, _ = prune(moved, 0.5)
    small = build_net(parse_text(zoo.make_prototxt("icnet", width=0.25, input_size=size)))
    plan = small.plan()
    assert shapes(pruned) == [(l.name, tuple(map(tuple, l.impl.param_shapes(plan.bottom_shapes(l)))))
                              for l in small.layers]
    # The first conv keeps the strongest half of PSPNet50's filters.
    w = psp.layer("conv1_1_3x3_s2").params[0]
    strongest = np.sort(np.argsort(np.abs(w).reshape(len(w), -1).sum(1), kind="stable")[len(w) // 2:])
    np.testing.assert_array_equal(pruned.layer("conv1_1_3x3_s2").params[0], w[strongest])


def test_transplant_refuses_mismatches_unless_adapting():
    _, a = zoo.make("icnet", input_size=(193, 385), width=0.25)
    b = build_net(parse_text(zoo.make_prototxt("icnet", width=0.125, input_size=(193, 385))))
    init_params(b, 0)
    with pytest.raises(WeightMismatchError, match="layers differ in shape.*--adapt"):
        transplant(a, b)
    moved, report = transplant(a, b, adapt=True)
    assert report["adapted"] and report["copied"] == ["data_sub1"]  # its 3 params fit
    w = a.layer("conv1_1_3x3_s2").params[0]
    np.testing.assert_array_equal(moved.layer("conv1_1_3x3_s2").params[0], w[:4])
    c = build_net(parse_text('input: "x" input_shape { dim: 1 dim: 1 dim: 4 dim: 4 } layer { '
                             'name: "other" type: "Convolution" bottom: "x" top: "y" '
                             'convolution_param { num_output: 1 kernel_size: 1 } }'))
    init_params(c, 0)
    with pytest.raises(UsageError, match="no layer with params in common"):
        transplant(a, c)


def test_cli_prune_and_transplant(merged, tmp_path, capsys):
    (tmp_path / "m.prototxt").write_text(zoo.make_prototxt("icnet", input_size=(193, 385),
                                                           width=0.25, bn="merge"))
    save_caffemodel(merged, tmp_path / "m.caffemodel")
    args = ["prune", str(tmp_path / "m.prototxt"), str(tmp_path / "m.caffemodel")]
    assert main(args + ["--factor", "0.5", "-o", str(tmp_path / "p"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["after"]["params"] < 0.3 * out["before"]["params"]
    assert out["layers"]["conv1_1_3x3_s2"]["before"]["params"] == 8 * 3 * 9 + 8
    assert out["layers"]["conv1_1_3x3_s2"]["after"]["params"] == 4 * 3 * 9 + 4
    for bad, message in ((["--factor", "1"], "must be in [0, 1)"),
                         (["--factor", "0.5", "--keep", "nosuch"], "--keep names no layer: nosuch")):
        assert main(args + bad + ["-o", str(tmp_path / "q")]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "q").exists()
    assert main(["transplant", str(tmp_path / "m.prototxt"), str(tmp_path / "m.caffemodel"),
                 str(tmp_path / "m.prototxt"), "-o", str(tmp_path / "t"), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["copied"]) == len(merged.params)


def test_fine_tuning_the_torch_module(tmp_path):
    torch = pytest.importorskip("torch")
    from convertkit.backends.torch.model import freeze_bn

    _, net = zoo.make("icnet", input_size=(193, 385), width=0.125, bn="keep")
    module = runtime.create("torch", net).module({"data": net.inputs["data"]})
    module = module.to(memory_format=torch.contiguous_format)
    x = torch.randn(2, 3, 193, 385) * 40
    target = torch.randint(0, 19, (2, 193, 385))
    bn = next(m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d))

    def step(update_stats: bool) -> tuple[float, float]:
        module.train()
        if not update_stats:
            freeze_bn(module)
        opt = torch.optim.SGD(module.parameters(), lr=1e-3, momentum=0.0)
        before_mean = bn.running_mean.clone()
        loss = torch.nn.functional.cross_entropy(module(x)[0], target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        module.eval()
        with torch.no_grad():
            after = torch.nn.functional.cross_entropy(module(x)[0], target)
        changed = float((bn.running_mean - before_mean).abs().max())
        return float(after) - float(loss.detach()), changed

    drop, changed = step(update_stats=False)
    assert drop < 0 and changed == 0.0
    drop, changed = step(update_stats=True)
    assert changed > 0
