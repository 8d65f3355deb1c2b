"""Param layouts: how a learned param is laid out in a target framework.

Every Caffe param starts in Caffe's layout. A mapping table names, for each param, one
layout below; the layout turns the Caffe array into the target's array and says what
shape that array must have, so a table that does not fit the net fails before
anything is written. Layouts read only each type's structure (``weight_axes``: which
axis of ``weight`` holds output and input channels) and hyper-parameters, never
layer type names.

==================  ===========================================================
``caffe``           as Caffe stores it (PyTorch: Conv2d, ConvTranspose2d)
``flat``            ``reshape(-1)``: 1xCx1x1 BN params -> (C,); per-channel only
``hwio``            (kh, kw, in, out): TF ``conv2d`` filter from Caffe OIHW
``hwoi``            (kh, kw, out, in): TF ``conv2d_transpose`` filter from Caffe
                    Deconvolution (in, out/group, kh, kw); group 1 only
``io`` / ``oi``     InnerProduct as in x out (TF, Keras ``Dense``) or out x in
                    (PyTorch ``Linear``), whatever Caffe's ``transpose`` flag
``io_hwc``          ``io`` with the input rows in H, W, C order: an InnerProduct
``oi_hwc``          reading a spatial C x H x W blob, for an NHWC framework that
                    flattens H x W x C (caffe-tensorflow, hellochick's ``fc``)
``unscale_flat``    BVLC BatchNorm mean/variance divided by the layer's
                    scale factor (0 means 0, as Caffe), then ``flat``
==================  ===========================================================
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

Shape = tuple[int, ...]


class LayoutError(ValueError):
    """A layout does not apply to this param (wrong rank, grouped deconvolution, ...)."""


@dataclass(frozen=True)
class LayoutContext:
    """What a layout may consult besides the array: the layer (its structure and
    hyper-parameters) and its bottom shapes (None when the net cannot be planned)."""

    layer: object
    role: str
    bottom_shapes: Sequence[Shape] | None = None


@dataclass(frozen=True)
class Layout:
    name: str
    #: The target array for a Caffe array.
    apply: Callable[[np.ndarray, LayoutContext], np.ndarray]
    #: The target shape for a Caffe shape (checked against the applied array).
    shape: Callable[[Shape, LayoutContext], Shape]
    about: str = ""


LAYOUTS: dict[str, Layout] = {}


def _register(name: str, about: str):
    """Decorator for a function returning ``(apply, shape)``: registers that layout."""
    def deco(pair):
        apply, shape = pair()
        LAYOUTS[name] = Layout(name, apply, shape, about)
        return pair
    return deco


def get(name: str) -> Layout:
    """The layout named ``name`` (tables are checked against :func:`names` on reading)."""
    return LAYOUTS[name]


def names() -> list[str]:
    """Every layout name, in the order of the table above."""
    return list(LAYOUTS)


# -- helpers --------------------------------------------------------------------------

def _weight_axes(ctx: LayoutContext, what: str) -> tuple[int, int]:
    """(output axis, input axis) of the layer's weight; only weights have them."""
    axes = ctx.layer.impl.weight_axes()
    if axes is None or ctx.role != "weight":
        raise LayoutError(f"{what} applies to the weight of a Convolution, Deconvolution "
                          f"or InnerProduct, not to a {ctx.layer.type} {ctx.role}")
    return axes


def _spatial_perm(ctx: LayoutContext, ndim: int, first: str, what: str) -> tuple[int, ...]:
    """The permutation giving (spatial..., A, B) with (A, B) = (in, out) or (out, in)."""
    out_ax, in_ax = _weight_axes(ctx, what)
    if ndim != 4:
        raise LayoutError(f"{what} needs a 4-D (2-D spatial) weight, this one has "
                          f"{ndim} axes")
    pair = (in_ax, out_ax) if first == "in" else (out_ax, in_ax)
    return (2, 3) + pair


def _flat_check(shape: Shape) -> None:
    if sum(1 for d in shape if d != 1) > 1:
        raise LayoutError(f"flat applies to per-channel params (1xCx1x1 or C), not "
                          f"{'x'.join(map(str, shape))}")


def _ip_rows(ctx: LayoutContext, shape: Shape, hwc: bool, out_first: bool, what: str):
    """For an InnerProduct weight: (target shape, function array -> target)."""
    out_ax, in_ax = _weight_axes(ctx, what)
    if len(shape) != 2:
        raise LayoutError(f"{what} needs a 2-D InnerProduct weight, got {len(shape)} axes")
    n_out, n_in = shape[out_ax], shape[in_ax]
    split: Shape | None = None
    if hwc:
        if ctx.bottom_shapes is None:
            raise LayoutError(f"{what} needs the bottom shape (the net cannot be planned: "
                              "give the input shape)")
        bottom = tuple(ctx.bottom_shapes[0])
        axis = getattr(ctx.layer.hparams, "axis", 1)
        axis = axis + len(bottom) if axis < 0 else axis
        feats = bottom[axis:]
        if int(np.prod(feats)) != n_in:
            raise LayoutError(f"{what}: the bottom's {'x'.join(map(str, feats))} features "
                              f"do not match the weight's {n_in} inputs")
        if len(feats) > 1 and int(np.prod(feats[1:])) > 1:
            split = feats  # C, H, W (or C, D, H, W)

    def fn(a: np.ndarray) -> np.ndarray:
        w = a if out_ax == 0 else a.T  # out x in
        if split is not None:
            w = np.moveaxis(w.reshape((n_out,) + split), 1, -1).reshape(n_out, n_in)
        return np.ascontiguousarray(w if out_first else w.T)

    return ((n_out, n_in) if out_first else (n_in, n_out)), fn


