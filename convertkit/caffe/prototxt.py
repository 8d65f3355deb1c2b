"""Reading network definitions: text prototxt -> NetParameter, with Caffe's upgrades.

Covers what Caffe's ``UpgradeNetAsNeeded`` and ``FilterNet`` do for deploy use:
legacy V1 ``layers`` (enum types) become ``layer`` entries, the DeepLab-v1
``HoleConvolution`` becomes a dilated ``Convolution``, and layers are kept or dropped
by their include/exclude rules for the TEST phase.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

from google.protobuf import text_format

from ..errors import InputFileError, PrototxtError, PrototxtKindError
from ..fileio import read_bytes
from .proto import caffe_pb2, pool
from .sniff import check_kind
from .textproto import parse_into
from . import userproto

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
    # The DeepLab-v1 fork's (deeplab-public) V1 types.
    "IMAGE_SEG_DATA": "ImageSegData", "SEG_ACCURACY": "SegAccuracy", "INTERP": "Interp",
    "PADDING": "Padding", "MAT_WRITE": "MatWrite", "MAT_READ": "MatRead",
    "DENSE_CRF": "DenseCRF",
}

#: V1 fields that are not per-type parameter messages (handled explicitly).
_V1_STRUCTURAL = {
    "bottom", "top", "name", "include", "exclude", "type", "blobs", "param",
    "blob_share_mode", "blobs_lr", "weight_decay", "loss_weight", "layer",
    "strict_dim",  # DeepLab-v1: how training copies initial weights
}


def parse_prototxt(path: str | Path, defines: Mapping[str, str] | None = None):
    """Parse a text prototxt file into a NetParameter (no upgrades yet). ``defines``
    fills a template's ``${NAME}`` placeholders (DeepLab ships its nets that way)."""
    raw = read_bytes(path, "prototxt")
    check_kind(raw, "prototxt", path=path)  # an image, an archive, a caffemodel...
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PrototxtError(f"not UTF-8 text (byte {exc.start})", path=path) from None
    return parse_prototxt_text(substitute(text, defines or {}, path), path)


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def substitute(text: str, defines: Mapping[str, str], path=None) -> str:
    """Replace ``${NAME}`` outside comments by ``defines[NAME]``. A placeholder left
    without a value outside a quoted string (where the text cannot parse) is one
    error listing every such name and its first line."""
    missing: dict[str, int] = {}

    def fill(line_no: int, line: str) -> str:
        code, hash_, comment = line.partition("#")

        def one(m):
            if m.group(1) in defines:
                return str(defines[m.group(1)])
            if code.count('"', 0, m.start()) % 2 == 0:  # inside a string it is just text
                missing.setdefault(m.group(1), line_no)
            return m.group(0)

        return _PLACEHOLDER.sub(one, code) + hash_ + comment

    if "${" not in text:
        return text
    out = "\n".join(fill(i, line) for i, line in enumerate(text.split("\n"), 1))
    if missing:
        names = ", ".join(f"${{{n}}} (line {ln})" for n, ln in missing.items())
        raise PrototxtError(f"is a template: give a value for {names} with --define NAME=VALUE",
                            path=path)
    return out


def parse_prototxt_text(text: str, path: str | Path | None = "<text>"):
    net = caffe_pb2().NetParameter()
    if userproto.active() is not None:  # --caffe-proto: the user's fork schema
        userproto.parse(text, net, path)
        return net
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
        v1 = re.search(r'"caffe\.V1LayerParameter\.LayerType" has no value named (\w+)', msg)
        if v1:
            raise PrototxtError(f"unknown V1 layer type {v1.group(1)}: neither BVLC's nor a "
                                "fork's convertkit reads (DeepLab v1)", path=where) from None
        solver = _as_solver(text)
        if solver is not None:
            raise PrototxtKindError(solver, path=path) from None
        raise PrototxtError(f"syntax error: {msg}", path=where) from None
    return net


#: Fields of Caffe's SolverParameter that no NetParameter has.
SOLVER_FIELDS = frozenset({
    "base_lr", "lr_policy", "max_iter", "solver_mode", "snapshot", "snapshot_prefix",
    "test_iter", "test_interval", "momentum", "weight_decay", "display", "average_loss",
    "stepsize", "stepvalue", "gamma", "power", "iter_size", "solver_type", "train_net",
    "test_net", "net", "net_param", "clip_gradients", "regularization_type", "device_id",
    "random_seed", "delta", "momentum2", "rms_decay", "test_initialization"})


