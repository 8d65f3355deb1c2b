"""``convertkit rewrite --for opencv``: a prototxt/caffemodel OpenCV dnn can load."""
from __future__ import annotations

from pathlib import Path

import click

from .options import force_option, json_option, output_option


@click.command("rewrite")
@click.argument("prototxt", type=click.Path(dir_okay=False))
@click.argument("caffemodel", type=click.Path(dir_okay=False), required=False)
@click.option("--for", "target", type=click.Choice(["opencv"]), required=True,
              help="The reader to rewrite for.")
@output_option("The directory to write NAME.prototxt (and NAME.caffemodel) in; created if "
               "needed. Files there are replaced only with --force, and never the inputs.",
               metavar="DIR")
@click.option("--name", default=None, help="Base name of the outputs (default: the prototxt's).")
@force_option
@json_option("Print a JSON object: the files written and the notes of the rewrite.")
def command(prototxt, caffemodel, target, output, name, force, as_json):
    """Rewrite a fork model so that OpenCV dnn reads it and computes the same thing.

    BN (the PSPNet/ICNet fork's 4-blob batch norm) becomes BatchNorm + Scale with the
    blobs reordered; Interp with shrink/zoom factors becomes Interp with the explicit
    height/width Caffe computes. Layer and blob names are kept.

    \b
    Example:
      convertkit rewrite --for opencv icnet.prototxt icnet.caffemodel -o opencv/
      python -c "import cv2; cv2.dnn.readNetFromCaffe('opencv/icnet.prototxt', 'opencv/icnet.caffemodel')"
    """
    import json

    from ..errors import UsageError
    from ..fileio import check_output_dir, check_outputs
    from ..caffe.loader import load
    from ..backends.opencv.rewrite import rewrite_for_opencv, write_net

    stem = name or Path(prototxt).stem
    if not stem or Path(stem).name != stem or stem in (".", ".."):
        raise UsageError(f"--name {stem!r} must be a plain file name, without a directory")
    out_dir = check_output_dir(output, (".prototxt", ".caffemodel"))
    proto_out = out_dir / f"{stem}.prototxt"
    model_out = out_dir / f"{stem}.caffemodel" if caffemodel else None
    written = [str(p) for p in (proto_out, model_out) if p is not None]
    check_outputs(written, inputs=[prototxt, caffemodel], force=force)
    net = load(prototxt, caffemodel)
    out, notes = rewrite_for_opencv(net)
    write_net(out, proto_out, model_out)
    if as_json:
        click.echo(json.dumps({"target": target, "prototxt": str(proto_out),
                               "caffemodel": str(model_out) if model_out else None,
                               "written": written, "notes": list(notes)}, indent=1))
        return
    for note in notes:
        click.echo(note, err=True)
    click.echo(f"wrote {proto_out}" + (f" and {model_out}" if model_out else ""), err=True)
