"""``convertkit inspect``: layers, shapes, blobs, parameter counts and FLOPs."""
from __future__ import annotations

import json

import click

from .options import (InputShape, define_option, force_option, given_preprocess_flags,
                      preprocess_options, preprocessing_for, preprocessing_note)


@click.command("inspect")
@click.argument("prototxt", type=click.Path(dir_okay=False), required=False)
@click.argument("caffemodel", type=click.Path(dir_okay=False), required=False)
@click.option("--caffemodel", "caffemodel_opt", type=click.Path(dir_okay=False),
              help="Weights to read (same as the second argument).")
@click.option("--input-shape", "input_shapes", type=InputShape(), multiple=True,
              help="Override an input shape: N,C,H,W for the only input, or NAME:N,C,H,W. Repeatable.")
@define_option
@click.option("--benchmark", is_flag=True,
              help="Also time every layer (best of --repeat passes) in --runtime: the per-layer "
                   "file the seeds' model zoos ship (type, output shape, params, MACs, ms).")
@click.option("--runtime", default="numpy", show_default=True,
              help="With --benchmark: the runtime to time.")
@click.option("--image", type=click.Path(dir_okay=False), default=None,
              help="With --benchmark: time the layers on this image, preprocessed by the "
                   "preprocessing flags (else transform_param, else the default), instead of "
                   "seeded noise; --input-size/--crop set the size timed.")
@preprocess_options
@click.option("--repeat", type=int, default=3, show_default=True,
              help="With --benchmark: passes to time (after one warm-up).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="With --benchmark: also write the table to FILE (e.g. benchmark.txt).")
@force_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def command(prototxt, caffemodel, caffemodel_opt, input_shapes, defines, benchmark, runtime,
            image, prep_flags, repeat, output, force, as_json):
    """Show every layer of PROTOTXT with its type, bottoms -> tops, output shape, blob
    shapes, parameter count and multiply-adds, then totals.

    A CAFFEMODEL alone (pass it as the only argument, or with --caffemodel) is read
    with the layer definitions stored in it.

    \b
    Examples:
      convertkit inspect pspnet50_ADE20K_473.prototxt
      convertkit inspect icnet.prototxt icnet.caffemodel --json
      convertkit inspect --caffemodel weights.caffemodel
      convertkit inspect icnet.prototxt --input-shape 1,3,1025,2049
    """
    from ..errors import UsageError
    from ..caffe.loader import load, require_shapes
    from ..apps.summary import format_table, summarize

    caffemodel = caffemodel or caffemodel_opt
    if prototxt is None and caffemodel is None:
        raise UsageError("give a PROTOTXT, a CAFFEMODEL, or both")
    if prototxt is not None and caffemodel is None and _looks_binary(prototxt):
        prototxt, caffemodel = None, prototxt  # a caffemodel passed alone
    shapes = dict(input_shapes) if input_shapes else None
    net = load(prototxt, caffemodel, input_shapes=shapes, defines=defines)
    require_shapes(net)
    if output is not None and not benchmark:
        raise UsageError("-o/--output writes the --benchmark table: add --benchmark")
    if image is not None and not benchmark:
        raise UsageError("--image feeds the --benchmark timing: add --benchmark")
    if image is None and given_preprocess_flags(prep_flags):
        raise UsageError(f"{', '.join(given_preprocess_flags(prep_flags))} preprocess the "
                         "--image of --benchmark: add --image")
    prep = inputs = None
    if image is not None:  # the image as the net sees it, the net planned for its size
        from ..runtime.preprocess import net_input, with_input_size

        prep = preprocessing_for(prep_flags, net, prototxt=prototxt, defines=defines)
        net = with_input_size(net, prep)
        name, shape = net_input(net)
        inputs = {name: prep.apply(image, shape)}
    if output is not None:
        from ..fileio import check_outputs

        check_outputs([output], inputs=[prototxt, caffemodel], force=force)
    summary = summarize(net)
    if benchmark:
        from ..apps.summary import benchmark as time_layers

        time_layers(net, summary, runtime, repeat, inputs=inputs)
        if prep is not None:
            summary["benchmark"].update(image=image, preprocessing=prep.to_json())
    text = format_table(summary)
    if output is not None:
        from ..fileio import atomic_write

        with atomic_write(output, "w") as fh:
            fh.write(text + "\n")
        summary["written"] = [output]
    if as_json:
        click.echo(json.dumps(summary, indent=1))
    else:
        preprocessing_note(prep)
        click.echo(text)


def _looks_binary(path: str) -> bool:
    """Whether the only file given is a caffemodel (else it is read as a prototxt).
    An image, an archive, an ONNX model... is refused here, naming what it is."""
    from ..caffe.sniff import check_kind, sniff

    check_kind(path, "model")
    kind = sniff(path)
    return path.endswith(".caffemodel") or (kind is not None and not kind.is_text)
