"""``convertkit run``: one forward pass, every requested blob saved under its Caffe name."""
from __future__ import annotations

import click

from .options import (define_option, force_option, given_preprocess_flags, json_option,
                      output_option, preprocess_options, preprocessing_for,
                      preprocessing_note)
from ..runtime import installed_runtimes, runtime_infos

RUNTIMES = tuple(info.name for info in runtime_infos())


def _runtime_help() -> str:
    installed = set(installed_runtimes())
    parts = [f"{i.name} ({i.about})" if i.name in installed
             else f"{i.name} (not installed: {i.how_to_install})"
             for i in runtime_infos()]
    return "Which runtime runs the net: " + "; ".join(parts) + "."


@click.command("run")
@click.argument("prototxt", type=click.Path(dir_okay=False))
@click.argument("caffemodel", type=click.Path(dir_okay=False), required=False)
@click.option("--image", type=click.Path(dir_okay=False),
              help="An image, preprocessed by the flags below, else the prototxt's "
                   "transform_param, else the default (resize, BGR, ImageNet mean; grey for a "
                   "1-channel net).")
@click.option("--input", "input_npy", type=click.Path(dir_okay=False),
              help="A .npy array (N,C,H,W float) used as the input blob as is. Never unpickled.")
@click.option("--runtime", type=click.Choice(RUNTIMES), default="numpy", show_default=True,
              help=_runtime_help())
@click.option("--device", default=None, metavar="DEVICE",
              help="torch runtime: the device to run on (cpu, cuda, cuda:1 ...). Default cpu.")
@click.option("--half", is_flag=True,
              help="torch runtime: float16 params and activations (blobs are saved as float32).")
@preprocess_options
@click.option("--blobs", default="outputs", show_default=True, metavar="all|outputs|NAME,...",
              help="Which blobs to save.")
@output_option("The .npz archive to write (written atomically). Its name must end in .npz: "
               "any other extension is an error, not silently changed.", metavar="OUT.npz")
@define_option
@force_option
@json_option("Print a JSON object: the file written, the runtime, each saved blob's shape.")
def command(prototxt, caffemodel, image, input_npy, runtime, device, half, prep_flags, blobs, output,
            defines, force, as_json):
    """Run PROTOTXT [+ CAFFEMODEL] forward once and save blobs to OUT.npz.

    CAFFEMODEL may be left out for nets without learned params (Pooling, LRN,
    Softmax...).

    Blobs are saved under their Caffe names in Caffe layout (NCHW float32) with the
    values Caffe's net.blobs holds after the pass (in-place BN/ReLU chains applied),
    plus the input tensor under its own name (usually 'data').

    \b
    Examples:
      convertkit run icnet.prototxt icnet.caffemodel --image street.png -o out.npz
      convertkit run pspnet50.prototxt pspnet50.caffemodel --input x.npy \\
          --runtime opencv --blobs conv5_3,conv6_interp -o cv.npz
    """
    import json

    import numpy as np

    from ..errors import ShapeError, UsageError
    from ..fileio import atomic_write, check_outputs
    from ..runtime.preprocess import read_input_array
    from ..caffe.loader import load

    if (image is None) == (input_npy is None):
        raise UsageError("give exactly one of --image or --input")
    check_outputs([output], inputs=[prototxt, caffemodel, image, input_npy], force=force,
                  suffix=".npz", what="a numpy archive of the saved blobs")
    net = load(prototxt, caffemodel, defines=defines)
    if len(net.inputs) != 1:
        raise UsageError(f"the net has {len(net.inputs)} inputs; run takes nets with one")
    in_name, in_shape = next(iter(net.inputs.items()))
    prep = None
    if image is not None:
        if in_shape is None or len(in_shape) != 4 or in_shape[1] not in (1, 3):
            raise UsageError(f"--image needs a 1- or 3-channel NCHW input, the net takes "
                             f"{'x'.join(map(str, in_shape or ()))}; use --input")
        prep = preprocessing_for(prep_flags, net, prototxt=prototxt, defines=defines)
        x = prep.apply(image, in_shape)
    else:
        if given_preprocess_flags(prep_flags):
            raise UsageError(f"{', '.join(given_preprocess_flags(prep_flags))} preprocess "
                             "--image; an --input array is used as it is")
        x = read_input_array(input_npy, in_name, in_shape, prototxt)
    keep = blobs if blobs in ("all", "outputs") else [b for b in blobs.split(",") if b]
    _check_blob_names(net, keep, prototxt)
    from ..runtime import create

    options = {}
    if device is not None or half:
        if runtime != "torch":
            raise UsageError("--device and --half apply to the torch runtime")
        import torch

        options = {"device": device or "cpu", "dtype": torch.float16 if half else torch.float32}
    # Another batch or size than declared is planned afresh by the runtime (a
    # ShapeError names the layer that cannot take it).
    try:
        result = create(runtime, net, **options).forward({in_name: x}, keep=keep)
    except ShapeError as exc:  # name the files: the prototxt, and the array that implied the shape
        exc.path = exc.path or str(prototxt)
        if input_npy is not None and tuple(x.shape) != tuple(in_shape or ()):
            exc.cause += f" (input '{in_name}' is {'x'.join(map(str, x.shape))}, from {input_npy})"
        raise
    result[in_name] = x
    with atomic_write(output, "wb") as fh:
        np.savez(fh, **result)
    if as_json:
        click.echo(json.dumps({"output": output, "written": [output], "runtime": runtime,
                               "blobs": {k: list(v.shape) for k, v in result.items()},
                               "preprocessing": prep.to_json() if prep else None}, indent=1))
    else:
        preprocessing_note(prep)
        click.echo(f"wrote {len(result)} blobs to {output} ({runtime} runtime)", err=True)


def _check_blob_names(net, keep, prototxt) -> None:
    """Unknown --blobs names fail before the forward pass, naming the prototxt (the
    message, with close matches, is the runtime's)."""
    from ..errors import UsageError
    from ..runtime.base import resolve_keep

    try:
        resolve_keep(net, keep)
    except UsageError as exc:
        exc.path = exc.path or str(prototxt)
        raise