def _as_solver(text: str) -> str | None:
    """What to say when ``text`` is a Caffe solver definition (base_lr, max_iter,
    net...) rather than a net, or None: two or more top-level solver fields."""
    import re

    top = set(re.findall(r"^([A-Za-z_]\w*)\s*[:{]", text, re.M))
    if len(top & SOLVER_FIELDS) < 2:
        return None
    net = re.search(r'^(?:net|train_net)\s*:\s*"([^"]*)"', text, re.M)
    return ("is a Caffe solver definition (training settings), not a net"
            + (f"; the net it trains is '{net.group(1)}' (give that net, or better its "
               "deploy prototxt)" if net else "; give the net's deploy prototxt"))


def upgrade(net, path: str | Path | None = None) -> list[str]:
    """Upgrade legacy content in place, as Caffe does on load; returns notes."""
    notes: list[str] = []
    if len(net.layers):
        if len(net.layer):
            raise PrototxtError("mixes legacy 'layers' and new 'layer' entries", path=path)
        v0 = [v1.HasField("layer") for v1 in net.layers]
        if any(v0) and not all(v0):
            raise PrototxtError("mixes V0 (layers { layer { ... } }) and V1 layers", path=path)
        if all(v0):
            for lp in _upgrade_v0_net(net.layers, path):
                net.layer.add().CopyFrom(lp)
            notes.append(f"upgraded {len(net.layers)} legacy V0 (2013) layers")
        else:
            for v1 in net.layers:
                net.layer.add().CopyFrom(_upgrade_v1_layer(v1, path))
            notes.append(f"upgraded {len(net.layers)} legacy V1 layers")
        net.ClearField("layers")
    holes = depthwise = 0
    for lp in net.layer:
        cp = lp.convolution_param
        if lp.type == "HoleConvolution" or (  # DeepLab-v1's V1 CONVOLUTION with `hole`
                lp.type == "Convolution" and any(cp.HasField(f) for f in ("hole", "hole_h", "hole_w"))):
            _upgrade_hole_convolution(lp)
            holes += 1
        elif lp.type == "ConvolutionDepthwise":
            # The DepthwiseConvolution forks' layer is a convolution with one group per
            # channel (num_output == channels, weights C x 1 x kh x kw).
            lp.type = "Convolution"
            lp.convolution_param.group = lp.convolution_param.num_output
            depthwise += 1
    if holes:
        notes.append(f"upgraded {holes} HoleConvolution layers (DeepLab-v1's `hole`) to "
                     "dilated Convolution")
    if depthwise:
        notes.append(f"upgraded {depthwise} ConvolutionDepthwise layers to Convolution with "
                     "group = num_output")
    return notes


#: V0 type strings -> the current schema's type names (upgrade_proto.cpp's
#: UpgradeV0LayerType).
V0_TYPE_NAMES = {
    "accuracy": "Accuracy", "bnll": "BNLL", "concat": "Concat", "conv": "Convolution",
    "data": "Data", "dropout": "Dropout", "euclidean_loss": "EuclideanLoss",
    "flatten": "Flatten", "hdf5_data": "HDF5Data", "hdf5_output": "HDF5Output",
    "im2col": "Im2col", "images": "ImageData", "infogain_loss": "InfogainLoss",
    "innerproduct": "InnerProduct", "lrn": "LRN",
    "multinomial_logistic_loss": "MultinomialLogisticLoss", "pool": "Pooling",
    "relu": "ReLU", "sigmoid": "Sigmoid", "softmax": "Softmax",
    "softmax_loss": "SoftmaxWithLoss", "split": "Split", "tanh": "TanH",
    "window_data": "WindowData",
}

#: For each V0 field: the types it belongs to, and where it goes (block, field); a
#: block of "transform_param" or a type-specific block per type (UpgradeV0LayerParameter).
_V0_FIELDS = {
    "num_output": {"conv": ("convolution_param", "num_output"),
                   "innerproduct": ("inner_product_param", "num_output")},
    "biasterm": {"conv": ("convolution_param", "bias_term"),
                 "innerproduct": ("inner_product_param", "bias_term")},
    "weight_filler": {"conv": ("convolution_param", "weight_filler"),
                      "innerproduct": ("inner_product_param", "weight_filler")},
    "bias_filler": {"conv": ("convolution_param", "bias_filler"),
                    "innerproduct": ("inner_product_param", "bias_filler")},
    "pad": {"conv": ("convolution_param", "pad"), "pool": ("pooling_param", "pad")},
    "kernelsize": {"conv": ("convolution_param", "kernel_size"),
                   "pool": ("pooling_param", "kernel_size")},
    "group": {"conv": ("convolution_param", "group")},
    "stride": {"conv": ("convolution_param", "stride"), "pool": ("pooling_param", "stride")},
    "pool": {"pool": ("pooling_param", "pool")},
    "dropout_ratio": {"dropout": ("dropout_param", "dropout_ratio")},
    "local_size": {"lrn": ("lrn_param", "local_size")},
    "alpha": {"lrn": ("lrn_param", "alpha")},
    "beta": {"lrn": ("lrn_param", "beta")},
    "k": {"lrn": ("lrn_param", "k")},
    "concat_dim": {"concat": ("concat_param", "concat_dim")},
    "source": {"data": ("data_param", "source"), "hdf5_data": ("hdf5_data_param", "source"),
               "images": ("image_data_param", "source"),
               "window_data": ("window_data_param", "source")},
    "batchsize": {"data": ("data_param", "batch_size"),
                  "hdf5_data": ("hdf5_data_param", "batch_size"),
                  "images": ("image_data_param", "batch_size"),
                  "window_data": ("window_data_param", "batch_size")},
    "rand_skip": {"data": ("data_param", "rand_skip"), "images": ("image_data_param", "rand_skip")},
    "shuffle_images": {"images": ("image_data_param", "shuffle")},
    "new_height": {"images": ("image_data_param", "new_height")},
    "new_width": {"images": ("image_data_param", "new_width")},
    "scale": {t: ("transform_param", "scale") for t in ("data", "images", "window_data")},
    "meanfile": {t: ("transform_param", "mean_file") for t in ("data", "images", "window_data")},
    "cropsize": {t: ("transform_param", "crop_size") for t in ("data", "images", "window_data")},
    "mirror": {t: ("transform_param", "mirror") for t in ("data", "images", "window_data")},
}
#: V0 fields handled outside the table.
_V0_STRUCTURAL = {"name", "type", "blobs", "blobs_lr", "weight_decay"}


