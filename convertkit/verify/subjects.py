"""What ``verify`` runs against the reference: runtimes, each built from a converted
file (or straight from the net), behind one small interface.

A :class:`Subject` names a runtime and the file it reads; :meth:`Subject.open` builds
a runner (reading the file and checking that it fits the net), whose ``forward(inputs,
on_layer)`` returns the net's outputs in Caffe layout and, where the runtime can,
reports each layer's own outputs. Files are recognised by their names, as
``convertkit convert`` writes them:

=====================  ========  =======================================================
file                   runtime   how it is run
=====================  ========  =======================================================
``.pt``                torch     ``TorchRuntime(state_dict=...)``, per layer
``.safetensors``       torch     ``TorchRuntime(state_dict=...)``, per layer
``.pt2``               torch     ``torch.export.load(...).module()``, outputs only
``.onnx``              onnx      the file in onnxruntime, every layer's value exposed
``PREFIX.index``       tf        ``TFRuntime(checkpoint=PREFIX)``, per layer
``.weights.h5``        tf        convertkit's Keras model + ``load_weights``, per layer
``.savedmodel/``       tf        ``tf.saved_model.load(...).serve``, outputs only
``.keras``             tf        ``keras.models.load_model``, outputs only
``.npz .npy .h5``      numpy     the params read back through the mapping table
=====================  ========  =======================================================
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from ..errors import ConvertError, UsageError
from ..graph import Net

#: ``on_layer(layer_name, tops)``, as the runtimes call it.
LayerHook = Callable[[str, list], None]

#: Format name (as ``convertkit convert --to`` says it) -> the runtime that reads it.
FORMAT_RUNTIME = {
    "torch": "torch", "safetensors": "torch", "pt2": "torch",
    "onnx": "onnx",
    "tf": "tf", "keras-weights": "tf", "savedmodel": "tf", "keras": "tf",
    "npz": "numpy", "npy": "numpy", "h5": "numpy",
}
#: Formats whose runtime reports only the net's outputs.
OUTPUTS_ONLY = {"pt2", "savedmodel", "keras"}


@dataclass
class Subject:
    """One thing to compare with the reference: ``runtime`` reading ``path`` (a file
    in format ``fmt``), or the runtime built straight from the net (``path`` None)."""

    runtime: str
    fmt: str | None = None
    path: Path | None = None
    #: Mapping table for the weight formats (None: convertkit's default per format).
    mapping: str | None = None
    rgb: bool = False
    #: The BN variant of the net the file is checked against ("keep" or "merge").
    bn: str = "keep"
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        if self.path is None:
            return self.runtime
        shown = self.path.name
        if self.fmt == "tf" and shown.endswith(".index"):
            shown = shown[:-len(".index")]
        return f"{self.runtime}[{shown}]"

    @property
    def per_layer(self) -> bool:
        return self.fmt not in OUTPUTS_ONLY

    def open(self, net: Net, shapes: Mapping[str, tuple]) -> "Runner":
        """Build the runner for ``net`` at these input shapes; a ConvertError (naming
        the file and every mismatch) when the file does not fit."""
        if self.path is None:
            return RuntimeRunner.direct(self.runtime, net, shapes)
        opener = _OPENERS[self.fmt]
        try:
            return opener(self, net, shapes)
        except ConvertError as exc:
            hint = _bn_hint(self)
            if hint and hint not in exc.cause:
                exc.cause += hint
            raise


class Runner:
    """Runs one subject: ``forward(inputs, on_layer)`` -> the net's outputs."""

    per_layer = True
    notes: list[str]

    def forward(self, inputs: Mapping[str, np.ndarray],
                on_layer: LayerHook | None = None) -> dict[str, np.ndarray]:
        raise NotImplementedError


