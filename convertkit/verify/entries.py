"""The report object's parts: one subject's entry, and the figures and pictures it
keeps (worst values, classes, downsampled label maps, one-line messages)."""
from __future__ import annotations

import math

import numpy as np

from ..errors import ConvertError
from ..graph import Net
from . import metrics as M

#: Longest side of the images kept for the report (inputs, predictions, heat maps).
REPORT_SIDE = 512


def subject_entry(track, v, rtol: float) -> dict:
    """One subject's part of the report: ``track`` (the pipeline's record of one
    subject) in BN variant ``v``."""
    s = track.subject
    entry = {
        "name": s.name, "runtime": s.runtime, "format": s.fmt,
        "file": str(s.path) if s.path is not None else None,
        "per_layer": track.per_layer if track.error is None and track.skipped is None else None,
        "verdict": "pass", "message": None, "first_divergence": None, "worst": None,
        "outputs": {}, "layers": [], "blobs": [],
        "notes": list(dict.fromkeys(track.notes + ([track.cut] if track.cut else []))),
        "seconds": round(track.seconds + track.open_seconds, 3),
        "open_seconds": round(track.open_seconds, 3),
        "forward_seconds": round(track.forward_seconds, 3),
        "convert_seconds": round(track.convert_seconds, 3) if track.convert_seconds else None,
        "ends_at": ({"blobs": track.net.outputs, "why": track.cut} if track.net is not None
                    else None),
    }
    if track.skipped is not None:
        entry.update(verdict="skipped", message=track.skipped)
        return entry
    if track.ties:
        entry["near_ties"] = {name: {"flips": n, "max_value_diff": M._num(gap)}
                              for name, (n, gap) in track.ties.items()}
        for name, (n, gap) in track.ties.items():
            entry["notes"].append(
                f"{n} near-tie index flip{'s' if n > 1 else ''} in {name} (values within "
                f"{gap:.1g}): the layers after it are compared with the reference computed "
                "from this runtime's choice")
    if track.error is not None:
        entry.update(verdict="error", message=track.error)
        return entry
    for o, d in track.outputs.items():
        item = dict(d.as_dict(), within=d.within(rtol), kind=v.kinds.get(o, "values"))
        if o in track.agreement:
            item.update(track.agreement[o].as_dict())
        if o in track.topk:
            top1, top5, rows = track.topk[o]
            item.update(top1_agreement=top1 / rows if rows else 1.0,
                        top5_agreement=top5 / rows if rows else 1.0, rows=rows)
        entry["outputs"][o] = item
    rows = []
    net = v.net
    if track.per_layer and not track.hooked:
        entry["notes"].append("outputs within tolerance: layers not compared (--layers auto)")
    entry["layers_compared"] = ("all" if track.per_layer and track.hooked == track.images
                                else "where outputs diverged" if track.per_layer and track.hooked
                                else "none")
    if track.per_layer and track.hooked:
        for i, layer in enumerate(net.layers):
            diffs = [track.layers[(layer.name, k)] for k in range(len(layer.tops))
                     if (layer.name, k) in track.layers]
            if not diffs:
                rows.append({"index": i, "name": layer.name, "type": layer.type, "compared": False})
                continue
            d = M.Diff()
            for part in diffs:
                d.add(part, part.worst_image)
            rows.append(dict({"index": i, "name": layer.name, "type": layer.type,
                              "compared": True}, **d.as_dict(), within=d.within(rtol),
                             image=d.worst_image))
        entry["layers"] = rows
        writer = {}
        for i, layer in enumerate(net.layers):
            for k, top in enumerate(layer.tops):
                writer[top] = (i, layer.name, k)
        for blob, (i, lname, k) in writer.items():
            d = track.layers.get((lname, k))
            if d is not None:
                entry["blobs"].append(dict({"name": blob, "writer": lname, "index": i},
                                           **d.as_dict(), within=d.within(rtol)))
        missing = [r["name"] for r in rows if not r["compared"]]
        if missing:
            entry["notes"].append(f"{len(missing)} layers not reported by this runtime: "
                                  + ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
        bad = [r for r in rows if r["compared"] and not r["within"]]
        if bad:
            r = bad[0]
            entry["first_divergence"] = {"layer": r["name"], "type": r["type"], "index": r["index"],
                                         "max_rel": r["max_rel"], "image": r["image"],
                                         "outputs_only": False}
        compared = [r for r in rows if r["compared"]]
        if compared:
            worst = max(compared, key=lambda r: _key(r["max_rel"]))
            entry["worst"] = {"layer": worst["name"], "max_rel": worst["max_rel"]}
    else:
        writer = {}
        for i, layer in enumerate(net.layers):
            for top in layer.tops:
                writer[top] = (i, layer)
        bad = [o for o, d in track.outputs.items() if not d.within(rtol)]
        for o, d in track.outputs.items():
            i, layer = writer.get(o, (len(net.layers) - 1, net.layers[-1]))
            entry["blobs"].append(dict({"name": o, "writer": layer.name, "index": i},
                                       **d.as_dict(), within=d.within(rtol)))
        if bad:
            i, layer = writer.get(bad[0], (len(net.layers) - 1, net.layers[-1]))
            d = track.outputs[bad[0]]
            entry["first_divergence"] = {"layer": layer.name, "type": layer.type, "index": i,
                                         "max_rel": M._num(d.max_rel), "image": d.worst_image,
                                         "outputs_only": True}
        if track.outputs:
            o, d = max(track.outputs.items(), key=lambda kv: _key(kv[1].max_rel))
            entry["worst"] = {"layer": writer.get(o, (0, net.layers[-1]))[1].name,
                              "max_rel": M._num(d.max_rel)}
    if track.param_rel:
        entry["params_max_rel"] = M._num(max(track.param_rel.values()))
    if track.params_only:
        entry["per_layer"] = False
        entry["params_only"] = True
        entry["params_identical"] = bool(getattr(track.runner, "identical", False))
        if track.param_rel:
            layer, rel = max(track.param_rel.items(), key=lambda kv: _key(kv[1]))
            entry["worst"] = {"layer": layer, "max_rel": M._num(rel)}
        for i, layer in enumerate(net.layers):
            rel = track.param_rel.get(layer.name)
            if rel is not None and not rel <= rtol:
                entry["first_divergence"] = {"layer": layer.name, "type": layer.type, "index": i,
                                             "max_rel": M._num(rel), "image": None,
                                             "outputs_only": False, "params_only": True}
                break
    if entry["first_divergence"] is not None or any(not x["within"] for x in entry["outputs"].values()):
        entry["verdict"] = "fail"
    return entry


def _key(x) -> float:
    if isinstance(x, str):
        return math.inf if x in ("inf", "nan") else -math.inf
    return float(x)


def output_classes(net: Net, kinds: dict[str, str]) -> int | None:
    """Classes of the first output that is a segmentation score map, if any."""
    try:
        shapes = net.blob_shapes
    except ConvertError:
        return None
    for o in net.outputs:
        s = shapes.get(o)
        if kinds.get(o) == "segmentation" and s is not None:
            return int(s[1])
    return None


def small(a: np.ndarray | None) -> np.ndarray | None:
    """A label map (N x H x W or H x W) or a picture (H x W x 3), nearest-neighbour
    subsampled so that its longer side is at most REPORT_SIDE."""
    if a is None:
        return None
    if a.ndim == 3 and a.shape[-1] != 3:
        a = a[0]
    h, w = a.shape[:2]
    step = max(1, math.ceil(max(h, w) / REPORT_SIDE))
    if step == 1:
        return np.ascontiguousarray(a)
    ys = np.minimum(np.arange(0, h, step) + step // 2, h - 1)
    xs = np.minimum(np.arange(0, w, step) + step // 2, w - 1)
    return np.ascontiguousarray(a[ys][:, xs])


#: Longest message kept for one subject (a file of another architecture can make a
#: framework list thousands of keys).
MESSAGE_CHARS = 1500


def error_line(exc: BaseException) -> str:
    """One line for a subject's error: ConvertErrors as they read (file first), other
    exceptions as "Type: first line"; whitespace collapsed, at most MESSAGE_CHARS."""
    if isinstance(exc, ConvertError):
        text = str(exc)
    else:
        lines = str(exc).strip().splitlines()
        text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return shorten(" ".join(text.split()), MESSAGE_CHARS)


def shorten(text: str, limit: int) -> str:
    """``text`` cut at a clause boundary before ``limit`` characters, saying how much
    was left out."""
    if len(text) <= limit:
        return text
    cut = text.rfind("; ", 0, limit)
    cut = cut if cut > limit // 2 else limit
    return f"{text[:cut]} ... [{len(text) - cut} more characters]"
