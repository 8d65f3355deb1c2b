"""The verify report in three forms, written into one directory:

* ``report.json``: the report object itself (schema ``convertkit.verify/1``, the same
  object ``verify --json`` prints);
* ``report.md``: the verdicts, first divergences and the per-layer table, for a pull
  request or a terminal;
* ``report.html``: one self-contained page (pictures embedded as ``data:`` URIs, the
  plot as inline SVG, no scripts, nothing fetched) with the verdict per runtime, the
  error against depth, the input pictures, each runtime's predicted segmentation in
  the dataset's colours, a heat map of where predictions disagree, and the per-layer
  table.
"""
from __future__ import annotations

import json
import math
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np

from ..fileio import atomic_write, check_output_dir, check_outputs
from . import kinds as K
from . import palettes, plot, png

if TYPE_CHECKING:
    from .pipeline import Result

FILES = ("report.json", "report.md", "report.html")


def write(result: Result, directory: str | Path, *, force: bool = False,
          inputs: Iterable[str | Path] = ()) -> list[Path]:
    """Write the three report files into ``directory``; returns their paths. An
    existing report is replaced only with ``force``, never one of ``inputs``."""
    directory = check_output_dir(directory, (".json", ".md", ".html"))
    paths = [directory / f for f in FILES]
    check_outputs(paths, inputs=list(inputs), force=force)
    report = result.report
    with atomic_write(paths[0], "w") as fh:
        fh.write(to_json(report))
    with atomic_write(paths[1], "w") as fh:
        fh.write(markdown(report))
    with atomic_write(paths[2], "w") as fh:
        fh.write(html(report, result.visuals))
    return paths


def to_json(report: dict) -> str:
    return json.dumps(report, indent=1, allow_nan=False) + "\n"


# -- shared wording --------------------------------------------------------------------------

def _fmt(x, digits: int = 2) -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if x == 0:
        return "0"
    return f"{x:.{digits}e}"


def _how(s: dict) -> str:
    """What was compared for one runtime, in a few words."""
    if s.get("params_only"):
        return "params (identical)" if s.get("params_identical") else "params only"
    if s["per_layer"] is None:
        return "-"
    if not s["per_layer"]:
        return "outputs only"
    return {"none": "outputs (auto)", "where outputs diverged": "per layer (auto)"}.get(
        s.get("layers_compared"), "per layer")


def _first(fd: dict | None) -> str:
    if fd is None:
        return "-"
    where = f"{fd['layer']} ({fd['type']}, #{fd['index']})"
    extra = " [outputs only]" if fd.get("outputs_only") else ""
    extra += " [params]" if fd.get("params_only") else ""
    return f"{where}: {_fmt(fd['max_rel'])}{extra}"


def _agreement(s: dict) -> tuple[str, str]:
    outs = [o for o in s["outputs"].values() if "argmax_agreement" in o]
    if not outs:
        return "-", "-"
    o = outs[0]
    iou = "-" if o.get("kind") == "classification" else f"{o['mean_iou']:.4f}"
    return f"{o['argmax_agreement'] * 100:.4f}%", iou


def headline(report: dict) -> str:
    """One line: the verdict and, when there is one, the first divergence."""
    n = sum(1 for v in report["variants"] for s in v["subjects"] if s["verdict"] != "skipped")
    fd = report["first_divergence"]
    line = f"verdict: {report['verdict'].upper()} ({n} runtime runs against numpy, rtol {report['rtol']:g})"
    if fd is not None:
        line += (f"; first divergence: layer '{fd['layer']}' ({fd['type']}) in {fd['runtime']} "
                 f"[bn {fd['bn']}], max rel {_fmt(fd['max_rel'])}")
    return line


# -- preprocessing -----------------------------------------------------------------------------

def _preprocessing(report: dict) -> str | None:
    """What was applied to the images (report["preprocessing"], see convertkit.runtime.preprocess),
    or None for --input arrays."""
    prep = report.get("preprocessing")
    if not prep:
        return None
    origins = sorted({o for o in prep.get("from", {}).values() if o not in ("flag", "net")})
    return prep["summary"] + (f" (from: {', '.join(origins)})" if origins else "")


# -- markdown --------------------------------------------------------------------------------