# -- the layouts ----------------------------------------------------------------------

@_register("caffe", "as Caffe stores it")
def _caffe():
    return (lambda a, ctx: a), (lambda s, ctx: tuple(s))


@_register("flat", "reshape(-1) of a per-channel param (1xCx1x1 -> C)")
def _flat():
    def apply(a, ctx):
        _flat_check(a.shape)
        return a.reshape(-1)

    def shape(s, ctx):
        _flat_check(s)
        return (int(np.prod(s)),)
    return apply, shape


@_register("hwio", "Convolution OIHW -> HWIO (TF conv2d filter)")
def _hwio():
    def apply(a, ctx):
        return np.ascontiguousarray(a.transpose(_spatial_perm(ctx, a.ndim, "in", "hwio")))

    def shape(s, ctx):
        return tuple(s[i] for i in _spatial_perm(ctx, len(s), "in", "hwio"))
    return apply, shape


def _hwoi_perm(ctx: LayoutContext, ndim: int) -> tuple[int, ...]:
    if getattr(ctx.layer.hparams, "group", 1) != 1:
        raise LayoutError(f"hwoi: TF conv2d_transpose has no groups (group "
                          f"{ctx.layer.hparams.group})")
    return _spatial_perm(ctx, ndim, "out", "hwoi")


@_register("hwoi", "Deconvolution (in, out, kh, kw) -> (kh, kw, out, in) (TF conv2d_transpose)")
def _hwoi():
    def apply(a, ctx):
        return np.ascontiguousarray(a.transpose(_hwoi_perm(ctx, a.ndim)))

    def shape(s, ctx):
        return tuple(s[i] for i in _hwoi_perm(ctx, len(s)))
    return apply, shape


def _ip_layout(hwc: bool, out_first: bool, name: str):
    def apply(a, ctx):
        return _ip_rows(ctx, a.shape, hwc, out_first, name)[1](a)

    def shape(s, ctx):
        return _ip_rows(ctx, tuple(s), hwc, out_first, name)[0]
    return apply, shape


@_register("io", "InnerProduct weight as in x out")
def _io():
    return _ip_layout(False, False, "io")


@_register("oi", "InnerProduct weight as out x in")
def _oi():
    return _ip_layout(False, True, "oi")


@_register("io_hwc", "InnerProduct weight as in x out, input rows in H, W, C order")
def _io_hwc():
    return _ip_layout(True, False, "io_hwc")


@_register("oi_hwc", "InnerProduct weight as out x in, input columns in H, W, C order")
def _oi_hwc():
    return _ip_layout(True, True, "oi_hwc")


@_register("unscale_flat", "BVLC BatchNorm statistic / scale factor (0 means 0), flat")
def _unscale_flat():
    def apply(a, ctx):
        factor = ctx.layer.param("scale_factor")
        if factor is None or ctx.role not in ("mean", "variance"):
            raise LayoutError("unscale_flat applies to the mean and variance of a layer "
                              "with a scale_factor (BVLC BatchNorm)")
        _flat_check(a.shape)
        f = float(np.asarray(factor, np.float64).reshape(-1)[0])
        # batch_norm_layer.cpp: scale = factor == 0 ? 0 : 1 / factor, in float32.
        scale = np.float32(0.0 if f == 0 else 1.0 / f)
        return (a.reshape(-1) * scale).astype(np.float32)

    def shape(s, ctx):
        _flat_check(s)
        return (int(np.prod(s)),)
    return apply, shape


def flip_input_channels(a: np.ndarray, ctx: LayoutContext) -> np.ndarray:
    """The Caffe weight with its input (colour) channels reversed: BGR -> RGB, as
    ChainerCV's caffe2npz does for conv1_1. Needs 3 input channels and group 1."""
    axes = ctx.layer.impl.weight_axes()
    if axes is None or ctx.role != "weight":
        raise LayoutError(f"flip reverses the input channels of a weight; a "
                          f"{ctx.layer.type} {ctx.role} has none")
    if getattr(ctx.layer.hparams, "group", 1) != 1:
        raise LayoutError(f"flip: group {ctx.layer.hparams.group} mixes channels in groups")
    axis = axes[1]
    if a.shape[axis] != 3:
        raise LayoutError(f"flip swaps BGR -> RGB, but the weight has {a.shape[axis]} input "
                          "channels, not 3")
    return np.ascontiguousarray(np.flip(a, axis=axis))
