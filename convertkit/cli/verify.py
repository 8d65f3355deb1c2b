"""``convertkit verify``: every runtime, reading the converted files, against the numpy
reference, layer by layer, on real images; exit 0 within tolerance, 1 outside."""
from __future__ import annotations

import json
from pathlib import Path

import click

from .options import (force_option, given_preprocess_flags, json_option, preprocess_options,
                      preprocessing_for, preprocessing_note, progress_bar)


def _list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


@click.command("verify")
@click.argument("prototxt", type=click.Path(dir_okay=False))
@click.argument("caffemodel", type=click.Path(dir_okay=False), required=False)
@click.option("--image", "images", multiple=True, type=click.Path(dir_okay=False),
              help="An image (repeat for several), preprocessed by the preprocessing flags, "
                   "else the prototxt's transform_param, else the default. Default: the bundled "
                   "sample photographs.")
@click.option("--input", "input_npy", type=click.Path(dir_okay=False),
              help="A .npy array (N,C,H,W float) used as the input as is, instead of images.")
@click.option("--runtimes", default=None, metavar="NAME,...",
              help="Runtimes to compare with the numpy reference: numpy (weight files read "
                   "back), opencv, torch, onnx, tf. Default: every installed one (the others "
                   "are skipped with a note); one asked for by name must be installed.")
@click.option("--converted", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Check the files in DIR (the -o of convertkit convert), recognised by "
                   "extension. Default: convert into a temporary folder and check that.")
@click.option("--direct", is_flag=True,
              help="Build each runtime straight from the net (no files): the fastest check "
                   "of the runtimes themselves.")
@click.option("--formats", default=None, metavar="FORMAT,...",
              help="Formats of the fresh conversion (default: every format a selected "
                   "runtime reads: torch, safetensors, pt2, onnx, tf, keras-weights, "
                   "savedmodel, keras, npz, npy, h5).")
@click.option("--bn", type=click.Choice(["keep", "merge", "both"]), default="keep",
              show_default=True,
              help="BN variant of the converted net: as in the caffemodel, folded into the "
                   "convolutions, or both (each against its own numpy reference, and merge's "
                   "outputs against keep's).")
@click.option("--rgb", is_flag=True, help="The converted files take RGB (convert --rgb).")
@click.option("--mapping", default=None, metavar="NAME|FILE",
              help="Mapping table of the weight files (npz, npy, h5, TF checkpoint), as given "
                   "to convert.")
@click.option("--layers", type=click.Choice(["all", "auto"]), default="all", show_default=True,
              help="all: compare every layer's outputs of every runtime; auto: compare the "
                   "outputs, and every layer only for a runtime whose outputs leave the "
                   "tolerance (a second pass names the first divergent layer; much faster).")
@click.option("--rtol", type=float, default=1e-4, show_default=True,
              help="Tolerance: max|diff| <= RTOL * max|ref| for every layer's outputs.")
@preprocess_options
@click.option("--report", "report_dir", type=click.Path(), default=None, metavar="DIR",
              help="Write report.json, report.md and a self-contained report.html into DIR.")
@force_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@json_option("Print the report object (schema convertkit.verify/1) instead of the summary: "
             "verdict, first_divergence, per runtime and layer the metrics.")
