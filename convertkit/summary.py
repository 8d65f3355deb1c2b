"""Per-layer summary of a net: shapes, learned blobs, parameter counts and FLOPs.

Used by ``convertkit inspect`` (table and ``--json``). Without a caffemodel the blob
shapes are the ones Caffe would create for the prototxt (each layer's
``blob_shapes``), so the counts of a definition can be checked without weights.
"""
from __future__ import annotations

from typing import Any

from .graph import Net
from .layers.base import fmt_shape


def summarize(net: Net) -> dict[str, Any]:
    """The inspect contract: inputs, layers (name, type, bottoms, tops, top_shapes,
    blob_shapes, params, flops) and totals (layers, blobs, params, flops)."""
    if not net.blob_shapes:
        net.infer_shapes()
    layers = []
    totals = {"layers": 0, "blobs": 0, "params": 0, "flops": 0}
    for layer in net.layers:
        if layer.blobs:
            blob_shapes = [list(b.shape) for b in layer.blobs]
        else:
            blob_shapes = [list(s) for s in layer.impl.blob_shapes(layer.bottom_shapes)]
        params = 0
        for s in blob_shapes:
            n = 1
            for d in s:
                n *= int(d)
            params += n
        flops = layer.flops()
        layers.append({
            "name": layer.name,
            "type": layer.type,
            "bottoms": list(layer.bottoms),
            "tops": list(layer.tops),
            "top_shapes": [list(s) for s in layer.top_shapes],
            "blob_shapes": blob_shapes,
            "params": params,
            "flops": flops,
            "in_place": bool(set(layer.bottoms) & set(layer.tops)),
        })
        totals["layers"] += 1
        totals["blobs"] += len(blob_shapes)
        totals["params"] += params
        totals["flops"] += flops
    return {
        "name": net.name,
        "prototxt": net.prototxt_path,
        "caffemodel": net.caffemodel_path,
        "weights": net.caffemodel_path is not None,
        "inputs": {k: list(v) if v is not None else None for k, v in net.inputs.items()},
        "outputs": {name: list(net.blob_shapes[name]) for name in net.outputs},
        "layers": layers,
        "totals": totals,
        "notes": list(net.notes),
    }


def _human(n: int) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.2f}{unit}"
    return str(n)


def _names(names: list[str], limit: int = 2) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" +{len(names) - limit}" if len(names) > limit else "")


def _shapes(shapes: list[list[int]]) -> str:
    """Blob shapes, runs of equal ones written once with a count (BN: 4x 1x64x1x1)."""
    parts: list[str] = []
    i = 0
    while i < len(shapes):
        j = i
        while j < len(shapes) and shapes[j] == shapes[i]:
            j += 1
        parts.append(("" if j - i == 1 else f"{j - i}x ") + fmt_shape(shapes[i]))
        i = j
    return " ".join(parts)


def format_table(summary: dict[str, Any]) -> str:
    """A fixed-width text table (independent of the terminal, stable for diffs)."""
    head = ("#", "layer", "type", "bottoms -> tops", "output", "blobs", "params", "MACs")
    rows = []
    for i, lay in enumerate(summary["layers"]):
        tops = _names(lay["tops"])
        flow = f"{tops} (in place)" if lay["in_place"] else f"{_names(lay['bottoms'])} -> {tops}"
        rows.append((
            str(i), lay["name"], lay["type"], flow,
            " ".join(fmt_shape(s) for s in lay["top_shapes"]),
            _shapes(lay["blob_shapes"]) or "-",
            f"{lay['params']:,}" if lay["params"] else "-",
            _human(lay["flops"]) if lay["flops"] else "-",
        ))
    widths = [max(len(h), *(len(r[c]) for r in rows)) if rows else len(h) for c, h in enumerate(head)]
    right = {0, 6, 7}

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = []
    src = summary["prototxt"] or summary["caffemodel"]
    out.append(f"net {summary['name'] or '(unnamed)'}  [{src}]"
               + ("  +weights" if summary["weights"] else "  (no weights: blob shapes from the prototxt)"))
    for name, shape in summary["inputs"].items():
        out.append(f"input  {name}: {fmt_shape(shape) if shape else '?'}")
    for name, shape in summary["outputs"].items():
        out.append(f"output {name}: {fmt_shape(shape)}")
    out.append("")
    out.append(line(head))
    out.append(line(["-" * w for w in widths]))
    out.extend(line(r) for r in rows)
    t = summary["totals"]
    out.append("")
    out.append(f"totals: {t['layers']} layers, {t['blobs']} blobs, {t['params']:,} params, "
               f"{t['flops']:,} multiply-adds ({_human(t['flops'])})")
    for note in summary["notes"]:
        out.append(f"note: {note}")
    return "\n".join(out)
