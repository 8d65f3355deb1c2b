"""``convertkit convert``: a Caffe release to several formats in one run, and the
shared machinery of ``caffe2npz``."""
from __future__ import annotations

import json
import time
from pathlib import Path

import click

from .options import (InputShape, define_option, force_option, json_option, output_option,
                      progress_bar)


def mapping_option(f):
    return click.option(
        "--mapping", default=None, metavar="NAME|FILE",
        help="Mapping table for the weight formats: a built-in name (convertkit mappings "
             "list) or a .toml file. Default: caffe for npy/npz/h5, tf for tf, torch for "
             "torch/safetensors.")(f)


def bn_option(f):
    return click.option("--bn", type=click.Choice(["keep", "merge"]), default="keep",
                        show_default=True,
                        help="keep: BN layers stay (for fine-tuning); merge: BN is folded "
                             "into the convolutions before writing.")(f)


def rgb_option(f):
    return click.option("--rgb", is_flag=True,
                        help="Make the converted model take RGB: the input channels of the "
                             "first convolutions are reversed (and per-channel params on the "
                             "way).")(f)


def quiet_option(f):
    return click.option("-q", "--quiet", is_flag=True, help="No progress bar.")(f)


def run_conversion(prototxt, caffemodel, formats, *, output, single, mapping, bn, rgb,
                   force, as_json, quiet, name=None, defines=None, every=False,
                   cut=False, input_shapes=None) -> dict:
    """Check every output, read the model once, prepare it, write every format,
    then print the summary. ``single``: one output file (caffe2npz) instead of a
    directory. A model format that cannot express a layer of the net is refused
    before anything is written; with ``every`` (``--to all``) it is left out, with a
    note; with ``cut``, one that refuses only the data-dependent layers is written
    from the net cut before them. ``input_shapes`` ({name or None: N,C,H,W}) replans
    the net at those sizes before anything is written (``--input-shape``)."""
    from ..emit import convert as conv
    from ..errors import UsageError
    from ..fileio import check_output_dir
    from ..caffe.loader import load

    t0 = time.perf_counter()
    inputs = [prototxt, caffemodel]
    stem = name or Path(prototxt).stem
    if single is None:
        out_dir = check_output_dir(output, [".npz", ".npy", ".h5", ".pt", ".onnx"])
        outputs = conv.plan_outputs(formats, out_dir, stem, inputs=inputs, force=force)
    else:
        outputs = conv.plan_outputs(formats, Path(output).parent, stem, inputs=inputs,
                                    force=force, single=Path(output))
    if mapping is not None:
        from ..mapping import load_table

        load_table(mapping)  # a bad table fails before the caffemodel is read
    net = load(prototxt, caffemodel, defines=defines, input_shapes=dict(input_shapes or ()) or None)
    if caffemodel is None and net.num_params == 0 and any(
            layer.impl.param_shapes(net.plan().bottom_shapes(layer)) for layer in net.layers):
        raise UsageError("the net has learned params: give the CAFFEMODEL to convert")
    net, notes = conv.prepare(net, bn=bn, rgb=rgb)
    refused = conv.refusals(net, outputs)
    cut_outputs = {}
    for fmt in list(refused) if cut else []:
        found = conv.cut_for(net, fmt)
        if found is not None:  # every such format gets the same cut net
            short, why = found
            cut_outputs[fmt] = outputs.pop(fmt)
            del refused[fmt]
            notes.append(f"{fmt} {why}")
    if refused and not every:
        raise next(iter(refused.values()))
    for fmt, exc in refused.items():
        notes.append(f"{fmt} left out: {exc}")
        del outputs[fmt]
    order = [f for f in formats if f in outputs or f in cut_outputs]
    update, finish = progress_bar(enabled=not quiet and not as_json, unit="formats")
    done = []

    def progress(fmt: str) -> None:
        update(f"writing {fmt}", len(done), len(order))
        done.append(fmt)

    try:
        meta = {"source": Path(caffemodel).name if caffemodel else Path(prototxt).name,
                "converter": "convertkit", "bn": bn, "rgb": str(rgb).lower()}
        summary = conv.convert(net, outputs, mapping=mapping, rgb=rgb, meta=meta, force=force,
                               inputs=inputs, progress=progress)
        if cut_outputs:
            more = conv.convert(short, cut_outputs, mapping=mapping, rgb=rgb, meta=meta,
                                force=force, inputs=inputs, progress=progress)
            merged = {**summary["formats"], **more["formats"]}
            summary["formats"] = {f: merged[f] for f in order}
            summary["notes"] += [n for n in more["notes"] if n not in summary["notes"]]
    finally:
        finish()
    summary["notes"] = notes + summary["notes"]
    summary.update(prototxt=str(prototxt), caffemodel=str(caffemodel) if caffemodel else None,
                   bn=bn, rgb=rgb, mapping=mapping, params=net.num_params,
                   seconds=round(time.perf_counter() - t0, 3),
                   written=[f for v in summary["formats"].values() for f in v["files"]])
    if as_json:
        click.echo(json.dumps(summary, indent=1))
        return summary
    # The human summary goes to stderr, like every command's (stdout is for --json).
    for note in summary["notes"]:
        click.echo(f"note: {note}", err=True)
    for fmt, info in summary["formats"].items():
        click.echo(f"{fmt:<13} {info['params']:>11,} params {_bytes(info['bytes']):>9} "
                   f"{info['seconds']:6.2f} s  {', '.join(info['files'])}", err=True)
    total = sum(v["bytes"] for v in summary["formats"].values())
    n = len(summary["written"])
    click.echo(f"wrote {n} file{'s' if n != 1 else ''} ({_bytes(total)}) in "
               f"{summary['seconds']:.2f} s", err=True)
    return summary


