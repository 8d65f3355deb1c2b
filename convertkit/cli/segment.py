"""``convertkit segment``: masks of images, by the seeds' protocols."""
from __future__ import annotations

import json
import time
from pathlib import Path

import click

from .options import (force_option, json_option, output_option, preprocess_options,
                      preprocessing_for, preprocessing_note, progress_bar)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff")


def protocol_options(f):
    """The protocol flags segment and evaluate share."""
    for opt in reversed([
        click.option("--weights", type=click.Path(dir_okay=False), default=None, metavar="FILE",
                     help="A .caffemodel (any runtime), a PyTorch .pt/.safetensors state_dict "
                          "(torch runtime) or an .onnx model (onnx runtime)."),
        click.option("--runtime", default=None, metavar="NAME",
                     help="numpy, opencv, torch, onnx or tf (default: from --weights; numpy)."),
        click.option("--pad-to-shape", default=None, metavar="HxW",
                     help="Pad each image with the mean to HxW and crop the result back."),
        click.option("--sliding", is_flag=True,
                     help="PSPNet's sliding window: crops of the net's size, stride 2/3."),
        click.option("--flip", is_flag=True, help="Average with the mirrored image's scores."),
        click.option("--scales", default=None, metavar="S,...",
                     help="Multi-scale inference, e.g. 0.75,1,1.25 (scores averaged)."),
    ]):
        f = opt(f)
    return preprocess_options(f)


def make_protocol(pad_to_shape, sliding, flip, scales, prep=None):
    """The protocol of the flags; ``prep`` (a Preprocessing) what each pixel becomes."""
    from ..errors import UsageError
    from ..runtime.preprocess import Preprocessing
    from ..apps.segment import Protocol, parse_hw, parse_scales

    if pad_to_shape and sliding:
        raise UsageError("give --pad-to-shape or --sliding, not both")
    mode = "pad" if pad_to_shape else "sliding" if sliding else "resize"
    return Protocol(mode=mode, pad_to=parse_hw(pad_to_shape, "--pad-to-shape"), flip=flip,
                    scales=parse_scales(scales), prep=prep or Preprocessing())


def protocol_for(model, net, pad_to_shape, sliding, flip, scales, prep_flags):
    """The protocol of the flags, its preprocessing from the preprocessing flags, the
    prototxt's transform_param or the default."""
    make_protocol(pad_to_shape, sliding, flip, scales)  # flag errors first
    prep = preprocessing_for(prep_flags, net, prototxt=model)
    return make_protocol(pad_to_shape, sliding, flip, scales, prep)


def _images(paths) -> list[Path]:
    from ..errors import InputFileError

    out = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InputFileError("holds no image (png, jpg, bmp, tif)", path=p)
            out += found
        elif p.exists():
            out.append(p)
        else:
            raise InputFileError("image not found", path=p)
    return out


@click.command("segment")
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("images", nargs=-1, required=True, type=click.Path())
@output_option("Directory for one output per image and kind (created if needed).", metavar="DIR")
@protocol_options
@click.option("--label-ids", "ids", flag_value="label", help="Also write Cityscapes label ids "
              "(7-33, what its ground truth uses) as NAME_labelIds.png.")
@click.option("--train-ids", "ids", flag_value="train", help="Also write the predicted ids "
              "as they are (Cityscapes train ids 0-18) as NAME_trainIds.png.")
@click.option("--palette", type=click.Choice(["cityscapes", "ade20k", "voc"]), default=None,
              help="Colours of the mask (default: by class count).")
@click.option("--overlay", is_flag=True, help="Also write the mask blended with the photo.")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True,
              help="Images per forward pass (with the default resize protocol).")
@force_option
@json_option("Print a JSON object: the files written per image.")
def segment(model, images, output, weights, runtime, pad_to_shape, sliding, flip, scales,
            prep_flags, ids, palette, overlay, batch, force, as_json):
    """Segment IMAGES (files or folders) with MODEL (a prototxt; its weights with
    --weights) and write, per image, NAME_color.png: the predicted classes as an
    indexed-colour PNG (the dataset's colours; the indices are the class ids).

    \b
    Examples:
      convertkit segment icnet.prototxt photos/ --weights icnet.caffemodel -o masks/
      convertkit segment pspnet50.prototxt street.jpg --weights pspnet50.pt --sliding \\
          --flip --overlay -o out/
    """
    import numpy as np

    from ..errors import UsageError
    from ..fileio import atomic_write, check_output_dir, check_outputs
    from ..runtime.preprocess import read_image
    from ..apps.segment import Predictor, label_ids, open_model, overlay as blend, palette_png
    from ..verify.palettes import palette as palette_for

    make_protocol(pad_to_shape, sliding, flip, scales)  # flag errors before any work
    paths = _images(images)
    out_dir = check_output_dir(output, IMAGE_SUFFIXES)
    kinds = ["color"] + ([f"{ids}Ids"] if ids else []) + (["overlay"] if overlay else [])
    plan = {p: [out_dir / f"{p.stem}_{k}.png" for k in kinds] for p in paths}
    stems = [p.stem for p in paths]
    if len(set(stems)) != len(stems):
        raise UsageError("two images share a name: their outputs would collide")
    check_outputs([f for files in plan.values() for f in files], inputs=[model, weights, *paths],
                  force=force, suffix=".png", what="a PNG")
    net, rt = open_model(model, weights, runtime)
    predictor = Predictor(rt, net)
    protocol = protocol_for(model, net, pad_to_shape, sliding, flip, scales, prep_flags)
    update, finish = progress_bar(enabled=not as_json, unit="images")
    written, t0 = {}, time.perf_counter()
    try:
        n_classes = int(net.blob_shapes[net.outputs[0]][1])
        colours = palette_for({"cityscapes": 19, "ade20k": 150, "voc": 21}.get(
            palette, n_classes))[0]
        for start in range(0, len(paths), batch):
            chunk = paths[start:start + batch]
            imgs = [read_image(p) for p in chunk]
            for path, img, scores in zip(chunk, imgs, predictor.logits_batch(imgs, protocol)):
                labels = scores.argmax(0).astype(np.uint8)
                blobs = {"color": palette_png(labels, colours)}
                if ids == "label":
                    blobs["labelIds"] = _png(label_ids(labels))
                elif ids == "train":
                    blobs["trainIds"] = _png(labels)
                if overlay:
                    blobs["overlay"] = _png(blend(img, labels, colours))
                for kind, f in zip(kinds, plan[path]):
                    with atomic_write(f, "wb") as fh:
                        fh.write(blobs[kind])
                written[str(path)] = [str(f) for f in plan[path]]
            update("segmenting", min(start + batch, len(paths)), len(paths))
    finally:
        finish()
    seconds = time.perf_counter() - t0
    if as_json:
        click.echo(json.dumps({"written": [f for v in written.values() for f in v],
                               "images": written, "seconds": round(seconds, 3),
                               "protocol": protocol.to_json(),
                               "preprocessing": protocol.prep.to_json()},
                              indent=1, default=list))
        return
    preprocessing_note(protocol.prep)
    click.echo(f"segmented {len(paths)} images into {out_dir} ({seconds:.2f} s)", err=True)


def _png(pixels) -> bytes:
    """H x W (grey) or H x W x 3 (RGB) uint8 as PNG bytes."""
    from ..verify.png import encode

    return encode(pixels)


command = segment
