"""``convertkit rewrite --for opencv``: a prototxt/caffemodel OpenCV dnn can load."""
from __future__ import annotations

from pathlib import Path

import click


@click.command("rewrite")
@click.argument("prototxt", type=click.Path(dir_okay=False))
@click.argument("caffemodel", type=click.Path(dir_okay=False), required=False)
@click.option("--for", "target", type=click.Choice(["opencv"]), required=True,
              help="The reader to rewrite for.")
@click.option("-o", "--output-dir", required=True, type=click.Path(file_okay=False),
              help="Where to write NAME.prototxt (and NAME.caffemodel).")
@click.option("--name", default=None, help="Base name of the outputs (default: the prototxt's).")
def command(prototxt, caffemodel, target, output_dir, name):
    """Rewrite a fork model so that OpenCV dnn reads it and computes the same thing.

    BN (the PSPNet/ICNet fork's 4-blob batch norm) becomes BatchNorm + Scale with the
    blobs reordered; Interp with shrink/zoom factors becomes Interp with the explicit
    height/width Caffe computes. Layer and blob names are kept.

    \b
    Example:
      convertkit rewrite --for opencv icnet.prototxt icnet.caffemodel -o opencv/
      python -c "import cv2; cv2.dnn.readNetFromCaffe('opencv/icnet.prototxt', 'opencv/icnet.caffemodel')"
    """
    from ..loader import load
    from ..passes.opencv import rewrite_for_opencv, write_net

    net = load(prototxt, caffemodel)
    out, notes = rewrite_for_opencv(net)
    stem = name or Path(prototxt).stem
    proto_out = Path(output_dir) / f"{stem}.prototxt"
    model_out = Path(output_dir) / f"{stem}.caffemodel" if caffemodel else None
    write_net(out, proto_out, model_out)
    for note in notes:
        click.echo(note, err=True)
    click.echo(f"wrote {proto_out}" + (f" and {model_out}" if model_out else ""), err=True)
