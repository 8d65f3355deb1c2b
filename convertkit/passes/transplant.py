"""``transplant``: copy learned params from one net into another, by layer name (or
through a table), the first of the two training stages of the ICNet release (ICNet
initialised from PSPNet50, then pruned).

Every destination layer with params is reported as ``copied`` (same shapes),
``adapted`` (``adapt=True``: each param sliced or zero-padded to the destination's
shape) or ``initialised`` (no source layer; it keeps the params it has, e.g. seeded
ones). Shapes that differ without ``adapt`` are refused, every mismatch listed.
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

import numpy as np

from ..errors import UsageError, WeightMismatchError
from ..graph import Net


def read_layer_map(path: str | os.PathLike) -> dict[str, str]:
    """A TOML ``[layers]`` table: destination layer = source layer."""
    try:
        doc = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UsageError("mapping file not found", path=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"not valid TOML: {exc}", path=path) from None
    table = doc.get("layers")
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise UsageError('needs a [layers] table of destination = "source" names', path=path)
    return dict(table)


def _fit(arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``arr`` sliced or zero-padded, axis by axis, to ``shape``."""
    out = np.zeros(shape, np.float32)
    common = tuple(slice(0, min(a, b)) for a, b in zip(arr.shape, shape))
    out[common] = arr[common]
    return out


def transplant(src: Net, dst: Net, layer_map: dict[str, str] | None = None,
               adapt: bool = False) -> tuple[Net, dict]:
    """A copy of ``dst`` with ``src``'s params where names (or ``layer_map``) match."""
    layer_map = layer_map or {}
    src_layers = {l.name: l for l in src.layers if l.params}
    dst_names = {l.name for l in dst.layers}
    unknown = [d for d in layer_map if d not in dst_names] + \
              [s for s in layer_map.values() if s not in src_layers]
    if unknown:
        raise UsageError(f"the mapping names layers the nets do not have (or that have no "
                         f"params): {', '.join(unknown)}")
    report = {"copied": [], "adapted": [], "initialised": []}
    mismatches, layers = [], []
    for layer in dst.layers:
        source = src_layers.get(layer_map.get(layer.name, layer.name))
        if not layer.params or source is None:
            if layer.params:
                report["initialised"].append(layer.name)
            layers.append(layer)
            continue
        want = [tuple(p.shape) for p in layer.params]
        have = [tuple(p.shape) for p in source.params]
        if want == have:
            layers.append(layer.replace(params=[np.array(p, np.float32) for p in source.params]))
            report["copied"].append(layer.name)
        elif adapt and len(want) == len(have) and all(len(a) == len(b) for a, b in zip(want, have)):
            layers.append(layer.replace(params=[_fit(np.asarray(p, np.float32), s)
                                                for p, s in zip(source.params, want)]))
            report["adapted"].append(f"{layer.name} ({', '.join('x'.join(map(str, h)) for h in have)}"
                                     f" -> {', '.join('x'.join(map(str, w)) for w in want)})")
        else:
            mismatches.append(f"{layer.name}: {source.name} has "
                              f"{', '.join('x'.join(map(str, h)) for h in have) or 'none'}, the "
                              f"destination needs {', '.join('x'.join(map(str, w)) for w in want)}")
            layers.append(layer)
    if mismatches:
        raise WeightMismatchError(f"{len(mismatches)} layers differ in shape (pass --adapt to "
                                  "slice or zero-pad them): " + "; ".join(mismatches[:8])
                                  + (" ..." if len(mismatches) > 8 else ""))
    if not report["copied"] and not report["adapted"]:
        raise UsageError("the nets have no layer with params in common (by name or mapping)")
    return dst.replace(layers=layers), report
