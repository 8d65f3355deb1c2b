"""A Caffe net as one ``nn.Module`` built from standard modules, for inference and
fine-tuning.

Every layer with learned params is a child module named by :func:`module_name` (the
``torch`` mapping table uses the same rule), so ``module.state_dict()`` has the keys an
emitted ``.pt`` or ``.safetensors`` holds. ``forward(*inputs)`` returns the net's
outputs (what ``torch.export`` records); :meth:`CaffeModule.run` returns any blobs by
name, with Caffe's in-place semantics, and reports each layer's own outputs.
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping

import torch
from torch import nn

from ...errors import UsageError, WeightMismatchError
from ...graph import Net, ShapePlan
from ...mapping import load_table, module_name, resolve
from ..base import Context
from .core import BACKEND


class CaffeModule(nn.Module):
    """The net in PyTorch. ``eval()`` mode (the default after building) uses the stored
    BN statistics, as Caffe's TEST phase does; ``train()`` fine-tunes them."""

    def __init__(self, net: Net, plan: ShapePlan | None = None):
        super().__init__()
        plan = plan or net.plan()
        self.input_names = list(net.inputs)
        self.output_names = list(net.outputs)
        self._steps: list[tuple[str, list[str], list[str], Callable]] = []
        owners: dict[str, str] = {}
        for layer in net.layers:
            op = BACKEND.convert(Context(net, plan, layer))
            if op.module is not None:
                name = module_name(layer.name)
                if name in owners:
                    raise UsageError(f"layers '{owners[name]}' and '{layer.name}' both become "
                                     f"PyTorch module '{name}'; rename one", path=net.prototxt_path)
                owners[name] = layer.name
                self.add_module(name, op.module)
            self._steps.append((layer.name, list(layer.bottoms), list(layer.tops), op.fn))
        self._last_use: dict[str, int] = {}
        for i, (_, bottoms, _, _) in enumerate(self._steps):
            for b in bottoms:
                self._last_use[b] = i
        self.eval()

    def run(self, inputs: Mapping[str, torch.Tensor], keep: Iterable[str] | None = None,
            on_layer: Callable[[str, list[torch.Tensor]], None] | None = None
            ) -> dict[str, torch.Tensor]:
        """The blobs named in ``keep`` (default: the outputs) after one pass."""
        kept = list(self.output_names if keep is None else keep)
        kept_set = set(kept)
        values = {n: inputs[n] for n in self.input_names}
        for i, (name, bottoms, tops, fn) in enumerate(self._steps):
            outs = fn([values[b] for b in bottoms])
            if on_layer is not None:
                on_layer(name, outs)
            for top, out in zip(tops, outs):
                values[top] = out
            for b in bottoms:
                if self._last_use.get(b) == i and b not in kept_set and b not in tops:
                    values.pop(b, None)
        return {n: values[n] for n in kept}

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.run(dict(zip(self.input_names, inputs)))
        return tuple(out[n] for n in self.output_names)


def freeze_bn(module: nn.Module) -> nn.Module:
    """Keep every BatchNorm in eval mode (stored statistics, not updated) while the rest
    trains: call after ``module.train()``. The seeds warn that updating the
    statistics needs large batches."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
    return module


def state_dict_from_net(net: Net) -> dict[str, torch.Tensor]:
    """The module's state_dict, made from the net's params by the ``torch`` table."""
    # torch.tensor copies: caffemodel params are read-only views of the file's buffer.
    return {t.key: torch.tensor(t.array) for t in resolve(load_table("torch"), net)}


def load_into(module: CaffeModule, state: Mapping[str, torch.Tensor], source: str | None) -> None:
    """``load_state_dict(strict=True)``, with every missing, extra or misshapen key
    listed at once."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    wrong = [f"{k} ({'x'.join(map(str, state[k].shape))}, the net needs "
             f"{'x'.join(map(str, own[k].shape))})"
             for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or extra or wrong:
        parts = []
        for what, names in (("missing", missing), ("unexpected", extra), ("wrong shape", wrong)):
            if names:
                parts.append(f"{len(names)} {what}: {', '.join(names[:6])}"
                             + (" ..." if len(names) > 6 else ""))
        raise WeightMismatchError("the state_dict does not fit the net: " + "; ".join(parts),
                                  path=source)
    module.load_state_dict(state, strict=True)