def markdown(report: dict) -> str:
    m = report["model"]
    lines = [f"# convertkit verify: {report['verdict'].upper()}", ""]
    lines.append(f"- model: `{m['prototxt']}`" + (f" + `{m['caffemodel']}`" if m["caffemodel"] else ""))
    ins = ", ".join(f"{n} {'x'.join(map(str, s))}" for n, s in m["inputs"].items())
    kinds = m.get("output_kinds") or {}
    outs = ", ".join(f"{o} ({kinds[o]})" if o in kinds else o for o in m["outputs"])
    lines.append(f"- input: {ins}; {m['layers']} layers; outputs {outs}")
    lines.append(f"- reference: numpy runtime; tolerance max|diff| <= {report['rtol']:g} x max|ref| per blob")
    src = report["source"]
    how = {"direct": "runtimes built from the net", "converted": f"files in `{src['directory']}`",
           "fresh-conversion": "a fresh conversion to " + ", ".join(src["formats"])}[src["mode"]]
    lines.append(f"- runtimes read: {how}")
    lines.append(f"- inputs: {', '.join(i['name'] for i in report['inputs'])}")
    if _preprocessing(report):
        lines.append(f"- preprocessing: {_preprocessing(report)}")
    lines.append(f"- {headline(report)}")
    lines.append("")
    for v in report["variants"]:
        lines.append(f"## BN {v['bn']}" + (" (RGB input)" if v["rgb"] else ""))
        lines.append("")
        lines.append("| runtime | file | compared | verdict | first divergence | worst layer | argmax agreement | mean IoU | s |")
        lines.append("|---|---|---|---|---|---|---|---|---|")
        for s in v["subjects"]:
            agree, iou = _agreement(s)
            worst = f"{s['worst']['layer']}: {_fmt(s['worst']['max_rel'])}" if s["worst"] else "-"
            lines.append(f"| {s['name']} | {Path(s['file']).name if s['file'] else '-'} | {_how(s)} "
                         f"| **{s['verdict']}** | {_first(s['first_divergence'])} | {worst} | {agree} "
                         f"| {iou} | {s['seconds']:.2f} |")
        lines.append("")
        for s in v["subjects"]:
            for o, out in s["outputs"].items():
                if "top1_agreement" in out:
                    lines.append(f"- {s['name']}: {o} (classification): top-1 agreement "
                                 f"{out['top1_agreement'] * 100:.2f}%, top-5 agreement "
                                 f"{out['top5_agreement'] * 100:.2f}% over {out['rows']} rows")
            if s["message"]:
                lines.append(f"- {s['name']}: {s['message']}")
            for note in s["notes"]:
                lines.append(f"- {s['name']}: {note}")
        if v["fold_check"]:
            fc = v["fold_check"]
            worst = max((o["max_rel"] for o in fc["outputs"].values()),
                        key=lambda r: float("inf") if isinstance(r, str) else r, default=0)
            lines.append(f"- fold check (numpy, bn {v['bn']} against bn {fc['against']}, outputs): "
                         f"**{fc['verdict']}**, max rel {_fmt(worst)}")
        for note in v["notes"]:
            lines.append(f"- note: {note}")
        lines.append("")
        per_layer = [s for s in v["subjects"] if s["layers"]]
        if per_layer:
            lines.append("### Per layer: max|diff| / max|ref|")
            lines.append("")
            lines.append("| # | layer | type | " + " | ".join(s["name"] for s in per_layer) + " |")
            lines.append("|---|---|---|" + "---|" * len(per_layer))
            for i, layer in enumerate(v["layer_names"]):
                cells = []
                for s in per_layer:
                    row = s["layers"][i]
                    if not row["compared"]:
                        cells.append("n/a")
                    else:
                        mark = "" if row["within"] else " **!**"
                        cells.append(_fmt(row["max_rel"]) + mark)
                lines.append(f"| {i} | {layer['name']} | {layer['type']} | " + " | ".join(cells) + " |")
            lines.append("")
    if report["notes"]:
        lines.append("## Notes")
        lines.append("")
        lines.extend(f"- {n}" for n in report["notes"])
        lines.append("")
    return "\n".join(lines)


# -- HTML ------------------------------------------------------------------------------------

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px;
       color: #1d1d1f; background: #fff; max-width: 1500px; }
h1 { font-size: 22px; margin: 0 0 6px 0; } h2 { font-size: 18px; margin-top: 28px; }
h3 { font-size: 15px; margin: 18px 0 6px 0; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 10px; color: #fff;
         font-weight: bold; font-size: 13px; }
