"""``convertkit golden``: record compact fingerprints of a model's outputs on sample
images (``golden record``), and check every runtime and BN variant against them
(``golden check``, for CI). Recording is always explicit; a check never writes."""
from __future__ import annotations

import json
from pathlib import Path

import click

from .options import (force_option, json_option, output_option, preprocess_options,
                      preprocessing_for, progress_bar)


@click.group("golden")
def command() -> None:
    """Golden fingerprints of model outputs, for CI.

    A golden file holds, per model and image, statistics of every blob, a small copy
    of the logits, a robust quantised hash of it and the class histogram. `check`
    runs every runtime and BN variant and compares, with a readable diff.
    """


@command.command("record")
@click.argument("models", nargs=-1, required=True, metavar="MODEL...")
@output_option("The golden JSON file to write (e.g. fixtures/golden/icnet.json).",
               metavar="FILE.json")
@click.option("--image", "images", multiple=True, type=click.Path(dir_okay=False),
              help="An image to record (repeat). Default: the bundled sample photographs.")
@preprocess_options
@force_option
@json_option("Print a JSON object: the file written, its models and images.")
def record(models, output, images, prep_flags, force, as_json):
    """Record the numpy reference's fingerprints of MODEL... into FILE.json.

    MODEL is a zoo model with options, NAME[:key=value,...] (keys: width, size as HxW
    or N, classes, seed, bn keep|merge), or files: PROTOTXT+CAFFEMODEL, or a PROTOTXT
    alone (with the CAFFEMODEL of the same name beside it). Paths are stored relative
    to the golden file. The preprocessing (flags, else the prototxt's transform_param,
    else the default) is recorded with each model; `check` uses it.

    \b
    Examples:
      convertkit golden record icnet:width=0.125,size=193x385 -o fixtures/golden/icnet.json
      convertkit golden record my.prototxt+my.caffemodel --image street.png -o golden.json
    """
    from ..errors import UsageError
    from ..fileio import atomic_write, check_outputs
    from ..runtime.preprocess import sample_images
    from ..verify import golden

    out = Path(output)
    specs = [golden.parse_spec(m) for m in models]
    inputs = [p for s in specs for p in (s.prototxt, s.caffemodel) if p]
    check_outputs([out], inputs=inputs + list(images), force=force, suffix=".json",
                  what="a golden JSON file")
    paths = [Path(p) for p in images] or sample_images()
    if not paths:
        raise UsageError("no images: give --image (the sample photographs are not installed)")
    base = out.parent if str(out.parent) else Path(".")
    entries, notes = [], []

    def prep_for(net, spec):
        prep = preprocessing_for(prep_flags, net, prototxt=spec.prototxt)
        notes.append(prep.note())
        return prep

    update, finish = progress_bar(enabled=not as_json, unit="images")
    try:
        for spec in specs:
            if spec.zoo is None:  # store file paths relative to the golden file
                rel = [golden.file_ref(Path(p), base) if p else None
                       for p in (spec.prototxt, spec.caffemodel)]
                stored = golden.ModelSpec(spec.text, prototxt=rel[0], caffemodel=rel[1])
                entry = golden.record_model(spec, paths, base, progress=update, prep_for=prep_for)
                entry["model"] = stored.canonical()
            else:
                entry = golden.record_model(spec, paths, base, progress=update, prep_for=prep_for)
            entries.append(entry)
    finally:
        finish()
    doc = golden.golden_document(entries)
    with atomic_write(out, "w") as fh:
        fh.write(golden.dumps(doc))
    summary = {"written": [str(out)], "models": [e["model"] for e in entries],
               "images": [img["image"] for img in entries[0]["images"]],
               "preprocessing": {e["model"]: e["preprocessing"] for e in entries}}
    if as_json:
        click.echo(json.dumps(summary, indent=1))
        return
    for note in dict.fromkeys(n for n in notes if n):
        click.echo(f"note: {note}", err=True)
    click.echo(f"recorded {len(entries)} model(s) on {len(paths)} image(s) into {out}")
    for e in entries:
        click.echo(f"  {e['model']}: {e['layers']} layers, outputs {', '.join(e['outputs'])}")


@command.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False),
                metavar="FILE.json...")
@click.option("--runtimes", default=None, metavar="NAME,...",
              help="Runtimes to run (default: every installed one: numpy, opencv, torch, "
                   "onnx, tf). One asked for by name must be installed.")
@click.option("--bn", type=click.Choice(["keep", "merge", "both"]), default="both",
              show_default=True, help="BN variants to run (merge folds BN into the convolutions).")
@click.option("--rtol", type=float, default=1e-4, show_default=True,
              help="Tolerance, relative to each blob's max|x|.")
