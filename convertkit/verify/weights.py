"""Weight-only files (``.npz``, ``.npy``, ``.h5``) read back into a net.

The writers store each learned Caffe param under a mapping table's key, in the table's
layout. To run such a file we need the inverse: which element of which Caffe param
each stored element is. Layouts are permutations (transposes, reshapes, channel
flips), so the inverse is found by resolving the same table on a *probe* net whose
params hold their own element indices: the resolved arrays then say, element for
element, where each stored value comes from. Tables that compute values (dividing by
a scale factor, folding a pass) are not permutations; for those the stored arrays are
compared with what the writer would produce instead of being run.

``.npy`` files are caffe-tensorflow's pickled dict. They are read with an unpickler
that builds nothing but dicts and numpy arrays, so a hostile file cannot run code.
"""
from __future__ import annotations

import io
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConvertError
from ..graph import Net
from ..mapping import resolve

#: Two probes (index mod BASE, index div BASE) keep every index exact in float32.
_BASE = 4096


class _ArraysOnly(pickle.Unpickler):
    """Unpickles dicts, lists and numpy arrays only; any other class is refused."""

    ALLOWED = {
        ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "scalar"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays "
                                     "and dicts are read)")


def _read_npy_dict(path: Path) -> dict[str, np.ndarray]:
    fmt = np.lib.format
    with open(path, "rb") as fh:
        version = fmt.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(fh)
        else:
            shape, _, dtype = fmt.read_array_header_2_0(fh)
        if not dtype.hasobject:  # a plain array, not caffe-tensorflow's dict
            raise ValueError(f"holds a plain {dtype} array of shape {shape}, not the "
                             "{op: {param: array}} dict")
        obj = _ArraysOnly(io.BytesIO(fh.read())).load()
    obj = obj.item() if isinstance(obj, np.ndarray) and obj.shape == () else obj
    if not isinstance(obj, dict):
        raise ValueError(f"holds a {type(obj).__name__}, not the {{op: {{param: array}}}} dict")
    out: dict[str, np.ndarray] = {}
    for op, params in obj.items():
        if not isinstance(params, dict):
            raise ValueError(f"entry {op!r} is a {type(params).__name__}, not a dict of arrays")
        for name, arr in params.items():
            out[f"{op}/{name}"] = np.asarray(arr)
    return out


def _read_h5(path: Path) -> dict[str, np.ndarray]:
    import h5py

    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = np.asarray(obj[()])
        f.visititems(visit)
    return out


def read_arrays(path: str | Path, fmt: str) -> dict[str, np.ndarray]:
    """key -> array of a weight file (``fmt``: npz, npy or h5); a ConvertError naming
    the file when it cannot be read (truncated, another kind of file)."""
    path = Path(path)
    try:
        if fmt == "npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        if fmt == "npy":
            return _read_npy_dict(path)
        if fmt == "h5":
            return _read_h5(path)
    except FileNotFoundError:
        raise ConvertError("file not found", path=str(path)) from None
    except Exception as exc:  # zip, pickle and HDF5 errors of every kind
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConvertError(f"cannot read it as {fmt}: {first}", path=str(path)) from None
    raise ConvertError(f"not a weight-only format: {fmt}", path=str(path))


