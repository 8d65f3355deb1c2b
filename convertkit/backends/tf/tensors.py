"""TensorFlow's expression of BVLC's Swish, Clip, Tile, Reduction and Embed."""
from __future__ import annotations

from ..base import Context
from . import BACKEND, Op, _name, _rank, _single
from . import tensor_layers as T


@BACKEND.register("Swish")
def swish(ctx: Context) -> Op:
    return _single(T.CaffeSwish(ctx.layer.hparams.beta, name=_name(ctx)))


@BACKEND.register("Clip")
def clip(ctx: Context) -> Op:
    p = ctx.layer.hparams
    return _single(T.CaffeClip(p.min, p.max, name=_name(ctx)))


@BACKEND.register("Tile")
def tile(ctx: Context) -> Op:
    p = ctx.layer.hparams
    return _single(T.CaffeTile(p.axis % _rank(ctx), p.tiles, name=_name(ctx)))


@BACKEND.register("Reduction")
def reduction(ctx: Context) -> Op:
    p = ctx.layer.hparams
    return _single(T.CaffeReduction(p.operation, p.axis % _rank(ctx), p.coeff, name=_name(ctx)))


@BACKEND.register("Embed")
def embed(ctx: Context) -> Op:
    p = ctx.layer.hparams
    variables = {"weight": ("table", "caffe")}
    if p.bias_term:
        variables["bias"] = ("bias", "caffe")
    return _single(T.CaffeEmbed(p.input_dim, p.num_output, p.bias_term, name=_name(ctx)),
                   variables)
