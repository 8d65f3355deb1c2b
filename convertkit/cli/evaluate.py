"""``convertkit evaluate``: mIoU of a model on a dataset, by a stated protocol."""
from __future__ import annotations

import json
import time

import click

from .options import json_option, preprocessing_note, progress_bar
from .segment import make_protocol, protocol_for, protocol_options


@click.command("evaluate")
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("data_dir", type=click.Path(file_okay=False))
@click.option("--dataset", type=click.Choice(["cityscapes", "ade20k", "voc"]), required=True,
              help="The dataset's layout and classes.")
@protocol_options
@click.option("--workers", type=int, default=1, show_default=True,
              help="Processes, each with its own copy of the model.")
@click.option("--limit", type=int, default=None, help="Evaluate the first N images only.")
@json_option("Print the scores as JSON: miou, pixel_accuracy, per-class iou, confusion.")
def evaluate(model, data_dir, dataset, weights, runtime, pad_to_shape, sliding, flip, scales,
             prep_flags, workers, limit, as_json):
    """Mean IoU, pixel accuracy and per-class IoU of MODEL on DATA_DIR, a dataset in
    its official layout (Cityscapes val with gtFine labelIds, ADE20K validation, VOC
    val), ignore label 255, by the protocol the flags give.

    \b
    Example:
      convertkit evaluate icnet.prototxt /data/cityscapes --dataset cityscapes \\
          --weights icnet.caffemodel --workers 2
    """
    from ..errors import UsageError
    from ..apps.evaluate import evaluate as run
    from ..verify.palettes import CITYSCAPES, VOC_NAMES

    if workers < 1:
        raise UsageError("--workers must be at least 1")
    from ..caffe.loader import load

    make_protocol(pad_to_shape, sliding, flip, scales)  # flag errors before any work
    protocol = protocol_for(model, load(model), pad_to_shape, sliding, flip, scales, prep_flags)
    update, finish = progress_bar(enabled=not as_json, unit="images")
    t0 = time.perf_counter()
    try:
        result = run(model, weights, dataset, data_dir, protocol, runtime, workers, limit,
                     progress=lambda i, n: update("evaluating", i, n))
    finally:
        finish()
    result["seconds"] = round(time.perf_counter() - t0, 3)
    result["protocol"] = protocol.to_json()
    result["preprocessing"] = protocol.prep.to_json()
    if as_json:
        click.echo(json.dumps(result, indent=1))
        return
    preprocessing_note(protocol.prep)
    names = ([n for n, _ in CITYSCAPES] if dataset == "cityscapes" else list(VOC_NAMES)
             if dataset == "voc" else [f"class {i + 1}" for i in range(150)])
    for why in result["skipped"]:
        click.echo(f"skipped: {why}", err=True)
    click.echo(f"{'class':<16} {'IoU':>7}")
    for name, iou in zip(names, result["iou"]):
        click.echo(f"{name:<16} {'-' if iou is None else f'{iou:7.2%}':>7}")
    click.echo(f"mIoU {result['miou']:.2%}  pixel accuracy {result['pixel_accuracy']:.2%}  "
               f"({result['images']} images, {len(result['skipped'])} skipped, "
               f"{result['seconds']:.1f} s)")


command = evaluate
