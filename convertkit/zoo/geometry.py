"""Size arithmetic of the zoo nets: which input sizes work, and the PSP pooling
windows and Interp sizes the official prototxts hard-code, derived for any size.

Every rule here is Caffe's own shape rule, written per spatial axis:

* Convolution: ``(h + 2p - (d(k-1)+1)) // s + 1`` (``conv_layer.cpp``, floor);
* Pooling: ``ceil((h + 2p - k) / s) + 1``, minus one when the last window would start
  inside the padding (``pooling_layer.cpp``, ceil mode);
* Interp ``shrink_factor f``: ``(h - 1) // f + 1``; ``zoom_factor z``: ``h + (h-1)(z-1)``
  (``interp_layer.cpp``).

The official files work at one input size only because the PSP pooling kernels and
the Interp ``height``/``width`` are written out as numbers. The zoo derives them from
the size of ``conv5_3``; the derivations below reproduce every published number
(CAFFE_SEMANTICS.md §2).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError

#: The pyramid bins, in the order the official files build the branches.
PSP_BINS = (1, 2, 3, 6)


def conv_out(h: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    return (h + 2 * p - (d * (k - 1) + 1)) // s + 1


def pool_out(h: int, k: int, s: int, p: int = 0) -> int:
    out = -(-(h + 2 * p - k) // s) + 1  # ceil
    if p > 0 and (out - 1) * s >= h + p:
        out -= 1
    return out


def shrink(h: int, f: int) -> int:
    return (h - 1) // f + 1


def zoom(h: int, z: int) -> int:
    return h + (h - 1) * (z - 1)


# --------------------------------------------------------------------------------------
# Pyramid pooling windows
# --------------------------------------------------------------------------------------

def psp_window_pspnet(n: int, bins: int) -> tuple[int, int]:
    """(kernel, stride) of PSPNet's ``conv5_3_pool{bins}`` on an axis of ``n`` cells.

    The released files pool 60 -> k60/30/20/10 and 90 -> k90/45/30/15: stride
    ``n // bins`` with kernel = stride when ``bins`` divides ``n``. For other sizes the
    kernel grows to ``n - (bins-1)*stride`` so that the windows still tile the map
    exactly into ``bins`` cells (the last window ends on the last row), which keeps
    ceil-mode pooling at exactly ``bins`` outputs.
    """
    s = n // bins
    if s < 1:
        raise ValueError(f"{n} cells cannot be pooled into {bins} bins")
    return n - (bins - 1) * s, s


def _icnet_axis(n: int, bins: int) -> tuple[int, int]:
    if bins == 1:
        return n, n
    s = (n - 1) // bins
    if s < 1:
        raise ValueError(f"{n} cells cannot be pooled into {bins} overlapping bins")
    return n - (bins - 1) * s, s


def psp_windows_icnet(h: int, w: int, bins: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """((kh, kw), (sh, sw)) of ICNet's ``conv5_3_pool{bins}`` on an ``h`` x ``w`` map.

    Published (33 x 65): k(33,65) s(33,65); k(17,33) s(16,32); k(13,25) s(10,20);
    k(8,15) s(5,10). On the 33-row axis these are stride ``(n-1) // bins`` and kernel
    ``n - (bins-1)*stride`` (overlapping windows that end exactly on the last row;
    one window of the whole axis for bins 1). The 65-column axis is *not* that rule
    applied to 65 (which gives stride 21 for 3 bins): it is the row windows scaled by
    the corner-aligned ratio (65-1)/(33-1) = 2, i.e. stride 2*s and kernel 2*(k-1)+1.
    So: the shorter axis uses the rule, and the longer one scales those windows when
    its ``n-1`` is a whole multiple of the shorter one's (always true for a square
    map); otherwise it uses the rule on its own.
    """
    short, long_ = (h, w) if h <= w else (w, h)
    ks, ss = _icnet_axis(short, bins)
    if bins == 1:
        kl, sl = long_, long_
    elif short > 1 and (long_ - 1) % (short - 1) == 0:
        r = (long_ - 1) // (short - 1)
        kl, sl = r * (ks - 1) + 1, r * ss
    else:
        kl, sl = _icnet_axis(long_, bins)
    if h <= w:
        return (ks, kl), (ss, sl)
    return (kl, ks), (sl, ss)


# --------------------------------------------------------------------------------------
# Per-net size traces
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Trace:
    """Sizes along one axis (rows or columns) that the prototxt depends on."""

    input: int
    conv5: int  # conv5_3 (PSP module input)
    output: int  # the net's final Interp
    ok: bool  # every Eltwise/Concat lines up and every blob is non-empty
    why: str = ""


def _stem(h: int) -> tuple[int, int]:
    """conv1_1_3x3_s2 (3x3 s2 p1) then pool1_3x3_s2 (MAX 3 s2 p1, ceil)."""
    c1 = conv_out(h, 3, 2, 1)
    return c1, pool_out(c1, 3, 2, 1)


def trace_pspnet(h: int) -> Trace:
    """PSPNet50/101: the stride-2 of conv3_1 is on the 1x1 (50) or the 3x3 p1 (101);
    both give ``(h-1)//2 + 1``. The PSP Interps go back to conv5_3's size, so the
    Concat lines up at every size: the only limit is conv5_3 >= 6 cells (6 bins), i.e.
    sides >= 39. ``conv6_interp`` zooms by 8, which returns the input size exactly
    for sides 8k+1 (473, 713); other sizes work but give an output one to seven
    pixels off."""
    if h < 3:
        return Trace(h, 0, 0, False, "smaller than the first 3x3 convolution")
    c1, p1 = _stem(h)
    c3 = conv_out(p1, 1, 2, 0)
    assert c3 == conv_out(p1, 3, 2, 1)  # PSPNet101's placement gives the same size
    ok = c3 >= max(PSP_BINS)
    return Trace(h, c3, zoom(c3, 8), ok, "" if ok else
                 f"conv5_3 would be {c3} cells, fewer than the {max(PSP_BINS)} pyramid bins")


def trace_icnet(h: int) -> Trace:
    """ICNet: three branches must meet in two Eltwise sums.

    sub4: conv3_1 (1/8 of data_sub2), shrunk by 2 to conv5_3, zoomed by 2 back
    (``conv5_4_interp``) and summed with conv3_1 in ``sub24_sum``; sub2: that sum
    zoomed by 2 (``sub24_sum_interp``) is summed with the sub1 branch (three 3x3 s2
    convs on the full image) in ``sub12_sum``.
    """
    if h < 3:
        return Trace(h, 0, 0, False, "smaller than the first 3x3 convolution")
    sub2 = shrink(h, 2)
    c1, p1 = _stem(sub2)
    c3 = conv_out(p1, 1, 2, 0)
    c5 = shrink(c3, 2)
    s1 = conv_out(conv_out(conv_out(h, 3, 2, 1), 3, 2, 1), 3, 2, 1)
    out = zoom(zoom(s1, 2), 4)
    why = ""
    if zoom(c5, 2) != c3:
        why = f"sub24_sum would add {zoom(c5, 2)} to {c3} cells (conv5_4_interp vs conv3_1)"
    elif zoom(c3, 2) != s1:
        why = f"sub12_sum would add {zoom(c3, 2)} to {s1} cells (sub24_sum_interp vs conv3_sub1)"
    elif c5 < max(PSP_BINS) + 1:
        why = f"conv5_3 would be {c5} cells, too few for 6 overlapping pyramid bins"
    return Trace(h, c5, out, not why, why)


TRACES = {"pspnet": trace_pspnet, "icnet": trace_icnet}


def nearest_valid(family: str, h: int, limit: int = 4096) -> list[int]:
    """The closest valid sizes below and above ``h`` (one each where they exist)."""
    trace = TRACES[family]
    found = []
    for step in (-1, 1):
        x = h + step
        while 1 <= x <= limit:
            if trace(x).ok:
                found.append(x)
                break
            x += step
    return sorted(found)


def check_size(family: str, name: str, hw: tuple[int, int]) -> tuple[Trace, Trace]:
    """Traces of both axes, or a UsageError naming the nearest valid sizes."""
    traces = [TRACES[family](n) for n in hw]
    bad = [(axis, n, t) for axis, n, t in zip(("height", "width"), hw, traces) if not t.ok]
    if bad:
        rule = {"icnet": "ICNet needs each side mod 32 in 1..8, e.g. 1025-1032",
                "pspnet": "PSPNet needs conv5_3 of at least 6 cells, i.e. sides of 39 or more"}
        why = "; ".join(f"{axis} {n}: {t.why}" for axis, n, t in bad)
        near = "; ".join(
            f"{axis} {' or '.join(map(str, nearest_valid(family, n))) or 'none'}"
            for axis, n, _ in bad)
        raise UsageError(f"{name} cannot run at input {hw[0]}x{hw[1]} ({rule[family]}): {why}; "
                         f"nearest valid sizes: {near}")
    return traces[0], traces[1]
