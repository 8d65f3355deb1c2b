"""The zoo's network definitions: PSPNet50/101 and ICNet, layer for layer as released.

Facts reproduced (CAFFE_SEMANTICS.md §2-4): the 3-conv stem (64/64/128 for PSPNet,
32/32/64 for ICNet) then ``pool1_3x3_s2``; bottleneck stages of 3, 4, 6|23, 3 blocks;
conv3_1's stride on the 1x1 reduce (PSPNet50, ICNet) or on the 3x3 (PSPNet101);
dilation 2 in conv4_x and 4 in conv5_x; the PSP module (Concat of conv5_3, pool6,
pool3, pool2, pool1 for PSPNet; an Eltwise sum with no branch convs for ICNet); the
head ``conv5_4`` -> dropout 0.1 -> ``conv6`` -> zoom 8 (PSPNet), and ICNet's cascade
(``conv3_1_sub4`` shrink, CFF sums, ``conv6_cls``, zoom 4).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import geometry
from .builder import NetBuilder


@dataclass(frozen=True)
class Spec:
    name: str
    family: str  # "pspnet" | "icnet"
    input_size: tuple[int, int]
    classes: int
    depth: tuple[int, int, int, int]  # bottleneck blocks per stage 2..5
    about: str
    #: Official definitions this reproduces: (file stem, options).
    official: tuple[tuple[str, str], ...]
    #: (BN-name regex, factor) damping a residual stream (see calibrate.init_blobs).
    stream_damping: tuple[str, float] | None = None


SPECS: dict[str, Spec] = {
    "icnet": Spec(
        "icnet", "icnet", (1025, 2049), 19, (3, 4, 6, 3),
        "ICNet (Cityscapes): half-width PSPNet50 cascade at 1/1, 1/2, 1/4 resolution",
        (("icnet_cityscapes_bnnomerge", "--bn keep"), ("icnet_cityscapes", "--bn merge")),
        stream_damping=(r"conv5_\d+_1x1_(proj|increase)/bn", 0.5),
    ),
    "pspnet50": Spec(
        "pspnet50", "pspnet", (473, 473), 150, (3, 4, 6, 3),
        "PSPNet50 (ADE20K): dilated ResNet-50 + pyramid pooling",
        (("pspnet50_ADE20K_473", ""),),
    ),
    "pspnet101": Spec(
        "pspnet101", "pspnet", (713, 713), 19, (3, 4, 23, 3),
        "PSPNet101 (Cityscapes; VOC2012 with --input-size 473 --classes 21)",
        (("pspnet101_cityscapes_713", ""),
         ("pspnet101_VOC2012_473", "--input-size 473 --classes 21")),
    ),
}


def channels(c: int, width: float) -> int:
    """A channel count scaled by the width multiplier: rounded half up, at least 1."""
    return max(1, int(c * width + 0.5))


def _backbone(b: NetBuilder, bottom: str, spec: Spec, width: float,
              stem: tuple[int, int, int], after_conv3_1: Callable[[str], str] | None = None) -> str:
    """Stem, pool1 and the four bottleneck stages; returns ``conv5_3``."""
    ch = lambda c: channels(c, width)  # noqa: E731
    x = b.conv_bn("conv1_1_3x3_s2", bottom, ch(stem[0]), 3, stride=2, pad=1)
    x = b.conv_bn("conv1_2_3x3", x, ch(stem[1]), 3, pad=1)
    x = b.conv_bn("conv1_3_3x3", x, ch(stem[2]), 3, pad=1)
    x = b.pool("pool1_3x3_s2", x, "MAX", (3, 3), (2, 2), pad=1)
    base = stem[2] // 2  # 64 for PSPNet, 32 for ICNet: the conv2 bottleneck width
    stride_on_3x3 = spec.name == "pspnet101"
    for stage, blocks in zip((2, 3, 4, 5), spec.depth):
        mid = base * 2 ** (stage - 2)
        out = mid * 4
        stride = 2 if stage == 3 else 1
        dilation = {4: 2, 5: 4}.get(stage, 1)
        for i in range(1, blocks + 1):
            x = b.bottleneck(
                f"conv{stage}_{i}", x, ch(mid), ch(out),
                stride=stride if i == 1 else 1, dilation=dilation, project=i == 1,
                stride_on_3x3=stride_on_3x3)
            if stage == 3 and i == 1 and after_conv3_1 is not None:
                x = after_conv3_1(x)
    return x


def build_pspnet(spec: Spec, hw: tuple[int, int], classes: int, width: float,
                 bn: bool, header=()) -> NetBuilder:
    th, tw = geometry.check_size("pspnet", spec.name, hw)
    b = NetBuilder((1, 3, hw[0], hw[1]), header=header, bn=bn)
    ch = lambda c: channels(c, width)  # noqa: E731
    x = _backbone(b, "data", spec, width, (64, 64, 128))
    h5, w5 = th.conv5, tw.conv5
    branches = {}
    for bins in geometry.PSP_BINS:
        kh, sh = geometry.psp_window_pspnet(h5, bins)
        kw, sw = geometry.psp_window_pspnet(w5, bins)
        p = b.pool(f"conv5_3_pool{bins}", x, "AVE", (kh, kw), (sh, sw))
        p = b.conv_bn(f"conv5_3_pool{bins}_conv", p, ch(512), 1, pad=None, lr=10)
        branches[bins] = b.interp(f"conv5_3_pool{bins}_interp", p, size=(h5, w5))
    cat = b.concat("conv5_3_concat", [x] + [branches[k] for k in (6, 3, 2, 1)])
    b.conv("conv5_4", cat, ch(512), 3, pad=1, lr=10)
    # As released: PSPNet50 (ADE20K) gives conv5_4/bn's mean blob decay_mult 1.
    b.bn_layer("conv5_4", lr=10, mean_decay=1 if spec.name == "pspnet50" else 0)
    b.relu("conv5_4")
    b.dropout("conv5_4/dropout", "conv5_4", 0.1)
    b.conv("conv6", "conv5_4", classes, 1, pad=None, lr=10, bias=True, bias_lr=20)
    b.interp("conv6_interp", "conv6", zoom=8)
    return b


def build_icnet(spec: Spec, hw: tuple[int, int], classes: int, width: float,
                bn: bool, header=()) -> NetBuilder:
    th, tw = geometry.check_size("icnet", spec.name, hw)
    b = NetBuilder((1, 3, hw[0], hw[1]), header=header, bn=bn)
    ch = lambda c: channels(c, width)  # noqa: E731
    # A learnable per-channel Scale (all ones in the release) feeds the 1/1 branch;
    # the 1/2 branch is that image decimated by Interp shrink 2.
    sub1 = b.scale("data_sub1", "data")
    sub2 = b.interp("data_sub2", sub1, shrink=2)
    # The 1/4 branch is not a third image: it is conv3_1 decimated by shrink 2.
    x = _backbone(b, sub2, spec, width, (32, 32, 64),
                  after_conv3_1=lambda y: b.interp("conv3_1_sub4", y, shrink=2))
    h5, w5 = th.conv5, tw.conv5
    pooled = {}
    for bins in geometry.PSP_BINS:
        (kh, kw), (sh, sw) = geometry.psp_windows_icnet(h5, w5, bins)
        p = b.pool(f"conv5_3_pool{bins}", x, "AVE", (kh, kw), (sh, sw))
        pooled[bins] = b.interp(f"conv5_3_pool{bins}_interp", p, size=(h5, w5))
    s = b.eltwise_sum("conv5_3_sum", [x] + [pooled[k] for k in (6, 3, 2, 1)], explicit=False)
    s = b.conv_bn("conv5_4_k1", s, ch(256), 1, pad=0)
    s = b.interp("conv5_4_interp", s, zoom=2)
    # Cascade feature fusion: sub4 + sub2 ...
    s = b.conv_bn("conv_sub4", s, ch(128), 3, pad=2, dilation=2, relu=False)
    p = b.conv_bn("conv3_1_sub2_proj", "conv3_1", ch(128), 1, pad=0, relu=False)
    b.eltwise_sum("sub24_sum", [p, s], explicit=False)
    s = b.relu("sub24_sum")
    s = b.interp("sub24_sum_interp", s, zoom=2)
    # ... then sub24 + sub1 (three stride-2 convs on the full-resolution image).
    s = b.conv_bn("conv_sub2", s, ch(128), 3, pad=2, dilation=2, relu=False)
    y = b.conv_bn("conv1_sub1", sub1, ch(32), 3, stride=2, pad=1)
    y = b.conv_bn("conv2_sub1", y, ch(32), 3, stride=2, pad=1)
    y = b.conv_bn("conv3_sub1", y, ch(64), 3, stride=2, pad=1)
    y = b.conv_bn("conv3_sub1_proj", y, ch(128), 1, pad=0, relu=False)
    b.eltwise_sum("sub12_sum", [y, s], explicit=False)
    s = b.relu("sub12_sum")
    s = b.interp("sub12_sum_interp", s, zoom=2)
    b.conv("conv6_cls", s, classes, 1, pad=None, lr=1, bias=True, bias_lr=2)
    b.interp("conv6_interp", "conv6_cls", zoom=4)
    return b


BUILDERS = {"pspnet": build_pspnet, "icnet": build_icnet}
