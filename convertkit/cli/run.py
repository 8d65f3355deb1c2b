"""``convertkit run``: one forward pass, every requested blob saved under its Caffe name."""
from __future__ import annotations

import click

RUNTIMES = ("numpy", "opencv")


@click.command("run")
@click.argument("prototxt", type=click.Path(dir_okay=False))
@click.argument("caffemodel", type=click.Path(dir_okay=False))
@click.option("--image", type=click.Path(dir_okay=False),
              help="An image, preprocessed the official way (resize, BGR, mean subtraction).")
@click.option("--input", "input_npy", type=click.Path(dir_okay=False),
              help="A .npy array (N,C,H,W float) used as the input blob as is. Never unpickled.")
@click.option("--runtime", type=click.Choice(RUNTIMES), default="numpy", show_default=True,
              help="numpy: convertkit's Caffe-exact reference; opencv: OpenCV dnn (outside oracle).")
@click.option("--preprocess", "fit", type=click.Choice(["resize", "fit", "pad"]), default="resize",
              show_default=True,
              help="How --image reaches the input size: resize (ICNet's eval), fit (keep aspect, "
                   "pad bottom/right with the mean) or pad (no resize; PSPNet's crop window).")
@click.option("--blobs", default="outputs", show_default=True, metavar="all|outputs|NAME,...",
              help="Which blobs to save.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The .npz file to write (atomically).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary of what was saved.")
def command(prototxt, caffemodel, image, input_npy, runtime, fit, blobs, output, as_json):
    """Run PROTOTXT + CAFFEMODEL forward once and save blobs to OUT.npz.

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

    from ..errors import UsageError
    from ..fileio import atomic_write
    from ..loader import load

    if (image is None) == (input_npy is None):
        raise UsageError("give exactly one of --image or --input")
    net = load(prototxt, caffemodel)
    if len(net.inputs) != 1:
        raise UsageError(f"the net has {len(net.inputs)} inputs; run takes nets with one")
    in_name, in_shape = next(iter(net.inputs.items()))
    if image is not None:
        from ..preprocess import preprocess

        if len(in_shape) != 4 or in_shape[1] != 3:
            raise UsageError(f"--image needs a 3-channel NCHW input, the net takes "
                             f"{'x'.join(map(str, in_shape))}; use --input")
        x = preprocess(image, (in_shape[2], in_shape[3]), mode=fit)
    else:
        x = _read_npy(input_npy)
    if tuple(x.shape) != tuple(in_shape):
        # Another batch or size: the net must take it (ShapeError names the layer if not),
        # and the OpenCV rewrite must see the sizes of this run.
        net.inputs[in_name] = tuple(x.shape)
        net.infer_shapes()
    keep = blobs if blobs in ("all", "outputs") else [b for b in blobs.split(",") if b]
    if runtime == "numpy":
        from ..runtime.numpy import forward
    else:
        from ..runtime.opencv import forward
    result = forward(net, {in_name: x}, keep=keep)
    result[in_name] = x
    with atomic_write(output, "wb") as fh:
        np.savez(fh, **result)
    if as_json:
        click.echo(json.dumps({"output": output, "runtime": runtime,
                               "blobs": {k: list(v.shape) for k, v in result.items()}}, indent=1))
    else:
        click.echo(f"wrote {len(result)} blobs to {output} ({runtime} runtime)", err=True)


def _read_npy(path):
    import numpy as np

    from ..errors import InputFileError

    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputFileError("input array not found", path=path) from None
    except ValueError as exc:  # pickled object arrays, .npz, garbage
        raise InputFileError(f"not a plain .npy array ({exc}); pickles are never loaded",
                             path=path) from None
    except OSError as exc:
        raise InputFileError(f"cannot read input array: {exc}", path=path) from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu":
        raise InputFileError("input must be a numeric .npy array", path=path)
    if arr.ndim == 3:
        arr = arr[None]
    return arr.astype(np.float32)
