"""``convertkit caffe2npz``: one Caffe release to one .npz (ChainerCV's script, for any
net and any mapping table)."""
from __future__ import annotations

import click

from .convert import bn_option, mapping_option, quiet_option, rgb_option, run_conversion
from .options import force_option, json_option


@click.command("caffe2npz")
@click.argument("prototxt", type=click.Path(dir_okay=False))
@click.argument("caffemodel", type=click.Path(dir_okay=False), required=False)
@click.option("-o", "--output", "output", type=click.Path(), metavar="OUT.npz", default=None,
              help="The .npz file to write. With a caffemodel alone it may also come second, "
                   "as in ChainerCV's script: caffe2npz MODEL.caffemodel OUT.npz.")
@mapping_option
@bn_option
@rgb_option
@force_option
@quiet_option
@json_option("Print a JSON object: the file, its bytes and params, and notes.")
def command(prototxt, caffemodel, output, mapping, bn, rgb, force, quiet, as_json):
    """Write the learned params of PROTOTXT + CAFFEMODEL to OUT.npz.

    A caffemodel alone works too (its stored net definition is read; a training
    snapshot's data and loss layers are dropped).

    \b
    Examples:
      convertkit caffe2npz bvlc_alexnet.caffemodel alexnet.npz
      convertkit caffe2npz bvlc_alexnet.caffemodel -o alexnet.npz
      convertkit caffe2npz pspnet101_cityscapes_713.prototxt pspnet101.caffemodel \\
          --mapping chainercv -o pspnet101_cityscapes.npz
      convertkit caffe2npz icnet.prototxt icnet.caffemodel --bn merge -o icnet.npz
    """
    from ..errors import UsageError

    if output is None and caffemodel is not None and caffemodel.lower().endswith(".npz"):
        caffemodel, output = None, caffemodel  # ChainerCV's form: SOURCE.caffemodel TARGET.npz
    if output is None:
        raise UsageError("give the .npz to write: -o OUT.npz")
    run_conversion(prototxt, caffemodel, ["npz"], output=output, single=output,
                   mapping=mapping, bn=bn, rgb=rgb, force=force, as_json=as_json, quiet=quiet)
