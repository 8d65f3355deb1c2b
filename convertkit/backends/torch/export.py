"""``torch.export``: the net as an ExportedProgram (``.pt2``) that runs with torch alone:
``torch.export.load(path).module()(x)`` returns the net's outputs (a tuple)."""
from __future__ import annotations

import io

import torch

from ...errors import UnsupportedLayerError
from ...graph import Net
from .model import CaffeModule


def check_exportable(net: Net) -> None:
    """Raise, naming the layer, when torch.export cannot trace ``net``: a type PyTorch
    cannot express, or one it runs outside its graph (``EAGER_ONLY``)."""
    from . import BACKEND, EAGER_ONLY

    BACKEND.check(net)
    for layer in net.layers:
        if layer.type in EAGER_ONLY:
            raise UnsupportedLayerError(
                f"torch.export cannot trace {layer.type}: {EAGER_ONLY[layer.type]} (the .pt "
                "and .safetensors weights run it eagerly; for a data-dependent layer, convert "
                "--cut-data-dependent writes the net up to its bottoms)", layer=layer.name)


def export_program(net: Net, state: dict[str, torch.Tensor] | None = None) -> bytes:
    """The serialized ExportedProgram of ``net`` with its params (or ``state``), for
    the declared input shapes; the batch dimension is dynamic where the net allows."""
    from ...runtime.torch import load_into, state_dict_from_net

    check_exportable(net)
    plan = net.plan()
    module = CaffeModule(net, plan)
    load_into(module, state if state is not None else state_dict_from_net(net), net.caffemodel_path)
    module.eval()
    # Traced with a batch of 2: PyTorch would specialise a dimension of size 1.
    examples = tuple(torch.zeros((2,) + tuple(plan.inputs[n][1:])) for n in module.input_names)
    batch = torch.export.Dim("N", min=1, max=1024)
    dynamic = tuple({0: batch} for _ in examples)
    with torch.no_grad():
        try:
            program = torch.export.export(module, examples, dynamic_shapes=(dynamic,))
        except Exception:  # a net whose shapes tie the batch (Reshape to a fixed size)
            examples = tuple(torch.zeros(plan.inputs[n]) for n in module.input_names)
            program = torch.export.export(module, examples)
    buf = io.BytesIO()
    torch.export.save(program, buf)
    return buf.getvalue()