class RuntimeRunner(Runner):
    """A registered runtime (convertkit.runtime)."""

    def __init__(self, rt, notes=()):
        self.rt, self.notes = rt, list(notes)

    @classmethod
    def direct(cls, name: str, net: Net, shapes) -> "RuntimeRunner":
        from .. import runtime

        rt = runtime.create(name, net)
        return cls._warm(rt, shapes)

    @classmethod
    def _warm(cls, rt, shapes) -> "RuntimeRunner":
        # Build per-shape state now, so that a file that does not fit fails here.
        if hasattr(rt, "module"):
            rt.module(shapes)
        elif hasattr(rt, "keras_net"):
            rt.keras_net(shapes)
        return cls(rt)

    def forward(self, inputs, on_layer=None):
        return self.rt.forward(inputs, keep="outputs", on_layer=on_layer)


# -- openers, one per format ---------------------------------------------------------------

def _dim(d) -> str:
    return str(d) if isinstance(d, int) else "N" if d in (None, "batch", "N") else str(d)


def size_refusal(path, name: str, takes, needs) -> ConvertError | None:
    """The one-line refusal of a file whose input ``name`` has fixed sizes ``takes``
    (ints; anything else is free) that differ from the input at hand, ``needs``; None
    when it fits. The rank or channels differing is a mismatch of another net."""
    takes = list(takes)
    if len(takes) != len(needs):
        return None
    fixed = [(a, t) for a, t in enumerate(takes) if isinstance(t, int)]
    if all(needs[a] == t for a, t in fixed) or any(a == 1 and needs[a] != t for a, t in fixed):
        return None
    shown = "x".join(_dim(t) for t in takes)
    return ConvertError(f"takes input '{name}' of {shown} only, not {'x'.join(map(str, needs))}: "
                        f"convertkit convert --input-shape {name}:{','.join(map(str, needs))} "
                        "writes one for this size", path=str(path))


def _open_torch(subject: Subject, net: Net, shapes) -> Runner:
    from ..runtime.torch import TorchRuntime

    return RuntimeRunner._warm(TorchRuntime(net, state_dict=subject.path), shapes)


def _open_tf_checkpoint(subject: Subject, net: Net, shapes) -> Runner:
    from ..runtime.tf import TFRuntime

    prefix = str(subject.path)[:-len(".index")] if str(subject.path).endswith(".index") else str(subject.path)
    if not list(Path(prefix).parent.glob(Path(prefix).name + ".data-*")):
        raise ConvertError("the checkpoint's data file (.data-00000-of-00001) is missing",
                           path=str(subject.path))
    table, fmt = "tf", None
    if subject.mapping is not None:
        from ..mapping import load_table

        tbl = load_table(subject.mapping)
        table, fmt = tbl, ("tf" if "tf" in tbl.formats else None)
    return RuntimeRunner._warm(TFRuntime(net, checkpoint=prefix, table=table, fmt=fmt), shapes)


class KerasNetRunner(Runner):
    """convertkit's Keras model with weights loaded from a ``.weights.h5``."""

    def __init__(self, knet):
        self.knet, self.notes = knet, []

    def forward(self, inputs, on_layer=None):
        from ..runtime.base import caffe_order

        arrays = {n: np.asarray(inputs[n], np.float32) for n in self.knet.input_names}
        if on_layer is None:
            return self.knet.run_outputs(arrays)
        blobs, layers = self.knet.run_all(arrays)
        for layer in self.knet.net.layers:
            on_layer(layer.name, layers[layer.name])
        return {n: caffe_order(blobs[n]) for n in self.knet.output_names}


def _open_keras_weights(subject: Subject, net: Net, shapes) -> Runner:
    from ..backends.tf.export import load_weights_h5

    return KerasNetRunner(load_weights_h5(net, subject.path, shapes))


