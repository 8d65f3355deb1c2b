"""The report's plot: each runtime's error against depth, as inline SVG (no plotting
package; the report stays one self-contained file).

x is the layer's position in the graph, y the layer's max|diff| / max|ref| on a log
scale; the tolerance is a dashed line. A layer whose outputs match exactly sits on the
bottom edge ("exact"); a runtime that reports only the net's outputs is one marker at
the output layer.
"""
from __future__ import annotations

import math
from html import escape

#: Line colours, one per runtime (cycled).
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#637939")
#: The y axis: 10^LOW (and exact zeros) to 10^HIGH.
LOW, HIGH = -10, 1


def _y_value(rel) -> float | None:
    """log10 of a reported max_rel, clipped to the axis; None when unknown."""
    if rel is None:
        return None
    if isinstance(rel, str):
        return float(HIGH) if rel in ("inf", "nan") else None
    if rel <= 0:
        return float(LOW)
    return max(float(LOW), min(float(HIGH), math.log10(rel)))


def error_by_depth(series: list[dict], layers: int, rtol: float, title: str = "",
                   width: int = 860, height: int = 330) -> str:
    """An SVG plot. ``series``: [{"name", "points": [(layer index, max_rel)],
    "markers": bool}] (markers only, for runtimes that report outputs only)."""
    left, right, top, bottom = 64, 190, 28, 46
    pw, ph = width - left - right, height - top - bottom
    span = max(1, layers - 1)

    def x(i: float) -> float:
        return left + pw * (i / span)

    def y(v: float) -> float:
        return top + ph * (HIGH - v) / (HIGH - LOW)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title or "error by depth")}" '
           'font-family="sans-serif" font-size="11">',
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']
    if title:
        out.append(f'<text x="{left}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>')
    # grid and y labels
    for e in range(LOW, HIGH + 1):
        yy = y(e)
        out.append(f'<line x1="{left}" y1="{yy:.1f}" x2="{left + pw}" y2="{yy:.1f}" '
                   f'stroke="#e4e4e4" stroke-width="1"/>')
        label = "exact" if e == LOW else f"1e{e}"
        out.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end" fill="#555">{label}</text>')
    # x ticks
    step = max(1, 10 ** int(math.log10(max(1, span))) // 2)
    while span / step > 12:
        step *= 2
    for i in range(0, span + 1, step):
        xx = x(i)
        out.append(f'<line x1="{xx:.1f}" y1="{top + ph}" x2="{xx:.1f}" y2="{top + ph + 4}" stroke="#555"/>')
        out.append(f'<text x="{xx:.1f}" y="{top + ph + 16}" text-anchor="middle" fill="#555">{i}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>')
    out.append(f'<text x="{left + pw / 2:.1f}" y="{height - 8}" text-anchor="middle">'
               'layer (graph order)</text>')
    out.append(f'<text x="14" y="{top + ph / 2:.1f}" text-anchor="middle" '
               f'transform="rotate(-90 14 {top + ph / 2:.1f})">max|diff| / max|ref|</text>')
    # tolerance
    if rtol > 0:
        yt = y(max(LOW, min(HIGH, math.log10(rtol))))
        out.append(f'<line x1="{left}" y1="{yt:.1f}" x2="{left + pw}" y2="{yt:.1f}" '
                   'stroke="#000" stroke-dasharray="6 4" stroke-width="1.2"/>')
        out.append(f'<text x="{left + pw - 4}" y="{yt - 5:.1f}" text-anchor="end">'
                   f'tolerance {rtol:g}</text>')
    # series
    for k, s in enumerate(series):
        colour = COLOURS[k % len(COLOURS)]
        pts = [(x(i), y(v)) for i, rel in s["points"] if (v := _y_value(rel)) is not None]
        if not pts:
            continue
        if not s.get("markers") and len(pts) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                       'stroke-width="1.4" stroke-linejoin="round" opacity="0.85"/>')
        else:
            for px, py in pts:
                out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="4" fill="{colour}"/>')
        ly = top + 8 + 16 * k
        out.append(f'<line x1="{left + pw + 12}" y1="{ly}" x2="{left + pw + 30}" y2="{ly}" '
                   f'stroke="{colour}" stroke-width="3"/>')
        out.append(f'<text x="{left + pw + 35}" y="{ly + 4}">{escape(s["name"])}</text>')
    out.append("</svg>")
    return "\n".join(out)
