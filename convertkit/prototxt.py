"""Reading network definitions: text prototxt -> NetParameter, with Caffe's upgrades.

Covers what Caffe's ``UpgradeNetAsNeeded`` and ``FilterNet`` do for deploy use:
legacy V1 ``layers`` (enum types) become ``layer`` entries, the DeepLab-v1
``HoleConvolution`` becomes a dilated ``Convolution``, and layers are kept or dropped
by their include/exclude rules for the TEST phase.
"""
from __future__ import annotations

from pathlib import Path

from google.protobuf import text_format

from .errors import InputFileError, PrototxtError
from .fileio import read_bytes
from .proto import caffe_pb2, pool
from .sniff import check_kind
from .textproto import parse_into

#: V1LayerParameter.LayerType enum names -> the type strings of the current schema.
V1_TYPE_NAMES = {
    "ABSVAL": "AbsVal", "ACCURACY": "Accuracy", "ARGMAX": "ArgMax", "BNLL": "BNLL",
    "CONCAT": "Concat", "CONTRASTIVE_LOSS": "ContrastiveLoss", "CONVOLUTION": "Convolution",
    "DATA": "Data", "DECONVOLUTION": "Deconvolution", "DROPOUT": "Dropout",
    "DUMMY_DATA": "DummyData", "EUCLIDEAN_LOSS": "EuclideanLoss", "ELTWISE": "Eltwise",
    "EXP": "Exp", "FLATTEN": "Flatten", "HDF5_DATA": "HDF5Data", "HDF5_OUTPUT": "HDF5Output",
    "HINGE_LOSS": "HingeLoss", "IM2COL": "Im2col", "IMAGE_DATA": "ImageData",
    "INFOGAIN_LOSS": "InfogainLoss", "INNER_PRODUCT": "InnerProduct", "LRN": "LRN",
    "MEMORY_DATA": "MemoryData", "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss",
    "MVN": "MVN", "POOLING": "Pooling", "POWER": "Power", "RELU": "ReLU", "SIGMOID": "Sigmoid",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss", "SILENCE": "Silence",
    "SOFTMAX": "Softmax", "SOFTMAX_LOSS": "SoftmaxWithLoss", "SPLIT": "Split", "SLICE": "Slice",
    "TANH": "TanH", "WINDOW_DATA": "WindowData", "THRESHOLD": "Threshold",
}

#: V1 fields that are not per-type parameter messages (handled explicitly).
_V1_STRUCTURAL = {
    "bottom", "top", "name", "include", "exclude", "type", "blobs", "param",
    "blob_share_mode", "blobs_lr", "weight_decay", "loss_weight", "layer",
}


def parse_prototxt(path: str | Path):
    """Parse a text prototxt file into a NetParameter (no upgrades yet)."""
    raw = read_bytes(path, "prototxt")
    check_kind(raw, "prototxt", path=path)  # an image, an archive, a caffemodel...
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PrototxtError(f"not UTF-8 text (byte {exc.start})", path=path) from None
    return parse_prototxt_text(text, path)


def parse_prototxt_text(text: str, path: str | Path | None = "<text>"):
    net = caffe_pb2().NetParameter()
    if parse_into(text, net):  # the plain subset, fast; else protobuf's reference parser
        return net
    try:
        text_format.Parse(text, net, descriptor_pool=pool())
    except text_format.ParseError as exc:
        line, col = exc.GetLine(), exc.GetColumn()
        msg = str(exc)
        # protobuf prefixes "line:col : "; keep the message once, in our format.
        if line is not None and msg.startswith(f"{line}:"):
            msg = msg.split(" : ", 1)[-1] if " : " in msg else msg.split(":", 2)[-1].strip()
        where = f"{path}:{line}:{col}" if line is not None else str(path)
        raise PrototxtError(f"syntax error: {msg}", path=where) from None
    return net


def upgrade(net, path: str | Path | None = None) -> list[str]:
    """Upgrade legacy content in place, as Caffe does on load; returns notes."""
    notes: list[str] = []
    if len(net.layers):
        if len(net.layer):
            raise PrototxtError("mixes legacy 'layers' and new 'layer' entries", path=path)
        for v1 in net.layers:
            net.layer.add().CopyFrom(_upgrade_v1_layer(v1, path))
        notes.append(f"upgraded {len(net.layers)} legacy V1 layers")
        net.ClearField("layers")
    holes = 0
    for lp in net.layer:
        if lp.type == "HoleConvolution":
            _upgrade_hole_convolution(lp)
            holes += 1
    if holes:
        notes.append(f"upgraded {holes} HoleConvolution layers to dilated Convolution")
    return notes