@click.option("--converted", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Check the converted files in DIR (the -o of convertkit convert, of one "
                   "--bn variant) instead of the runtimes built from the model: their outputs "
                   "against the recorded ones.")
@preprocess_options
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@json_option("Print a JSON object: per model, BN variant and runtime the verdict and "
             "every mismatch.")
def check(files, runtimes, bn, rtol, converted, prep_flags, quiet, as_json):
    """Run every runtime and BN variant on the recorded images and compare with the
    golden FILE.json...; exit 1 on any mismatch (each one listed), 2 on bad input.
    Images are preprocessed as recorded; a preprocessing flag overrides that setting.

    \b
    Example:
      convertkit golden check fixtures/golden/*.json
      convertkit golden check mine.json --converted converted/ --bn keep
    """
    from ..verify import golden
    from ..verify.selection import select_runtimes
    from .options import given_preprocess_flags

    overrides = given_preprocess_flags(prep_flags)
    applied: dict = {}

    def prep_for(net, recorded):
        prep = preprocessing_for(prep_flags, net, base=recorded) if overrides else recorded
        applied["prep"] = prep
        return prep

    chosen, notes = select_runtimes([r.strip() for r in runtimes.split(",") if r.strip()]
                                    if runtimes else None)
    docs = [(Path(f), golden.read_golden(Path(f))) for f in files]
    results = []
    update, finish = progress_bar(enabled=not quiet and not as_json, unit="runs")
    try:
        for path, doc in docs:
            for entry in doc["models"]:
                applied.clear()
                runs = golden.check_model(entry, path.parent, chosen, bn, rtol,
                                          Path(converted) if converted else None, update,
                                          prep_for=prep_for)
                prep = next(iter(applied.values()), None)
                results.append((path, entry["model"], runs,
                                prep.to_json() if prep is not None else None))
    finally:
        finish()
    failed = [(p, m, r) for p, m, runs, _ in results for r in runs if not r.ok]
    verdict = "fail" if failed else "pass"
    if as_json:
        click.echo(json.dumps({
            "verdict": verdict, "runtimes": chosen, "notes": notes,
            "models": [{"file": str(p), "model": m, "preprocessing": prep,
                        "runs": [{"bn": r.bn, "runtime": r.runtime,
                                  "verdict": "pass" if r.ok else "fail",
                                  "error": r.error, "mismatches": r.mismatches,
                                  "ends_at": r.ends_at} for r in runs]}
                       for p, m, runs, prep in results]}, indent=1))
        return 0 if verdict == "pass" else 1
    for note in notes:
        click.echo(f"note: {note}", err=True)
    if overrides:
        click.echo(f"note: the recorded preprocessing, overridden by {', '.join(overrides)}",
                   err=True)
    for path, model, runs, _ in results:
        bad = [r for r in runs if not r.ok]
        status = "ok" if not bad else f"FAIL ({len(bad)} of {len(runs)} runs)"
        click.echo(f"{path}: {model}: {len(runs)} runs ({', '.join(sorted({r.runtime for r in runs}))}; "
                   f"bn {', '.join(sorted({r.bn for r in runs}))}): {status}")
        for r in runs:
            if r.ends_at:
                click.echo(f"  [bn {r.bn}, {r.runtime}] {r.ends_at}")
        for r in bad:
            where = f"  [bn {r.bn}, {r.runtime}]"
            if r.error:
                click.echo(f"{where} error: {r.error}")
            for m in r.mismatches[:12]:
                click.echo(f"{where} {m}")
            if len(r.mismatches) > 12:
                click.echo(f"{where} ... and {len(r.mismatches) - 12} more")
    total = sum(len(runs) for _, _, runs, _ in results)
    click.echo(f"golden check: {verdict.upper()}: {total - len(failed)} of {total} runs match "
               f"({len(results)} model(s), rtol {rtol:g})")
    return 0 if verdict == "pass" else 1


@command.command("compare")
@click.argument("first", type=click.Path(dir_okay=False), metavar="A.json")
@click.argument("second", type=click.Path(dir_okay=False), metavar="B.json")
@click.option("--rtol", type=float, default=1e-4, show_default=True,
              help="Tolerance, relative to each blob's max|x| (as golden check).")
@json_option("Print a JSON object: the verdict and every difference.")
def compare(first, second, rtol, as_json):
    """Compare two golden files (a fresh record and a committed one) within the
    tolerance: the same models and images, every fingerprint within RTOL. A record's
    last digits may differ across CPUs and BLAS thread counts, so two records are
    compared this way, never byte by byte. Exit 0 when they agree, 1 when not.

    \b
    Example:
      convertkit golden record icnet:width=0.125,size=193x385 -o mine.json
      convertkit golden compare mine.json fixtures/golden/icnet.json
    """
    from ..verify import golden

    a, b = golden.read_golden(Path(first)), golden.read_golden(Path(second))
    diffs = golden.compare_documents(a, b, rtol)
    verdict = "fail" if diffs else "pass"
    images = sum(len(e["images"]) for e in a["models"])
    if as_json:
        click.echo(json.dumps({"verdict": verdict, "rtol": rtol, "differences": diffs}, indent=1))
        return 0 if not diffs else 1
    for d in diffs[:20]:
        click.echo(f"  {d}")
    if len(diffs) > 20:
        click.echo(f"  ... and {len(diffs) - 20} more")
    click.echo(f"golden compare: {verdict.upper()}: {len(a['models'])} model(s), {images} "
               f"image(s), {'every fingerprint within' if not diffs else f'{len(diffs)} differences beyond'} "
               f"rtol {rtol:g}")
    return 0 if not diffs else 1