class OnnxFileRunner(Runner):
    """An ``.onnx`` file run by onnxruntime, with every layer's own output exposed.

    convertkit's exporter names each value after the blob it holds (the export of this
    net says which value is which layer's output), so the file's own graph is run,
    with those values added as graph outputs. A file from elsewhere, whose values have
    other names, is run for its outputs only."""

    def __init__(self, subject: Subject, net: Net, shapes):
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper

        from ..backends.onnx.graph import build_model

        path = subject.path
        try:
            model = onnx.load_model_from_string(path.read_bytes())
        except Exception as exc:
            raise ConvertError(f"cannot read it as ONNX: {_first_line(exc)}", path=str(path)) from None
        plan = net.plan(shapes)
        for vi in model.graph.input:
            if vi.name in plan.inputs:
                takes = [d.dim_value if d.HasField("dim_value") else d.dim_param
                         for d in vi.type.tensor_type.shape.dim]
                refused = size_refusal(path, vi.name, takes, plan.inputs[vi.name])
                if refused is not None:
                    raise refused
        from ..sizes import free_sizes

        # built as convert builds it: its free sizes (and what a layer pins of them,
        # which may be all of them: a file with no dim_param is one of those too)
        fresh, g = build_model(net, plan, outputs="outputs", sizes=free_sizes(net, plan))
        problems = _onnx_fit(model, fresh, plan, net)
        if problems:
            raise ConvertError(f"{len(problems)} mismatches with the net: " + "; ".join(problems),
                               path=str(path))
        graph = model.graph
        produced = {o for node in graph.node for o in node.output}
        outputs = {o.name for o in graph.output}
        self.layer_values = {name: v for name, v in g.layer_outputs.items()}
        missing = [v for v in self.layer_values.values() if v not in produced]
        self.per_layer = not missing
        self.notes = []
        if missing:
            self.notes.append(f"{len(missing)} layer outputs are not values of this file "
                              "(not written by convertkit?): outputs compared only")
            self.layer_values = {}
        for v in dict.fromkeys(self.layer_values.values()):
            if v not in outputs:
                graph.output.append(helper.make_tensor_value_info(v, TensorProto.FLOAT, None))
        self.outputs = {blob: g.current[blob] for blob in net.outputs}
        self.net = net
        opts = ort.SessionOptions()
        try:
            self.session = ort.InferenceSession(model.SerializeToString(), opts,
                                             providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ConvertError(f"onnxruntime cannot load it: {_first_line(exc)}", path=str(path)) from None

    def forward(self, inputs, on_layer=None):
        feed = {n: np.asarray(inputs[n], np.float32) for n in self.net.inputs}
        wanted = list(dict.fromkeys(self.outputs.values()))
        if on_layer is not None and self.layer_values:
            wanted += [v for v in dict.fromkeys(self.layer_values.values()) if v not in wanted]
        values = dict(zip(wanted, self.session.run(wanted, feed)))
        if on_layer is not None and self.layer_values:
            for layer in self.net.layers:
                v = self.layer_values.get(layer.name)
                if v is not None:
                    on_layer(layer.name, [values[v]])
        return {blob: np.asarray(values[v], np.float32) for blob, v in self.outputs.items()}


def _onnx_fit(model, fresh, plan, net) -> list[str]:
    """Differences between a file's graph and the export of this net: inputs, outputs
    and every initializer's name and shape."""
    problems = []

    def dims(vi):
        return [d.dim_value if d.HasField("dim_value") else None
                for d in vi.type.tensor_type.shape.dim]

    got_inputs = {i.name: dims(i) for i in model.graph.input}
    for name, shape in plan.inputs.items():
        if name not in got_inputs:
            problems.append(f"no input '{name}' (it has {', '.join(got_inputs) or 'none'})")
            continue
        have = got_inputs[name]
        if len(have) != len(shape) or any(h is not None and h != s
                                          for h, s in zip(have[1:], shape[1:])):
            shown = "x".join("N" if d is None else str(d) for d in have)
            problems.append(f"input '{name}' is {shown}, the net needs "
                            f"Nx{'x'.join(map(str, shape[1:]))}")
    got_outputs = {o.name for o in model.graph.output}
    want_outputs = [o.name for o in fresh.graph.output]
    lost = [o for o in want_outputs if o not in got_outputs]
    if lost:
        problems.append(f"no output {', '.join(repr(o) for o in lost)}")
    have = {t.name: tuple(t.dims) for t in model.graph.initializer}
    want = {t.name: tuple(t.dims) for t in fresh.graph.initializer}
    missing = [k for k in want if k not in have]
    extra = [k for k in have if k not in want]
    wrong = [f"'{k}' is {'x'.join(map(str, have[k])) or 'a scalar'}, the net needs "
             f"{'x'.join(map(str, want[k])) or 'a scalar'}"
             for k in want if k in have and have[k] != want[k]]
    for what, names in (("missing initializers", [f"'{k}'" for k in missing]),
                        ("initializers the net does not use", [f"'{k}'" for k in extra]),
                        ("initializers of the wrong shape", wrong)):
        if names:
            problems.append(f"{len(names)} {what}: {', '.join(names[:5])}"
                            + (" ..." if len(names) > 5 else ""))
    return problems


def _open_onnx(subject: Subject, net: Net, shapes) -> Runner:
    return OnnxFileRunner(subject, net, shapes)


class OutputsRunner(Runner):
    """A model file that runs on its own and gives only the net's outputs."""

    per_layer = False

    def __init__(self, net: Net, call, path: Path):
        self.net, self.call, self.path, self.notes = net, call, path, []

    def forward(self, inputs, on_layer=None):
        xs = [np.ascontiguousarray(inputs[n], np.float32) for n in self.net.inputs]
        try:
            outs = self.call(xs)
        except Exception as exc:
            raise ConvertError(f"running it failed: {_first_line(exc)}", path=str(self.path)) from None
        missing = [o for o in self.net.outputs if o not in outs]
        if missing:
            raise ConvertError(f"it returns {', '.join(map(repr, outs)) or 'nothing'}, not the "
                               f"net's output(s) {', '.join(map(repr, missing))}", path=str(self.path))
        return {o: np.asarray(outs[o], np.float32) for o in self.net.outputs}


def _open_pt2(subject: Subject, net: Net, shapes) -> Runner:
    import torch

    try:
        program = torch.export.load(str(subject.path))
        module = program.module()
    except Exception as exc:
        raise ConvertError(f"cannot load it with torch.export.load: {_first_line(exc)}",
                           path=str(subject.path)) from None
    _check_program_inputs(program, net, shapes, subject.path)

    def call(xs):
        with torch.no_grad():
            out = module(*[torch.from_numpy(x) for x in xs])
        if isinstance(out, torch.Tensor):
            out = (out,)
        if len(out) != len(net.outputs):
            raise ValueError(f"it returns {len(out)} tensors, the net has "
                             f"{len(net.outputs)} outputs")
        return {name: t.detach().numpy() for name, t in zip(net.outputs, out)}

    return OutputsRunner(net, call, subject.path)


def _check_program_inputs(program, net: Net, shapes, path) -> None:
    """The exported program's input shapes against the net's (batch may vary)."""
    try:
        specs = [n.meta.get("val") for n in program.graph.nodes if n.op == "placeholder"
                 and n.name in {s.arg.name for s in program.graph_signature.input_specs
                                if getattr(s.kind, "name", "") == "USER_INPUT"}]
    except Exception:  # an unusual program: its run will tell
        return
    want = [tuple(shapes[n]) for n in net.inputs]
    if len(specs) != len(want):
        raise ConvertError(f"the program takes {len(specs)} inputs, the net {len(want)}",
                           path=str(path))
    for name, val, shape in zip(net.inputs, specs, want):
        got = tuple(val.shape) if val is not None else None
        if got is None:
            continue
        refused = size_refusal(path, name, [d if isinstance(d, int) else None for d in got], shape)
        if refused is not None:
            raise refused
        if len(got) != len(shape) or any(isinstance(g, int) and g != s
                                         for g, s in zip(got[1:], shape[1:])):
            shown = "x".join(_dim(g if isinstance(g, int) else None) for g in got)
            raise ConvertError(f"the program takes {shown}, the net needs "
                               f"{'x'.join(map(str, shape))}", path=str(path))


def _open_savedmodel(subject: Subject, net: Net, shapes) -> Runner:
    import tensorflow as tf

    try:
        module = tf.saved_model.load(str(subject.path))
    except Exception as exc:
        raise ConvertError(f"cannot load it with tf.saved_model.load: {_first_line(exc)}",
                           path=str(subject.path)) from None
    serve = getattr(module, "serve", None)
    if serve is None:
        sig = getattr(module, "signatures", {}).get("serving_default")
        if sig is None:
            raise ConvertError("it has neither a serve function nor a serving_default "
                               "signature", path=str(subject.path))
        names = list(net.inputs)

        def serve(*xs):
            return sig(**dict(zip(names, xs)))
    else:
        specs = list(serve.input_signature or [])
        for spec, name in zip(specs, net.inputs):
            want = tuple(shapes[name])
            got = tuple(spec.shape)
            refused = size_refusal(subject.path, name, got, want)
            if refused is not None:
                raise refused
            if len(got) != len(want) or any(g is not None and g != w
                                             for g, w in zip(got[1:], want[1:])):
                shown = "x".join("N" if g is None else str(g) for g in got)
                raise ConvertError(f"it takes {shown}, the net needs {'x'.join(map(str, want))}",
                                   path=str(subject.path))

    def call(xs, module=module):  # the module owns the variables: keep it alive
        out = serve(*[tf.convert_to_tensor(x) for x in xs])
        return {k: v.numpy() for k, v in dict(out).items()}

    return OutputsRunner(net, call, subject.path)


def _open_keras(subject: Subject, net: Net, shapes) -> Runner:
    from ..backends.tf.export import load_keras

    try:
        model = load_keras(subject.path)
    except Exception as exc:
        raise ConvertError(f"cannot load it with keras.models.load_model: {_first_line(exc)}",
                           path=str(subject.path)) from None
    names = list(net.inputs)
    inputs = model.inputs if isinstance(model.inputs, (list, tuple)) else [model.inputs]
    for name, tensor in zip(names, inputs):
        refused = size_refusal(subject.path, name, tuple(tensor.shape), tuple(shapes[name]))
        if refused is not None:
            raise refused

    def call(xs):
        out = model(dict(zip(names, xs)), training=False)
        if not isinstance(out, dict):
            out = dict(zip(net.outputs, out if isinstance(out, (list, tuple)) else [out]))
        return {k: np.asarray(v) for k, v in out.items()}

    return OutputsRunner(net, call, subject.path)


class WeightFileRunner(Runner):
    """A weight-only file (npz, npy, h5): its params, read back through the mapping
    table, run by the numpy runtime. When the table is not a permutation of the Caffe
    params (it computes values), the stored arrays are compared with what the writer
    produces, and the reference's outputs stand in for a run."""

    def __init__(self, subject: Subject, net: Net):
        from ..emit.convert import DEFAULT_TABLE
        from ..mapping import load_table
        from ..runtime.numpy import NumpyRuntime
        from .weights import read_arrays, read_back

        arrays = read_arrays(subject.path, subject.fmt)
        table = load_table(subject.mapping or DEFAULT_TABLE[subject.fmt])
        fmt = subject.fmt if subject.fmt in table.formats else None
        result = read_back(net, arrays, table, fmt, rgb=subject.rgb)
        if result.problems:
            raise ConvertError(f"{len(result.problems)} mismatches with the net "
                               f"(table '{table.name}'): " + "; ".join(result.problems[:8])
                               + (" ..." if len(result.problems) > 8 else ""),
                               path=str(subject.path))
        self.notes = list(result.notes)
        self.param_rel = result.param_rel
        #: Every param read back equals the net's bit for bit: a numpy run of them would
        #: be the reference's own run, so none is made.
        self.identical = result.net is not None and all(
            np.array_equal(a, b) for x, y in zip(net.layers, result.net.layers)
            for a, b in zip(x.params, y.params))
        if self.identical:
            self.notes.append("every param equals the caffemodel's bit for bit (a numpy run "
                              "would be the reference run itself)")
        self.rt = NumpyRuntime(result.net) if result.net is not None and not self.identical else None
        #: Only the params were compared (identical, or the table is not invertible).
        self.params_only = self.rt is None
        self.per_layer = not self.params_only

    def forward(self, inputs, on_layer=None):
        if self.rt is None:
            raise ConvertError("internal: a params-only subject has no forward pass")
        return self.rt.forward(inputs, keep="outputs", on_layer=on_layer)


def _open_weights(subject: Subject, net: Net, shapes) -> Runner:
    return WeightFileRunner(subject, net)


_OPENERS = {
    "torch": _open_torch, "safetensors": _open_torch, "pt2": _open_pt2,
    "onnx": _open_onnx,
    "tf": _open_tf_checkpoint, "keras-weights": _open_keras_weights,
    "savedmodel": _open_savedmodel, "keras": _open_keras,
    "npz": _open_weights, "npy": _open_weights, "h5": _open_weights,
}


# -- finding converted files -------------------------------------------------------------

def format_of(path: Path) -> str | None:
    """The ``convert --to`` format a converted file is in, from its name (None: not
    one of ours)."""
    name = path.name.lower()
    if path.is_dir():
        if name.endswith(".savedmodel") or (path / "saved_model.pb").is_file():
            return "savedmodel"
        return None
    for suffix, fmt in ((".weights.h5", "keras-weights"), (".safetensors", "safetensors"),
                        (".pt2", "pt2"), (".pt", "torch"), (".pth", "torch"),
                        (".onnx", "onnx"), (".keras", "keras"), (".npz", "npz"),
                        (".npy", "npy"), (".h5", "h5"), (".hdf5", "h5")):
        if name.endswith(suffix):
            return fmt
    if name.endswith(".index"):
        return "tf"
    return None


#: Files that may sit beside converted models and are no model.
_IGNORED = (".prototxt", ".caffemodel", ".json", ".md", ".html", ".txt", ".png", ".jpg")


def discover(directory: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """(format, path) of every converted file in ``directory`` (not recursive, but
    SavedModel folders), in a stable order, and notes on what was left out."""
    if not directory.exists():
        raise UsageError("--converted: directory not found", path=str(directory))
    if not directory.is_dir():
        raise UsageError("--converted takes a directory (the -o of convertkit convert)",
                         path=str(directory))
    found, notes = [], []
    for path in sorted(directory.iterdir()):
        fmt = format_of(path)
        if fmt is not None:
            found.append((fmt, path))
        elif ".data-" in path.name or path.name.startswith("."):
            continue  # a checkpoint's data shard, hidden files
        elif not path.name.lower().endswith(_IGNORED):
            notes.append(f"{path.name}: not a converted model file (ignored)")
    order = list(FORMAT_RUNTIME)
    found.sort(key=lambda fp: (order.index(fp[0]), fp[1].name))
    return found, notes


# -- small helpers -------------------------------------------------------------------------

def file_meta(path: Path, fmt: str | None) -> dict[str, str]:
    """The metadata convertkit's writers store (safetensors header, HDF5 attributes):
    e.g. {"bn": "merge", "rgb": "false"}; empty when the format has none."""
    try:
        if fmt == "safetensors":
            with open(path, "rb") as fh:
                n = int.from_bytes(fh.read(8), "little")
                if 0 < n < 1 << 26:
                    head = json.loads(fh.read(n))
                    return dict(head.get("__metadata__") or {})
        if fmt in ("h5",):
            import h5py

            with h5py.File(path, "r") as f:
                return {k: str(v) for k, v in f.attrs.items()}
    except Exception:  # metadata is a hint; the file's own check reports real problems
        return {}
    return {}


def _bn_hint(subject: Subject) -> str:
    """When a file that does not fit says it was converted with the other --bn."""
    meta = file_meta(subject.path, subject.fmt) if subject.path is not None else {}
    bn = meta.get("bn")
    if bn in ("keep", "merge") and bn != subject.bn:
        return f" (the file says it was converted with --bn {bn}: verify with --bn {bn})"
    return ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:400]