.pass { background: #1a7f37; } .fail { background: #cf222e; } .error { background: #bc4c00; }
.skipped { background: #8c959f; }
table { border-collapse: collapse; font-size: 12.5px; margin: 6px 0 12px 0; }
th, td { border: 1px solid #d0d7de; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.ok { background: #dafbe1; } td.bad { background: #ffcecb; font-weight: bold; }
td.na { color: #8c959f; }
.meta { color: #57606a; font-size: 13px; margin: 2px 0; }
.msg { color: #57606a; font-size: 12px; max-width: 520px; } .err { color: #bc4c00; }
.figs { display: flex; flex-wrap: wrap; gap: 10px; margin: 8px 0 18px 0; }
figure { margin: 0; } figcaption { font-size: 11.5px; color: #57606a; max-width: 260px;
       overflow-wrap: anywhere; }
figure img { width: 256px; border: 1px solid #d0d7de; display: block; }
img.labels { image-rendering: pixelated; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 12px; font-size: 11.5px; margin: 4px 0 10px 0; }
.swatch { display: inline-block; width: 12px; height: 12px; border: 1px solid #999;
          vertical-align: middle; margin-right: 3px; }
details > summary { cursor: pointer; font-weight: bold; margin: 6px 0; }
.scroll { max-height: 640px; overflow: auto; display: inline-block; }
tr.first td { border-top: 2px solid #cf222e; border-bottom: 2px solid #cf222e; }
tr:target td { outline: 2px solid #0969da; }
"""


def _badge(verdict: str) -> str:
    return f'<span class="badge {escape(verdict)}">{escape(verdict.upper())}</span>'


def _img(pixels: np.ndarray, alt: str, caption: str, labels: bool = False) -> str:
    cls = ' class="labels"' if labels else ""
    return (f'<figure><img{cls} src="{png.data_uri(pixels)}" alt="{escape(alt)}">'
            f"<figcaption>{caption}</figcaption></figure>")


def _nearest(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``a`` (H x W [x 3]) resampled to ``shape`` by nearest neighbour."""
    h, w = a.shape[:2]
    ys = np.minimum((np.arange(shape[0]) * h) // shape[0], h - 1)
    xs = np.minimum((np.arange(shape[1]) * w) // shape[1], w - 1)
    return a[ys][:, xs]


def heat_map(reference: np.ndarray, others: list[np.ndarray], picture: np.ndarray | None) -> tuple[np.ndarray, int]:
    """Where predictions disagree with the reference: the input, greyed, with red
    whose strength is the share of runtimes that disagree at that pixel. Returns the
    picture and the number of pixels where any runtime disagrees."""
    count = np.zeros(reference.shape, np.float32)
    for labels in others:
        if labels.shape == reference.shape:
            count += labels != reference
    share = count / max(1, len(others))
    if picture is not None:
        base = _nearest(picture, reference.shape).astype(np.float32).mean(axis=2)
        base = 170 + base * (80 / 255)
    else:
        base = np.full(reference.shape, 235, np.float32)
    rgb = np.repeat(base[:, :, None], 3, axis=2)
    red = np.array([214, 39, 40], np.float32)
    alpha = np.where(share > 0, 0.35 + 0.65 * share, 0)[:, :, None]
    rgb = rgb * (1 - alpha) + red * alpha
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8), int((count > 0).sum())


def _legend(classes_seen: set[int], colours: np.ndarray, names: list[str] | None) -> str:
    items = []
    for c in sorted(classes_seen):
        r, g, b = (int(v) for v in colours[c % len(colours)])
        name = names[c] if names and c < len(names) else f"class {c}"
        items.append(f'<span><span class="swatch" style="background:rgb({r},{g},{b})"></span>'
                     f"{c}: {escape(name)}</span>")
    return '<div class="legend">' + "".join(items) + "</div>"


def _verdict_table(report: dict) -> str:
    rows = ["<table><tr><th>BN</th><th>runtime</th><th>file</th><th>compared</th><th>verdict</th>"
            "<th>first divergence</th><th>worst layer</th><th>argmax agreement</th>"
            "<th>mean IoU</th><th>seconds</th><th>message</th></tr>"]
    for v in report["variants"]:
        for s in v["subjects"]:
            agree, iou = _agreement(s)
            worst = (f"{escape(s['worst']['layer'])}: {_fmt(s['worst']['max_rel'])}"
                     if s["worst"] else "-")
            msg = (f'<span class="err">{escape(s["message"])}</span> ' if s["message"] else "")
            msg += " ".join(escape(n) for n in s["notes"])
            first = escape(_first(s["first_divergence"]))
            if s["first_divergence"] is not None and s["layers"]:
                first = f'<a href="#{_row_id(v, s["first_divergence"]["index"])}">{first}</a>'
            rows.append(
                f"<tr><td>{escape(v['bn'])}</td><td>{escape(s['name'])}</td>"
                f"<td>{escape(Path(s['file']).name) if s['file'] else '-'}</td>"
                f"<td>{_how(s)}</td><td>{_badge(s['verdict'])}</td>"
                f"<td>{first}</td><td>{worst}</td>"
                f'<td class="num">{agree}</td><td class="num">{iou}</td>'
                f'<td class="num">{s["seconds"]:.2f}</td><td class="msg">{msg}</td></tr>')
        fc = v["fold_check"]
        if fc:
            worst = max((o["max_rel"] for o in fc["outputs"].values()),
                        key=lambda r: float("inf") if isinstance(r, str) else r, default=0)
            rows.append(f"<tr><td>{escape(v['bn'])}</td><td>numpy (fold check)</td><td>-</td>"
                        f"<td>outputs vs bn {escape(fc['against'])}</td><td>{_badge(fc['verdict'])}</td>"
                        f"<td>-</td><td>{_fmt(worst)}</td><td></td><td></td><td></td><td></td></tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _layer_table(v: dict, rtol: float) -> str:
    per_layer = [s for s in v["subjects"] if s["layers"]]
    if not per_layer:
        return "<p class=\"meta\">No runtime reported per-layer outputs.</p>"
    head = "".join(f"<th>{escape(s['name'])}</th>" for s in per_layer)
    rows = [f'<div class="scroll"><table><tr><th>#</th><th>layer</th><th>type</th>{head}</tr>']
    firsts = {s["first_divergence"]["index"] for s in per_layer if s["first_divergence"]}
    for i, layer in enumerate(v["layer_names"]):
        cells = []
        for s in per_layer:
            row = s["layers"][i]
            if not row["compared"]:
                cells.append('<td class="na">n/a</td>')
                continue
            cls = "ok" if row["within"] else "bad"
            tip = (f"max abs {_fmt(row['max_abs'])}, mean abs {_fmt(row['mean_abs'])}, "
                   f"cosine {row['cosine']}")
            cells.append(f'<td class="num {cls}" title="{escape(tip)}">{_fmt(row["max_rel"])}</td>')
        mark = ' class="first"' if i in firsts else ""
        rows.append(f'<tr id="{_row_id(v, i)}"{mark}><td class="num">{i}</td>'
                    f"<td>{escape(layer['name'])}</td><td>{escape(layer['type'])}</td>"
                    f"{''.join(cells)}</tr>")
    rows.append("</table></div>")
    return "\n".join(rows)


def _row_id(v: dict, index: int) -> str:
    return f"layer-{v['bn']}-{index}"


def _plot(v: dict, rtol: float) -> str:
    series = []
    for s in v["subjects"]:
        if s["verdict"] in ("error", "skipped") or s.get("params_only"):
            continue
        if s["layers"]:
            pts = [(r["index"], r["max_rel"]) for r in s["layers"] if r["compared"]]
            series.append({"name": s["name"], "points": pts})
        elif s["blobs"]:
            series.append({"name": s["name"], "markers": True,
                           "points": [(b["index"], b["max_rel"]) for b in s["blobs"]]})
    return plot.error_by_depth(series, v["layers"], rtol,
                               title=f"max|diff| / max|ref| per layer (BN {v['bn']})")


def _pictures(report: dict, visuals: dict | None) -> str:
    """Per input: the input, the reference's prediction, one picture per distinct
    prediction of the runtimes (runtimes that predict exactly the same classes share
    it, and each is named under it), and the disagreement heat map."""
    if not visuals:
        return "<p class=\"meta\">Pictures were not kept for this report.</p>"
    classes = report["model"]["classes"]
    if not classes:
        return "<p class=\"meta\">The net's output is not a class score map: no segmentation to show.</p>"
    colours, names, pname = palettes.palette(classes)
    parts = [f'<p class="meta">Colours: {escape(pname)} palette ({classes} classes). Runtimes '
             "that predict exactly the same classes share one picture. Heat map: red where "
             "runtimes predict another class than the reference (stronger = more runtimes).</p>"]
    for i, sample in enumerate(report["inputs"]):
        picture = visuals["pictures"][i]
        parts.append(f"<h3>{escape(sample['name'])}</h3>")
        for v in visuals["variants"]:
            if i >= len(v["reference"]) or not v["reference"][i]:
                continue
            ref = next(iter(v["reference"][i].values()))
            seen, others = set(np.unique(ref).tolist()), []
            same, groups = [], {}  # identical to the reference; label bytes -> (labels, names)
            for sub in v["subjects"]:
                labels = sub["labels"].get(i)
                if labels is None:
                    continue
                others.append(labels)
                if labels.shape == ref.shape and np.array_equal(labels, ref):
                    same.append(sub["name"])
                    continue
                key = labels.tobytes() + str(labels.shape).encode()
                groups.setdefault(key, (labels, []))[1].append(sub["name"])
            figs = []
            if picture is not None:
                figs.append(_img(picture, f"input {sample['name']}", "input (as the net sees it)"))
            caption = f"numpy reference (BN {escape(v['bn'])})"
            if same:
                caption += "; the same classes from " + escape(", ".join(same))
            figs.append(_img(palettes.colourise(ref, colours), "numpy reference prediction",
                             caption, labels=True))
            for labels, who in groups.values():
                seen.update(np.unique(labels).tolist())
                differ = int((labels != ref).sum()) if labels.shape == ref.shape else labels.size
                figs.append(_img(palettes.colourise(labels, colours), f"{who[0]} prediction",
                                 f"{escape(', '.join(who))}: {differ} pixels differ", labels=True))
            heat, n = heat_map(ref, others, picture)
            caption = ("disagreement: none" if n == 0 else f"disagreement: {n} pixels")
            figs.append(_img(heat, "disagreement heat map", caption, labels=True))
            parts.append('<div class="figs">' + "".join(figs) + "</div>")
            parts.append(_legend(seen, colours, names))
    return "\n".join(parts)


# -- outputs by kind (verify/kinds.py) ---------------------------------------------------------

_REF_COLOUR = (26, 127, 55)    # the reference's points and boxes
_RUN_COLOUR = (207, 34, 46)    # a runtime's, drawn over them


def _outputs(report: dict, visuals: dict | None) -> str:
    """Each output shown in its own terms: segmentation maps, classification top-5
    tables, regression values (and points), output images, detection boxes. Any other
    output has the numeric tables alone."""
    kinds = report["model"].get("output_kinds") or {}
    parts = []
    if "segmentation" in kinds.values():
        parts.append(_pictures(report, visuals))
    for o, kind in kinds.items():
        show = {"classification": _classification, "regression": _regression,
                "image": _image_outputs, "detection": _detections}.get(kind)
        if show is not None:
            parts.append(f"<h3>{escape(o)} ({kind})</h3>")
            parts.append(show(report, visuals, o))
    others = [o for o, k in kinds.items() if k == "values"]
    if others:
        parts.append(f'<p class="meta">{escape(", ".join(others))}: compared as numbers only '
                     "(see the tables above).</p>")
    return "\n".join(parts) or '<p class="meta">No outputs to show.</p>'


def _views(visuals: dict | None, o: str):
    """Per variant, per input: (reference view, [(runtime, view)]) of output ``o``."""
    if not visuals:
        return
    for v in visuals["variants"]:
        for i, ref in enumerate(v.get("reference_views", [])):
            if ref.get(o) is None:
                continue
            runs = [(sub["name"], sub["views"][i][o]) for sub in v["subjects"]
                    if o in sub.get("views", {}).get(i, {})]
            yield v["bn"], i, ref[o], runs


def _output_rows(report: dict, o: str, extra) -> str:
    """Per runtime: max|diff| in the output's own units, and ``extra`` columns."""
    heads, _ = extra(None)
    rows = ["<table><tr><th>BN</th><th>runtime</th><th>max |diff|</th><th>mean |diff|</th>"
            + "".join(f"<th>{h}</th>" for h in heads) + "</tr>"]
    for v in report["variants"]:
        for s in v["subjects"]:
            out = s["outputs"].get(o)
            if out is None:
                continue
            cls = "ok" if out["within"] else "bad"
            cells = "".join(f'<td class="num">{c}</td>' for c in extra(out)[1])
            rows.append(f"<tr><td>{escape(v['bn'])}</td><td>{escape(s['name'])}</td>"
                        f'<td class="num {cls}">{_fmt(out["max_abs"])}</td>'
                        f'<td class="num">{_fmt(out["mean_abs"])}</td>{cells}</tr>')
    rows.append("</table>")
    return "\n".join(rows)


def _classification(report: dict, visuals: dict | None, o: str) -> str:
    def extra(out):
        if out is None:
            return ("top-1 agreement", "top-5 agreement", "rows"), ()
        return (), (f"{out.get('top1_agreement', 1) * 100:.2f}%",
                    f"{out.get('top5_agreement', 1) * 100:.2f}%", out.get("rows", "-"))

    parts = [_output_rows(report, o, extra)]
    for bn, i, ref, runs in _views(visuals, o):
        name = report["inputs"][i]["name"]
        for r, row in enumerate(ref):
            parts.append(f'<p class="meta">{escape(name)}, row {r} (BN {escape(bn)}): top '
                         f"{len(row)} classes (class: score)</p>")
            lines = [("numpy reference", row)] + [(who, vw[r]) for who, vw in runs if r < len(vw)]
            cells = ["<table><tr><th>runtime</th>"
                     + "".join(f"<th>#{k + 1}</th>" for k in range(len(row))) + "</tr>"]
            for who, top in lines:
                tds = "".join(
                    f'<td class="num{"" if (c == row[k][0] if k < len(row) else False) else " bad"}">'
                    f"{c}: {score:.5g}</td>" for k, (c, score) in enumerate(top))
                cells.append(f"<tr><td>{escape(who)}</td>{tds}</tr>")
            cells.append("</table>")
            parts.append("\n".join(cells))
    return "\n".join(parts)


def _regression(report: dict, visuals: dict | None, o: str) -> str:
    """The error table; when the output is 2·K values (K >= 3) of an image input, the
    values drawn as K points on it: the reference's in green, every runtime's in red."""
    parts = [_output_rows(report, o, lambda out: ((), ()))]
    pictures = (visuals or {}).get("pictures") or []
    figs = []
    for bn, i, ref, runs in _views(visuals, o):
        shape = next(iter(report["inputs"][i]["shape"].values()))
        picture = pictures[i] if i < len(pictures) else None
        if picture is None or ref.size % 2 or ref.size < 6 or len(shape) != 4:
            continue
        scale = picture.shape[0] / shape[2]
        pts, how = K.points_of(ref, (shape[2], shape[3]))
        pic, far = K.draw_points(picture, pts, _REF_COLOUR, scale), (0.0, "-")
        for who, vals in runs:
            got, _ = K.points_of(vals, (shape[2], shape[3]))
            off = float(np.abs(got - pts).max(initial=0)) if got.shape == pts.shape else math.inf
            far = max(far, (off, who))
            pic = K.draw_points(pic, got, _RUN_COLOUR, scale)
        figs.append(_img(pic, f"{o} points", f"{escape(report['inputs'][i]['name'])} (BN "
                         f"{escape(bn)}): {len(pts)} points read as {how}; {len(runs)} runtimes "
                         f"in red over the reference's green, farthest {far[0]:.3g} px "
                         f"({escape(far[1])})"))
    if figs:
        parts.append('<div class="figs">' + "".join(figs) + "</div>")
    return "\n".join(parts)


def _image_outputs(report: dict, visuals: dict | None, o: str) -> str:
    """Per input: the reference's output picture, each distinct picture the runtimes
    give (runtimes whose 8-bit pictures are identical share one), and per runtime a map
    of where its output differs."""
    parts = [_output_rows(report, o, lambda out: ((), ()))]
    pictures = (visuals or {}).get("pictures") or []
    for bn, i, ref, runs in _views(visuals, o):
        lo, hi = float(ref.min(initial=0)), float(ref.max(initial=0))
        tol = report["rtol"] * max(abs(lo), abs(hi))
        shown = K.image_picture(ref, lo, hi)
        same, groups, diffs = [], {}, []
        for who, img in runs:
            pic = K.image_picture(img, lo, hi)
            if pic.shape == shown.shape and np.array_equal(pic, shown):
                same.append(who)
            else:
                groups.setdefault(pic.tobytes() + str(pic.shape).encode(), (pic, []))[1].append(who)
            diff, top = K.difference_map(img, ref, tol)
            diffs.append(_img(diff, f"{who} difference", f"{escape(who)}: |diff| up to "
                              f"{_fmt(top)}; full red at the tolerance, {_fmt(tol)}"))
        caption = (f"{escape(report['inputs'][i]['name'])}: numpy reference (BN {escape(bn)}), "
                   f"values {lo:.4g} to {hi:.4g}")
        if same:
            caption += "; the same picture from " + escape(", ".join(same))
        figs = [_img(pictures[i], "input", "input (as the net sees it)")] \
            if i < len(pictures) and pictures[i] is not None else []
        figs.append(_img(shown, "reference output", caption))
        figs += [_img(pic, f"{who[0]} output", escape(", ".join(who))) for pic, who in groups.values()]
        parts.append('<div class="figs">' + "".join(figs + diffs) + "</div>")
    return "\n".join(parts)


def _detections(report: dict, visuals: dict | None, o: str) -> str:
    parts = [_output_rows(report, o, lambda out: ((), ())),
             '<p class="meta">Detections are compared as a set of rows (their order is not '
             "part of their meaning); boxes: the reference's in green, the runtime's in red "
             "over them.</p>"]
    pictures = (visuals or {}).get("pictures") or []
    for bn, i, ref, runs in _views(visuals, o):
        picture = pictures[i] if i < len(pictures) else None
        if picture is None:
            continue
        found = int((ref[:, 1] >= 0).sum())
        figs = [_img(K.draw_boxes(picture, ref, _REF_COLOUR), "reference detections",
                     f"{escape(report['inputs'][i]['name'])}: numpy reference (BN {escape(bn)}), "
                     f"{found} detections")]
        for who, rows in runs:
            pic = K.draw_boxes(K.draw_boxes(picture, ref, _REF_COLOUR), rows, _RUN_COLOUR)
            figs.append(_img(pic, f"{who} detections",
                             f"{escape(who)}: {int((rows[:, 1] >= 0).sum())} detections"))
        parts.append('<div class="figs">' + "".join(figs) + "</div>")
    return "\n".join(parts)


def html(report: dict, visuals: dict | None) -> str:
    m = report["model"]
    title = f"convertkit verify: {Path(m['prototxt']).name if m['prototxt'] else m['name'] or 'net'}"
    ins = ", ".join(f"{escape(n)} {'x'.join(map(str, s))}" for n, s in m["inputs"].items())
    src = report["source"]
    how = {"direct": "runtimes built from the net",
           "converted": f"converted files in {escape(str(src['directory']))}",
           "fresh-conversion": "a fresh conversion to " + escape(", ".join(src["formats"]))}[src["mode"]]
    body = [f"<h1>{escape(title)} {_badge(report['verdict'])}</h1>",
            f'<p class="meta">{escape(headline(report))}</p>',
            f'<p class="meta">model: {escape(str(m["prototxt"]))}'
            + (f" + {escape(str(m['caffemodel']))}" if m["caffemodel"] else "")
            + f"; input {ins}; {m['layers']} layers; {m['params']:,} params; outputs "
            + escape(", ".join(m["outputs"])) + "</p>",
            f'<p class="meta">reference: the numpy runtime (Caffe semantics); runtimes read {how}; '
            f"tolerance max|diff| &le; {report['rtol']:g} &times; max|ref| for every layer's own "
            f"outputs; convertkit {escape(report['convertkit'])}; {report['seconds']:.1f} s</p>",
            *([f'<p class="meta">preprocessing: {escape(_preprocessing(report))}</p>']
              if _preprocessing(report) else []),
            "<h2>Verdict per runtime</h2>", _verdict_table(report),
            "<h2>Error against depth</h2>"]
    for v in report["variants"]:
        body.append(_plot(v, report["rtol"]))
    body.append("<h2>Outputs</h2>")
    body.append(_outputs(report, visuals))
    body.append("<h2>Per-layer comparison</h2>")
    for v in report["variants"]:
        body.append(f"<details{' open' if len(report['variants']) == 1 else ''}>"
                    f"<summary>BN {escape(v['bn'])}: {v['layers']} layers "
                    "(each cell: max|diff| / max|ref| of the layer's own outputs; hover for "
                    "max abs, mean abs and cosine)</summary>")
        body.append(_layer_table(v, report["rtol"]))
        body.append("</details>")
    notes = list(report["notes"]) + [f"BN {v['bn']}: {n}" for v in report["variants"] for n in v["notes"]]
    if notes:
        body.append("<h2>Notes</h2><ul>" + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")
