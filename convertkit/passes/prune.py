"""``prune``: structured filter pruning that keeps the graph valid.

Channels flow through a net in *groups*: the output channels of a Convolution (or
Deconvolution) start one; layers that keep channels apart (``channel_map``: BN,
Scale, ReLU, pooling, Interp, Dropout...) and Split pass it on; an Eltwise ties its
bottoms and top into one group (a residual sum adds channel c to channel c). A group
is pruned as one: every producer's filters are scored (L1 or L2 norm of each output
channel's weights, summed over the group's producers) and the same weakest fraction
is removed from all of them, from every per-channel param on the way (BN, Scale,
PReLU...), and from the input channels of every consumer (Convolution,
Deconvolution, InnerProduct). A group is left whole, with the reason, when a net
input or output, a ``--keep`` layer, a Concat, a grouped convolution or a layer
whose channels mix otherwise touches it. Ties are broken by the channel index, so a
zero filter is removed before any other.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import UsageError
from ..graph import Layer, Net


@dataclass
class Group:
    """Blobs that share one channel axis, and who makes and reads them."""

    blobs: set[str] = field(default_factory=set)
    producers: list[str] = field(default_factory=list)  # weight layers writing the channels
    passers: list[str] = field(default_factory=list)    # per-channel layers on the way
    consumers: list[str] = field(default_factory=list)  # weight layers reading them
    blocked: list[str] = field(default_factory=list)    # why the group stays whole
    channels: int = 0


class _UnionFind:
    def __init__(self):
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def _version(blob: str, i: int) -> str:
    """A blob as written by layer i (in-place layers write a new version)."""
    return f"{blob}@{i}"


def channel_groups(net: Net, keep: set[str]) -> tuple[dict[str, Group], dict]:
    """The channel groups of ``net`` (by a representative name), and per layer the
    group of each bottom and top version."""
    uf = _UnionFind()
    current = {b: _version(b, -1) for b in net.inputs}
    versions: dict[str, tuple[list[str], list[str]]] = {}
    for i, layer in enumerate(net.layers):
        ins = [current[b] for b in layer.bottoms]
        outs = [_version(t, i) for t in layer.tops]
        for t, v in zip(layer.tops, outs):
            current[t] = v
        versions[layer.name] = (ins, outs)
        impl = layer.impl
        for v in ins + outs:
            uf.find(v)
        if impl.weight_axes() is not None:
            continue  # a new group starts at its output
        if impl.ties_channels() or (impl.channel_map() and len(layer.bottoms) == 1):
            for v in ins + outs:
                uf.union(ins[0], v)
    groups: dict[str, Group] = {}

    def group(v: str) -> Group:
        return groups.setdefault(uf.find(v), Group())

    plan = net.plan()
    for name in net.inputs:
        g = group(_version(name, -1))
        g.blocked.append(f"network input '{name}'")
    for i, layer in enumerate(net.layers):
        ins, outs = versions[layer.name]
        impl = layer.impl
        for v, t in zip(outs, layer.tops):
            g = group(v)
            g.blobs.add(t)
            shape = plan.top_shapes(layer)[layer.tops.index(t)]
            g.channels = int(shape[1]) if len(shape) > 1 else 0
        if impl.weight_axes() is not None:
            g_out = group(outs[0])
            g_out.producers.append(layer.name)
            if layer.name in keep:
                g_out.blocked.append(f"--keep {layer.name}")
            if getattr(layer.hparams, "group", 1) != 1:
                g_out.blocked.append(f"grouped {layer.type} '{layer.name}'")
            g_in = group(ins[0])
            g_in.consumers.append(layer.name)
            if getattr(layer.hparams, "group", 1) != 1:
                g_in.blocked.append(f"grouped {layer.type} '{layer.name}'")
            continue
        if impl.ties_channels() or (impl.channel_map() and len(layer.bottoms) == 1):
            if impl.channel_roles() or layer.params:
                group(outs[0]).passers.append(layer.name)
            continue
        for v in ins + outs:  # channels mix (Concat, Reshape, Softmax...): leave whole
            group(v).blocked.append(f"{layer.type} '{layer.name}'")
    for name in net.outputs:
        writer = next(i for i in range(len(net.layers) - 1, -1, -1) if name in net.layers[i].tops)
        v = versions[net.layers[writer].name][1][net.layers[writer].tops.index(name)]
        group(v).blocked.append(f"network output '{name}'")
    return groups, versions


def _scores(net: Net, g: Group, criterion: str) -> np.ndarray:
    total = np.zeros(g.channels)
    for name in g.producers:
        layer = net.layer(name)
        w = np.asarray(layer.param("weight"), np.float64)
        out_axis, _ = layer.impl.weight_axes()
        w = np.moveaxis(w, out_axis, 0).reshape(w.shape[out_axis], -1)
        total += np.abs(w).sum(1) if criterion == "l1" else np.sqrt((w * w).sum(1))
    return total


def prune(net: Net, factor: float, criterion: str = "l1", keep=()) -> tuple[Net, dict]:
    """A new net with ``factor`` of every prunable group's channels removed; returns
    it and a report (per group: blobs, kept channels, or why it stayed whole)."""
    if not 0 <= factor < 1:
        raise UsageError(f"--factor {factor} must be in [0, 1)")
    if criterion not in ("l1", "l2"):
        raise UsageError(f"--criterion {criterion!r} must be l1 or l2")
    names = {l.name for l in net.layers}
    unknown = [k for k in keep if k not in names]
    if unknown:
        raise UsageError(f"--keep names no layer: {', '.join(unknown)}", path=net.prototxt_path)
    if any(not l.params for l in net.layers if l.impl.weight_axes() is not None):
        raise UsageError("pruning needs the learned params: give the caffemodel",
                         path=net.prototxt_path)
    groups, _ = channel_groups(net, set(keep))
    chosen: dict[str, np.ndarray] = {}  # layer -> kept output channel indices
    read: dict[str, np.ndarray] = {}    # layer -> kept input channel indices
    per_channel: dict[str, np.ndarray] = {}
    report = []
    for key, g in groups.items():
        if not g.producers:
            continue
        entry = {"producers": list(g.producers), "blobs": sorted(g.blobs), "channels": g.channels}
        n_drop = int(math.floor(g.channels * factor + 1e-9))
        if g.blocked or n_drop == 0:
            entry["kept"] = g.channels
            if g.blocked:
                entry["left_whole"] = sorted(set(g.blocked))
            report.append(entry)
            continue
        order = np.argsort(_scores(net, g, criterion), kind="stable")  # weakest first
        kept = np.sort(order[n_drop:])
        for name in g.producers:
            chosen[name] = kept
        for name in g.passers:
            per_channel[name] = kept
        for name in g.consumers:
            read[name] = kept
        entry["kept"] = len(kept)
        entry["kept_channels"] = kept.tolist()
        report.append(entry)
    plan = net.plan()
    layers = [_cut(l, chosen.get(l.name), read.get(l.name), per_channel.get(l.name),
                   int(plan.bottom_shapes(l)[0][1]) if l.bottoms else 0)
              for l in net.layers]
    out = net.replace(layers=layers)
    out.plan()
    return out, {"factor": factor, "criterion": criterion, "groups": report}


def _cut(layer: Layer, outs, ins, channels, in_channels: int) -> Layer:
    """``layer`` keeping output channels ``outs``, input channels ``ins`` (of
    ``in_channels``) and per-channel params ``channels``."""
    if outs is None and ins is None and channels is None:
        return layer
    new = layer.replace()
    params = list(new.params)
    if outs is not None or ins is not None:
        out_axis, in_axis = layer.impl.weight_axes()
        k = layer.roles.index("weight")
        w = params[k]
        if ins is not None:
            # An InnerProduct after a spatial blob reads C*H*W columns, channel-major.
            per = w.shape[in_axis] // in_channels
            idx = (ins[:, None] * per + np.arange(per)[None, :]).reshape(-1)
            w = np.take(w, idx, axis=in_axis)
        if outs is not None:
            w = np.take(w, outs, axis=out_axis)
            if "bias" in layer.roles:
                b = layer.roles.index("bias")
                params[b] = np.ascontiguousarray(params[b][outs])
            block = (new.proto.inner_product_param if layer.type == "InnerProduct"
                     else new.proto.convolution_param)
            block.num_output = len(outs)
        params[k] = np.ascontiguousarray(w, dtype=np.float32)
    if channels is not None:
        for role in layer.impl.channel_roles():
            if role in layer.roles and layer.roles.index(role) < len(params):
                k = layer.roles.index(role)
                arr = params[k]
                axis = 1 if arr.ndim == 4 else 0  # 1 x C x 1 x 1 (BN) or C (Scale)
                params[k] = np.ascontiguousarray(np.take(arr, channels, axis=axis))
    new.params = params
    return new
