"""``convertkit transplant``: one net's learned params into another."""
from __future__ import annotations

import json
from pathlib import Path

import click

from .options import force_option, json_option, output_option


@click.command("transplant")
@click.argument("src_prototxt", type=click.Path(dir_okay=False))
@click.argument("src_caffemodel", type=click.Path(dir_okay=False))
@click.argument("dst_prototxt", type=click.Path(dir_okay=False))
@output_option("Directory for DST's NAME.prototxt and NAME.caffemodel.", metavar="DIR")
@click.option("--mapping", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help='A TOML [layers] table, destination = "source", for layers whose names differ.')
@click.option("--adapt", is_flag=True,
              help="Slice or zero-pad params whose shapes differ (else they are refused).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the layers that get no source params (the zoo's initialisation).")
@force_option
@json_option("Print a JSON object: the layers copied, adapted and left at their initialisation.")
def command(src_prototxt, src_caffemodel, dst_prototxt, output, mapping, adapt, seed, force,
            as_json):
    """Copy the params of SRC into the net DST by layer name (or --mapping), for
    instance PSPNet50's backbone into a full-width ICNet, the first stage of ICNet's
    training. DST's other layers get seeded weights.

    \b
    Example:
      convertkit transplant pspnet50.prototxt pspnet50.caffemodel icnet_full.prototxt -o icnet/
    """
    from ..errors import UsageError
    from ..fileio import check_output_dir, check_outputs
    from ..caffe.loader import load
    from ..passes.transplant import read_layer_map, transplant
    from ..zoo.anynet import init_params
    from .prune import write_pair

    stem = Path(dst_prototxt).stem
    out_dir = check_output_dir(output, (".prototxt", ".caffemodel"))
    targets = [out_dir / f"{stem}.prototxt", out_dir / f"{stem}.caffemodel"]
    check_outputs(targets, inputs=[src_prototxt, src_caffemodel, dst_prototxt], force=force)
    layer_map = read_layer_map(mapping) if mapping else None
    src = load(src_prototxt, src_caffemodel)
    dst = load(dst_prototxt)
    if any(s is None for s in dst.inputs.values()):
        raise UsageError("the destination's input shape is unknown", path=dst_prototxt)
    init_params(dst, seed)
    net, report = transplant(src, dst, layer_map, adapt)
    written = write_pair(net, out_dir, stem)
    if as_json:
        click.echo(json.dumps({"written": written, **report}, indent=1))
        return
    for what in ("copied", "adapted", "initialised"):
        names = report[what]
        if names:
            click.echo(f"{what} {len(names)}: {', '.join(names[:6])}{' ...' if len(names) > 6 else ''}",
                       err=True)
    click.echo(f"wrote {written[0]} and {written[1]}", err=True)