def _probe(net: Net, high: bool) -> Net:
    """The net with each param replaced by its element indices (mod or div _BASE)."""
    layers = []
    for layer in net.layers:
        if layer.params:
            params = []
            for p in layer.params:
                idx = np.arange(p.size, dtype=np.int64).reshape(p.shape)
                params.append(((idx // _BASE) if high else (idx % _BASE)).astype(np.float32))
            layer = layer.replace(params=params)
        layers.append(layer)
    return net.replace(layers=layers)


@dataclass
class ReadBack:
    """A weight file matched against the net through a table."""

    #: The net with the file's params (None when the file does not fit or the
    #: table is not invertible).
    net: Net | None
    problems: list[str] = field(default_factory=list)
    #: Per layer: max|file - expected| / max|expected| of its params (when the table
    #: is not invertible, this is all that can be checked).
    param_rel: dict[str, float] = field(default_factory=dict)
    invertible: bool = True
    notes: list[str] = field(default_factory=list)


def read_back(net: Net, arrays: dict[str, np.ndarray], table, fmt: str | None,
              rgb: bool = False) -> ReadBack:
    """Match ``arrays`` (a file's key -> array) with what ``table`` maps ``net`` to:
    every key missing, unexpected or of the wrong shape is a problem. When the table
    is a permutation of the Caffe params, also build the net holding the file's
    values (to run it)."""
    targets = resolve(table, net, fmt=fmt, input_flipped=rgb)
    invertible = not table.passes
    probes = None
    if invertible:
        try:
            lo = {t.key: t for t in resolve(table, _probe(net, False), fmt=fmt, input_flipped=rgb)}
            hi = {t.key: t for t in resolve(table, _probe(net, True), fmt=fmt, input_flipped=rgb)}
            probes = (lo, hi)
        except ConvertError:
            invertible = False
    out = ReadBack(None, invertible=invertible)
    params = {layer.name: [np.array(p, np.float32) for p in layer.params] for layer in net.layers}
    seen = set()
    for t in targets:
        seen.add(t.key)
        if t.caffe_shape is None:  # a constant the table adds (num_batches_tracked)
            continue
        got = arrays.get(t.key)
        if got is None:
            out.problems.append(f"missing key '{t.key}' (for {t.source})")
            continue
        if tuple(got.shape) != tuple(t.array.shape):
            out.problems.append(f"'{t.key}' is {_shape(got.shape)}, the net needs "
                                f"{_shape(t.array.shape)} (for {t.source})")
            continue
        if not np.issubdtype(got.dtype, np.floating):
            out.problems.append(f"'{t.key}' is {got.dtype}, not floating point")
            continue
        expect = np.asarray(t.array, np.float32)
        scale = float(np.abs(expect).max()) if expect.size else 0.0
        diff = float(np.abs(got.astype(np.float32) - expect).max()) if expect.size else 0.0
        rel = diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))
        out.param_rel[t.layer] = max(out.param_rel.get(t.layer, 0.0), rel)
        if out.invertible:
            index = _inverse(probes, t)
            if index is None:
                out.invertible = False
                continue
            layer = net.layer(t.layer)
            role_i = layer.roles.index(t.role)
            flat = params[t.layer][role_i].reshape(-1)
            flat[index] = np.asarray(got, np.float32).reshape(-1)
    extra = sorted(set(arrays) - seen)
    if extra:
        shown = ", ".join(f"'{k}'" for k in extra[:6]) + (" ..." if len(extra) > 6 else "")
        out.problems.append(f"{len(extra)} keys the net does not use: {shown}")
    if not out.invertible:
        out.notes.append(f"table '{table.name}' is not a permutation of the Caffe params; "
                         "the stored arrays were compared with what the writer produces")
    if out.problems or not out.invertible:
        return out
    layers = [layer.replace(params=params[layer.name]) if layer.params else layer
              for layer in net.layers]
    out.net = net.replace(layers=layers)
    return out


def _inverse(probes, target) -> np.ndarray | None:
    """For each stored element of ``target``, the flat index of the Caffe element it
    holds; None when the layout is not a permutation."""
    lo, hi = probes
    a, b = lo.get(target.key), hi.get(target.key)
    if a is None or b is None:
        return None
    index = (np.rint(np.asarray(b.array, np.float64)) * _BASE
             + np.rint(np.asarray(a.array, np.float64))).astype(np.int64).reshape(-1)
    size = int(np.prod(target.caffe_shape, dtype=np.int64))
    if index.size != size or index.min(initial=0) < 0 or index.max(initial=0) >= size:
        return None
    if np.bincount(index, minlength=size).max(initial=1) != 1:
        return None
    return index


def _shape(shape) -> str:
    return "x".join(str(int(s)) for s in shape) or "a scalar"
