"""Per-layer summary of a net: shapes, learned params, parameter counts and MACs.

Used by ``convertkit inspect`` (table and ``--json``). Without a caffemodel the param
shapes are the ones Caffe would create for the prototxt (each layer's
``param_shapes``), so the counts of a definition can be checked without weights.
"""
from __future__ import annotations

from typing import Any

from ..graph import Net
from ..layers.base import count, fmt_shape


def summarize(net: Net) -> dict[str, Any]:
    """The inspect contract: inputs, layers (name, type, bottoms, tops, top_shapes,
    param_shapes, param_roles, params, macs) and totals (layers, learned_blobs,
    params, macs). ``flops`` (same value as ``macs``) is a deprecated alias, kept for
    scripts written against 0.1."""
    plan = net.plan()
    layers = []
    totals = {"layers": 0, "learned_blobs": 0, "params": 0, "macs": 0}
    for layer in net.layers:
        if layer.params:
            param_shapes = [list(b.shape) for b in layer.params]
        else:
            param_shapes = [list(s) for s in layer.impl.param_shapes(plan.bottom_shapes(layer))]
        params = sum(count(s) for s in param_shapes)
        macs = int(layer.impl.macs(plan.bottom_shapes(layer), plan.top_shapes(layer)))
        layers.append({
            "name": layer.name,
            "type": layer.type,
            "bottoms": list(layer.bottoms),
            "tops": list(layer.tops),
            "top_shapes": [list(s) for s in plan.top_shapes(layer)],
            "param_shapes": param_shapes,
            "param_roles": list(layer.roles[:len(param_shapes)]),
            "params": params,
            "macs": macs,
            "flops": macs,
            "in_place": bool(set(layer.bottoms) & set(layer.tops)),
        })
        dialect = getattr(layer.impl, "dialect", None)
        if dialect is not None:  # one type name, several forks' layers: which one
            layers[-1]["dialect"] = dialect
        totals["layers"] += 1
        totals["learned_blobs"] += len(param_shapes)
        totals["params"] += params
        totals["macs"] += macs
    totals["flops"] = totals["macs"]
    return {
        "name": net.name,
        "prototxt": net.prototxt_path,
        "caffemodel": net.caffemodel_path,
        "weights": net.caffemodel_path is not None,
        "inputs": {k: list(v) if v is not None else None for k, v in net.inputs.items()},
        "outputs": {name: list(plan.blobs[name]) for name in net.outputs},
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
    timed = "ms" in summary["totals"]
    head = ("#", "layer", "type", "bottoms -> tops", "output", "param shapes", "params", "MACs") \
        + (("ms",) if timed else ())
    rows = []
    for i, lay in enumerate(summary["layers"]):
        tops = _names(lay["tops"])
        flow = f"{tops} (in place)" if lay["in_place"] else f"{_names(lay['bottoms'])} -> {tops}"
        rows.append((
            str(i), lay["name"], lay["type"] + (f" [{lay['dialect']}]" if "dialect" in lay else ""),
            flow,
            " ".join(fmt_shape(s) for s in lay["top_shapes"]),
            _shapes(lay["param_shapes"]) or "-",
            f"{lay['params']:,}" if lay["params"] else "-",
            _human(lay["macs"]) if lay["macs"] else "-",
        ) + ((f"{lay['ms']:.2f}",) if timed else ()))
    widths = [max(len(h), *(len(r[c]) for r in rows)) if rows else len(h) for c, h in enumerate(head)]
    right = {0, 6, 7, 8}

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = []
    src = summary["prototxt"] or summary["caffemodel"]
    out.append(f"net {summary['name'] or '(unnamed)'}  [{src}]"
               + ("  +weights" if summary["weights"] else "  (no weights: param shapes from the prototxt)"))
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
    out.append(f"totals: {t['layers']} layers, {t['learned_blobs']} learned blobs, "
               f"{t['params']:,} params, {t['macs']:,} multiply-adds ({_human(t['macs'])})"
               + (f", {t['ms']:.1f} ms in the {summary['benchmark']['runtime']} runtime"
                  if timed else ""))
    for note in summary["notes"]:
        out.append(f"note: {note}")
    return "\n".join(out)


def benchmark(net: Net, summary: dict[str, Any], runtime: str = "numpy", repeat: int = 3,
              inputs: dict | None = None) -> None:
    """Add each layer's measured time (ms, best of ``repeat`` passes after a warm-up,
    in ``runtime``) to the summary, and the total. The time between one layer's
    report and the next's is that layer's; a framework runtime's per-layer report
    copies its outputs out, which the figure includes. Without weights the layers
    get seeded ones (time does not depend on values). ``inputs`` (name -> array, e.g. a
    preprocessed image) replaces the seeded noise fed by default."""
    import time

    import numpy as np

    from .. import runtime as rt

    if any(layer.impl.param_shapes(net.plan().bottom_shapes(layer)) and not layer.params
           for layer in net.layers):
        from ..zoo.anynet import init_params

        net = net.replace(layers=[layer.replace() for layer in net.layers])
        init_params(net, 0)
    rng = np.random.default_rng(0)
    if inputs is None:
        inputs = {n: rng.standard_normal(s).astype(np.float32) for n, s in net.inputs.items()}
    r = rt.create(runtime, net)
    best = {layer.name: float("inf") for layer in net.layers}
    for i in range(repeat + 1):
        stamps = []
        start = time.perf_counter()
        r.forward(inputs, on_layer=lambda name, tops: stamps.append((name, time.perf_counter())))
        if i == 0:
            continue  # warm-up
        prev = start
        for name, t in stamps:
            best[name] = min(best[name], t - prev)
            prev = t
    for lay in summary["layers"]:
        lay["ms"] = round(best[lay["name"]] * 1e3, 3)
    summary["totals"]["ms"] = round(sum(l["ms"] for l in summary["layers"]), 3)
    summary["benchmark"] = {"runtime": runtime, "repeat": repeat}
