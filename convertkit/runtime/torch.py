"""PyTorch as a runtime: the net built from standard modules (convertkit.backends.torch),
its params loaded through the ``torch`` mapping table with ``strict=True``.

Options: ``device`` ("cpu", "cuda", ...), ``dtype`` (torch.float32 or torch.float16),
``state_dict`` (a file written by ``convertkit convert --to torch|safetensors`` to load
instead of the net's own params).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from ..backends.torch.model import CaffeModule, load_into, state_dict_from_net
from ..errors import UsageError
from ..graph import Net
from .base import Keep, LayerHook, Runtime, caffe_order, input_arrays, plan_for, resolve_keep


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A ``.pt`` (loaded with weights_only=True: never unpickles code) or ``.safetensors``."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UsageError("state_dict file not found", path=path) from None
    except Exception as exc:  # corrupt or foreign files: one line naming the file
        reason = " ".join(str(exc).split())
        if len(reason) > 200:
            reason = reason[:200] + " ..."
        raise UsageError(f"cannot read a state_dict ({type(exc).__name__}): {reason}",
                         path=path) from None
    if not (isinstance(state, Mapping) and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                               for k, v in state.items())):
        raise UsageError(f"holds a {type(state).__name__}, not a state_dict (names to tensors)",
                         path=path)
    return state


class TorchRuntime(Runtime):
    name = "torch"

    def __init__(self, net: Net, device: str = "cpu", dtype: torch.dtype = torch.float32,
                 state_dict: str | Path | None = None, fuse: bool = True):
        super().__init__(net)
        #: For passes that ask only for blobs the BN-folded net also has, and no
        #: per-layer outputs: run that net (fold_batchnorm), one op less per BN.
        self._fused: Net | None = None
        if fuse and state_dict is None and any(l.impl.normalizes() for l in net.layers):
            from ..passes.batchnorm import fold_batchnorm

            self._fused = fold_batchnorm(net)[0]
            # Only blobs whose final value the same layer writes in both nets: a BN
            # working in place (after a Threshold on a convolution's top, say) is gone
            # from the folded net, and the blob it wrote holds an earlier value there.
            before, after = _last_writers(net), _last_writers(self._fused)
            self._fused_names = {b for b in self._fused.blob_names
                                 if before.get(b) == after.get(b)}
        try:
            self.device = torch.device(device)
            torch.empty(0, device=self.device)
        except (RuntimeError, AssertionError) as exc:  # no CUDA build, no such GPU
            raise UsageError(f"torch cannot use device {device!r}: {str(exc).splitlines()[0]}") from None
        self.dtype = dtype
        self._state_file = state_dict
        self._modules: dict[tuple, CaffeModule] = {}

    def module(self, shapes: Mapping[str, tuple] | None = None, fused: bool = False) -> CaffeModule:
        """The module for these input shapes (built once per shape: Interp sizes and
        pooling windows follow the plan); ``fused``: of the BN-folded net."""
        net = self._fused if fused else self.net
        plan = net.plan(shapes)
        key = (tuple(sorted(plan.inputs.items())), fused)
        if key not in self._modules:
            mod = CaffeModule(net, plan)
            if self._state_file is not None:
                state = read_state_dict(self._state_file)
                source = str(self._state_file)
            else:
                state, source = state_dict_from_net(net), net.caffemodel_path
            load_into(mod, state, source)
            # channels_last: oneDNN's convolutions then skip a layout reorder per call
            # (ICNet 1025x2049 on 2 cores: 1.16 s -> 0.92 s). Values are unchanged.
            mod = mod.to(self.device, self.dtype).to(memory_format=torch.channels_last)
            self._modules[key] = mod.eval()
        return self._modules[key]

    def forward(self, inputs: Mapping[str, np.ndarray], keep: Keep = "outputs",
                on_layer: LayerHook | None = None) -> dict[str, np.ndarray]:
        arrays = input_arrays(self.net, inputs)
        wanted = resolve_keep(self.net, keep)
        plan_for(self.net, arrays, wanted)
        fused = (self._fused is not None and on_layer is None
                 and all(w in self._fused_names for w in wanted))
        mod = self.module({n: a.shape for n, a in arrays.items()}, fused)

        def to_numpy(t: torch.Tensor) -> np.ndarray:
            return t.detach().to("cpu", torch.float32).numpy()

        hook = None
        if on_layer is not None:
            # The tensors' own memory, channels_last views included (copying 1.7 GB
            # into NCHW order cost 3.6 s of ICNet's 1025x2049 pass).
            def hook(name, tops):
                on_layer(name, [to_numpy(t) for t in tops])

        with torch.inference_mode():
            tensors = {n: _channels_last(torch.from_numpy(a).to(self.device, self.dtype))
                       for n, a in arrays.items()}
            out = mod.run(tensors, wanted, on_layer=hook)
        return {n: caffe_order(to_numpy(t)) for n, t in out.items()}


def _last_writers(net: Net) -> dict[str, tuple[str, str]]:
    """Blob -> (name, type) of the layer that writes its final value."""
    return {top: (layer.name, layer.type) for layer in net.layers for top in layer.tops}


def _channels_last(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t