def command(prototxt, caffemodel, images, input_npy, runtimes, converted, direct, formats, bn,
            rgb, mapping, layers, rtol, prep_flags, report_dir, force, quiet, as_json):
    """Run the same inputs through every runtime and compare each layer with the numpy
    reference (Caffe's semantics).

    Each runtime reads the files the writers produce: a fresh conversion by default,
    or --converted DIR. Every layer's own output is compared (so a fault in a BN is
    not hidden by the in-place ReLU after it), and every blob as Caffe's net.blobs
    holds it: max abs, max relative to max|ref|, mean abs and cosine; for the final
    logits also argmax agreement and per-class IoU. The first layer (in graph order)
    outside the tolerance is named, per runtime.

    Exit code: 0 within tolerance, 1 outside (or a file that does not fit the net),
    2 on bad input.

    \b
    Examples:
      convertkit verify icnet.prototxt icnet.caffemodel --report out/report
      convertkit verify icnet.prototxt icnet.caffemodel --converted out/ --runtimes torch,onnx
      convertkit verify pspnet50.prototxt pspnet50.caffemodel --bn both --image street.png --json
    """
    from ..errors import UsageError
    from ..fileio import check_output_dir, check_outputs
    from ..caffe.loader import load
    from ..runtime.preprocess import sample_images
    from ..verify import Options, Verifier, sample_from_array, samples_from_images
    from ..verify import report as rep

    if converted is not None and direct:
        raise UsageError("--converted and --direct exclude each other")
    if (converted is not None or direct) and formats is not None:
        raise UsageError("--formats is for the fresh conversion; not with --converted or --direct")
    if images and input_npy:
        raise UsageError("give --image or --input, not both")
    inputs = [prototxt, caffemodel]
    if report_dir is not None:  # refuse before any work, not after minutes of it
        out = check_output_dir(report_dir, (".json", ".md", ".html"))
        check_outputs([out / f for f in rep.FILES], inputs=inputs, force=force)
    net = load(prototxt, caffemodel)
    prep = None
    if input_npy:
        if given_preprocess_flags(prep_flags):
            raise UsageError(f"{', '.join(given_preprocess_flags(prep_flags))} preprocess "
                             "images; an --input array is used as it is")
        samples = [sample_from_array(net, input_npy)]
    else:
        from ..runtime.preprocess import with_input_size

        paths = list(images) or sample_images()
        if not paths:
            raise UsageError("no images: give --image or --input (the sample photographs are "
                             "not installed)")
        prep = preprocessing_for(prep_flags, net, prototxt=prototxt)
        net = with_input_size(net, prep)  # --input-size, --crop: the net planned for them
        samples = samples_from_images(net, paths, prep=prep)
    options = Options(rtol=rtol, bn=bn, rgb=rgb, runtimes=_list(runtimes),
                      converted=Path(converted) if converted else None, formats=_list(formats),
                      direct=direct, mapping=mapping, visuals=report_dir is not None,
                      layers=layers)
    verifier = Verifier(net, options)
    update, finish = progress_bar(enabled=not quiet and not as_json, unit="runs")
    try:
        result = verifier.run(samples, progress=update)
    finally:
        finish()
    written = []
    if report_dir is not None:
        written = [str(p) for p in rep.write(result, report_dir, force=force, inputs=inputs)]
    if as_json:
        obj = dict(result.report, written=written)
        click.echo(json.dumps(obj, indent=1, allow_nan=False))
        return result.exit_code
    preprocessing_note(prep)
    _summary(result.report)
    if written:
        click.echo(f"report: {written[2]}")
    return result.exit_code


def _summary(report: dict) -> None:
    from ..verify.entries import shorten
    from ..verify.report import _agreement, _first, _fmt, _how, headline

    m = report["model"]
    names = ", ".join(i["name"] for i in report["inputs"])
    click.echo(f"verify {Path(m['prototxt']).name if m['prototxt'] else 'net'}: "
               f"{len(report['inputs'])} input(s) ({names}), reference numpy, rtol {report['rtol']:g}")
    subjects = [s for v in report["variants"] for s in v["subjects"]]
    wn = max([28] + [len(s["name"]) for s in subjects])  # columns fit the longest
    wc = max([18] + [len(_how(s)) for s in subjects])
    for v in report["variants"]:
        click.echo(f"BN {v['bn']}:")
        click.echo(f"  {'runtime':<{wn}} {'compared':<{wc}} {'verdict':<8} "
                   f"{'worst layer (max rel)':<40} {'argmax':>10} {'s':>7}")
        for s in v["subjects"]:
            agree, _ = _agreement(s)
            worst = "-"
            if s["worst"]:
                rel = s["worst"]["max_rel"]
                worst = "exact everywhere" if rel == 0 else f"{s['worst']['layer']} {_fmt(rel)}"
            verdict = s["verdict"] if s["verdict"] in ("pass", "skipped") else s["verdict"].upper()
            click.echo(f"  {s['name']:<{wn}} {_how(s):<{wc}} {verdict:<8} "
                       f"{worst:<40} {agree:>10} {s['seconds']:7.2f}")
            if s["ends_at"] is not None:
                click.echo(f"    {s['ends_at']['why']}")
            if s.get("near_ties"):
                ties = s["near_ties"]
                gap = max(t["max_value_diff"] for t in ties.values())
                click.echo(f"    {sum(t['flips'] for t in ties.values())} near-tie index flips ("
                           + ", ".join(f"{n} {t['flips']}" for n, t in ties.items())
                           + f"; values within {gap:.1g}): later layers judged by what they explain")
            if s["first_divergence"] is not None:
                click.echo(f"    first divergence: {_first(s['first_divergence'])}")
            if s["message"]:
                click.echo(f"    {shorten(s['message'], 300)}")
        if v["fold_check"]:
            fc = v["fold_check"]
            click.echo(f"  fold check (outputs vs bn {fc['against']}): {fc['verdict']}")
    for note in report["notes"]:
        click.echo(f"note: {note}", err=True)
    click.echo(headline(report))
