"""``torch.export``: the net as an ExportedProgram (``.pt2``) that runs with torch alone:
``torch.export.load(path).module()(x)`` returns the net's outputs (a tuple)."""
from __future__ import annotations

import io

import torch

from ...errors import UnsupportedLayerError
from ...graph import Net
from .model import CaffeModule, load_into, state_dict_from_net


def check_exportable(net: Net) -> None:
    """Raise, naming the layer, when torch.export cannot trace ``net``: a type PyTorch
    cannot express, or one it runs outside its graph (``EAGER_ONLY``)."""
    from .core import BACKEND, EAGER_ONLY

    BACKEND.check(net)
    for layer in net.layers:
        if layer.type in EAGER_ONLY:
            raise UnsupportedLayerError(
                f"torch.export cannot trace {layer.type}: {EAGER_ONLY[layer.type]} (the .pt "
                "and .safetensors weights run it eagerly; for a data-dependent layer, convert "
                "--cut-data-dependent writes the net up to its bottoms)", layer=layer.name)


def export_program(net: Net, state: dict[str, torch.Tensor] | None = None, sizes=None) -> bytes:
    """The serialized ExportedProgram of ``net`` with its params (or ``state``).

    ``sizes`` (:class:`convertkit.sizes.FreeSizes`, default: the net's own): each free
    batch, height and width is a ``torch.export.Dim`` (min 2: PyTorch specialises
    sizes 0 and 1), and the layers compute their sizes from the tensors' (Caffe's
    rules, as symbolic integer arithmetic). When PyTorch's analysis cannot keep a size
    symbolic with those bounds, it is exported with ``Dim.AUTO`` (PyTorch's own bounds,
    or the size fixed); :func:`program_sizes` says what the program takes."""
    return export_with_sizes(net, state, sizes)[0]


def export_with_sizes(net: Net, state=None, sizes=None) -> tuple[bytes, dict[str, list]]:
    """(the program's bytes, input -> its dims: ints, or names of free axes)."""
    from ...sizes import AXIS_NAMES, free_sizes

    check_exportable(net)
    sizes = sizes if sizes is not None else free_sizes(net)
    plan = sizes.plan
    module = CaffeModule(net, plan)
    load_into(module, state if state is not None else state_dict_from_net(net), net.caffemodel_path)
    module.eval()
    many = len(module.input_names) > 1

    def example(name):
        shape = list(plan.inputs[name])
        for axis in sizes.free.get(name, ()):
            shape[axis] = max(shape[axis], 2)  # PyTorch would specialise a size of 1
        return torch.zeros(shape)

    examples = tuple(example(n) for n in module.input_names)

    def dims(auto: bool):
        out = []
        for name in module.input_names:
            spec = {}
            for axis in sizes.free.get(name, ()):
                label = AXIS_NAMES[axis] if not many or axis == 0 else f"{name}_{AXIS_NAMES[axis]}"
                spec[axis] = torch.export.Dim.AUTO if auto else torch.export.Dim(
                    label.replace("/", "_"), min=2, max=1 << 16)
            out.append(spec or None)
        return tuple(out)

    program = None
    with torch.no_grad():
        # A layer of one output size whatever the input (an Interp to explicit sizes)
        # ties the sizes in ways no range expresses: PyTorch's own bounds at once.
        for auto in (True,) if sizes.fixed_outputs else (False, True):
            try:
                program = torch.export.export(module, examples, dynamic_shapes=(dims(auto),))
            except Exception:  # noqa: BLE001 - a size PyTorch cannot keep symbolic
                continue
            # Dim.AUTO keeps a size it cannot leave free at the example's value: the
            # planned size is wanted there, not the example's 2.
            got = _saved_sizes(program, module.input_names)
            pinned = {n: [a for a in sizes.free.get(n, ()) if isinstance(got[n][a], int)]
                      for n in module.input_names if n in got}
            if any(pinned.values()):
                sizes = sizes.pin(sorted({a for v in pinned.values() for a in v}),
                                  layer="torch.export", type="",
                                  why="PyTorch specialised it while tracing")
                examples = tuple(example(n) for n in module.input_names)
                try:
                    program = torch.export.export(module, examples, dynamic_shapes=(dims(True),))
                except Exception:  # noqa: BLE001
                    program = None
            break
        if program is not None and not _accepts(program, plan, module.input_names, examples):
            program = None  # it holds a relation true of the example's sizes only
        if program is None:  # every size as planned
            program = torch.export.export(module, tuple(torch.zeros(plan.inputs[n])
                                                        for n in module.input_names))
    buf = io.BytesIO()
    torch.export.save(program, buf)
    data = buf.getvalue()
    return data, program_sizes(torch.export.load(io.BytesIO(data)), module.input_names)


def _accepts(program, plan, names, examples) -> bool:
    """Whether ``program`` runs on the planned sizes when it was traced at others (a
    free size of 1 is traced at 2): a guard tying its sizes together (``4 * N * H * W
    == 128`` after a Reshape to one axis) may hold for the example only."""
    planned = tuple(torch.zeros(plan.inputs[n]) for n in names)
    if all(tuple(e.shape) == tuple(p.shape) for e, p in zip(examples, planned)):
        return True
    try:
        program.module()(*planned)
    except Exception:  # noqa: BLE001 - a guard failed: the program is for other sizes
        return False
    return True


def _saved_sizes(program, names) -> dict[str, list]:
    """What ``program`` takes once saved: a size PyTorch specialised while tracing
    (a Python int read from it) may still look symbolic in the traced program."""
    buf = io.BytesIO()
    torch.export.save(program, buf)
    buf.seek(0)
    return program_sizes(torch.export.load(buf), names)


def program_sizes(program, names) -> dict[str, list]:
    """Input name -> its dims in ``program``: an int where fixed, a name where free."""
    from ...sizes import AXIS_NAMES

    users = [s.arg.name for s in program.graph_signature.input_specs
             if getattr(s.kind, "name", "") == "USER_INPUT"]
    vals = {n.name: n.meta.get("val") for n in program.graph.nodes if n.op == "placeholder"}
    out = {}
    for name, arg in zip(names, users):
        val = vals.get(arg)
        if val is None:
            continue
        out[name] = [int(d) if isinstance(d, int) else AXIS_NAMES.get(a, str(d))
                     for a, d in enumerate(val.shape)]
    return out