def _upgrade_v1_layer(v1, path):
    pb = caffe_pb2()
    lp = pb.LayerParameter()
    lp.name = v1.name
    type_enum = pb.V1LayerParameter.DESCRIPTOR.fields_by_name["type"].enum_type
    enum_name = type_enum.values_by_number[v1.type].name
    if enum_name not in V1_TYPE_NAMES:
        raise PrototxtError(f"legacy layer type {enum_name} has no modern equivalent",
                            path=path, layer=v1.name)
    lp.type = V1_TYPE_NAMES[enum_name]
    lp.bottom.extend(v1.bottom)
    lp.top.extend(v1.top)
    lp.include.extend(v1.include)
    lp.exclude.extend(v1.exclude)
    lp.loss_weight.extend(v1.loss_weight)
    lp.blobs.extend(v1.blobs)
    n_param = max(len(v1.param), len(v1.blobs_lr), len(v1.weight_decay))
    for i in range(n_param):
        spec = lp.param.add()
        if i < len(v1.param):
            spec.name = v1.param[i]
        if i < len(v1.blobs_lr):
            spec.lr_mult = v1.blobs_lr[i]
        if i < len(v1.weight_decay):
            spec.decay_mult = v1.weight_decay[i]
    # Per-type parameter messages have the same names and message types in both.
    for field, value in v1.ListFields():
        if field.name not in _V1_STRUCTURAL:
            getattr(lp, field.name).CopyFrom(value)
    return lp


def _upgrade_hole_convolution(lp) -> None:
    """DeepLab-v1's HoleConvolution: `hole` is the dilation of a plain Convolution."""
    cp = lp.convolution_param
    if cp.HasField("hole_h") or cp.HasField("hole_w"):
        hole_h = cp.hole_h if cp.HasField("hole_h") else 1
        hole_w = cp.hole_w if cp.HasField("hole_w") else 1
        if hole_h != hole_w:
            raise PrototxtError("HoleConvolution with hole_h != hole_w cannot be expressed "
                                "as a Caffe dilation", layer=lp.name)
        hole = hole_h
    else:
        hole = cp.hole if cp.HasField("hole") else 1
    for f in ("hole", "hole_h", "hole_w"):
        cp.ClearField(f)
    if hole != 1:
        del cp.dilation[:]
        cp.dilation.append(hole)
    lp.type = "Convolution"


def state_meets_rule(state, rule) -> bool:
    """Caffe's Net::StateMeetsRule."""
    if rule.HasField("phase") and rule.phase != state.phase:
        return False
    if rule.HasField("min_level") and state.level < rule.min_level:
        return False
    if rule.HasField("max_level") and state.level > rule.max_level:
        return False
    stages = set(state.stage)
    if any(s not in stages for s in rule.stage):
        return False
    if any(s in stages for s in rule.not_stage):
        return False
    return True


def filter_phase(net, phase: str = "TEST", path: str | Path | None = None) -> list[str]:
    """Keep the layers Caffe would instantiate in ``phase`` (Net::FilterNet); in place."""
    pb = caffe_pb2()
    state = pb.NetState()
    state.CopyFrom(net.state)
    state.phase = pb.Phase.values_by_name[phase].number
    kept, dropped = [], []
    for lp in net.layer:
        if len(lp.include) and len(lp.exclude):
            raise PrototxtError("specifies both include and exclude rules", path=path,
                                layer=lp.name)
        if len(lp.include):
            keep = any(state_meets_rule(state, r) for r in lp.include)
        else:
            keep = not any(state_meets_rule(state, r) for r in lp.exclude)
        (kept if keep else dropped).append(lp)
    if dropped:
        del net.layer[:]
        net.layer.extend(kept)
        return [f"dropped {len(dropped)} layers not in the {phase} phase: "
                + ", ".join(lp.name for lp in dropped)]
    return []


def ensure_file(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{what} not found", path=path)
    if path.is_dir():
        raise InputFileError(f"{what} is a directory", path=path)
    return path


def net_to_text(net) -> str:
    """The text prototxt of a graph: legacy ``input``/``input_dim`` lines (what the
    official files use, and what every Caffe reader accepts), then the layers with
    their hyper-parameters."""
    from .proto import to_text

    pb = caffe_pb2()
    head = pb.NetParameter()
    if net.name:
        head.name = net.name
    lines = [to_text(head).rstrip()] if net.name else []
    # Caffe wants either input_dim (4 per input) for every input or input_shape for all.
    use_dim = all(s is not None and len(s) == 4 for s in net.inputs.values())
    for name, shape in net.inputs.items():
        lines.append(f'input: "{name}"')
        if use_dim:
            lines.extend(f"input_dim: {int(d)}" for d in shape)
        elif shape is not None:
            lines.append("input_shape { " + " ".join(f"dim: {int(d)}" for d in shape) + " }")
    for layer in net.layers:
        body = to_text(layer.to_proto()).rstrip().replace("\n", "\n  ")
        lines.append("layer {\n  " + body + "\n}")
    return "\n".join(lines) + "\n"