def _bytes(n: int) -> str:
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n} B"


@click.command("convert")
@click.argument("prototxt", type=click.Path(dir_okay=False))
@click.argument("caffemodel", type=click.Path(dir_okay=False), required=False)
@click.option("--to", "to", required=True, metavar="FORMAT,...",
              help="Output formats, comma-separated, or 'all': npy, npz, h5, tf, torch, "
                   "safetensors (weights, through a mapping table) and onnx, pt2, savedmodel, "
                   "keras (runnable models). A runnable format that cannot express a layer "
                   "is refused before anything is written ('all' leaves it out, with a note).")
@click.option("--cut-data-dependent", "cut", is_flag=True,
              help="Write a runnable format that cannot express a layer whose output size "
                   "depends on the data (py-faster-rcnn's proposal layer) from the net cut "
                   "before it: it ends at that layer's bottoms (the RPN's scores and deltas), "
                   "to be finished with convertkit.layers (e.g. proposal).")
@click.option("--input-shape", "input_shapes", type=InputShape(), multiple=True,
              help="Plan the net at this input size before writing: N,C,H,W for the only input, "
                   "or NAME:N,C,H,W (repeatable). Runnable formats leave batch, height and "
                   "width free wherever the net's layers allow it (a note names the layers "
                   "that fix a size); this makes a file for a size that stays fixed.")
@output_option("The directory to write NAME.<ext> files in (created if needed).", metavar="DIR")
@click.option("--name", default=None, help="Base name of the outputs (default: the prototxt's).")
@mapping_option
@bn_option
@rgb_option
@define_option
@force_option
@quiet_option
@json_option("Print a JSON object: per format its files, bytes, params and seconds, and notes.")
def command(prototxt, caffemodel, to, output, name, mapping, bn, rgb, defines, force, quiet, as_json,
            cut, input_shapes):
    """Convert PROTOTXT + CAFFEMODEL to several formats in one run.

    The caffemodel is read once. Every output is written atomically (a temp file, then
    a rename), an existing file is replaced only with --force, and an input never.

    \b
    Examples:
      convertkit convert icnet.prototxt icnet.caffemodel --to torch,onnx -o out/
      convertkit convert pspnet101.prototxt pspnet101.caffemodel --to npy,tf \\
          --mapping hellochick-tf --bn keep -o tf/
    """
    from ..emit import convert as conv

    every = to.strip() == "all"
    formats = conv.all_formats() if every else [f.strip() for f in to.split(",") if f.strip()]
    if not formats:
        from ..errors import UsageError

        raise UsageError("--to needs at least one format")
    run_conversion(prototxt, caffemodel, list(dict.fromkeys(formats)), output=output, single=None,
                   mapping=mapping, bn=bn, rgb=rgb, force=force, as_json=as_json, quiet=quiet,
                   name=name, defines=defines, every=every, cut=cut,
                   input_shapes=input_shapes)
