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


# The CLI convention (docs/command-line.md): every command that writes
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


# -- preprocessing: the same flags in every command that reads images --------------------

#: The flag of each preprocessing setting (for messages).
PREPROCESS_FLAGS = {"mean": "--mean", "std": "--std", "scale": "--scale",
                    "channel_order": "--channel-order", "input_size": "--input-size",
                    "crop": "--crop", "resize": "--preprocess"}


def preprocess_options(f):
    """The preprocessing flags (docs/runtimes.md, "Preprocessing"), added identically to every
    command that reads images. The command receives them as one ``prep_flags`` dict
    (setting -> the value as typed, None where not given); :func:`preprocessing_for`
    turns it into a :class:`~convertkit.runtime.preprocess.Preprocessing`."""
    import functools

    names = list(PREPROCESS_FLAGS)

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        kwargs["prep_flags"] = {k: kwargs.pop(k) for k in names}
        return f(*args, **kwargs)

    for opt in reversed([
        click.option("--mean", default=None, metavar="B,G,R|V|FILE",
                     help="Subtracted from each pixel: one value per channel in the input's "
                          "channel order, one value for all (0: no mean), or a file: a Caffe "
                          ".binaryproto mean, a .npy (C, CxHxW) or an image (resized to the "
                          "input). Default: the prototxt's transform_param, else the ImageNet "
                          "BGR mean 103.939,116.779,123.68."),
        click.option("--std", default=None, metavar="B,G,R|V|FILE",
                     help="Divides after the mean, in pixel units (per channel, one value, or "
                          "a file as --mean). Default: none."),
        click.option("--scale", default=None, metavar="S",
                     help="Multiplies last (Caffe's transform_param.scale, OpenCV's "
                          "scalefactor), e.g. 0.017 or 1/255. Default: transform_param's, else 1."),
        click.option("--channel-order", "channel_order", type=click.Choice(["bgr", "rgb"]),
                     default=None, help="Channel order of the net's input (default bgr, "
                                        "Caffe's). 1-channel nets get grey images."),
        click.option("--input-size", "input_size", default=None, metavar="HxW",
                     help="Resize images to HxW (the net is planned for it). Default: the "
                          "net's input size."),
        click.option("--crop", default=None, metavar="N|HxW",
                     help="Centre crop after the resize, as Caffe's transform_param.crop_size "
                          "(TEST phase); without --input-size the image keeps its size (or "
                          "takes a mean file's)."),
        click.option("--preprocess", "resize", type=click.Choice(["resize", "fit", "pad"]),
                     default=None,
                     help="How images reach the input size: resize (default; ICNet's eval), fit "
                          "(keep the aspect, pad bottom/right with the mean) or pad (no resize; "
                          "PSPNet's crop window)."),
    ]):
        wrapper = opt(wrapper)
    return wrapper


def given_preprocess_flags(prep_flags: dict) -> list[str]:
    """The preprocessing flags given on the command line."""
    return [PREPROCESS_FLAGS[k] for k, v in prep_flags.items() if v is not None]


def preprocessing_for(prep_flags: dict, net, *, prototxt=None, defines=None, base=None):
    """The Preprocessing of ``net`` from the flags (then ``base``, a recorded one, then
    the prototxt's transform_param, then the default)."""
    from ..runtime.preprocess import build

    return build(net, prototxt=prototxt, defines=defines, base=base, **prep_flags)


def preprocessing_note(prep, quiet: bool = False) -> None:
    """One ``note:`` line on stderr when the default or a transform_param was applied
    (not with --json: the JSON states it). Call it once the images are made."""
    line = prep.note() if prep is not None and not quiet else None
    if line:
        click.echo(f"note: {line}", err=True)
