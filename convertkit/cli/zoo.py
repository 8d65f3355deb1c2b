"""``convertkit zoo``: the released PSPNet/ICNet topologies with seeded, calibrated
random weights (``zoo make``), and the list of models (``zoo list``)."""
from __future__ import annotations

import json

import click

from .options import (InputShape, define_option, force_option, json_option, output_option,
                      progress_bar)


@click.group("zoo")
def command() -> None:
    """Architecture-exact PSPNet50/101 and ICNet with seeded random weights.

    The released caffemodels cannot be downloaded. At the official settings, the
    generated definitions parse to graphs equal to the official prototxts. Weights are
    He-normal. BN statistics are measured on sample photographs, so activations stay
    O(1) through every layer.
    """


@command.command("list")
@json_option("Print JSON instead of a table.")
def list_models(as_json: bool) -> None:
    """The models ``zoo make`` builds, with their official defaults."""
    from ..zoo import SPECS

    rows = []
    for spec in SPECS.values():
        rows.append({
            "name": spec.name,
            "input_size": f"{spec.input_size[0]}x{spec.input_size[1]}",
            "classes": spec.classes,
            "blocks": list(spec.depth),
            "about": spec.about,
            "official": [f"{stem}.prototxt" + (f" ({opts})" if opts else "")
                         for stem, opts in spec.official],
        })
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    for row in rows:
        click.echo(f"{row['name']:<10} {row['input_size']:>10}  {row['classes']:>3} classes  "
                   f"{row['about']}")
        for off in row["official"]:
            click.echo(f"{'':<12}reproduces {off}")


@command.command("make")
@click.argument("name", required=False)
@click.option("--from", "source", type=click.Path(dir_okay=False), default=None,
              metavar="NET.prototxt",
              help="Any supported prototxt instead of a zoo name: it gets seeded weights "
                   "calibrated the zoo's way (activations O(1) through every layer).")
@click.option("--input-shape", "input_shapes", type=InputShape(), multiple=True,
              help="With --from: the input shape to build and calibrate at (N,C,H,W, or "
                   "NAME:N,C,H,W), e.g. a reduced size for tests.")
@define_option
@output_option("Directory for NAME.prototxt and NAME.caffemodel (created if needed). Files "
               "there are replaced only with --force.", metavar="DIR")
@click.option("--input-size", default=None, metavar="HxW",
              help="Input height x width, or one number for a square (default: official).")
@click.option("--classes", type=int, default=None, help="Output classes (default: official).")
@click.option("--width", type=float, default=1.0, show_default=True,
              help="Channel multiplier, e.g. 0.125 for a small, fast copy of the topology.")
@click.option("--seed", type=int, default=0, show_default=True, help="Weight seed.")
@click.option("--bn", default="keep", show_default=True, metavar="keep|merge",
              help="Keep BN layers, or fold them into biased convolutions "
                   "(like icnet_cityscapes.prototxt).")
@click.option("--prototxt-only", is_flag=True, help="Write only the network definition.")
@force_option
@json_option("Print a JSON object: the files written and how they were made.")
def make(name, source, input_shapes, defines, output, input_size, classes, width, seed, bn,
         prototxt_only, force, as_json):
    """Write OUT/NAME.prototxt and OUT/NAME.caffemodel for zoo model NAME
    (icnet, pspnet50, pspnet101; see ``convertkit zoo list``).

    \b
    Examples:
      convertkit zoo make icnet -o models/                  # icnet_cityscapes_bnnomerge
      convertkit zoo make icnet -o models/ --bn merge       # icnet_cityscapes
      convertkit zoo make pspnet101 -o models/ --input-size 473 --classes 21   # VOC2012
      convertkit zoo make pspnet50 -o tiny/ --input-size 97 --width 0.125
    """
    from ..errors import UsageError
    from ..fileio import check_output_dir, check_outputs
    from ..zoo import SPECS, write

    if (name is None) == (source is None):
        raise UsageError("give a zoo NAME or --from NET.prototxt (not both)")
    if source is not None:
        return _make_from(source, dict(input_shapes), defines, output, seed, force, as_json)
    out_dir = check_output_dir(output, (".prototxt", ".caffemodel"))
    targets = [out_dir / f"{name}.prototxt"]
    if not prototxt_only:
        targets.append(out_dir / f"{name}.caffemodel")
    if name in SPECS:  # else write() names the known models
        check_outputs(targets, force=force)
    progress, finish = progress_bar(enabled=not prototxt_only, unit="layers")
    try:
        result = write(name, out_dir, input_size=input_size, classes=classes, width=width,
                       seed=seed, bn=bn, prototxt_only=prototxt_only, progress=progress)
    finally:
        finish()
    result["written"] = [str(p) for p in targets]
    if as_json:
        click.echo(json.dumps(result, indent=1))
        return
    files = result["prototxt"] + (f", {result['caffemodel']}" if result["caffemodel"] else "")
    outs = "; ".join(f"{k} {'x'.join(map(str, v))}" for k, v in result["output_shape"].items())
    h, w = result["input_size"]
    click.echo(f"wrote {files}")
    line = (f"  {result['layers']} layers, input 1x3x{h}x{w} -> {outs}, "
            f"{result['classes']} classes, width x{result['width']:g}, BN {result['bn']}")
    if result["caffemodel"]:
        line += f", {result['learned_blobs']} learned blobs, {result['params']:,} params"
    click.echo(line)
    if result["caffemodel"]:
        ch, cw = result["calibration_size"]
        click.echo(f"  seed {result['seed']}; BN statistics measured at {ch}x{cw} on "
                   f"{result['calibration_source']}; {result['seconds']:.1f} s")


def _make_from(source, input_shapes, defines, output, seed, force, as_json):
    """zoo make --from: the prototxt's net (at the given input shape) with seeded,
    calibrated weights, written as DIR/<stem>.prototxt + DIR/<stem>.caffemodel."""
    from pathlib import Path

    from ..fileio import atomic_write, check_output_dir, check_outputs
    from ..caffe.loader import load, require_shapes
    from ..caffe.prototxt import net_to_text
    from ..caffe.wire import save_caffemodel
    from ..zoo.anynet import make_from

    stem = Path(source).stem
    out_dir = check_output_dir(output, (".prototxt", ".caffemodel"))
    targets = [out_dir / f"{stem}.prototxt", out_dir / f"{stem}.caffemodel"]
    check_outputs(targets, inputs=[source], force=force)
    net = load(source, input_shapes=input_shapes or None, defines=defines)
    require_shapes(net)
    net, notes = make_from(net, seed)
    with atomic_write(targets[0], "w") as fh:
        fh.write(net_to_text(net))
    save_caffemodel(net, targets[1])
    result = {"source": str(source), "prototxt": str(targets[0]), "caffemodel": str(targets[1]),
              "written": [str(t) for t in targets], "seed": int(seed),
              "inputs": {n: list(s) for n, s in net.inputs.items()},
              "params": net.num_params, "notes": list(net.notes) + notes}
    if as_json:
        click.echo(json.dumps(result, indent=1))
        return
    for note in notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"wrote {targets[0]}, {targets[1]} ({net.num_params:,} params)")