def _upgrade_v0_net(layers, path) -> list:
    """UpgradeV0Net: each V0 layer to a current LayerParameter. A V0 "padding" layer
    becomes the pad of the convolution or pooling that reads it, as Caffe does."""
    out, padding = [], {}  # padding layer top -> (its bottom, its pad)
    for v1 in layers:
        v0 = v1.layer
        if v0.type == "padding":
            if len(v1.bottom) != 1 or len(v1.top) != 1:
                raise PrototxtError("a V0 padding layer takes one bottom and one top",
                                    path=path, layer=v0.name)
            padding[v1.top[0]] = (v1.bottom[0], v0.pad)
            continue
        lp = _upgrade_v0_layer(v1, path)
        for i, b in enumerate(lp.bottom):
            if b in padding:
                if lp.type not in ("Convolution", "Pooling"):
                    raise PrototxtError(f"a V0 padding layer feeds a {lp.type} layer; only "
                                        "convolution and pooling take padding",
                                        path=path, layer=lp.name)
                source, pad = padding[b]
                lp.bottom[i] = source
                block = lp.convolution_param if lp.type == "Convolution" else lp.pooling_param
                if lp.type == "Convolution":
                    del block.pad[:]
                    block.pad.append(pad)
                else:
                    block.pad = pad
        out.append(lp)
    return out


def _upgrade_v0_layer(v1, path):
    pb = caffe_pb2()
    v0 = v1.layer
    lp = pb.LayerParameter()
    lp.name = v0.name or v1.name
    if v0.type not in V0_TYPE_NAMES:
        raise PrototxtError(f"unknown V0 layer type {v0.type!r}", path=path, layer=lp.name)
    lp.type = V0_TYPE_NAMES[v0.type]
    lp.bottom.extend(v1.bottom)
    lp.top.extend(v1.top)
    lp.blobs.extend(v0.blobs)
    for i in range(max(len(v0.blobs_lr), len(v0.weight_decay))):
        spec = lp.param.add()
        if i < len(v0.blobs_lr):
            spec.lr_mult = v0.blobs_lr[i]
        if i < len(v0.weight_decay):
            spec.decay_mult = v0.weight_decay[i]
    for field, value in v0.ListFields():
        if field.name in _V0_STRUCTURAL:
            continue
        where = _V0_FIELDS.get(field.name, {}).get(v0.type)
        if where is None:
            raise PrototxtError(f"V0 field {field.name!r} does not apply to a {v0.type!r} layer",
                                path=path, layer=lp.name)
        block, name = where
        target = getattr(lp, block)
        dest = target.DESCRIPTOR.fields_by_name[name]
        if _is_repeated(dest):
            getattr(target, name).append(value)
        elif dest.message_type is not None:
            getattr(target, name).CopyFrom(value)
        elif dest.enum_type is not None:  # same value names in V0 and now (MAX, AVE ...)
            setattr(target, name, dest.enum_type.values_by_name[
                field.enum_type.values_by_number[value].name].number)
        else:
            setattr(target, name, value)
    return lp


def _is_repeated(field) -> bool:
    """FieldDescriptor.is_repeated (protobuf >= 5.x); `label` on older runtimes."""
    flag = getattr(field, "is_repeated", None)
    if flag is not None:
        return bool(flag() if callable(flag) else flag)
    return field.label == field.LABEL_REPEATED


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
