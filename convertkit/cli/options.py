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


# The CLI convention (README, "Command-line conventions"): every command that writes
# takes -o/--output and --force, every command takes --json, and every output goes
# through convertkit.fileio.check_outputs before anything is computed.

def output_option(help: str, metavar: str):
    """``-o/--output``: where the command writes (a file or a directory)."""
    return click.option("-o", "--output", "output", required=True, type=click.Path(),
                        metavar=metavar, help=help)


def force_option(f):
    """``--force``: replace existing outputs (never an input)."""
    return click.option("--force", is_flag=True,
                        help="Replace output files that exist. An input is never replaced, "
                             "even with --force.")(f)


def json_option(help: str = "Print one JSON object describing the result."):
    """``--json``: one JSON object on stdout instead of the human summary."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def progress_bar(enabled: bool = True, unit: str = "steps"):
    """A rich progress bar on stderr, only on a terminal (and not with --quiet):
    returns ``update(stage, done, total)`` and ``finish()``."""
    import sys

    if not enabled or not sys.stderr.isatty():
        return (lambda stage, done, total: None), (lambda: None)
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(),
                   TextColumn(f"{{task.completed}}/{{task.total}} {unit}"), TimeElapsedColumn(),
                   console=Console(stderr=True), transient=True)
    state: dict = {}

    def update(stage: str, done: int, total: int) -> None:
        if "task" not in state:
            bar.start()
            state["task"] = bar.add_task(stage, total=total)
        bar.update(state["task"], completed=done, total=total, description=stage)

    def finish() -> None:
        if "task" in state:
            bar.stop()

    return update, finish


def define_option(f):
    """``--define NAME=VALUE``: fill a template prototxt's ``${NAME}`` (repeatable)."""

    def parse(ctx, param, values):
        out = {}
        for v in values:
            name, eq, value = v.partition("=")
            if not eq or not name:
                raise click.BadParameter(f"{v!r} is not NAME=VALUE", ctx=ctx, param=param)
            out[name] = value
        return out

    return click.option("--define", "defines", multiple=True, metavar="NAME=VALUE",
                        callback=parse,
                        help="Fill ${NAME} in a template prototxt (DeepLab ships them). "
                             "Repeatable.")(f)
