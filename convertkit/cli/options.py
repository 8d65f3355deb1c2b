"""Option types shared by several commands."""
from __future__ import annotations

import click


class InputShape(click.ParamType):
    """``N,C,H,W`` for the net's only input, or ``NAME:N,C,H,W``."""

    name = "N,C,H,W"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        name, _, dims = value.rpartition(":")
        try:
            shape = tuple(int(d) for d in dims.replace("x", ",").split(","))
        except ValueError:
            self.fail(f"{value!r} is not a shape like 1,3,473,473", param, ctx)
        if not shape or any(d <= 0 for d in shape):
            self.fail(f"{value!r}: every dimension must be a positive integer", param, ctx)
        return (name or None, shape)
